import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { issueCrl, parseCertificate, parseCrl } from './index.js';
import { createSsmaxTestPki } from './test-fixtures.js';

let certDer: Uint8Array;
let crlDer: Uint8Array;

beforeAll(async () => {
  const pki = await createSsmaxTestPki();
  certDer = (await pki.user('prop')).cert.der;
  crlDer = (
    await issueCrl({
      issuer: { certificate: pki.org, key: pki.orgKey },
      now: pki.now,
      crlNumber: 3,
      revoked: [{ serialNumber: '0a0b', revocationDate: pki.now(), reason: 'superseded' }],
    })
  ).der;
});

/** A mutation of `base`: flipped bytes, a truncation, or an insertion. */
const mutated = (base: () => Uint8Array) =>
  fc
    .record({
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { nil: undefined }),
    })
    .map(({ flips, cut, insert }) => {
      let d = new Uint8Array(base());
      for (const [pos, x] of flips) d[pos % d.length]! ^= x;
      if (insert) {
        const at = insert[0] % d.length;
        d = Uint8Array.from([...d.subarray(0, at), ...insert[1], ...d.subarray(at)]);
      }
      if (cut !== undefined) d = d.subarray(0, cut % (d.length + 1));
      return d;
    });

function totalOrTyped(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SsmaxError)) throw e;
    expect(['MALFORMED_CERTIFICATE', 'MALFORMED_DER', 'LIMIT_EXCEEDED']).toContain(e.code);
  }
}

describe('parseCertificate (property)', () => {
  it('returns a parse or throws a typed SsmaxError when certificate DER is mutated', () => {
    fc.assert(
      fc.property(
        mutated(() => certDer),
        (d) => totalOrTyped(() => parseCertificate(d)),
      ),
      { numRuns: 400 },
    );
  });

  it('returns a parse or throws a typed SsmaxError for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (d) => totalOrTyped(() => parseCertificate(d))),
      { numRuns: 300 },
    );
  });
});

describe('parseCrl (property)', () => {
  it('returns a parse or throws a typed SsmaxError when CRL DER is mutated', () => {
    fc.assert(
      fc.property(
        mutated(() => crlDer),
        (d) => totalOrTyped(() => parseCrl(d)),
      ),
      { numRuns: 400 },
    );
  });
});
