/**
 * Test support for the parser property tests: input generators (random, mutated, truncated, token soup) and the
 * outcome check every parser entry point must pass. Not exported from the package index.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ErrorCodes, SsmaxError, type ErrorCode } from '../errors.js';

/** Largest single-call time allowed: far above any honest parse of ≤ 8 KiB, far below a hang. */
export const MAX_MS_PER_CASE = 2000;

/**
 * Codes an entry point may throw on hostile input: every malformed or verdict code, plus the two "unsupported"
 * codes, because an input naming an algorithm or content type we do not implement is a legitimate, typed
 * outcome (ErrorCodes files them under usage).
 */
export function isAllowedFailure(e: unknown): boolean {
  if (!(e instanceof SsmaxError)) return false;
  const cat = ErrorCodes[e.code as ErrorCode];
  return cat === 'malformed' || cat === 'verdict' || e.code === 'UNSUPPORTED_ALGORITHM' || e.code === 'UNSUPPORTED_CONTENT_TYPE';
}

type Mutation = { op: 'set' | 'insert' | 'delete'; pos: number; byte: number };

function applyMutations(seed: Uint8Array, muts: readonly Mutation[], truncateAt: number | null): Uint8Array {
  const out = Array.from(seed);
  for (const m of muts) {
    if (out.length === 0 && m.op !== 'insert') continue;
    const pos = m.pos % (out.length + (m.op === 'insert' ? 1 : 0));
    if (m.op === 'set') out[pos] = m.byte;
    else if (m.op === 'insert') out.splice(pos, 0, m.byte);
    else out.splice(pos, 1);
  }
  const bytes = new Uint8Array(out);
  return truncateAt === null ? bytes : bytes.subarray(0, truncateAt % (bytes.length + 1));
}

/** A valid seed with a few byte-level mutations and possibly truncated. */
export function mutatedFrom(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const mutation = fc.record({
    op: fc.constantFrom<'set' | 'insert' | 'delete'>('set', 'insert', 'delete'),
    pos: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
  });
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 6 }), fc.option(fc.nat(), { nil: null }))
    .map(([seed, muts, trunc]) => applyMutations(seed, muts, trunc));
}

/** Random MIME-ish text built from the tokens that steer a MIME parser, so fuzzing reaches past the headers. */
export function mimeTokenSoup(): fc.Arbitrary<Uint8Array> {
  const tokens = [
    'Content-Type: ',
    'multipart/signed',
    'multipart/mixed',
    'application/pkcs7-mime',
    'application/pkcs7-signature',
    'text/plain',
    '; protocol="application/pkcs7-signature"',
    '; boundary=',
    '; boundary="b"',
    'b',
    '--b',
    '--b--',
    '--',
    '"',
    ';',
    '=',
    ' ',
    '\t',
    '\r\n',
    '\n',
    '\r',
    ':',
    'Content-Transfer-Encoding: ',
    'base64',
    'quoted-printable',
    '=3D',
    '=\r\n',
    'MIIB',
    'AAAA',
    '==',
    'smime-type=signed-data',
    'filename*0*=',
    "UTF-8''%C3%A9",
    'filename*1=x',
    'name=',
    'X: y',
    '\r\n\r\n',
    '(comment)',
    '\\',
  ];
  return fc.array(fc.constantFrom(...tokens), { maxLength: 60 }).map((a) => new Uint8Array(Buffer.from(a.join(''), 'latin1')));
}

/** The RFC 4134 examples (packages/core/test-vectors/rfc4134): the valid DER and mail corpus fuzzing starts from. */
export interface Rfc4134Seeds {
  /** Every DER file (messages, certificates, CRLs, private keys) except ExContent.bin, which is not DER. */
  readonly der: readonly Uint8Array[];
  readonly mails: readonly Uint8Array[];
  readonly certificates: readonly Uint8Array[];
  readonly crls: readonly Uint8Array[];
  /** The content the example SignedData messages sign. */
  readonly exContent: Uint8Array;
}

/** Reads the RFC 4134 vectors (the same path from src/fuzz and dist/fuzz). */
export function rfc4134Seeds(): Rfc4134Seeds {
  const dir = fileURLToPath(new URL('../../test-vectors/rfc4134/', import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => /\.(bin|cer|crl|pri|eml)$/.test(f))
    .sort();
  const read = (f: string) => new Uint8Array(readFileSync(join(dir, f)));
  return {
    der: files.filter((f) => !f.endsWith('.eml') && f !== 'ExContent.bin').map(read),
    mails: files.filter((f) => f.endsWith('.eml')).map(read),
    certificates: files.filter((f) => f.endsWith('.cer')).map(read),
    crls: files.filter((f) => f.endsWith('.crl')).map(read),
    exContent: read('ExContent.bin'),
  };
}

/** Any JSON value of small depth (strings, safe integers, booleans, null, arrays, objects). */
export function jsonValue(): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
    ),
  })).value;
}

/** Runs `fn` once and checks the outcome: returns, or throws an allowed SsmaxError, within {@link MAX_MS_PER_CASE}. */
export async function checkOutcome(fn: () => unknown): Promise<void> {
  const start = performance.now();
  try {
    await fn();
  } catch (e) {
    if (!isAllowedFailure(e)) {
      throw new Error(`threw a disallowed error: ${e instanceof SsmaxError ? `SsmaxError ${e.code}` : String(e)}`, { cause: e });
    }
  }
  const ms = performance.now() - start;
  if (ms > MAX_MS_PER_CASE) throw new Error(`took ${ms.toFixed(0)} ms, above ${MAX_MS_PER_CASE} ms`);
}
