/**
 * JSON Schema checks for the signed JSON documents sim-org reads from the wire (attestation, manifest).
 * A signature says who wrote a document, not that it has the shape our code reads: anyone can sign JSON
 * with a self-made key, so every document is checked against its schema before any field is used.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/** A compiled schema check: the value when it matches, else a short reason naming the first mismatch. */
export type DocumentCheck<T> = (value: unknown) => { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'it does not match';
  const where = e.instancePath === '' ? 'the document' : e.instancePath;
  if (e.keyword === 'additionalProperties') return `${where} has the unexpected property ${String(e.params['additionalProperty'])}`;
  return `${where} ${e.message ?? 'does not match'}`;
}

/** Compiles `schema` once, on first use (draft 2020-12, strict). */
export function documentCheck<T>(schema: object): DocumentCheck<T> {
  let validate: ValidateFunction | undefined;
  return (value) => {
    validate ??= new Ajv2020({ strict: true, allErrors: false }).compile(schema);
    return validate(value) ? { ok: true, value: value as T } : { ok: false, reason: describe(validate.errors?.[0]) };
  };
}
