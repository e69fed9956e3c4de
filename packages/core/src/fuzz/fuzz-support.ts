/**
 * Test support for the parser property tests: input generators (random, mutated, truncated, token soup) and the
 * outcome check every parser entry point must pass. Not exported from the package index.
 */
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
