/**
 * Issue 12: EdDSA in CMS SignedData (RFC 8419). Known answers come from outside this repository:
 * - RFC 8032 §7.1 TEST 1 (Ed25519) and §7.4 "Blank" (Ed448): secret key, empty message, signature (the same
 *   bytes are in SoftHSMv2's src/lib/crypto/test/EDDSATests.cpp and libtomcrypt's tests);
 * - RFC 9216 sample certificates, wbond/certvalidator tests/fixtures/rfc9216 at commit
 *   a2eddc9ab0a0cca80b9fb18104cae9a6cf9a1c60;
 * - SignedData made by another implementation (CryptoSys) with the RFC 9216 keys: davidi67/examples-cms at
 *   commit 2fbf230db8f58835b4eba8cdeb3508ac76c5f989 (test-vectors/rfc9216/SOURCE.md).
 * The malformed variants are built here, byte by byte, so each tests one rule a broken verifier would miss.
 */
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';
import { decodePem } from '../../pem.js';
import { SoftwareKey } from '../../software-key.js';
import { judgeSigners } from '../../smime/judge-signers.js';
import { issueUserCertificate } from '../../x509/issue.js';
import { createSsmaxTestPki } from '../../x509/test-fixtures.js';
import {
  derEncode,
  derExplicit,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSetOf,
  derTime,
  encodeAlgorithmIdentifier,
  encodeContentInfo,
  readBer,
  type BerElement,
} from '../common/index.js';
import { readCertificateIds } from './certificate-ids.js';
import { signSignedData } from './sign-signed-data.js';
import { verifySignedData } from './verify-signed-data.js';

const VEC = fileURLToPath(new URL('../../../test-vectors/rfc9216/', import.meta.url));
const vec = (p: string): Uint8Array => new Uint8Array(readFileSync(VEC + p));
const cert = (name: string): Uint8Array => decodePem(readFileSync(`${VEC}certs/${name}`, 'latin1'), 'CERTIFICATE');
const SAMPLE = new TextEncoder().encode('This is some sample content.');
const AT = new Date('2026-06-01T00:00:00Z');

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at] = c[at]! ^ 0x01;
  return c;
}

/** The first SignerInfo's element of a SignedData ContentInfo (our BER reader). */
function firstSignerInfo(der: Uint8Array): BerElement {
  const sd = readBer(der, 't').children[1]!.children[0]!;
  return sd.children[sd.children.length - 1]!.children[0]!;
}

/** The DER SET OF bytes the first SignerInfo signed (RFC 5652 §5.4) and its signature value. */
function signedPart(der: Uint8Array): { signedAttrs: Uint8Array; signature: Uint8Array; signatureAt: number } {
  const si = firstSignerInfo(der);
  const attrs = si.children.find((c) => c.tagClass === 2 && c.tagNumber === 0 && c.constructed)!;
  const bytes = der.slice(attrs.start, attrs.contentEnd);
  bytes[0] = 0x31;
  const sig = si.children.filter((c) => c.tagClass === 0 && c.tagNumber === 4).at(-1)!;
  return { signedAttrs: bytes, signature: der.slice(sig.contentStart, sig.contentEnd), signatureAt: sig.contentEnd - 1 };
}

/** PKCS#8 for a raw RFC 8032 secret key (RFC 8410 §7). */
function edKeyFromSeed(curve: 'Ed25519' | 'Ed448', seed: string): crypto.KeyObject {
  const prefix = curve === 'Ed25519' ? '302e020100300506032b657004220420' : '3047020100300506032b6571043b0439';
  return crypto.createPrivateKey({ key: Buffer.from(prefix + seed, 'hex'), format: 'der', type: 'pkcs8' });
}

interface Variant {
  readonly key: crypto.KeyObject;
  readonly certificate: Uint8Array;
  readonly content: Uint8Array;
  /** digestAlgorithm OID written in the SignerInfo. */
  readonly digestOid: string;
  /** The messageDigest attribute value. */
  readonly messageDigest: Uint8Array;
  /** signatureAlgorithm AlgorithmIdentifier, DER. */
  readonly signatureAlgorithm: Uint8Array;
  /** What the private key signs, given the DER signed attributes. */
  readonly toBeSigned?: (signedAttrs: Uint8Array) => Uint8Array;
  readonly noSignedAttributes?: boolean;
}

/** A SignedData built by hand (one SignerInfo, issuerAndSerialNumber), so each variant breaks exactly one rule. */
function buildSignedData(v: Variant): Uint8Array {
  const ids = readCertificateIds(v.certificate);
  const attrs = derEncode(
    derSetOf([
      derEncode(derSequence(derOid(Oids.contentType), derSetOf([derEncode(derOid(Oids.data))]))),
      derEncode(derSequence(derOid(Oids.messageDigest), derSetOf([derEncode(derOctetString(v.messageDigest))]))),
      derEncode(derSequence(derOid(Oids.signingTime), derSetOf([derEncode(derTime(new Date('2026-01-02T03:04:05Z')))]))),
    ]),
  );
  const tbs = v.noSignedAttributes ? v.content : (v.toBeSigned ?? ((a) => a))(attrs);
  const signature = crypto.sign(null, tbs, v.key);
  const tagged = attrs.slice();
  tagged[0] = 0xa0;
  const si = derSequence(
    derInteger(1),
    derSequence(ids.issuer, ids.serialNumber),
    encodeAlgorithmIdentifier(v.digestOid),
    ...(v.noSignedAttributes ? [] : [tagged]),
    v.signatureAlgorithm,
    derOctetString(signature),
  );
  const sd = derSequence(
    derInteger(1),
    derSetOf([encodeAlgorithmIdentifier(v.digestOid)]),
    derSequence(derOid(Oids.data), derExplicit(0, derOctetString(v.content))),
    derSetOf([v.certificate], 0xa0),
    derSetOf([derEncode(si)]),
  );
  return encodeContentInfo(Oids.signedData, sd);
}

const sha512 = (d: Uint8Array) => new Uint8Array(crypto.createHash('sha512').update(d).digest());
const shake256 = (d: Uint8Array) => new Uint8Array(crypto.createHash('shake256', { outputLength: 64 }).update(d).digest());

describe('issue 12: EdDSA primitives against RFC 8032 known answers', () => {
  it('signs the empty message with the RFC 8032 §7.1 TEST 1 Ed25519 key to the published signature, and our verifier takes it', async () => {
    const key = SoftwareKey.fromKeyObject(edKeyFromSeed('Ed25519', '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(key.algorithm).toBe('Ed25519');
    expect(Buffer.from(key.spki).toString('hex')).toBe('302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = await key.sign('Ed25519', new Uint8Array(0));
    expect(Buffer.from(sig).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('signs the empty message with the RFC 8032 §7.4 Ed448 key to the published signature (PureEdDSA, empty context)', async () => {
    const key = SoftwareKey.fromKeyObject(
      edKeyFromSeed('Ed448', '6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b'),
    );
    expect(Buffer.from(key.spki).toString('hex')).toBe(
      '3043300506032b6571033a005fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180',
    );
    const sig = await key.sign('Ed448', new Uint8Array(0));
    expect(Buffer.from(sig).toString('hex')).toBe(
      '533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600',
    );
  });
});

describe('issue 12: SignedData made by another implementation with the RFC 9216 keys (examples-cms)', () => {
  const carlos = cert('carlos@smime.example.sig.pem');
  const alice = cert('alice@smime.example.sig.pem');
  const roots = [cert('Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem'), cert('Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem')];

  it('reports Carlos valid (Ed25519, SHA-512, signed attributes) and chains him to the LAMPS Ed25519 root', () => {
    const v = verifySignedData(vec('examples-cms/signedByCarlosEd25519.p7m'));
    expect(v.signers).toHaveLength(1);
    const s = v.signers[0]!;
    expect(s.reasons).toEqual([]);
    expect(s.scheme).toBe('Ed25519');
    expect(s.digestAlgorithm).toBe('SHA-512');
    expect(Buffer.compare(Buffer.from(s.certificate!), Buffer.from(carlos))).toBe(0);
    expect(Buffer.from(v.content!).toString()).toBe('This is some sample content.');
    const [j] = judgeSigners(v, { trustAnchors: roots, time: AT, purpose: 'smime' });
    expect(j).toMatchObject({ valid: true, email: 'carlos@smime.example', scheme: 'Ed25519', sid: 'issuerAndSerialNumber' });
    // The same message against the RSA root alone has no path (Carlos's issuer is the Ed25519 CA).
    expect(judgeSigners(v, { trustAnchors: [roots[1]!], time: AT })[0]!.code).toBe('UNTRUSTED_CHAIN');
  });

  it('reproduces the published Carlos signature byte for byte from the RFC 9216 key (Ed25519 is deterministic)', async () => {
    const der = vec('examples-cms/signedByCarlosEd25519.p7m');
    const { signedAttrs, signature } = signedPart(der);
    const key = SoftwareKey.fromBytes(vec('examples-cms/lamps-carlos.p8.pem'));
    expect(Buffer.compare(Buffer.from(key.spki), Buffer.from(readCertificateIds(carlos).spki))).toBe(0);
    expect(Buffer.from(await key.sign('Ed25519', signedAttrs)).toString('hex')).toBe(Buffer.from(signature).toString('hex'));
  });

  it('reports invalid when one byte of the signed attributes or of the Ed25519 signature changes', () => {
    const der = vec('examples-cms/signedByCarlosEd25519.p7m');
    const si = firstSignerInfo(der);
    const attrs = si.children.find((c) => c.tagClass === 2 && c.tagNumber === 0)!;
    // A byte inside the signingCertificateV2 hash: covered by the signature, checked by nothing else.
    const inAttrs = verifySignedData(flip(der, attrs.contentEnd - 30));
    expect(inAttrs.allValid).toBe(false);
    expect(inAttrs.signers[0]!.code).toBe('BAD_SIGNATURE');
    const inSig = verifySignedData(flip(der, signedPart(der).signatureAt));
    expect(inSig.signers[0]!.code).toBe('BAD_SIGNATURE');
    const at = Buffer.from(der).indexOf(Buffer.from('sample content'));
    expect(verifySignedData(flip(der, at)).signers[0]!.code).toBe('CONTENT_MISMATCH');
  });

  it('reports the detached, attribute-less, subjectKeyIdentifier signer valid only with the right content', () => {
    const der = vec('examples-cms/signedByCarlosDetached.p7m');
    const v = verifySignedData(der, { detachedContent: SAMPLE });
    expect(v.detached).toBe(true);
    expect(v.signers[0]!.reasons).toEqual([]);
    expect('subjectKeyIdentifier' in v.signers[0]!.sid).toBe(true);
    expect(v.signers[0]!.signedAttributes).toEqual([]);
    // Without signed attributes the Ed25519 signature covers the content itself (RFC 8419 §3).
    expect(verifySignedData(der, { detachedContent: flip(SAMPLE, 3) }).signers[0]!.code).toBe('BAD_SIGNATURE');
    expect(verifySignedData(der).signers[0]!.code).toBe('CONTENT_UNAVAILABLE');
  });

  it('reports each of two signers (RSA and Ed25519) and finds their certificates only when given out of band', () => {
    const der = vec('examples-cms/signedByAliceAndCarlosNoCerts.p7m');
    const bare = verifySignedData(der);
    expect(bare.certificates).toEqual([]);
    expect(bare.signers.map((s) => s.code)).toEqual(['SIGNER_CERTIFICATE_MISSING', 'SIGNER_CERTIFICATE_MISSING']);
    const v = verifySignedData(der, { certificates: [alice, carlos] });
    expect(v.signers.map((s) => [s.scheme, s.digestAlgorithm, s.valid])).toEqual([
      ['Ed25519', 'SHA-512', true],
      ['RSASSA-PKCS1-v1_5', 'SHA-256', true],
    ]);
    expect(v.allValid).toBe(true);
    const judged = judgeSigners(v, { trustAnchors: roots, intermediates: [alice, carlos], time: AT });
    expect(judged.map((j) => [j.email, j.valid])).toEqual([
      ['carlos@smime.example', true],
      ['alice@smime.example', true],
    ]);
    // One signer's certificate only: that signer valid, the other missing, the whole not valid.
    const half = verifySignedData(der, { certificates: [carlos] });
    expect(half.signers.map((s) => s.valid)).toEqual([true, false]);
    expect(half.allValid).toBe(false);
    // Alice's certificate in Carlos's place: no certificate matches his sid, and Alice's key does not verify his signature.
    expect(verifySignedData(der, { certificates: [alice] }).signers[0]!.code).toBe('SIGNER_CERTIFICATE_MISSING');
  });

  it('reports Alice valid in the RSA-PSS example and invalid with one byte of its signature changed', () => {
    const der = vec('examples-cms/signedByAliceRSAPSS.p7m');
    const v = verifySignedData(der);
    expect(v.signers[0]).toMatchObject({ valid: true, scheme: 'RSASSA-PSS' });
    expect(verifySignedData(flip(der, signedPart(der).signatureAt)).signers[0]!.code).toBe('BAD_SIGNATURE');
  });
});

describe('issue 12: RFC 8419 rules a verifier must apply', () => {
  const ed25519 = crypto.generateKeyPairSync('ed25519');
  const ed448 = crypto.generateKeyPairSync('ed448');
  let pki: Awaited<ReturnType<typeof createSsmaxTestPki>>;
  const certFor = async (k: crypto.KeyObject): Promise<Uint8Array> => {
    pki ??= await createSsmaxTestPki();
    const spki = new Uint8Array(crypto.createPublicKey(k).export({ format: 'der', type: 'spki' }));
    const c = await issueUserCertificate({
      issuer: { certificate: pki.org, key: pki.orgKey },
      subjectSpki: spki,
      email: `ed-${crypto.randomUUID().slice(0, 8)}@alpha.example`,
      usage: 'signing',
      identityProofing: { method: 'employeeCardPin', proofedAt: pki.now(), proofedBy: 'desk' },
      traceId: crypto.randomBytes(16),
      now: pki.now,
    });
    return c.der;
  };
  const content = new TextEncoder().encode('RFC 8419 rules\r\n');
  const ED25519_ALG = encodeAlgorithmIdentifier(Oids.ed25519);
  const ED448_ALG = encodeAlgorithmIdentifier(Oids.ed448);

  it('reports valid for the hand-built baseline (so each variant below fails for its one change)', async () => {
    const c25519 = await certFor(ed25519.privateKey);
    const c448 = await certFor(ed448.privateKey);
    const a = verifySignedData(
      buildSignedData({
        key: ed25519.privateKey,
        certificate: c25519,
        content,
        digestOid: Oids.sha512,
        messageDigest: sha512(content),
        signatureAlgorithm: ED25519_ALG,
      }),
    );
    expect(a.signers[0]!.reasons).toEqual([]);
    const b = verifySignedData(
      buildSignedData({
        key: ed448.privateKey,
        certificate: c448,
        content,
        digestOid: Oids.shake256,
        messageDigest: shake256(content),
        signatureAlgorithm: ED448_ALG,
      }),
    );
    expect(b.signers[0]).toMatchObject({ valid: true, scheme: 'Ed448', digestAlgorithm: 'SHAKE256' });
    const c = verifySignedData(
      buildSignedData({
        key: ed448.privateKey,
        certificate: c448,
        content,
        digestOid: Oids.shake256,
        messageDigest: shake256(content),
        signatureAlgorithm: ED448_ALG,
        noSignedAttributes: true,
      }),
    );
    expect(c.signers[0]!.valid).toBe(true);
  });

  it('reports BAD_SIGNATURE when the Ed25519 signature covers a digest of the signed attributes (HashEdDSA-style) or the content', async () => {
    const c25519 = await certFor(ed25519.privateKey);
    const base = {
      key: ed25519.privateKey,
      certificate: c25519,
      content,
      digestOid: Oids.sha512,
      messageDigest: sha512(content),
      signatureAlgorithm: ED25519_ALG,
    };
    expect(verifySignedData(buildSignedData({ ...base, toBeSigned: (a) => sha512(a) })).signers[0]!.code).toBe('BAD_SIGNATURE');
    expect(verifySignedData(buildSignedData({ ...base, toBeSigned: () => content })).signers[0]!.code).toBe('BAD_SIGNATURE');
  });

  it('reports UNSUPPORTED_ALGORITHM when an Ed25519 signer names SHA-256 or an Ed448 signer SHA-512 (RFC 8419 §3.1), even with a good signature', async () => {
    const c25519 = await certFor(ed25519.privateKey);
    const c448 = await certFor(ed448.privateKey);
    const sha256 = new Uint8Array(crypto.createHash('sha256').update(content).digest());
    const a = verifySignedData(
      buildSignedData({
        key: ed25519.privateKey,
        certificate: c25519,
        content,
        digestOid: Oids.sha256,
        messageDigest: sha256,
        signatureAlgorithm: ED25519_ALG,
      }),
    );
    expect(a.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
    expect(a.signers[0]!.reasons.join()).toMatch(/RFC 8419 §3\.1/);
    const b = verifySignedData(
      buildSignedData({
        key: ed448.privateKey,
        certificate: c448,
        content,
        digestOid: Oids.sha512,
        messageDigest: sha512(content),
        signatureAlgorithm: ED448_ALG,
      }),
    );
    expect(b.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
  });

  it('reports MALFORMED_CMS when the messageDigest is a SHA-256 value under digestAlgorithm SHA-512', async () => {
    const c25519 = await certFor(ed25519.privateKey);
    const sha256 = new Uint8Array(crypto.createHash('sha256').update(content).digest());
    const v = verifySignedData(
      buildSignedData({
        key: ed25519.privateKey,
        certificate: c25519,
        content,
        digestOid: Oids.sha512,
        messageDigest: sha256,
        signatureAlgorithm: ED25519_ALG,
      }),
    );
    expect(v.signers[0]!.code).toBe('MALFORMED_CMS');
  });

  it('refuses EdDSA signatureAlgorithm parameters (RFC 8419 §2.2) and an Ed25519 signature checked with an Ed448 certificate', async () => {
    const c25519 = await certFor(ed25519.privateKey);
    const c448 = await certFor(ed448.privateKey);
    const withNull = verifySignedData(
      buildSignedData({
        key: ed25519.privateKey,
        certificate: c25519,
        content,
        digestOid: Oids.sha512,
        messageDigest: sha512(content),
        signatureAlgorithm: encodeAlgorithmIdentifier(Oids.ed25519, derNull()),
      }),
    );
    expect(withNull.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
    // Signed by the Ed448 key, labelled Ed25519: the certificate's key type decides, not the label.
    const mislabelled = verifySignedData(
      buildSignedData({
        key: ed448.privateKey,
        certificate: c448,
        content,
        digestOid: Oids.sha512,
        messageDigest: sha512(content),
        signatureAlgorithm: ED25519_ALG,
      }),
    );
    expect(mislabelled.signers[0]!.code).toBe('BAD_SIGNATURE');
  });

  it('reports BAD_SIGNATURE when the embedded certificate names the signer but holds another Ed25519 key', async () => {
    const c25519 = await certFor(ed25519.privateKey);
    const other = crypto.generateKeyPairSync('ed25519');
    // Same issuer and serial (so the sid matches), but the signature comes from another key.
    const v = verifySignedData(
      buildSignedData({
        key: other.privateKey,
        certificate: c25519,
        content,
        digestOid: Oids.sha512,
        messageDigest: sha512(content),
        signatureAlgorithm: ED25519_ALG,
      }),
    );
    expect(v.signers[0]!.code).toBe('BAD_SIGNATURE');
  });
});

describe('issue 12: our EdDSA SignedData round trip', () => {
  for (const alg of ['Ed25519', 'Ed448'] as const) {
    it(`writes ${alg} with ${alg === 'Ed25519' ? 'SHA-512' : 'SHAKE256'} and a subjectKeyIdentifier signer, and reads it back valid; one byte changed is invalid`, async () => {
      const pki = await createSsmaxTestPki();
      const { key, cert } = await pki.user('eve', { alg });
      expect(key.signSchemes).toEqual([alg]);
      for (const detached of [false, true]) {
        const der = await signSignedData(SAMPLE, { key, certificate: cert.der, detached, signerIdentifier: 'subjectKeyIdentifier', signingTime: pki.now() });
        const v = verifySignedData(der, detached ? { detachedContent: SAMPLE } : {});
        expect(v.version).toBe(3);
        expect(v.signers[0]).toMatchObject({ valid: true, scheme: alg, digestAlgorithm: alg === 'Ed25519' ? 'SHA-512' : 'SHAKE256' });
        expect('subjectKeyIdentifier' in v.signers[0]!.sid).toBe(true);
        expect(judgeSigners(v, { trustAnchors: [pki.root.der], intermediates: [pki.org.der], time: pki.now() })[0]!.valid).toBe(true);
        const bad = verifySignedData(flip(der, signedPart(der).signatureAt), detached ? { detachedContent: SAMPLE } : {});
        expect(bad.signers[0]!.code).toBe('BAD_SIGNATURE');
      }
    });
  }

  it('refuses a SHA-256 content digest for an Ed25519 signer with USAGE, and takes the SHA-512 one', async () => {
    const pki = await createSsmaxTestPki();
    const c = await pki.user('frank', { alg: 'Ed25519' });
    const sha256 = new Uint8Array(crypto.createHash('sha256').update(SAMPLE).digest());
    const err = await signSignedData({ digest: sha256 }, { key: c.key, certificate: c.cert.der, detached: true }).catch((e: unknown) => e);
    expect(SsmaxError.is(err, 'USAGE')).toBe(true);
    const der = await signSignedData({ digest: sha512(SAMPLE), algorithm: 'SHA-512' }, { key: c.key, certificate: c.cert.der, detached: true });
    expect(verifySignedData(der, { detachedContent: SAMPLE }).allValid).toBe(true);
  });
});
