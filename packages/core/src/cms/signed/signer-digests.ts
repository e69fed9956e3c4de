/**
 * The digest algorithms a SignerInfo may name (RFC 5754 §2, RFC 8419 §2.3): the shared SHA-1/SHA-2 table
 * plus id-shake256, which CMS uses only with Ed448, always with a 512-bit output (RFC 8419 §2.3, §3.1).
 * Kept here rather than in the shared table so no other CMS part (PSS, OAEP, KDFs) can meet SHAKE256.
 */
import { createHash } from 'node:crypto';
import { Oids } from '../../oids.js';
import { digestAlgorithmFromOid, digestLength, encodeAlgorithmIdentifier, encodeDigestAlgorithm, nodeHashName, type DigestAlgorithm } from '../common/index.js';

export type SignerDigestAlgorithm = DigestAlgorithm | 'SHAKE256';

/** RFC 8419 §2.3: "SHAKE256 ... with an output length of 512 bits" when used with Ed448. */
const SHAKE256_BYTES = 64;

export function signerDigestFromOid(oid: string): SignerDigestAlgorithm | undefined {
  return oid === Oids.shake256 ? 'SHAKE256' : digestAlgorithmFromOid(oid);
}

export function signerDigestLength(alg: SignerDigestAlgorithm): number {
  return alg === 'SHAKE256' ? SHAKE256_BYTES : digestLength(alg);
}

/** Hashes `data` (one or more chunks) with the digest algorithm. */
export function signerDigest(alg: SignerDigestAlgorithm, ...chunks: Uint8Array[]): Uint8Array {
  const h = alg === 'SHAKE256' ? createHash('shake256', { outputLength: SHAKE256_BYTES }) : createHash(nodeHashName(alg));
  for (const c of chunks) h.update(c);
  return new Uint8Array(h.digest());
}

/** DER AlgorithmIdentifier, parameters absent (RFC 5754 §2; RFC 8419 §2.3 for id-shake256). */
export function encodeSignerDigestAlgorithm(alg: SignerDigestAlgorithm): Uint8Array {
  return alg === 'SHAKE256' ? encodeAlgorithmIdentifier(Oids.shake256) : encodeDigestAlgorithm(alg);
}
