/**
 * Hostile-input properties for every parser entry point: random, mutated, truncated and token-soup inputs must
 * either parse or throw SsmaxError with a malformed/verdict code (see isAllowedFailure), each within a bounded
 * time. fast-check prints the seed and the shrunk counterexample on failure.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDer } from '../asn1.js';
import { decodePem, encodePem } from '../pem.js';
import { SsmaxError } from '../errors.js';
import { SoftwareKey } from '../software-key.js';
import { decryptContent, encryptContent, signSignedData, verifySignedData } from '../cms/index.js';
import { parseCertificate, parseCrl } from '../x509/index.js';
import { createOpensslPki, type OpensslPki } from '../testing/openssl-pki.js';
import { buildMimeEntity, buildMultipartSigned, buildPkcs7Mime, detectCmsInput, parseMimeEntity, parseSmime, DEFAULT_MIME_LIMITS } from '../smime/index.js';
import { checkOutcome, isAllowedFailure, mimeTokenSoup, mutatedFrom, rfc4134Seeds } from './fuzz-support.js';

const RUNS = 200;
const vectors = rfc4134Seeds();
const derSeeds = vectors.der;
const emlSeeds = vectors.mails;
const ourMimeSeeds = [
  buildMultipartSigned(buildMimeEntity({ text: 'hi', attachments: [{ filename: 'a.bin', content: new Uint8Array([1, 2, 3]) }] }), derSeeds[0] as Uint8Array, {
    headers: { subject: 's' },
  }),
  buildPkcs7Mime(derSeeds[1] as Uint8Array, 'authEnveloped-data'),
  buildMimeEntity({ text: 'Grüße', attachments: [{ filename: 'été.txt', content: new Uint8Array([0x41]) }] }),
];
const mimeSeeds = [...emlSeeds, ...ourMimeSeeds];

const anyBytes = fc.uint8Array({ maxLength: 4096 });

describe('parseDer', () => {
  it('returns or throws MALFORMED_DER/LIMIT_EXCEEDED when given random, mutated or truncated DER', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(derSeeds)), (b) => checkOutcome(() => parseDer(b, 'fuzz input'))),
      { numRuns: RUNS },
    );
  });

  it('throws LIMIT_EXCEEDED rather than recursing when nesting exceeds maxDepth', () => {
    const deep = new Uint8Array([...Array(100).fill([0x30, 0x80]).flat(), ...Array(200).fill(0)]);
    expect(() => parseDer(deep, 'deep', { maxDepth: 32, maxNodes: 1000, maxContentLength: 1 << 20 })).toThrow(SsmaxError);
  });
});

describe('decodePem', () => {
  it('returns or throws MALFORMED_PEM when given mutated PEM or random text', async () => {
    const pemSeeds = derSeeds.slice(0, 6).map((d) => new Uint8Array(Buffer.from(encodePem(d, 'CERTIFICATE'), 'latin1')));
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(pemSeeds)), (b) => checkOutcome(() => decodePem(Buffer.from(b).toString('latin1')))),
      { numRuns: RUNS },
    );
  });
});

describe('parseSmime', () => {
  it('returns or throws MALFORMED_MIME/LIMIT_EXCEEDED when given random, mutated, truncated or token-soup mail', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(mimeSeeds), mimeTokenSoup()), (b) => checkOutcome(() => parseSmime(b))),
      { numRuns: RUNS },
    );
  });

  it('round-trips multipart/signed, also when the mail travels with LF line endings', () => {
    const canonical = fc.uint8Array({ maxLength: 600 }).map(
      (u) =>
        new Uint8Array(
          Buffer.from(
            Buffer.from(u)
              .toString('latin1')
              .replace(/\r\n|\r|\n/g, '\r\n'),
            'latin1',
          ),
        ),
    );
    fc.assert(
      fc.property(canonical, fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.boolean(), (entity, sig, lf) => {
        let mail = buildMultipartSigned(entity, sig, { headers: { from: 'a@b.example', subject: 'x' } });
        if (lf) mail = new Uint8Array(Buffer.from(Buffer.from(mail).toString('latin1').replace(/\r\n/g, '\n'), 'latin1'));
        const p = parseSmime(mail);
        return p.kind === 'multipart-signed' && Buffer.from(p.signedEntity).equals(Buffer.from(entity)) && Buffer.from(p.signature).equals(Buffer.from(sig));
      }),
      { numRuns: RUNS },
    );
  });

  it('round-trips application/pkcs7-mime for every buildable smime-type', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.constantFrom('signed-data', 'enveloped-data', 'authEnveloped-data' as const),
        (der, t) => {
          const p = parseSmime(buildPkcs7Mime(der, t));
          const d = detectCmsInput(buildPkcs7Mime(der, t));
          return p.kind === 'pkcs7-mime' && p.smimeType === t && Buffer.from(p.der).equals(Buffer.from(der)) && Buffer.from(d.der).equals(Buffer.from(der));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('parseMimeEntity', () => {
  it('returns or throws MALFORMED_MIME/LIMIT_EXCEEDED when given random, mutated or token-soup entities', async () => {
    const tight = { ...DEFAULT_MIME_LIMITS, maxParts: 50, maxDepth: 8 };
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(mimeSeeds), mimeTokenSoup()), (b) => checkOutcome(() => parseMimeEntity(b, tight))),
      { numRuns: RUNS },
    );
  });

  it('round-trips text and attachments (filenames, types, bytes) through build and parse', async () => {
    const { collectAttachments, findTextBody } = await import('../smime/index.js');
    const filename = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => !/[\r\n\0/\\]/.test(s) && s.trim() === s && s !== '');
    const att = fc.record({
      filename,
      contentType: fc.constantFrom('application/pdf', 'text/csv', 'application/octet-stream'),
      content: fc.uint8Array({ maxLength: 500 }),
    });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.array(att, { maxLength: 4 }), (text, attachments) => {
        const tree = parseMimeEntity(buildMimeEntity({ text, attachments }));
        expect(findTextBody(tree)).toBe(text.replace(/\r\n|\r|\n/g, '\r\n'));
        expect(collectAttachments(tree)).toEqual(attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('detectCmsInput', () => {
  it('returns or throws a malformed code when given random, mutated DER or mail', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(derSeeds), mutatedFrom(mimeSeeds)), (b) => checkOutcome(() => detectCmsInput(b))),
      { numRuns: RUNS },
    );
  });
});

describe('parseCertificate', () => {
  const certSeeds = vectors.certificates;
  const crlSeeds = vectors.crls;
  it('returns or throws a malformed code when given random, mutated or truncated certificates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(certSeeds)), (b) => checkOutcome(() => parseCertificate(b))),
      { numRuns: RUNS },
    );
  });
  it('parseCrl returns or throws a malformed code when given mutated or truncated CRLs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyBytes, mutatedFrom(crlSeeds)), (b) => checkOutcome(() => parseCrl(b))),
      { numRuns: RUNS },
    );
  });
});

describe('verifySignedData', () => {
  let pki: OpensslPki;
  let attached: Uint8Array[];
  let detached: Uint8Array[];
  const content = new Uint8Array(Buffer.from('signed fuzz content'));
  beforeAll(async () => {
    pki = createOpensslPki();
    attached = [
      await signSignedData(content, { key: pki.rsa.key, certificate: pki.rsa.certDer }),
      ...derSeeds.filter((d) => d.length > 800 && d.length < 3000),
    ];
    detached = [await signSignedData(content, { key: pki.ec.key, certificate: pki.ec.certDer, detached: true })];
  });
  afterAll(() => pki?.[Symbol.dispose]());

  it('returns a verdict or throws a malformed code when given mutated or truncated SignedData, never a false "valid"', async () => {
    // Detached content goes only with the detached seed: passing it with encapsulated content is caller misuse (USAGE).
    const input = fc.oneof(
      mutatedFrom(attached).map((b) => ({ b, opts: {} })),
      mutatedFrom(detached).map((b) => ({ b, opts: { detachedContent: content } })),
    );
    await fc.assert(
      fc.asyncProperty(input, ({ b, opts }) =>
        checkOutcome(() => {
          const v = verifySignedData(b, opts);
          // The seeds sign `content` or RFC 4134's ExContent.bin; a mutation that still verifies must have left the signed bytes intact.
          const signedContents = [content, vectors.exContent];
          if (v.allValid && v.content && !signedContents.some((c) => Buffer.from(c).equals(Buffer.from(v.content as Uint8Array)))) {
            throw new Error('a mutated SignedData verified over different content');
          }
        }),
      ),
      { numRuns: RUNS },
    );
  });
});

describe('decryptContent', () => {
  let pki: OpensslPki;
  let seeds: Uint8Array[];
  beforeAll(async () => {
    pki = createOpensslPki();
    seeds = [
      await encryptContent(new Uint8Array(Buffer.from('fuzz me, please')), { recipients: [pki.rsa.certDer], cipher: 'aes-256-cbc' }),
      await encryptContent(new Uint8Array(Buffer.from('and me, authenticated')), { recipients: [pki.ec.certDer, pki.rsa.certDer], cipher: 'aes-256-gcm' }),
    ];
  });
  afterAll(() => pki?.[Symbol.dispose]());

  it('decrypts the unmutated seeds (so the property below exercises real envelopes)', async () => {
    const out = await decryptContent(seeds[1] as Uint8Array, { key: pki.ec.key as SoftwareKey });
    expect(Buffer.from(out.content).toString()).toBe('and me, authenticated');
  });

  it('returns or throws a malformed/verdict code when given mutated or truncated envelopes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 1, arbitrary: anyBytes }, { weight: 4, arbitrary: mutatedFrom(seeds) }), fc.boolean(), (b, useEc) =>
        checkOutcome(() => decryptContent(b, { key: useEc ? pki.ec.key : pki.rsa.key })),
      ),
      { numRuns: RUNS },
    );
  });
});

describe('isAllowedFailure', () => {
  it('rejects a plain Error and usage codes, accepts malformed and verdict codes', () => {
    expect(isAllowedFailure(new TypeError('x'))).toBe(false);
    expect(isAllowedFailure(new SsmaxError('USAGE', 'x'))).toBe(false);
    expect(isAllowedFailure(new SsmaxError('INTERNAL', 'x'))).toBe(false);
    expect(isAllowedFailure(new SsmaxError('MALFORMED_MIME', 'x'))).toBe(true);
    expect(isAllowedFailure(new SsmaxError('AUTH_TAG_MISMATCH', 'x'))).toBe(true);
  });
});
