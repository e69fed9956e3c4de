/** CMS SignedData production (RFC 5652 §5) with signed attributes (RFC 8551 §2.5), EdDSA per RFC 8419. */
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import { isEdDsa, type SignScheme } from '../../tokens/token.js';
import {
  derEncode,
  derExplicit,
  derImplicit,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSetOf,
  derTime,
  encodeContentInfo,
  type DerInput,
} from '../common/index.js';
import { readCertificateIds } from './certificate-ids.js';
import { encodeSignatureAlgorithm, schemeHash } from '../../signature-algorithms.js';
import { encodeSignerDigestAlgorithm, signerDigest, signerDigestLength, type SignerDigestAlgorithm } from './signer-digests.js';

/** An attribute to add to the signed attributes: type OID and DER-encoded values. */
export interface SignedAttributeInput {
  readonly type: string;
  readonly values: readonly Uint8Array[];
}

/** How a SignerInfo names its certificate (RFC 5652 §5.3): issuer and serial (version 1) or subjectKeyIdentifier (version 3). */
export type SignerIdentifierChoice = 'issuerAndSerialNumber' | 'subjectKeyIdentifier';

/** One signer: its key, its certificate and how it signs. */
export interface SignerInput {
  /** The signer's private key (token or software). */
  readonly key: PrivateKeyOps;
  /** The signer's certificate, DER. Its public key must be the key's. */
  readonly certificate: Uint8Array;
  /**
   * Default: ECDSA with the curve's hash for EC keys, PKCS#1 v1.5 for RSA keys (if the key offers it), the
   * key's own curve for Ed25519/Ed448.
   */
  readonly scheme?: SignScheme;
  /** Default issuerAndSerialNumber; subjectKeyIdentifier needs the extension in the certificate. */
  readonly signerIdentifier?: SignerIdentifierChoice;
}

export interface SignSignedDataOptions extends SignerInput {
  /** Further certificates to include (intermediates, the previous signer's, …), DER. */
  readonly chain?: readonly Uint8Array[];
  /** More signers over the same content, each with its own SignerInfo (RFC 5652 §5.1 signerInfos). */
  readonly coSigners?: readonly SignerInput[];
  /** Leave eContent out (RFC 5652 §5.2). Required when only a digest is given. */
  readonly detached?: boolean;
  /** Injected clock for the signingTime attribute. Default: now. */
  readonly signingTime?: Date;
  /** eContentType OID. Default id-data. */
  readonly contentType?: string;
  /** Further signed attributes (SSMAX layers); must not repeat contentType, messageDigest or signingTime. */
  readonly extraSignedAttributes?: readonly SignedAttributeInput[];
  /** Leave the certificates out of the SignedData (the verifier then needs them out of band). */
  readonly omitCertificates?: boolean;
}

/**
 * Content to sign: the bytes, or only their digest (for streamed content; detached output). The digest is
 * SHA-256 unless `algorithm` says otherwise; it must be the digest algorithm of every signer's scheme
 * (SHA-512 for Ed25519, SHAKE256 with 512-bit output for Ed448: RFC 8419 §3.1).
 */
export type SignedContentInput = Uint8Array | { readonly digest: Uint8Array; readonly algorithm?: SignerDigestAlgorithm };

const RESERVED_ATTRS = new Set<string>([Oids.contentType, Oids.messageDigest, Oids.signingTime]);

/** The digestAlgorithm of a SignerInfo made with `scheme`: the scheme's hash, or RFC 8419 §3.1 for EdDSA. */
export function digestAlgorithmForScheme(scheme: SignScheme): SignerDigestAlgorithm {
  if (scheme === 'Ed25519') return 'SHA-512';
  if (scheme === 'Ed448') return 'SHAKE256';
  return schemeHash(scheme)!;
}

/**
 * Signs content and returns a DER ContentInfo holding a SignedData with one SignerInfo per signer (the
 * main one first, then `coSigners`): issuerAndSerialNumber or subjectKeyIdentifier sid, the scheme's digest
 * algorithm, signed attributes contentType, messageDigest and signingTime plus any extras. The content is
 * hashed once per digest algorithm and copied once (into the output).
 */
export async function signSignedData(content: SignedContentInput, options: SignSignedDataOptions): Promise<Uint8Array> {
  const detached = options.detached ?? false;
  const signerInputs: readonly SignerInput[] = [options, ...(options.coSigners ?? [])];
  const schemes = signerInputs.map((s) => chooseSignerScheme(s));
  const digestAlgs = [...new Set(schemes.map(digestAlgorithmForScheme))];

  const digests = new Map<SignerDigestAlgorithm, Uint8Array>();
  let eContent: Uint8Array | undefined;
  if (content instanceof Uint8Array) {
    for (const alg of digestAlgs) digests.set(alg, signerDigest(alg, content));
    eContent = detached ? undefined : content;
  } else {
    const alg = content?.algorithm ?? 'SHA-256';
    if (!(content?.digest instanceof Uint8Array) || signerDigestFromName(alg) === undefined || content.digest.byteLength !== signerDigestLength(alg)) {
      throw new SsmaxError(
        'USAGE',
        `Cannot sign the content digest. It must be a ${signerDigestFromName(alg) ? `${signerDigestLength(alg)}-byte ` : ''}${String(alg)} digest.`,
      );
    }
    if (!detached) throw new SsmaxError('USAGE', 'Cannot sign a content digest as attached SignedData. Set detached: true.');
    const other = digestAlgs.find((a) => a !== alg);
    if (other)
      throw new SsmaxError(
        'USAGE',
        `Cannot sign a ${alg} content digest. A signer's scheme needs ${other} (RFC 8419 §3.1 for EdDSA); give the content or that digest.`,
      );
    digests.set(alg, content.digest);
  }

  const contentType = options.contentType ?? Oids.data;
  const signingTime = options.signingTime ?? new Date();
  const extras: DerInput[] = [];
  const seenExtra = new Set<string>();
  for (const a of options.extraSignedAttributes ?? []) {
    if (RESERVED_ATTRS.has(a.type) || seenExtra.has(a.type)) {
      throw new SsmaxError('USAGE', `Cannot add signed attribute ${a.type}. It is set already (RFC 5652 §5.3 allows each type once).`);
    }
    if (a.values.length === 0) throw new SsmaxError('USAGE', `Cannot add signed attribute ${a.type}. It has no values.`);
    seenExtra.add(a.type);
    extras.push(attribute(a.type, a.values));
  }

  const signerInfos: Uint8Array[] = [];
  let anyV3 = false;
  for (const [i, signer] of signerInputs.entries()) {
    const scheme = schemes[i]!;
    const digestAlg = digestAlgorithmForScheme(scheme);
    const ids = readCertificateIds(signer.certificate);
    if (!bytesEqual(ids.spki, signer.key.spki)) {
      throw new SsmaxError('USAGE', "Cannot sign the SignedData. The certificate's public key is not the signing key's.");
    }
    const attributes: DerInput[] = [
      attribute(Oids.contentType, [derOid(contentType)]),
      attribute(Oids.messageDigest, [derEncode(derOctetString(digests.get(digestAlg)!))]),
      attribute(Oids.signingTime, [derTime(signingTime)]),
      ...extras,
    ];
    // RFC 5652 §5.4: the signature covers the DER SET OF encoding; the SignerInfo carries the same
    // contents under [0] IMPLICIT, so one sorted encoding serves both after swapping the tag octet.
    // RFC 8419 §3: EdDSA signs these bytes themselves (PureEdDSA); the others hash them with their hash.
    const signedAttrsSet = derEncode(derSetOf(attributes));
    const signature = await signer.key.sign(scheme, signedAttrsSet);
    const signedAttrsTagged = new Uint8Array(signedAttrsSet);
    signedAttrsTagged[0] = 0xa0;

    let version: number;
    let sid: DerInput;
    if ((signer.signerIdentifier ?? 'issuerAndSerialNumber') === 'subjectKeyIdentifier') {
      if (!ids.subjectKeyIdentifier) {
        throw new SsmaxError('USAGE', 'Cannot identify the signer by subjectKeyIdentifier. The certificate has no subjectKeyIdentifier extension.');
      }
      // RFC 5652 §5.3: version 3 with subjectKeyIdentifier, sid [0] IMPLICIT SubjectKeyIdentifier.
      version = 3;
      sid = derImplicit(0, false, ids.subjectKeyIdentifier);
      anyV3 = true;
    } else {
      version = 1; // RFC 5652 §5.3: version 1 with issuerAndSerialNumber
      sid = derSequence(ids.issuer, ids.serialNumber);
    }
    signerInfos.push(
      derEncode(
        derSequence(
          derInteger(version),
          sid,
          encodeSignerDigestAlgorithm(digestAlg),
          signedAttrsTagged,
          encodeSignatureAlgorithm(scheme),
          derOctetString(signature),
        ),
      ),
    );
  }

  const certs: Uint8Array[] = [];
  if (!options.omitCertificates) {
    for (const c of [...signerInputs.map((s) => s.certificate), ...(options.chain ?? [])]) {
      if (!certs.some((x) => bytesEqual(x, c))) certs.push(c);
    }
  }
  const encap = eContent === undefined ? derSequence(derOid(contentType)) : derSequence(derOid(contentType), derExplicit(0, derOctetString(eContent)));
  const signedData = derSequence(
    // RFC 5652 §5.1: version 3 when eContentType is not id-data or a SignerInfo is version 3, else 1.
    derInteger(contentType === Oids.data && !anyV3 ? 1 : 3),
    derSetOf(digestAlgs.map(encodeSignerDigestAlgorithm)),
    encap,
    ...(certs.length > 0 ? [derSetOf(certs, 0xa0)] : []), // certificates [0] IMPLICIT CertificateSet
    derSetOf(signerInfos),
  );
  return encodeContentInfo(Oids.signedData, signedData);
}

function attribute(type: string, values: readonly Uint8Array[]): Uint8Array {
  return derEncode(derSequence(derOid(type), derSetOf(values)));
}

function signerDigestFromName(alg: unknown): SignerDigestAlgorithm | undefined {
  return alg === 'SHA-1' || alg === 'SHA-256' || alg === 'SHA-384' || alg === 'SHA-512' || alg === 'SHAKE256' ? alg : undefined;
}

function chooseSignerScheme(signer: SignerInput): SignScheme {
  const { key } = signer;
  const scheme = signer.scheme ?? defaultScheme(key);
  if (!key.signSchemes.includes(scheme)) {
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot sign with ${scheme}. The ${key.algorithm} key supports ${key.signSchemes.join(', ') || 'no schemes'}.`,
    );
  }
  return scheme;
}

/** ECDSA hash by curve size (RFC 5480 §4 pairs P-384 with SHA-384, P-521 with SHA-512). */
const EC_DEFAULT: Partial<Record<string, SignScheme>> = { 'EC-P256': 'ECDSA-SHA256', 'EC-P384': 'ECDSA-SHA384', 'EC-P521': 'ECDSA-SHA512' };

function defaultScheme(key: PrivateKeyOps): SignScheme {
  if (isEdDsa(key.algorithm)) return key.algorithm;
  const ec = EC_DEFAULT[key.algorithm];
  if (ec && key.signSchemes.includes(ec)) return ec;
  if (key.signSchemes.includes('RSASSA-PKCS1-v1_5-SHA256')) return 'RSASSA-PKCS1-v1_5-SHA256';
  const first = key.signSchemes[0];
  if (!first) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign. The ${key.algorithm} key offers no signature scheme.`);
  return first;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
