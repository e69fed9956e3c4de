/**
 * The valid corpus every parser target starts from, made at start with the real code: a small SSMAX PKI (registry
 * root, org CA, card user, RSA user, KMS keys) issued by core, SignedData, EnvelopedData and AuthEnvelopedData from
 * core's CMS writers, CRLs, S/MIME mails, ZIPs from core's zip writer, and manifest, attestation and registry
 * documents. What the server host captured from a running world (a real inter-org SSMAX mail, the registry's
 * signed documents) is added when given. Plus the RFC 4134 examples (core's rfc4134Seeds).
 */
import {
  SoftwareKey,
  SsmaxOids,
  buildMimeEntity,
  buildMultipartSigned,
  buildPkcs7Mime,
  createZip,
  encryptContent,
  issueCrl,
  issueOrgCertificate,
  issueOrgKmsCertificate,
  issueRootCertificate,
  injectProtectedHeaders,
  issueUserCertificate,
  outerHeadersFor,
  parseSmime,
  signSignedData,
  verifySignedData,
  type CertificateInfo,
  type CrlInfo,
  type PrivateKeyOps,
  type SecretKeyRecipient,
} from '@ssmax/core';
import { rfc4134Seeds } from '@ssmax/core/fuzz';
import { classifyParts, sha256Hex, type Manifest, type OrgAttestation } from '@ssmax/sim-org';

/** Bytes the server host captured from its world (see fuzz-host.ts); each may be missing. */
export interface HostSeeds {
  /** An SSMAX mail from org-a to org-b as org-b's MX received it (user-signed, org-signed, attested, files encrypted). */
  readonly ssmaxMail?: Uint8Array;
  /** A plain mail from outside, as the MX accepts it. */
  readonly plainMail?: Uint8Array;
  /** The world registry's signed directory and status documents and its CRL (GET /v1/directory, /v1/status, /v1/crl). */
  readonly registryDirectory?: Uint8Array;
  readonly registryStatus?: Uint8Array;
  readonly registryCrl?: Uint8Array;
}

/** The clock of every certificate and CRL in the corpus, and the validation time. */
export const FUZZ_NOW = new Date('2026-06-01T00:00:00Z');
const now = () => FUZZ_NOW;

interface Holder {
  readonly key: PrivateKeyOps;
  readonly cert: CertificateInfo;
}

export interface FuzzPki {
  readonly root: Holder;
  readonly orgCa: Holder;
  /** A card user (EC P-256, identity-proofing extension) of org-a.example. */
  readonly user: Holder;
  /** An RSA user whose certificate signs and decrypts. */
  readonly rsaUser: Holder;
  /** The org's KMS keys: signing (EC) and encryption (EC, key agreement). */
  readonly kmsSigning: Holder;
  readonly kmsEncryption: Holder;
  readonly crl: CrlInfo;
}

export interface FuzzCorpus {
  readonly pki: FuzzPki;
  readonly der: readonly Uint8Array[];
  readonly signed: readonly Uint8Array[];
  /** The content the corpus' detached SignedData sign (verifiers need it back). */
  readonly signedContent: Uint8Array;
  readonly enveloped: readonly Uint8Array[];
  readonly authEnveloped: readonly Uint8Array[];
  readonly certificates: readonly Uint8Array[];
  readonly crls: readonly Uint8Array[];
  readonly mails: readonly Uint8Array[];
  readonly zips: readonly Uint8Array[];
  readonly manifests: readonly unknown[];
  readonly attestations: readonly unknown[];
  readonly directories: readonly unknown[];
  readonly statuses: readonly unknown[];
  /** Decryption secrets of the corpus' password and KEK recipients. */
  readonly password: string;
  readonly secretKey: SecretKeyRecipient;
}

async function buildPki(): Promise<FuzzPki> {
  const rootKey = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({ subject: { C: 'JP', O: 'Fuzz Registry', CN: 'Fuzz Registry Root' }, key: rootKey, now });
  const orgKey = SoftwareKey.generate('EC-P256');
  const orgCa = await issueOrgCertificate({
    issuer: { certificate: root, key: rootKey },
    subjectSpki: orgKey.spki,
    organization: 'Org A',
    mailDomain: 'org-a.example',
    now,
  });
  const userKey = SoftwareKey.generate('EC-P256');
  const user = await issueUserCertificate({
    issuer: { certificate: orgCa, key: orgKey },
    subjectSpki: userKey.spki,
    email: 'alice@org-a.example',
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt: FUZZ_NOW, proofedBy: 'fuzz desk' },
    traceId: new Uint8Array(16).fill(7),
    now,
  });
  const rsaKey = SoftwareKey.generate('RSA-2048');
  const rsaUser = await issueUserCertificate({
    issuer: { certificate: orgCa, key: orgKey },
    subjectSpki: rsaKey.spki,
    email: 'rsa@org-a.example',
    usage: 'combined',
    identityProofing: { method: 'remoteVideo', proofedAt: FUZZ_NOW },
    traceId: new Uint8Array(16).fill(9),
    now,
  });
  const kmsSigningKey = SoftwareKey.generate('EC-P256');
  const kmsSigning = await issueOrgKmsCertificate({ issuer: { certificate: orgCa, key: orgKey }, subjectSpki: kmsSigningKey.spki, purpose: 'signing', now });
  const kmsEncryptionKey = SoftwareKey.generate('EC-P256');
  const kmsEncryption = await issueOrgKmsCertificate({
    issuer: { certificate: orgCa, key: orgKey },
    subjectSpki: kmsEncryptionKey.spki,
    purpose: 'encryption',
    now,
  });
  const crl = await issueCrl({
    issuer: { certificate: orgCa, key: orgKey },
    now,
    crlNumber: 7,
    revoked: [
      { serialNumber: rsaUser.serialNumber, revocationDate: FUZZ_NOW, reason: 'keyCompromise' },
      { serialNumber: '0badc0de', revocationDate: new Date('2026-01-01T00:00:00Z') },
    ],
  });
  return {
    root: { key: rootKey, cert: root },
    orgCa: { key: orgKey, cert: orgCa },
    user: { key: userKey, cert: user },
    rsaUser: { key: rsaKey, cert: rsaUser },
    kmsSigning: { key: kmsSigningKey, cert: kmsSigning },
    kmsEncryption: { key: kmsEncryptionKey, cert: kmsEncryption },
    crl,
  };
}

const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** JSON content of a SignedData, when it verifies and holds JSON. */
function jsonContentOf(der: Uint8Array | undefined): unknown {
  if (!der) return undefined;
  try {
    const v = verifySignedData(der);
    return v.content ? (JSON.parse(Buffer.from(v.content).toString('utf8')) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** Parts of a captured SSMAX mail: its org signature, manifest, attestations, encrypted files and certificates. */
function ssmaxPartsOf(mail: Uint8Array | undefined): { signatures: Uint8Array[]; files: Uint8Array[]; certificates: Uint8Array[]; entity?: Uint8Array } {
  const out = { signatures: [] as Uint8Array[], files: [] as Uint8Array[], certificates: [] as Uint8Array[] };
  if (!mail) return out;
  try {
    const p = parseSmime(mail);
    if (p.kind !== 'multipart-signed') return out;
    const parts = classifyParts(p.signedEntity);
    out.signatures.push(p.signature);
    if (parts.manifest) out.signatures.push(parts.manifest.body);
    for (const a of parts.attestations) out.signatures.push(a.part.body);
    for (const f of parts.files) out.files.push(f.der);
    out.certificates.push(...verifySignedData(p.signature, { detachedContent: p.signedEntity }).certificates);
    return { ...out, entity: p.signedEntity };
  } catch {
    return out;
  }
}

export async function buildCorpus(host: HostSeeds): Promise<FuzzCorpus> {
  const pki = await buildPki();
  const vectors = rfc4134Seeds();
  const captured = ssmaxPartsOf(host.ssmaxMail);
  const content = text('Fuzz content: the quick brown fox\r\n'.repeat(4));

  const signed = [
    await signSignedData(content, { key: pki.rsaUser.key, certificate: pki.rsaUser.cert.der, chain: [pki.orgCa.cert.der] }),
    await signSignedData(content, { key: pki.user.key, certificate: pki.user.cert.der, chain: [pki.orgCa.cert.der, pki.root.cert.der], detached: true }),
    await signSignedData(content, {
      key: pki.rsaUser.key,
      certificate: pki.rsaUser.cert.der,
      scheme: 'RSASSA-PSS-SHA256',
      signerIdentifier: 'subjectKeyIdentifier',
      coSigners: [{ key: pki.kmsSigning.key, certificate: pki.kmsSigning.cert.der }],
      contentType: SsmaxOids.ctOrgAttestation,
    }),
    await signSignedData(content, { key: pki.user.key, certificate: pki.user.cert.der, omitCertificates: true }),
    ...vectors.der.filter((d) => d.length > 800 && d.length < 3000),
    ...captured.signatures,
    ...[host.registryDirectory, host.registryStatus].filter((d): d is Uint8Array => d !== undefined),
  ];

  const password = 'fuzz password';
  const secretKey: SecretKeyRecipient = { id: text('fuzz-kek-1'), key: new Uint8Array(32).fill(0x42) };
  const recipients = [pki.rsaUser.cert.der, pki.kmsEncryption.cert.der];
  const enveloped = [
    await encryptContent(content, { recipients, cipher: 'aes-256-cbc' }),
    await encryptContent(content, { recipients: [pki.rsaUser.cert.der], cipher: 'aes-128-cbc', oaepHash: 'SHA-1' }),
    await encryptContent(content, { recipients: [], passwords: [{ password, iterations: 1000 }], secretKeys: [secretKey], cipher: 'aes-192-cbc' }),
    ...vectors.der.filter((d) => Buffer.from(d).includes(Buffer.from('2a864886f70d010703', 'hex'))),
  ];
  const authEnveloped = [
    await encryptContent(content, { recipients, cipher: 'aes-256-gcm' }),
    await encryptContent(content, { recipients: [pki.kmsEncryption.cert.der], cipher: 'chacha20-poly1305' }),
    await encryptContent(content, {
      recipients: [pki.rsaUser.cert.der],
      passwords: [{ password, iterations: 1000 }],
      secretKeys: [secretKey],
      cipher: 'aes-128-gcm',
    }),
    ...captured.files,
  ];

  const certificates = [pki.root, pki.orgCa, pki.user, pki.rsaUser, pki.kmsSigning, pki.kmsEncryption].map((h) => h.cert.der);
  certificates.push(...vectors.certificates, ...captured.certificates);
  const emptyRootCrl = await issueCrl({ issuer: { certificate: pki.root.cert, key: pki.root.key }, now, crlNumber: 1, revoked: [] });
  const crls = [pki.crl.der, emptyRootCrl.der, ...vectors.crls, ...(host.registryCrl ? [host.registryCrl] : [])];

  const entity = buildMimeEntity({
    text: 'Grüße, see the files.',
    attachments: [
      { filename: 'figures.csv', contentType: 'text/csv', content: text('a,b\r\n1,2\r\n') },
      { filename: 'été.bin', contentType: 'application/octet-stream', content: new Uint8Array([0, 1, 2, 255]) },
    ],
  });
  const entitySignature = await signSignedData(entity, { key: pki.user.key, certificate: pki.user.cert.der, chain: [pki.orgCa.cert.der], detached: true });
  const smimeSigned = buildMultipartSigned(entity, entitySignature, { headers: { from: 'alice@org-a.example', to: 'bob@org-b.example', subject: 'signed' } });
  // RFC 9788 Header Protection (ssmax-plus): an hp="cipher" payload with HP-Outer records, signed; and an
  // hp="clear" one. Their parsers (readProtectedHeaders, openHeaderProtected) read what an attacker sends.
  const userFacing = [
    { name: 'From', value: 'alice@org-a.example' },
    { name: 'To', value: 'bob@org-b.example' },
    { name: 'Subject', value: 'quarterly figures' },
  ];
  const hpCipher = injectProtectedHeaders(entity, userFacing, { hp: 'cipher', outer: outerHeadersFor(userFacing) });
  const hpCipherSignature = await signSignedData(hpCipher, { key: pki.user.key, certificate: pki.user.cert.der, chain: [pki.orgCa.cert.der], detached: true });
  const mails = [
    smimeSigned,
    hpCipher,
    buildMultipartSigned(hpCipher, hpCipherSignature),
    injectProtectedHeaders(entity, userFacing, { hp: 'clear' }),
    new Uint8Array(Buffer.from(Buffer.from(smimeSigned).toString('latin1').replace(/\r\n/g, '\n'), 'latin1')),
    buildPkcs7Mime(enveloped[0]!, 'enveloped-data'),
    buildPkcs7Mime(authEnveloped[0]!, 'authEnveloped-data'),
    buildPkcs7Mime(signed[0]!, 'signed-data'),
    entity,
    ...vectors.mails,
    ...[host.ssmaxMail, host.plainMail].filter((m): m is Uint8Array => m !== undefined),
  ];

  const inner = createZip([{ name: 'inner.txt', data: 'nested' }]);
  const zips = [
    createZip([
      { name: 'a.txt', data: 'hello zip' },
      { name: 'dir/b.bin', data: new Uint8Array(300).fill(7), method: 'store' },
    ]),
    createZip([{ name: 'secret.txt', data: 'ppap' }], { password: 'pass', random: (n) => new Uint8Array(n).fill(3), comment: 'PPAP' }),
    createZip([
      { name: 'inner.zip', data: inner, method: 'store' },
      { name: 'x.txt', data: 'x' },
    ]),
    createZip([{ name: 'zeros.bin', data: new Uint8Array(256 * 1024) }]),
    createZip(Array.from({ length: 60 }, (_, i) => ({ name: `f${i}.txt`, data: `file ${i}` }))),
  ];

  const body = text('see the files\r\n');
  const manifest: Manifest = {
    v: 1,
    type: 'ssmax-manifest',
    messageId: '<fuzz-1@org-a.example>',
    from: 'alice@org-a.example',
    to: ['bob@org-b.example'],
    cc: [],
    subject: 'figures',
    date: 'Mon, 1 Jun 2026 00:00:00 +0000',
    bodySha256: sha256Hex(body),
    files: [{ n: 1, name: 'figures.csv', contentType: 'text/csv', size: 10, sha256: sha256Hex(text('a,b\r\n1,2\r\n')) }],
  };
  const attestation: OrgAttestation = {
    v: 1,
    type: 'ssmax-attestation',
    hop: 1,
    org: 'org-a',
    domain: 'org-a.example',
    role: 'sending-org',
    messageId: manifest.messageId,
    at: FUZZ_NOW.toISOString(),
    checks: [{ name: 'user-signature', result: 'pass', detail: 'alice@org-a.example' }],
    inspection: { performed: true, kind: 'dlp', verdict: 'allow', reasons: [] },
    identityNotice: {
      sender: 'alice@org-a.example',
      certSerial: pki.user.cert.serialNumber,
      traceId: '07'.repeat(16),
      proofing: 'employeeCardPin',
      proofedAt: FUZZ_NOW.toISOString(),
      cardAndPinUsed: true,
      certificate: Buffer.from(pki.user.cert.der).toString('base64'),
    },
    files: [{ n: 1, sha256: manifest.files[0]!.sha256, action: 're-encrypted' }],
    orgCrl: Buffer.from(pki.crl.der).toString('base64'),
  };
  const b64 = (c: Holder) => Buffer.from(c.cert.der).toString('base64');
  const directory = {
    type: 'ssmax-directory',
    version: 3,
    issuedAt: FUZZ_NOW.toISOString(),
    nextUpdate: '2099-01-01T00:00:00.000Z',
    members: [
      {
        orgId: 'org-a',
        name: 'Org A',
        domains: ['org-a.example'],
        mode: 'org',
        status: 'admitted',
        orgCertificate: b64(pki.orgCa),
        kmsSigningCertificate: b64(pki.kmsSigning),
        kmsEncryptionCertificate: b64(pki.kmsEncryption),
        // ssmax-plus: the pins of the member's MTA TLS keys (SHA-256 of the SPKI, base64).
        mtaTlsSpkiSha256: [Buffer.alloc(32, 0x5a).toString('base64')],
      },
    ],
  };
  const status = {
    type: 'ssmax-status',
    version: 3,
    issuedAt: FUZZ_NOW.toISOString(),
    nextUpdate: '2099-01-01T00:00:00.000Z',
    orgs: [{ orgId: 'org-a', name: 'Org A', status: 'admitted', statusSince: FUZZ_NOW.toISOString() }],
  };
  const capturedManifest = captured.entity ? jsonContentOf(classifyParts(captured.entity).manifest?.body) : undefined;
  const capturedAttestations = captured.entity ? classifyParts(captured.entity).attestations.map((a) => jsonContentOf(a.part.body)) : [];
  const defined = (xs: unknown[]) => xs.filter((x) => x !== undefined);
  const keepDates = (doc: unknown) =>
    // A captured registry document expires with its world; the copy here stays current so it reaches the member checks.
    doc !== null && typeof doc === 'object' ? { ...doc, nextUpdate: '2099-01-01T00:00:00.000Z' } : doc;

  return {
    pki,
    der: [...signed, ...enveloped, ...authEnveloped, ...certificates, ...crls, ...vectors.der],
    signed,
    signedContent: content,
    enveloped,
    authEnveloped,
    certificates,
    crls,
    mails,
    zips,
    manifests: defined([manifest, capturedManifest]),
    attestations: defined([attestation, ...capturedAttestations]),
    directories: defined([directory, jsonContentOf(host.registryDirectory)]).map(keepDates),
    statuses: defined([status, jsonContentOf(host.registryStatus)]).map(keepDates),
    password,
    secretKey,
  };
}
