/**
 * Issue 10 item 11: attribute and algorithm rules of SignedData verification. The bad inputs come from
 * openssl (signing) and pkijs (adding unsigned attributes after signing), not from our own signer.
 *
 * - RFC 5652 §11.1-§11.3: contentType, messageDigest and signingTime MUST NOT be unsigned attributes; an
 *   unsigned attribute is not covered by the signature, so anybody on the path can add one (a signing
 *   time of their choosing, say). §11.4: countersignature MUST NOT be a signed attribute.
 * - No SHA-1 and no RSA key under 2048 bits behind a signature we call valid (as our X.509 already refuses).
 * - RFC 4055 §1.2: an id-RSASSA-PSS key is for RSASSA-PSS only, so a PKCS#1 v1.5 signature by it is refused
 *   by policy, whatever the crypto library would do with it.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePem } from '../../pem.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { verifySignedData } from './verify-signed-data.js';

let pki: OpensslPki;
let n = 0;
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

const CONTENT = Buffer.from('Quarterly figures attached.\r\n');

function file(bytes: Uint8Array, ext = 'bin'): string {
  const p = join(pki.dir, `r${++n}.${ext}`);
  writeFileSync(p, bytes);
  return p;
}

/** `openssl cms -sign` of CONTENT, attached, binary, DER; `extra` adds options (-md, -keyopt, -nocerts). */
function opensslSign(certPath: string, keyPath: string, extra: string[] = []): Uint8Array {
  const out = join(pki.dir, `s${++n}.der`);
  const r = pki.openssl([
    'cms',
    '-sign',
    '-binary',
    '-nodetach',
    '-in',
    file(CONTENT),
    '-signer',
    certPath,
    '-inkey',
    keyPath,
    '-outform',
    'DER',
    '-out',
    out,
    ...extra,
  ]);
  expect(r.status, r.stderr).toBe(0);
  return new Uint8Array(readFileSync(out));
}

/** Adds unsigned attributes to the first SignerInfo with pkijs (the signature stays untouched). */
function withUnsignedAttributes(der: Uint8Array, attrs: Array<{ type: string; value: asn1js.AsnType }>): Uint8Array {
  const ci = new pkijs.ContentInfo({ schema: asn1js.fromBER(der).result });
  const sd = new pkijs.SignedData({ schema: ci.content });
  sd.signerInfos[0]!.unsignedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 1,
    attributes: attrs.map((a) => new pkijs.Attribute({ type: a.type, values: [a.value] })),
  });
  const out = new pkijs.ContentInfo({ contentType: ci.contentType, content: sd.toSchema(true) });
  return new Uint8Array(out.toSchema().toBER(false));
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  countersignature: '1.2.840.113549.1.9.6',
  // An attribute §11 says nothing about (id-aa-timeStampToken, RFC 3161 App. A), as a control.
  timeStampToken: '1.2.840.113549.1.9.16.2.14',
};

describe('verifySignedData attribute and algorithm rules (issue 10 item 11)', () => {
  it('accepts an RSA-2048 SHA-256 signature with an unrelated unsigned attribute added (control)', () => {
    const der = withUnsignedAttributes(opensslSign(pki.rsa.certPath, pki.rsa.keyPath, ['-md', 'sha256']), [
      { type: OID.timeStampToken, value: new asn1js.OctetString({ valueHex: new Uint8Array([1, 2, 3]).buffer }) },
    ]);
    const v = verifySignedData(der);
    expect(v.signers[0]!.unsignedAttributes.map((a) => a.type)).toEqual([OID.timeStampToken]);
    expect(v.signers[0]!.reasons).toEqual([]);
    expect(v.allValid).toBe(true);
  });

  const smuggled: Array<{ name: string; type: string; value: () => asn1js.AsnType }> = [
    { name: 'contentType', type: OID.contentType, value: () => new asn1js.ObjectIdentifier({ value: OID.data }) },
    {
      name: 'messageDigest',
      type: OID.messageDigest,
      value: () => new asn1js.OctetString({ valueHex: new Uint8Array(createHash('sha256').update(CONTENT).digest()).buffer }),
    },
    { name: 'signingTime', type: OID.signingTime, value: () => new asn1js.UTCTime({ valueDate: new Date('2019-04-01T09:00:00Z') }) },
  ];
  for (const s of smuggled) {
    it(`rejects the SignerInfo when ${s.name} appears as an unsigned attribute (RFC 5652 §11)`, () => {
      const signed = opensslSign(pki.rsa.certPath, pki.rsa.keyPath, ['-md', 'sha256']);
      const v = verifySignedData(withUnsignedAttributes(signed, [{ type: s.type, value: s.value() }]));
      expect(v.allValid).toBe(false);
      expect(v.signers[0]!.code).toBe('MALFORMED_CMS');
      expect(v.signers[0]!.reasons.join('; ')).toMatch(new RegExp(`${s.name}.*unsigned`));
    });
  }

  it('reports only the signed signingTime, never one from the unsigned attributes', () => {
    const signed = opensslSign(pki.rsa.certPath, pki.rsa.keyPath, ['-md', 'sha256']);
    const own = verifySignedData(signed).signers[0]!.signingTime!;
    const v = verifySignedData(
      withUnsignedAttributes(signed, [{ type: OID.signingTime, value: new asn1js.UTCTime({ valueDate: new Date('2019-04-01T09:00:00Z') }) }]),
    );
    expect(v.signers[0]!.signingTime?.getTime()).toBe(own.getTime());
  });

  it('refuses a SHA-1 signature by an RSA-2048 key (PKCS#1 v1.5 and PSS)', () => {
    for (const extra of [
      ['-md', 'sha1'],
      ['-md', 'sha1', '-keyopt', 'rsa_padding_mode:pss'],
    ]) {
      const v = verifySignedData(opensslSign(pki.rsa.certPath, pki.rsa.keyPath, extra));
      expect(v.signers[0]!.digestAlgorithm).toBe('SHA-1');
      expect(v.allValid, extra.join(' ')).toBe(false);
      expect(v.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
      expect(v.signers[0]!.reasons.join('; ')).toMatch(/SHA-1/);
    }
  });

  it('refuses a SHA-256 signature by an RSA-1024 key', () => {
    const r = pki.openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:1024',
      '-nodes',
      '-keyout',
      'weak.key',
      '-out',
      'weak.pem',
      '-days',
      '30',
      '-subj',
      '/CN=weak signer',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const v = verifySignedData(opensslSign(join(pki.dir, 'weak.pem'), join(pki.dir, 'weak.key'), ['-md', 'sha256']));
    expect(v.allValid).toBe(false);
    expect(v.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
    expect(v.signers[0]!.reasons.join('; ')).toMatch(/2048/);
  });

  it('refuses a PKCS#1 v1.5 signature whose signer certificate holds the key as id-RSASSA-PSS', () => {
    // One RSA key, two certificates with the same issuer and serial: the PSS one (SPKI id-RSASSA-PSS) is
    // the signer certificate the verifier finds; the rsaEncryption twin only lets openssl sign v1.5.
    const run = (args: string[]) => {
      const r = pki.openssl(args);
      expect(r.status, r.stderr).toBe(0);
    };
    run(['genpkey', '-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'pss.key']);
    run(['req', '-x509', '-key', 'pss.key', '-subj', '/CN=pss signer', '-set_serial', '77', '-days', '30', '-out', 'pss.pem']);
    // The same key as a plain RSA key: the RSAPrivateKey inside the PKCS#8 (RFC 5958) under rsaEncryption.
    const pkcs8 = createPrivateKey(readFileSync(join(pki.dir, 'pss.key'))).export({ format: 'der', type: 'pkcs8' });
    const inner = (asn1js.fromBER(new Uint8Array(pkcs8)).result as asn1js.Sequence).valueBlock.value[2] as asn1js.OctetString;
    const rsa = createPrivateKey({ key: Buffer.from(inner.valueBlock.valueHexView), format: 'der', type: 'pkcs1' });
    writeFileSync(join(pki.dir, 'pss-as-rsa.key'), rsa.export({ format: 'pem', type: 'pkcs1' }));
    run(['req', '-x509', '-key', 'pss-as-rsa.key', '-subj', '/CN=pss signer', '-set_serial', '77', '-days', '30', '-out', 'pss-as-rsa.pem']);
    const der = opensslSign(join(pki.dir, 'pss-as-rsa.pem'), join(pki.dir, 'pss-as-rsa.key'), ['-md', 'sha256', '-nocerts']);
    const pssCert = decodePem(readFileSync(join(pki.dir, 'pss.pem'), 'latin1'), 'CERTIFICATE');
    // Control: with the rsaEncryption certificate the very same SignerInfo verifies.
    const rsaCert = decodePem(readFileSync(join(pki.dir, 'pss-as-rsa.pem'), 'latin1'), 'CERTIFICATE');
    expect(verifySignedData(der, { certificates: [rsaCert] }).allValid).toBe(true);
    const v = verifySignedData(der, { certificates: [pssCert] });
    expect(v.allValid).toBe(false);
    expect(v.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
    expect(v.signers[0]!.reasons.join('; ')).toMatch(/id-RSASSA-PSS key .* PKCS#1 v1\.5/);
  });
});
