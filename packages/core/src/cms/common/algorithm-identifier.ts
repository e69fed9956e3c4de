/**
 * AlgorithmIdentifier (RFC 5280 §4.1.1.2) encoding and reading, plus the digest algorithms CMS uses
 * (RFC 5754 §2).
 */
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';
import { berIs, berOid, TagClass, UniversalTag, type BerElement } from '../../der/ber-reader.js';
import { derEncode, derOid, derSequence, type DerInput } from '../../der/der-writer.js';

/** DER AlgorithmIdentifier; `parameters` omitted means absent (not NULL). */
export function encodeAlgorithmIdentifier(oid: string, parameters?: DerInput): Uint8Array {
  return derEncode(parameters === undefined ? derSequence(derOid(oid)) : derSequence(derOid(oid), parameters));
}

export interface AlgorithmIdentifier {
  readonly oid: string;
  /** The parameters element, if present (a NULL is present). */
  readonly parameters?: BerElement;
}

/** Reads an AlgorithmIdentifier, throwing MALFORMED_CMS if it is not SEQUENCE { OID, ANY OPTIONAL }. */
export function readAlgorithmIdentifier(el: BerElement | undefined, what: string): AlgorithmIdentifier {
  if (!berIs(el, TagClass.universal, UniversalTag.sequence, true) || el.children.length < 1 || el.children.length > 2) {
    throw new SsmaxError('MALFORMED_CMS', `Cannot read ${what}. It is not an AlgorithmIdentifier.`);
  }
  const oid = berOid(el.children[0] as BerElement, what);
  const parameters = el.children[1];
  return parameters === undefined ? { oid } : { oid, parameters };
}

/** True if the parameters are absent or an ASN.1 NULL (RFC 5754 §2 requires accepting both). */
export function paramsAbsentOrNull(alg: AlgorithmIdentifier): boolean {
  const p = alg.parameters;
  return p === undefined || (berIs(p, TagClass.universal, UniversalTag.null, false) && p.contentEnd === p.contentStart);
}

export type DigestAlgorithm = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

const DIGESTS: ReadonlyArray<{ name: DigestAlgorithm; oid: string; node: string; length: number }> = [
  { name: 'SHA-1', oid: Oids.sha1, node: 'sha1', length: 20 },
  { name: 'SHA-256', oid: Oids.sha256, node: 'sha256', length: 32 },
  { name: 'SHA-384', oid: Oids.sha384, node: 'sha384', length: 48 },
  { name: 'SHA-512', oid: Oids.sha512, node: 'sha512', length: 64 },
];

/** The digest algorithm for an OID, or undefined if unsupported. */
export function digestAlgorithmFromOid(oid: string): DigestAlgorithm | undefined {
  return DIGESTS.find((d) => d.oid === oid)?.name;
}

export function digestAlgorithmOid(alg: DigestAlgorithm): string {
  return digestInfo(alg).oid;
}

/** The node:crypto hash name (`sha256`, …). */
export function nodeHashName(alg: DigestAlgorithm): string {
  return digestInfo(alg).node;
}

export function digestLength(alg: DigestAlgorithm): number {
  return digestInfo(alg).length;
}

function digestInfo(alg: DigestAlgorithm): (typeof DIGESTS)[number] {
  const d = DIGESTS.find((x) => x.name === alg);
  if (!d) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot use digest ${String(alg)}. It is not supported.`);
  return d;
}

/** DER AlgorithmIdentifier for a digest, parameters absent (RFC 5754 §2: "MUST generate ... absent"). */
export function encodeDigestAlgorithm(alg: DigestAlgorithm): Uint8Array {
  return encodeAlgorithmIdentifier(digestAlgorithmOid(alg));
}
