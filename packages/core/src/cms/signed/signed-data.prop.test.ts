import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { xorByte } from '../../testing/bytes.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import type { SignScheme } from '../../tokens/token.js';
import { readBer, type BerElement } from '../common/index.js';
import { signSignedData } from './sign-signed-data.js';
import { verifySignedData, type SignedDataVerification } from './verify-signed-data.js';

let pki: OpensslPki;
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

const schemes: Array<{ scheme: SignScheme; who: 'rsa' | 'ec' }> = [
  { scheme: 'RSASSA-PKCS1-v1_5-SHA256', who: 'rsa' },
  { scheme: 'RSASSA-PSS-SHA256', who: 'rsa' },
  { scheme: 'ECDSA-SHA256', who: 'ec' },
];

/** Runs verify; any throw other than SsmaxError fails the property. */
function verifyOrSsmaxError(der: Uint8Array, detachedContent?: Uint8Array): SignedDataVerification | SsmaxError {
  try {
    return verifySignedData(der, detachedContent ? { detachedContent } : {});
  } catch (e) {
    if (e instanceof SsmaxError) return e;
    throw e;
  }
}

/** Byte ranges of eContent and of the signature value, located in the unmodified encoding. */
function protectedRanges(der: Uint8Array): Array<[number, number]> {
  const sd = readBer(der, 't').children[1]!.children[0]!;
  const ranges: Array<[number, number]> = [];
  const encap = sd.children[2]!;
  const eContent = encap.children[1]?.children[0];
  if (eContent) ranges.push([eContent.contentStart, eContent.contentEnd]);
  const si = sd.children[sd.children.length - 1]!.children[0]!;
  const signedAttrs = si.children[3]!;
  ranges.push([signedAttrs.start, signedAttrs.end]);
  const sig = si.children[5] as BerElement;
  ranges.push([sig.contentStart, sig.contentEnd]);
  return ranges;
}

describe('SignedData properties', () => {
  it('round-trips random content for every scheme, attached and detached', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom(...schemes), fc.boolean(), async (content, { scheme, who }, detached) => {
        const der = await signSignedData(content, { key: pki[who].key, certificate: pki[who].certDer, scheme, detached });
        const v = verifySignedData(der, detached ? { detachedContent: content } : {});
        expect(v.allValid).toBe(true);
        expect(Buffer.from(v.content!).equals(Buffer.from(content))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('never reports valid and never throws anything but SsmaxError when bytes of content, signed attributes or signature change', async () => {
    const fixtures = await Promise.all(
      schemes.flatMap(({ scheme, who }) =>
        [false, true].map(async (detached) => {
          const content = new Uint8Array(Buffer.from('The quick brown fox\r\n'.repeat(20)));
          const der = await signSignedData(content, { key: pki[who].key, certificate: pki[who].certDer, scheme, detached });
          return { der, content, detached, ranges: protectedRanges(der) };
        }),
      ),
    );
    fc.assert(
      fc.property(fc.constantFrom(...fixtures), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (f, pick, xor, hitContent) => {
        if (f.detached && hitContent) {
          const content = f.content.slice();
          xorByte(content, pick % content.byteLength, xor);
          const r = verifyOrSsmaxError(f.der, content);
          expect(r instanceof SsmaxError || !r.allValid).toBe(true);
          return;
        }
        const [start, end] = f.ranges[pick % f.ranges.length]!;
        const at = start + (Math.floor(pick / f.ranges.length) % (end - start));
        const der = f.der.slice();
        xorByte(der, at, xor);
        const r = verifyOrSsmaxError(der, f.detached ? f.content : undefined);
        expect(r instanceof SsmaxError || !r.allValid).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it('only ever throws SsmaxError (or returns) when a valid SignedData is mutated, truncated or extended anywhere', async () => {
    const der = await signSignedData(Buffer.from('mutate me'), {
      key: pki.rsa.key,
      certificate: pki.rsa.certDer,
      scheme: 'RSASSA-PSS-SHA256',
      chain: [pki.caCertDer],
    });
    const derEc = await signSignedData(Buffer.from('mutate me'), { key: pki.ec.key, certificate: pki.ec.certDer, detached: true });
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x80, 0xff, 0x30, 0xa0, 0x04, 0x24, 0x84) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(der, derEc), fc.array(mutation, { minLength: 1, maxLength: 3 }), (base, muts) => {
        let b = base.slice();
        let truncated = false;
        for (const m of muts) {
          const at = m.at % Math.max(1, b.byteLength);
          if (m.kind === 'flip') {
            // A buffer truncated to nothing has no byte left to flip.
            if (b.byteLength > 0) xorByte(b, at, m.xor);
          } else if (m.kind === 'set') b[at] = m.value;
          else if (m.kind === 'truncate') {
            b = b.slice(0, at);
            truncated = true;
          } else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
          else b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.count)]);
        }
        const r = verifyOrSsmaxError(b, base === derEc ? Buffer.from('mutate me') : undefined);
        // A truncated definite-length encoding can never parse as a whole element.
        if (truncated && muts.length === 1) expect(r).toBeInstanceOf(SsmaxError);
      }),
      { numRuns: 3000 },
    );
  });
});
