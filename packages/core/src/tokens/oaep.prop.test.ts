import * as crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { ecdsaRawToDer } from './key-encoding.js';
import { emeOaepDecode } from './oaep.js';

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('emeOaepDecode', () => {
  it('inverts node:crypto OAEP encoding and rejects every damaged block with DECRYPT_FAILED', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('SHA-1' as const, 'SHA-256' as const),
        fc.uint8Array({ maxLength: 190 }),
        fc.noBias(fc.nat(255)),
        fc.integer({ min: 1, max: 255 }),
        (hash, m, pos, flip) => {
          const c = crypto.publicEncrypt(
            { key: rsa.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash === 'SHA-1' ? 'sha1' : 'sha256' },
            m,
          );
          const em = new Uint8Array(crypto.privateDecrypt({ key: rsa.privateKey, padding: crypto.constants.RSA_NO_PADDING }, c));
          expect(Buffer.from(emeOaepDecode(em, 256, hash)).equals(Buffer.from(m))).toBe(true);
          const bad = em.slice();
          bad[pos]! ^= flip;
          // Any damage outside Y re-derives seed and DB as noise, so lHash' fails (2^-8hLen chance otherwise).
          expect(() => emeOaepDecode(bad, 256, hash)).toThrow(SsmaxError);
          try {
            emeOaepDecode(bad, 256, hash);
          } catch (e) {
            expect(SsmaxError.is(e, 'DECRYPT_FAILED')).toBe(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('ecdsaRawToDer', () => {
  it('gives DER that node:crypto verifies for any P-256 r||s', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (data) => {
        const raw = crypto.sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
        const der = ecdsaRawToDer(raw);
        expect(crypto.verify('sha256', data, { key: ec.publicKey, dsaEncoding: 'der' }, der)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('encodes high-bit and leading-zero integers minimally (X.690 §8.3)', () => {
    const raw = new Uint8Array(64);
    raw[0] = 0x80;
    raw[63] = 0x01;
    expect(Buffer.from(ecdsaRawToDer(raw)).toString('hex')).toBe(`3026022100${'80'.padEnd(64, '0')}020101`);
  });
});
