/**
 * Canonical JSON for signed documents (registry directory/status, enrolment proofs, org attestations,
 * manifests): object keys sorted by UTF-16 code units, no insignificant whitespace, `undefined`
 * members dropped and `undefined` array items written as null (the RFC 8785 §3.2.3 ordering; our
 * documents carry only strings, safe integers, booleans, null, arrays and objects, so RFC 8785 number
 * formatting never differs from JSON.stringify).
 */
import { SsmaxError } from './errors.js';

/** The canonical JSON text of `value`; throws SsmaxError USAGE for numbers that are not safe integers. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isSafeInteger(value))
      throw new SsmaxError('USAGE', 'Cannot canonicalise JSON. Only safe integers are allowed as numbers.');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** UTF-8 bytes of {@link canonicalJson} (what gets signed). */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
