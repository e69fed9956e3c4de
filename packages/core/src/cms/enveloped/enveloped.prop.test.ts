import * as crypto from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { tagWithoutAad } from './gcm-aad.js';
import { decryptContent, decryptStream, encryptContent, encryptStream, MemorySink } from './index.js';

let pki: OpensslPki;
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

/** Cheap deterministic filler so 200 KiB contents do not cost a fast-check array each. */
function filler(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.byteLength]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

const sizeArb = fc.oneof(fc.integer({ min: 0, max: 200 * 1024 }), fc.constantFrom(0, 1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097, 65535, 65536, 65537));

describe('enveloped round trip', () => {
  it('decrypts to the original content for random sizes, ciphers, recipients and chunkings', async () => {
    await fc.assert(
      fc.asyncProperty(
        sizeArb,
        fc.integer(),
        fc.constantFrom('aes-256-gcm' as const, 'aes-256-cbc' as const),
        fc.constantFrom('rsa' as const, 'ec' as const, 'both' as const),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (size, seed, cipher, who, ber, cuts) => {
          const content = filler(size, seed);
          const recipients = who === 'both' ? [pki.rsa.certDer, pki.ec.certDer] : [pki[who].certDer];
          let der: Uint8Array;
          if (ber) {
            const sink = new MemorySink();
            await encryptStream(split(content, cuts), sink, { recipients, cipher });
            der = sink.result();
          } else {
            der = await encryptContent(content, { recipients, cipher });
          }
          const id = who === 'rsa' ? pki.rsa : pki.ec;
          const out = new MemorySink();
          const info = await decryptStream(
            split(
              der,
              cuts.map((c) => c * 7),
            ),
            out,
            { key: id.key, certificate: id.certDer },
          );
          expect(info.cipher).toBe(cipher);
          expect(Buffer.from(out.result()).equals(Buffer.from(content))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('enveloped decoding of hostile input', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;
  const apply = (der: Uint8Array, m: Mutation): Uint8Array => {
    const b = Buffer.from(der);
    const at = m.at % (b.length + (m.kind === 'insert' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        b[at]! ^= m.mask;
        return b;
      case 'truncate':
        return b.subarray(0, at);
      case 'insert':
        return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
      case 'delete':
        return Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    }
  };

  it('only ever throws SsmaxError, and an accepted GCM message always yields the original content', async () => {
    const content = filler(300, 42);
    const samples: Array<{ der: Uint8Array; gcm: boolean; who: 'rsa' | 'ec' }> = [];
    for (const cipher of ['aes-256-gcm', 'aes-256-cbc'] as const) {
      for (const who of ['rsa', 'ec'] as const) {
        samples.push({ der: await encryptContent(content, { recipients: [pki[who].certDer], cipher }), gcm: cipher === 'aes-256-gcm', who });
        const sink = new MemorySink();
        await encryptStream([content.subarray(0, 100), content.subarray(100)], sink, { recipients: [pki[who].certDer], cipher });
        samples.push({ der: sink.result(), gcm: cipher === 'aes-256-gcm', who });
      }
    }
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: samples.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (i, ms) => {
        const s = samples[i]!;
        const der = ms.reduce(apply, s.der);
        try {
          const out = await decryptContent(der, { key: pki[s.who].key });
          if (s.gcm) expect(Buffer.from(out.content).equals(Buffer.from(content))).toBe(true);
        } catch (e) {
          if (!(e instanceof SsmaxError)) throw new Error(`non-SsmaxError thrown: ${String(e)}`, { cause: e });
        }
      }),
      // A run that takes longer than 5 s counts as a failure (a hang on hostile input).
      { numRuns: 300, timeout: 5000 },
    );
  });
});

describe('tagWithoutAad', () => {
  it('equals the GCM tag node computes without AAD, for random AAD and ciphertext lengths', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.constantFrom(12, 16),
        (key, iv, aad, pt, tagLen) => {
          const withAad = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: tagLen });
          withAad.setAAD(aad);
          withAad.update(pt);
          withAad.final();
          const noAad = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: tagLen });
          noAad.update(pt);
          noAad.final();
          expect(Buffer.from(tagWithoutAad(key, withAad.getAuthTag(), aad, pt.byteLength)).equals(noAad.getAuthTag())).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
