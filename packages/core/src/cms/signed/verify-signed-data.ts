/** CMS SignedData verification (RFC 5652 §5.4-§5.6): signature outcomes are data, not exceptions. */
import { DEFAULT_DER_LIMITS, type DerLimits } from '../../asn1.js';
import { SsmaxError, type ErrorCode } from '../../errors.js';
import { Oids } from '../../oids.js';
import { checkSignature, type SignatureCheckAlgorithm } from '../../signature-algorithms.js';
import {
  berEncoded,
  berInteger,
  berIs,
  berOid,
  berStringValue,
  berTime,
  nodeHashName,
  paramsAbsentOrNull,
  readAlgorithmIdentifier,
  readBer,
  readContentInfo,
  TagClass,
  UniversalTag,
  type BerElement,
} from '../common/index.js';
import { signerDigest, signerDigestFromOid, signerDigestLength, type SignerDigestAlgorithm } from './signer-digests.js';
import { readCertificateIds, type CertificateIds } from './certificate-ids.js';
import { bytesEqual } from './sign-signed-data.js';
import { interpretSignatureAlgorithm, type VerifyAlgorithm } from './signature-algorithms.js';

export interface VerifySignedDataOptions {
  /** The content of a detached SignedData. */
  readonly detachedContent?: Uint8Array;
  /** Digests of detached content the caller hashed itself (streaming), by algorithm. */
  readonly detachedDigest?: Partial<Record<SignerDigestAlgorithm, Uint8Array>>;
  /** Further candidate signer certificates (DER), searched after the embedded ones. */
  readonly certificates?: readonly Uint8Array[];
  /** Parsing bounds; default {@link DEFAULT_DER_LIMITS}. */
  readonly limits?: DerLimits;
  /** Most SignerInfos checked; more is refused as LIMIT_EXCEEDED. Default {@link MAX_SIGNER_INFOS}. */
  readonly maxSignerInfos?: number;
}

/**
 * Each SignerInfo costs a signature check (and a search of the certificates), so a SignedData within any mail
 * size limit could otherwise buy seconds of CPU: 5,000 copies of one SignerInfo (1.3 MB) took 2 s, 6,000 in a
 * fuzz case 5 s (npm run fuzz, issue 11 item 4). RFC 5652 sets no bound; real messages have one to a few.
 */
export const MAX_SIGNER_INFOS = 64;

/** Compile-time check that every verdict code is in the {@link ErrorCodes} table. */
type ErrorCodeSubset<T extends ErrorCode> = T;

/** Why a signer is not valid: {@link ErrorCode}s, so the edges map them with the same table as errors. */
export type SignerVerdictCode = ErrorCodeSubset<
  | 'BAD_SIGNATURE'
  | 'CONTENT_MISMATCH'
  | 'UNSUPPORTED_ALGORITHM'
  | 'MALFORMED_CMS'
  | 'MALFORMED_CERTIFICATE'
  | 'SIGNER_CERTIFICATE_MISSING'
  | 'CONTENT_UNAVAILABLE'
>;

export interface SignedAttribute {
  readonly type: string;
  /** DER of each value (views into the input). */
  readonly values: Uint8Array[];
}

export type SignerIdentifier = { readonly issuer: Uint8Array; readonly serialNumber: bigint } | { readonly subjectKeyIdentifier: Uint8Array };

export interface SignerVerification {
  readonly valid: boolean;
  /** The first failed check, when not valid. */
  readonly code?: SignerVerdictCode;
  /** Every failed check, in words. Empty when valid. */
  readonly reasons: string[];
  readonly sid: SignerIdentifier;
  /** The signer certificate matched by sid (embedded or caller-supplied). Validate its chain separately. */
  readonly certificate?: Uint8Array;
  readonly scheme?: VerifyAlgorithm['kind'];
  /** Digest algorithm name, or the OID if unsupported. */
  readonly digestAlgorithm: SignerDigestAlgorithm | string;
  readonly signatureAlgorithm: string;
  readonly signingTime?: Date;
  /** Empty when the SignerInfo has no signed attributes. */
  readonly signedAttributes: SignedAttribute[];
  readonly unsignedAttributes: SignedAttribute[];
}

export interface SignedDataVerification {
  readonly version: number;
  /** eContentType. */
  readonly contentType: string;
  /** The encapsulated content (a view into the input when primitive), or the detached content. */
  readonly content?: Uint8Array;
  readonly detached: boolean;
  /** Embedded X.509 certificates, DER. */
  readonly certificates: Uint8Array[];
  /** Embedded revocation info (CRLs or other), DER as received. */
  readonly crls: Uint8Array[];
  readonly signers: SignerVerification[];
  /** True when there is at least one signer and every signer is valid. */
  readonly allValid: boolean;
}

function malformed(why: string): never {
  throw new SsmaxError('MALFORMED_CMS', `Cannot read the SignedData. ${why}.`);
}

/**
 * Parses a ContentInfo(SignedData) in BER or DER and checks every SignerInfo: messageDigest against
 * the content digest, contentType against eContentType, and the signature over the exact received
 * signed attributes (or over the content when there are none). Throws SsmaxError (MALFORMED_DER,
 * MALFORMED_CMS, LIMIT_EXCEEDED, UNSUPPORTED_CONTENT_TYPE, USAGE) only for unreadable input or misuse.
 */
export function verifySignedData(der: Uint8Array, options: VerifySignedDataOptions = {}): SignedDataVerification {
  const ci = readContentInfo(der, options.limits ?? DEFAULT_DER_LIMITS);
  if (ci.contentType !== Oids.signedData) {
    throw new SsmaxError('UNSUPPORTED_CONTENT_TYPE', `Cannot verify the CMS message. Its content type is ${ci.contentType}, not SignedData.`);
  }
  const sd = ci.content;
  if (!berIs(sd, TagClass.universal, UniversalTag.sequence, true)) malformed('It is not a SEQUENCE');
  const fields = [...sd.children];
  const versionEl = fields.shift();
  const digestAlgsEl = fields.shift();
  const encapEl = fields.shift();
  if (!versionEl || !berIs(digestAlgsEl, TagClass.universal, UniversalTag.set, true) || !berIs(encapEl, TagClass.universal, UniversalTag.sequence, true)) {
    malformed('The version, digestAlgorithms or encapContentInfo is missing');
  }
  const version = Number(berIntegerCms(versionEl, 'the SignedData version'));
  const certsEl = berIs(fields[0], TagClass.context, 0, true) ? fields.shift() : undefined;
  const crlsEl = berIs(fields[0], TagClass.context, 1, true) ? fields.shift() : undefined;
  const signerInfosEl = fields.shift();
  if (!berIs(signerInfosEl, TagClass.universal, UniversalTag.set, true) || fields.length !== 0) {
    malformed('The signerInfos SET is missing or followed by unexpected fields');
  }
  const maxSignerInfos = options.maxSignerInfos ?? MAX_SIGNER_INFOS;
  if (signerInfosEl.children.length > maxSignerInfos) {
    throw new SsmaxError(
      'LIMIT_EXCEEDED',
      `Cannot verify the SignedData. It has ${signerInfosEl.children.length} SignerInfos, above the limit of ${maxSignerInfos}.`,
    );
  }
  for (const a of digestAlgsEl.children) readAlgorithmIdentifierCms(a, 'a digestAlgorithms entry');

  // RFC 5652 §5.2 EncapsulatedContentInfo.
  if (encapEl.children.length < 1 || encapEl.children.length > 2) malformed('The encapContentInfo has the wrong number of fields');
  const contentType = oidCms(encapEl.children[0]!, 'the eContentType');
  let content: Uint8Array | undefined;
  const eContentWrapper = encapEl.children[1];
  if (eContentWrapper) {
    const os = eContentWrapper.children[0];
    if (
      !berIs(eContentWrapper, TagClass.context, 0, true) ||
      eContentWrapper.children.length !== 1 ||
      !berIs(os, TagClass.universal, UniversalTag.octetString)
    ) {
      malformed('The eContent is not [0] EXPLICIT OCTET STRING');
    }
    content = cms(() => berStringValue(os, 'the eContent'));
  }
  const detached = content === undefined;
  if (!detached && (options.detachedContent !== undefined || options.detachedDigest !== undefined)) {
    throw new SsmaxError('USAGE', 'Cannot verify the SignedData with detached content. The content is encapsulated already.');
  }
  if (detached && options.detachedContent !== undefined) content = options.detachedContent;

  const certificates: Uint8Array[] = [];
  for (const c of certsEl?.children ?? []) {
    // CertificateChoices (RFC 5652 §10.2.2): only the plain Certificate alternative is returned.
    if (berIs(c, TagClass.universal, UniversalTag.sequence, true)) certificates.push(berEncoded(c).slice());
  }
  const crls = (crlsEl?.children ?? []).map((c) => berEncoded(c).slice());

  const candidates = [...certificates, ...(options.certificates ?? [])];
  const idsCache = new Map<Uint8Array, CertificateIds | null>();
  const idsOf = (c: Uint8Array): CertificateIds | null => {
    if (!idsCache.has(c)) {
      try {
        idsCache.set(c, readCertificateIds(c));
      } catch {
        idsCache.set(c, null);
      }
    }
    return idsCache.get(c) ?? null;
  };
  const digestCache = new Map<SignerDigestAlgorithm, Uint8Array | undefined>();
  const contentDigest = (alg: SignerDigestAlgorithm): Uint8Array | undefined => {
    if (!digestCache.has(alg)) {
      let d: Uint8Array | undefined;
      if (content !== undefined) d = signerDigest(alg, content);
      else d = options.detachedDigest?.[alg];
      digestCache.set(alg, d);
    }
    return digestCache.get(alg);
  };

  const signers = signerInfosEl.children.map((si) => verifySigner(si, { contentType, content, contentDigest, candidates, idsOf }));
  return {
    version,
    contentType,
    ...(content !== undefined ? { content } : {}),
    detached,
    certificates,
    crls,
    signers,
    allValid: signers.length > 0 && signers.every((s) => s.valid),
  };
}

interface SignerContext {
  readonly contentType: string;
  readonly content: Uint8Array | undefined;
  contentDigest(alg: SignerDigestAlgorithm): Uint8Array | undefined;
  readonly candidates: readonly Uint8Array[];
  idsOf(c: Uint8Array): CertificateIds | null;
}

function verifySigner(si: BerElement, ctx: SignerContext): SignerVerification {
  if (!berIs(si, TagClass.universal, UniversalTag.sequence, true)) malformed('A SignerInfo is not a SEQUENCE');
  const f = [...si.children];
  const versionEl = f.shift();
  const sidEl = f.shift();
  const digestAlgEl = f.shift();
  const signedAttrsEl = berIs(f[0], TagClass.context, 0, true) ? f.shift() : undefined;
  const sigAlgEl = f.shift();
  const signatureEl = f.shift();
  const unsignedAttrsEl = berIs(f[0], TagClass.context, 1, true) ? f.shift() : undefined;
  if (!versionEl || !sidEl || !digestAlgEl || !sigAlgEl || !berIs(signatureEl, TagClass.universal, UniversalTag.octetString) || f.length !== 0) {
    malformed('A SignerInfo does not have the fields of RFC 5652 §5.3');
  }
  berIntegerCms(versionEl, 'the SignerInfo version');
  let sid: SignerIdentifier;
  if (berIs(sidEl, TagClass.universal, UniversalTag.sequence, true) && sidEl.children.length === 2) {
    const [issuer, serial] = sidEl.children as [BerElement, BerElement];
    if (!berIs(issuer, TagClass.universal, UniversalTag.sequence, true)) malformed('The SignerInfo issuer is not a Name');
    sid = { issuer: berEncoded(issuer), serialNumber: berIntegerCms(serial, 'the SignerInfo serialNumber') };
  } else if (berIs(sidEl, TagClass.context, 0, false)) {
    sid = { subjectKeyIdentifier: cms(() => berStringValue(sidEl, 'the subjectKeyIdentifier')) };
  } else {
    malformed('The SignerIdentifier is neither issuerAndSerialNumber nor subjectKeyIdentifier');
  }
  const digestAlgId = readAlgorithmIdentifierCms(digestAlgEl, 'the SignerInfo digestAlgorithm');
  const sigAlgId = readAlgorithmIdentifierCms(sigAlgEl, 'the SignerInfo signatureAlgorithm');
  const signature = cms(() => berStringValue(signatureEl, 'the signature'));
  const signedAttributes = signedAttrsEl ? readAttributes(signedAttrsEl, 'signed') : [];
  const unsignedAttributes = unsignedAttrsEl ? readAttributes(unsignedAttrsEl, 'unsigned') : [];

  const failures: Array<{ code: SignerVerdictCode; reason: string }> = [];
  const fail = (code: SignerVerdictCode, reason: string): void => void failures.push({ code, reason });
  const digestAlg = signerDigestFromOid(digestAlgId.oid);
  let signingTime: Date | undefined;
  let alg: VerifyAlgorithm | undefined;

  // RFC 5652 §11.1-§11.3: these MUST NOT be unsigned attributes. Nothing covers an unsigned attribute, so
  // anyone on the path could add one (a signing time of their choosing); the SignerInfo is rejected, not
  // merely the attribute ignored. §11.4: a countersignature MUST NOT be a signed attribute.
  for (const [oid, name, section] of SIGNED_ONLY_ATTRIBUTES) {
    if (unsignedAttributes.some((a) => a.type === oid))
      fail('MALFORMED_CMS', `the ${name} attribute appears as an unsigned attribute (RFC 5652 ${section} forbids it)`);
  }
  if (signedAttributes.some((a) => a.type === Oids.countersignature)) {
    fail('MALFORMED_CMS', 'the countersignature attribute appears as a signed attribute (RFC 5652 §11.4 forbids it)');
  }

  if (!digestAlg || !paramsAbsentOrNull(digestAlgId)) {
    fail('UNSUPPORTED_ALGORITHM', `digestAlgorithm ${digestAlgId.oid} is not supported`);
  } else if (digestAlg === 'SHA-1') {
    // The signature check below still runs, so a changed byte still shows as BAD_SIGNATURE beside this.
    fail('UNSUPPORTED_ALGORITHM', 'SHA-1 is not accepted for signatures (collisions are practical); use SHA-256 or stronger');
    const r = interpretSignatureAlgorithm(sigAlgId, digestAlg);
    if (r.ok) alg = r.alg;
  } else {
    const r = interpretSignatureAlgorithm(sigAlgId, digestAlg);
    if (r.ok) alg = r.alg;
    else fail('UNSUPPORTED_ALGORITHM', r.reason);
  }

  // RFC 5652 §5.4: with signed attributes the signature covers their DER SET OF encoding, i.e. the
  // exact received bytes with the [0] IMPLICIT tag octet replaced by SET (0x31).
  let signedBytes: Uint8Array | undefined;
  if (signedAttrsEl) {
    signedBytes = berEncoded(signedAttrsEl).slice();
    signedBytes[0] = 0x31;
    const single = (oid: string, name: string): Uint8Array | undefined => {
      const found = signedAttributes.filter((a) => a.type === oid);
      if (found.length === 0) return undefined;
      if (found.length > 1 || found[0]!.values.length !== 1) {
        fail('MALFORMED_CMS', `the ${name} attribute must occur once with one value (RFC 5652 §11)`);
        return undefined;
      }
      return found[0]!.values[0];
    };
    const ct = single(Oids.contentType, 'contentType');
    const md = single(Oids.messageDigest, 'messageDigest');
    const st = single(Oids.signingTime, 'signingTime');
    if (st) {
      try {
        signingTime = berTime(readValue(st), 'the signingTime attribute');
      } catch {
        fail('MALFORMED_CMS', 'the signingTime attribute is not a valid Time');
      }
    }
    if (!ct) {
      fail('MALFORMED_CMS', 'the contentType signed attribute is missing (RFC 5652 §5.3)');
    } else {
      let attrType: string | undefined;
      try {
        attrType = berOid(readValue(ct), 'the contentType attribute');
      } catch {
        fail('MALFORMED_CMS', 'the contentType attribute is not an OBJECT IDENTIFIER');
      }
      if (attrType !== undefined && attrType !== ctx.contentType) {
        fail('CONTENT_MISMATCH', `the contentType attribute ${attrType} differs from eContentType ${ctx.contentType}`);
      }
    }
    if (!md) {
      fail('MALFORMED_CMS', 'the messageDigest signed attribute is missing (RFC 5652 §5.3)');
    } else if (digestAlg) {
      let expected: Uint8Array | undefined;
      try {
        const v = readValue(md);
        if (berIs(v, TagClass.universal, UniversalTag.octetString, false)) expected = berStringValue(v, 'the messageDigest');
      } catch {
        expected = undefined;
      }
      const actual = ctx.contentDigest(digestAlg);
      if (!expected || expected.byteLength !== signerDigestLength(digestAlg)) {
        fail('MALFORMED_CMS', `the messageDigest attribute is not a ${digestAlg} OCTET STRING`);
      } else if (!actual) {
        fail('CONTENT_UNAVAILABLE', `the content is detached and neither detachedContent nor a ${digestAlg} detachedDigest was given`);
      } else if (!bytesEqual(expected, actual)) {
        fail('CONTENT_MISMATCH', 'the messageDigest attribute does not match the content digest');
      }
    }
  } else {
    if (ctx.contentType !== Oids.data) {
      fail('MALFORMED_CMS', `signed attributes are missing although eContentType is ${ctx.contentType} (RFC 5652 §5.3)`);
    }
    if (ctx.content !== undefined) signedBytes = ctx.content;
    else fail('CONTENT_UNAVAILABLE', 'a SignerInfo without signed attributes signs the content itself, which was not given');
  }

  const certificate = ctx.candidates.find((c) => matchesSid(ctx.idsOf(c), sid));
  if (!certificate) {
    fail('SIGNER_CERTIFICATE_MISSING', 'no certificate matches the SignerIdentifier');
  } else if (alg && signedBytes) {
    const outcome = checkSignerSignature(alg, ctx.idsOf(certificate)!.spki, signedBytes, signature);
    if (outcome !== true) fail(outcome.code, outcome.reason);
  }

  const first = failures[0];
  return {
    valid: first === undefined,
    ...(first ? { code: first.code } : {}),
    reasons: failures.map((x) => x.reason),
    sid,
    ...(certificate ? { certificate: certificate.slice() } : {}),
    ...(alg ? { scheme: alg.kind } : {}),
    digestAlgorithm: digestAlg ?? digestAlgId.oid,
    signatureAlgorithm: sigAlgId.oid,
    ...(signingTime ? { signingTime } : {}),
    signedAttributes,
    unsignedAttributes,
  };
}

/** The attributes RFC 5652 §11 allows only as signed (or authenticated) attributes. */
const SIGNED_ONLY_ATTRIBUTES = [
  [Oids.contentType, 'contentType', '§11.1'],
  [Oids.messageDigest, 'messageDigest', '§11.2'],
  [Oids.signingTime, 'signingTime', '§11.3'],
] as const;

/**
 * What a signature we call valid may rest on, as X.509 validation asks of certificates: RSA keys of at
 * least 2048 bits, and an id-RSASSA-PSS key only for PSS (RFC 4055 §1.2), whatever the crypto library
 * would let through.
 */
const SIGNER_KEY_POLICY = { minRsaBits: 2048, pssKeyOnlyPss: true } as const;

/** Checks one SignerInfo signature under SIGNER_KEY_POLICY (exported for wycheproof-signatures.test.ts). */
export function checkSignerSignature(
  alg: VerifyAlgorithm,
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): true | { code: SignerVerdictCode; reason: string } {
  let check: SignatureCheckAlgorithm;
  if (alg.kind === 'Ed25519' || alg.kind === 'Ed448') {
    // RFC 8419 §3: PureEdDSA over the signed attributes' DER (or the content), no pre-hash, no context.
    check = { kind: 'eddsa', curve: alg.kind };
  } else {
    const nodeHash = nodeHashName(alg.hash);
    check =
      alg.kind === 'RSASSA-PSS' ? { kind: 'rsa-pss', nodeHash, saltLength: alg.saltLength } : { kind: alg.kind === 'ECDSA' ? 'ecdsa' : 'rsa-pkcs1', nodeHash };
  }
  const r = checkSignature(check, spki, data, signature, 'the signer certificate', SIGNER_KEY_POLICY);
  return r.ok ? true : { code: r.code, reason: r.reason };
}

function matchesSid(ids: CertificateIds | null, sid: SignerIdentifier): boolean {
  if (!ids) return false;
  if ('subjectKeyIdentifier' in sid) return ids.subjectKeyIdentifier !== undefined && bytesEqual(ids.subjectKeyIdentifier, sid.subjectKeyIdentifier);
  if (!bytesEqual(ids.issuer, sid.issuer)) return false;
  try {
    return berIntegerFromEncoded(ids.serialNumber) === sid.serialNumber;
  } catch {
    return false;
  }
}

function berIntegerFromEncoded(encoded: Uint8Array): bigint {
  return berInteger(readBer(encoded, 'a certificate serialNumber'), 'a certificate serialNumber');
}

/** Reads Attributes (RFC 5652 §5.3): SET OF SEQUENCE { attrType OID, attrValues SET OF ANY }. */
function readAttributes(el: BerElement, kind: string): SignedAttribute[] {
  return el.children.map((a) => {
    if (!berIs(a, TagClass.universal, UniversalTag.sequence, true) || a.children.length !== 2)
      malformed(`A ${kind} attribute is not a SEQUENCE of type and values`);
    const [t, vs] = a.children as [BerElement, BerElement];
    if (!berIs(vs, TagClass.universal, UniversalTag.set, true)) malformed(`A ${kind} attribute's values are not a SET`);
    return { type: oidCms(t, `a ${kind} attribute type`), values: vs.children.map(berEncoded) };
  });
}

function readValue(v: Uint8Array): BerElement {
  return readBer(v, 'an attribute value');
}

function cms<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SsmaxError && e.code === 'MALFORMED_DER') throw new SsmaxError('MALFORMED_CMS', e.message, { cause: e });
    throw e;
  }
}
function oidCms(el: BerElement, what: string): string {
  return cms(() => berOid(el, what));
}
function berIntegerCms(el: BerElement, what: string): bigint {
  return cms(() => berInteger(el, what));
}
function readAlgorithmIdentifierCms(el: BerElement, what: string): ReturnType<typeof readAlgorithmIdentifier> {
  return cms(() => readAlgorithmIdentifier(el, what));
}
