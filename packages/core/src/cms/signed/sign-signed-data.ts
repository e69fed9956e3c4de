/** CMS SignedData production (RFC 5652 §5) with signed attributes (RFC 8551 §2.5). */
import { createHash } from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import type { SignScheme } from '../../tokens/token.js';
import {
  derEncode,
  derExplicit,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derSetOf,
  derTime,
  encodeContentInfo,
  encodeDigestAlgorithm,
  type DerInput,
} from '../common/index.js';
import { readCertificateIds } from './certificate-ids.js';
import { encodeSignatureAlgorithm } from '../../signature-algorithms.js';

/** An attribute to add to the signed attributes: type OID and DER-encoded values. */
export interface SignedAttributeInput {
  readonly type: string;
  readonly values: readonly Uint8Array[];
}

export interface SignSignedDataOptions {
  /** The signer's private key (token or software). */
  readonly key: PrivateKeyOps;
  /** The signer's certificate, DER. Its public key must be the key's. */
  readonly certificate: Uint8Array;
  /** Further certificates to include (intermediates, the previous signer's, …), DER. */
  readonly chain?: readonly Uint8Array[];
  /** Default: ECDSA for EC keys, PKCS#1 v1.5 for RSA keys (if the key offers it). */
  readonly scheme?: SignScheme;
  /** Leave eContent out (RFC 5652 §5.2). Required when only a digest is given. */
  readonly detached?: boolean;
  /** Injected clock for the signingTime attribute. Default: now. */
  readonly signingTime?: Date;
  /** eContentType OID. Default id-data. */
  readonly contentType?: string;
  /** Further signed attributes (SSMAX layers); must not repeat contentType, messageDigest or signingTime. */
  readonly extraSignedAttributes?: readonly SignedAttributeInput[];
}

/** Content to sign: the bytes, or only their SHA-256 digest (for streamed content; detached output). */
export type SignedContentInput = Uint8Array | { readonly digest: Uint8Array };

const RESERVED_ATTRS = new Set<string>([Oids.contentType, Oids.messageDigest, Oids.signingTime]);

/**
 * Signs content and returns a DER ContentInfo holding a SignedData with one SignerInfo:
 * IssuerAndSerialNumber sid, SHA-256 digest, signed attributes contentType, messageDigest and
 * signingTime plus any extras. The content is hashed once and copied once (into the output).
 */
export async function signSignedData(content: SignedContentInput, options: SignSignedDataOptions): Promise<Uint8Array> {
  const { key } = options;
  const detached = options.detached ?? false;
  let digest: Uint8Array;
  let eContent: Uint8Array | undefined;
  if (content instanceof Uint8Array) {
    digest = new Uint8Array(createHash('sha256').update(content).digest());
    eContent = detached ? undefined : content;
  } else {
    if (!(content?.digest instanceof Uint8Array) || content.digest.byteLength !== 32) {
      throw new SsmaxError('USAGE', 'Cannot sign the content digest. It must be a 32-byte SHA-256 digest.');
    }
    if (!detached) throw new SsmaxError('USAGE', 'Cannot sign a content digest as attached SignedData. Set detached: true.');
    digest = content.digest;
  }

  const scheme = options.scheme ?? defaultScheme(key);
  if (!key.signSchemes.includes(scheme)) {
    throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign with ${scheme}. The ${key.algorithm} key supports ${key.signSchemes.join(', ') || 'no schemes'}.`);
  }
  const ids = readCertificateIds(options.certificate);
  if (!bytesEqual(ids.spki, key.spki)) {
    throw new SsmaxError('USAGE', "Cannot sign the SignedData. The certificate's public key is not the signing key's.");
  }
  const contentType = options.contentType ?? Oids.data;
  const signingTime = options.signingTime ?? new Date();

  const attributes: DerInput[] = [
    attribute(Oids.contentType, [derOid(contentType)]),
    attribute(Oids.messageDigest, [derEncode(derOctetString(digest))]),
    attribute(Oids.signingTime, [derTime(signingTime)]),
  ];
  const seenExtra = new Set<string>();
  for (const a of options.extraSignedAttributes ?? []) {
    if (RESERVED_ATTRS.has(a.type) || seenExtra.has(a.type)) {
      throw new SsmaxError('USAGE', `Cannot add signed attribute ${a.type}. It is set already (RFC 5652 §5.3 allows each type once).`);
    }
    if (a.values.length === 0) throw new SsmaxError('USAGE', `Cannot add signed attribute ${a.type}. It has no values.`);
    seenExtra.add(a.type);
    attributes.push(attribute(a.type, a.values));
  }
  // RFC 5652 §5.4: the signature covers the DER SET OF encoding; the SignerInfo carries the same
  // contents under [0] IMPLICIT, so one sorted encoding serves both after swapping the tag octet.
  const signedAttrsSet = derEncode(derSetOf(attributes));
  const signature = await key.sign(scheme, signedAttrsSet);
  const signedAttrsTagged = new Uint8Array(signedAttrsSet);
  signedAttrsTagged[0] = 0xa0;

  const digestAlgorithm = encodeDigestAlgorithm('SHA-256');
  const signerInfo = derSequence(
    derInteger(1), // RFC 5652 §5.3: version 1 with issuerAndSerialNumber
    derSequence(ids.issuer, ids.serialNumber),
    digestAlgorithm,
    signedAttrsTagged,
    encodeSignatureAlgorithm(scheme),
    derOctetString(signature),
  );

  const certs: Uint8Array[] = [];
  for (const c of [options.certificate, ...(options.chain ?? [])]) {
    if (!certs.some((x) => bytesEqual(x, c))) certs.push(c);
  }
  const encap = eContent === undefined ? derSequence(derOid(contentType)) : derSequence(derOid(contentType), derExplicit(0, derOctetString(eContent)));
  const signedData = derSequence(
    // RFC 5652 §5.1: version 3 when eContentType is not id-data, else 1 (only X.509 certs, v1 SignerInfos).
    derInteger(contentType === Oids.data ? 1 : 3),
    derSet(digestAlgorithm),
    encap,
    derSetOf(certs, 0xa0), // certificates [0] IMPLICIT CertificateSet
    derSet(signerInfo),
  );
  return encodeContentInfo(Oids.signedData, signedData);
}

function attribute(type: string, values: readonly Uint8Array[]): Uint8Array {
  return derEncode(derSequence(derOid(type), derSetOf(values)));
}

function defaultScheme(key: PrivateKeyOps): SignScheme {
  if (key.algorithm === 'EC-P256') return 'ECDSA-SHA256';
  if (key.signSchemes.includes('RSASSA-PKCS1-v1_5-SHA256')) return 'RSASSA-PKCS1-v1_5-SHA256';
  const first = key.signSchemes[0];
  if (!first) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign. The ${key.algorithm} key offers no signature scheme.`);
  return first;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
