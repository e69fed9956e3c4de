import * as asn1js from 'asn1js';
import { SsmaxError } from './errors.js';

/**
 * Bounds for parsing untrusted DER/BER. asn1js's defaults (10 000 nodes, 16 MiB) reject ordinary large
 * mails, so the test bed raises them deliberately, and keeps them bounded so hostile input cannot
 * exhaust memory or stack. Callers handling bulk content (the streaming CMS path) do not route the
 * encrypted content through asn1js at all.
 */
export interface DerLimits {
  readonly maxDepth: number;
  readonly maxNodes: number;
  /** Largest single input accepted, in bytes. */
  readonly maxContentLength: number;
}

export const DEFAULT_DER_LIMITS: DerLimits = Object.freeze({
  maxDepth: 64,
  maxNodes: 200_000,
  maxContentLength: 256 * 1024 * 1024,
});

/** Limits for small structures (certificates, CRLs, recipient infos). */
export const SMALL_DER_LIMITS: DerLimits = Object.freeze({
  maxDepth: 32,
  maxNodes: 50_000,
  maxContentLength: 4 * 1024 * 1024,
});

/**
 * Parses exactly one DER/BER element covering the whole input, or throws a typed error saying what
 * is wrong. Never returns a partial result.
 *
 * The default is {@link SMALL_DER_LIMITS}: asn1js spends some 25 µs per element, so its node bound is its time
 * bound, and with {@link DEFAULT_DER_LIMITS} (200,000 nodes) one hostile input of a megabyte of OIDs took over
 * 2 s (npm run fuzz, ber-der target, issue 11 item 4). Every reader of untrusted input here parses certificates
 * and CRLs with it; large CMS goes through the BER reader (der/ber-reader.ts) instead. Pass limits to raise it.
 */
export function parseDer(input: Uint8Array, what: string, limits: DerLimits = SMALL_DER_LIMITS): asn1js.AsnType {
  if (input.byteLength === 0) {
    throw new SsmaxError('MALFORMED_DER', `Cannot parse ${what}. The input is empty.`);
  }
  if (input.byteLength > limits.maxContentLength) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${what}. The input is ${input.byteLength} bytes, above the limit of ${limits.maxContentLength}.`);
  }
  let res: ReturnType<typeof asn1js.fromBER>;
  try {
    res = asn1js.fromBER(input, { maxDepth: limits.maxDepth, maxNodes: limits.maxNodes, maxContentLength: limits.maxContentLength });
  } catch (cause) {
    throw new SsmaxError('MALFORMED_DER', `Cannot parse ${what}. The ASN.1 decoder failed.`, { cause });
  }
  if (res.offset === -1) {
    const err = (res.result as { error?: string }).error ?? 'invalid encoding';
    const code = /max(imum)?[ _-]?(nodes|depth|content)|exceed/i.test(err) ? 'LIMIT_EXCEEDED' : 'MALFORMED_DER';
    throw new SsmaxError(code, `Cannot parse ${what}. ${err}.`);
  }
  if (res.offset !== input.byteLength) {
    throw new SsmaxError('MALFORMED_DER', `Cannot parse ${what}. ${input.byteLength - res.offset} trailing bytes follow the DER element.`);
  }
  return res.result;
}

/** Views a Uint8Array as an exact ArrayBuffer (copying only when it is a window on a larger buffer). */
export function toArrayBuffer(u8: Uint8Array): ArrayBuffer {
  if (u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength && u8.buffer instanceof ArrayBuffer) return u8.buffer;
  return u8.slice().buffer as ArrayBuffer;
}
