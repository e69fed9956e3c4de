/**
 * INTERIM backend for {@link RegistryPki} while @ssmax/core's x509 and cms/signed are being written.
 * Built on pkijs/asn1js (core's own dependencies) and node:crypto; every signature goes through the
 * injected PrivateKeyOps, so a token-backed registry key works unchanged. To be replaced by core-pki.ts.
 */
import * as crypto from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { Oids, type PrivateKeyOps, type SignScheme } from '@ssmax/core';
import type { CrlRequest, IssueRequest, RegistryPki, RootRequest, VerifyOutcome } from './pki.js';

// Copy into a fresh ArrayBuffer: a Buffer may be a window on a shared pool, and .slice() on a Buffer does not copy.
const ab = (u: Uint8Array): ArrayBuffer => new Uint8Array(u).buffer;

function schemeFor(key: PrivateKeyOps): { scheme: SignScheme; alg: pkijs.AlgorithmIdentifier } {
  if (key.algorithm === 'EC-P256') {
    return { scheme: 'ECDSA-SHA256', alg: new pkijs.AlgorithmIdentifier({ algorithmId: Oids.ecdsaWithSHA256 }) };
  }
  return {
    scheme: 'RSASSA-PKCS1-v1_5-SHA256',
    alg: new pkijs.AlgorithmIdentifier({ algorithmId: Oids.sha256WithRSAEncryption, algorithmParams: new asn1js.Null() }),
  };
}

function name(cn: string, o: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      new pkijs.AttributeTypeAndValue({ type: '2.5.4.10', value: new asn1js.Utf8String({ value: o }) }),
      new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: cn }) }),
    ],
  });
}

function keyUsage(bits: number[]): pkijs.Extension {
  // RFC 5280 §4.2.1.3: bit 0 = digitalSignature … bit 6 = cRLSign; DER BIT STRING, named bits, trailing zeros trimmed.
  let v = 0;
  for (const b of bits) v |= 0x8000 >> b;
  const bytes = v & 0xff ? [v >> 8, v & 0xff] : [v >> 8];
  const last = bytes[bytes.length - 1] ?? 0;
  let unused = 0;
  while (unused < 7 && ((last >> unused) & 1) === 0) unused++;
  const der = new Uint8Array([0x03, bytes.length + 1, unused, ...bytes]);
  return new pkijs.Extension({ extnID: '2.5.29.15', critical: true, extnValue: ab(der) });
}

function ski(spki: Uint8Array): ArrayBuffer {
  const info = pkijs.PublicKeyInfo.fromBER(ab(spki));
  // RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
  return ab(crypto.createHash('sha1').update(new Uint8Array(info.subjectPublicKey.valueBlock.valueHexView)).digest());
}

async function signCert(signer: PrivateKeyOps, cert: pkijs.Certificate): Promise<Uint8Array> {
  const { scheme, alg } = schemeFor(signer);
  cert.signature = alg;
  cert.signatureAlgorithm = alg;
  const tbs = new Uint8Array(cert.encodeTBS().toBER());
  cert.tbsView = tbs;
  cert.signatureValue = new asn1js.BitString({ valueHex: ab(await signer.sign(scheme, tbs)) });
  return new Uint8Array(cert.toSchema().toBER());
}

function baseCert(serial: Uint8Array, spki: Uint8Array, notBefore: Date, notAfter: Date): pkijs.Certificate {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: ab(serial) });
  cert.notBefore.value = notBefore;
  cert.notAfter.value = notAfter;
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(ab(spki));
  return cert;
}

function bc(ca: boolean, pathLen?: number): pkijs.Extension {
  const v = new pkijs.BasicConstraints({ cA: ca, ...(pathLen === undefined ? {} : { pathLenConstraint: pathLen }) });
  return new pkijs.Extension({ extnID: '2.5.29.19', critical: true, extnValue: v.toSchema().toBER() });
}

function akiFrom(issuer: pkijs.Certificate): pkijs.Extension {
  const skiExt = issuer.extensions?.find((e) => e.extnID === '2.5.29.14');
  const keyId = skiExt ? (asn1js.fromBER(skiExt.extnValue.valueBlock.valueHexView).result as asn1js.OctetString).valueBlock.valueHexView : new Uint8Array(0);
  const v = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: ab(new Uint8Array(keyId)) }) });
  return new pkijs.Extension({ extnID: '2.5.29.35', extnValue: v.toSchema().toBER() });
}

export const interimPki: RegistryPki = {
  async issueRoot(signer: PrivateKeyOps, req: RootRequest): Promise<Uint8Array> {
    const cert = baseCert(req.serial, signer.spki, req.notBefore, req.notAfter);
    cert.issuer = name(req.commonName, req.organization);
    cert.subject = name(req.commonName, req.organization);
    cert.extensions = [
      bc(true),
      keyUsage([5, 6]),
      new pkijs.Extension({ extnID: '2.5.29.14', extnValue: new asn1js.OctetString({ valueHex: ski(signer.spki) }).toBER() }),
    ];
    return signCert(signer, cert);
  },

  async issue(signer: PrivateKeyOps, issuerCertificate: Uint8Array, req: IssueRequest): Promise<Uint8Array> {
    const issuer = pkijs.Certificate.fromBER(ab(issuerCertificate));
    const cert = baseCert(req.serial, req.subjectSpki, req.notBefore, req.notAfter);
    cert.issuer = issuer.subject;
    cert.subject = name(req.commonName, req.organization);
    const isEc = pkijs.PublicKeyInfo.fromBER(ab(req.subjectSpki)).algorithm.algorithmId === Oids.ecPublicKey;
    const ext: pkijs.Extension[] = [
      new pkijs.Extension({ extnID: '2.5.29.14', extnValue: new asn1js.OctetString({ valueHex: ski(req.subjectSpki) }).toBER() }),
      akiFrom(issuer),
    ];
    if (req.profile === 'org-ca') ext.push(bc(true, 0), keyUsage([0, 5, 6]));
    else if (req.profile === 'kms-signing') ext.push(bc(false), keyUsage([0, 1]));
    else ext.push(bc(false), keyUsage(isEc ? [4] : [2]));
    if (req.profile !== 'org-ca') {
      const eku = new pkijs.ExtKeyUsage({ keyPurposes: [Oids.emailProtection] });
      ext.push(new pkijs.Extension({ extnID: '2.5.29.37', extnValue: eku.toSchema().toBER() }));
    }
    if (req.dnsNames.length > 0) {
      const san = new pkijs.GeneralNames({ names: req.dnsNames.map((d) => new pkijs.GeneralName({ type: 2, value: d })) });
      ext.push(new pkijs.Extension({ extnID: '2.5.29.17', extnValue: san.toSchema().toBER() }));
    }
    cert.extensions = ext;
    return signCert(signer, cert);
  },

  async issueCrl(signer: PrivateKeyOps, issuerCertificate: Uint8Array, req: CrlRequest): Promise<Uint8Array> {
    const issuer = pkijs.Certificate.fromBER(ab(issuerCertificate));
    const crl = new pkijs.CertificateRevocationList();
    crl.version = 1;
    crl.issuer = issuer.subject;
    crl.thisUpdate = new pkijs.Time({ type: 0, value: req.thisUpdate });
    crl.nextUpdate = new pkijs.Time({ type: 0, value: req.nextUpdate });
    if (req.revoked.length > 0) {
      crl.revokedCertificates = req.revoked.map(
        (r) =>
          new pkijs.RevokedCertificate({
            userCertificate: new asn1js.Integer({ valueHex: ab(r.serial) }),
            revocationDate: new pkijs.Time({ type: 0, value: r.revokedAt }),
            crlEntryExtensions: new pkijs.Extensions({
              extensions: [new pkijs.Extension({ extnID: '2.5.29.21', extnValue: new asn1js.Enumerated({ value: r.reasonCode }).toBER() })],
            }),
          }),
      );
    }
    const crlNumberHex = req.crlNumber.toString(16).padStart(2, '0');
    crl.crlExtensions = new pkijs.Extensions({
      extensions: [
        akiFrom(issuer),
        new pkijs.Extension({ extnID: '2.5.29.20', extnValue: new asn1js.Integer({ valueHex: ab(Buffer.from(crlNumberHex.length % 2 ? '0' + crlNumberHex : crlNumberHex, 'hex')) }).toBER() }),
      ],
    });
    const { scheme, alg } = schemeFor(signer);
    crl.signature = alg;
    crl.signatureAlgorithm = alg;
    const tbs = new Uint8Array((crl as unknown as { encodeTBS(): asn1js.Sequence }).encodeTBS().toBER());
    crl.tbsView = tbs;
    crl.signatureValue = new asn1js.BitString({ valueHex: ab(await signer.sign(scheme, tbs)) });
    return new Uint8Array(crl.toSchema().toBER());
  },

  async signData(signer: PrivateKeyOps, signerCertificate: Uint8Array, content: Uint8Array, signingTime: Date): Promise<Uint8Array> {
    const cert = pkijs.Certificate.fromBER(ab(signerCertificate));
    const { scheme } = schemeFor(signer);
    const digest = crypto.createHash('sha256').update(content).digest();
    // RFC 5652 §5.3: contentType and messageDigest are mandatory signed attributes when any are present.
    const signedAttrs = new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: [
        new pkijs.Attribute({ type: Oids.contentType, values: [new asn1js.ObjectIdentifier({ value: Oids.data })] }),
        new pkijs.Attribute({ type: Oids.signingTime, values: [new asn1js.UTCTime({ valueDate: signingTime })] }),
        new pkijs.Attribute({ type: Oids.messageDigest, values: [new asn1js.OctetString({ valueHex: ab(digest) })] }),
      ],
    });
    // RFC 5652 §5.4: the signature covers the DER of the attributes with an explicit SET OF tag.
    const attrsDer = new Uint8Array(new asn1js.Set({ value: signedAttrs.attributes.map((a) => a.toSchema()) }).toBER());
    const signatureAlgorithm =
      signer.algorithm === 'EC-P256'
        ? new pkijs.AlgorithmIdentifier({ algorithmId: Oids.ecdsaWithSHA256 })
        : new pkijs.AlgorithmIdentifier({ algorithmId: Oids.rsaEncryption, algorithmParams: new asn1js.Null() });
    const si = new pkijs.SignerInfo({
      version: 1,
      sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
      digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: Oids.sha256 }),
      signedAttrs,
      signatureAlgorithm,
      signature: new asn1js.OctetString({ valueHex: ab(await signer.sign(scheme, attrsDer)) }),
    });
    const sd = new pkijs.SignedData({
      version: 1,
      digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: Oids.sha256 })],
      encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: Oids.data, eContent: new asn1js.OctetString({ valueHex: ab(content) }) }),
      certificates: [cert],
      signerInfos: [si],
    });
    const ci = new pkijs.ContentInfo({ contentType: Oids.signedData, content: sd.toSchema(true) });
    return new Uint8Array(ci.toSchema().toBER());
  },

  async verifyData(cms: Uint8Array, candidates: readonly Uint8Array[]): Promise<VerifyOutcome> {
    let sd: pkijs.SignedData;
    try {
      const ci = pkijs.ContentInfo.fromBER(ab(cms));
      if (ci.contentType !== Oids.signedData) return { ok: false, reason: 'The CMS is not SignedData.' };
      sd = new pkijs.SignedData({ schema: ci.content });
    } catch {
      return { ok: false, reason: 'The CMS SignedData is malformed.' };
    }
    const si = sd.signerInfos[0];
    const econtent = sd.encapContentInfo.eContent;
    if (!si || !econtent || sd.signerInfos.length !== 1) return { ok: false, reason: 'The SignedData must have exactly one signer and encapsulated content.' };
    const content = new Uint8Array(econtent.getValue());
    for (const der of candidates) {
      const cand = pkijs.Certificate.fromBER(ab(der));
      const sid = si.sid as pkijs.IssuerAndSerialNumber;
      if (!(sid instanceof pkijs.IssuerAndSerialNumber) || !sid.issuer.isEqual(cand.issuer) || !sid.serialNumber.isEqual(cand.serialNumber)) continue;
      if (!si.signedAttrs) return { ok: false, reason: 'The signer info has no signed attributes.' };
      const md = si.signedAttrs.attributes.find((a) => a.type === Oids.messageDigest)?.values[0] as asn1js.OctetString | undefined;
      const digest = crypto.createHash('sha256').update(content).digest();
      if (si.digestAlgorithm.algorithmId !== Oids.sha256) return { ok: false, reason: 'The digest algorithm is not SHA-256.' };
      if (!md || !Buffer.from(md.valueBlock.valueHexView).equals(digest)) return { ok: false, reason: 'The message digest does not match the content.' };
      const attrsDer = new Uint8Array(new asn1js.Set({ value: si.signedAttrs.attributes.map((a) => a.toSchema()) }).toBER());
      const pub = new crypto.X509Certificate(der).publicKey;
      const ok = crypto.verify('sha256', attrsDer, pub.asymmetricKeyType === 'ec' ? { key: pub, dsaEncoding: 'der' } : pub, new Uint8Array(si.signature.valueBlock.valueHexView));
      return ok ? { ok: true, content, signerCertificate: der } : { ok: false, reason: 'The signature does not verify with the signer certificate.' };
    }
    return { ok: false, reason: 'The signer is not one of the expected certificates.' };
  },
};
