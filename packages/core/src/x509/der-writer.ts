/**
 * A minimal DER writer (X.690 §8, §10). Issuance builds every byte here instead of through asn1js or
 * pkijs so that the encoding is DER by construction (definite minimal lengths, DEFAULT values omitted,
 * minimal INTEGERs, whole-second times) and pre-encoded parts such as an issuer's Name are copied
 * byte-for-byte, which RFC 5280 §7.1 name chaining relies on.
 */
import { SsmaxError } from '../errors.js';

export type Der = Uint8Array;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV with a single-byte tag. */
export function tlv(tag: number, content: Uint8Array): Der {
  const len = lengthBytes(content.byteLength);
  const out = new Uint8Array(1 + len.length + content.byteLength);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

export const seq = (...parts: Der[]): Der => tlv(0x30, concat(parts));

/** SET OF with the DER ordering rule (X.690 §11.6: elements sorted as octet strings). */
export const setOf = (...parts: Der[]): Der => tlv(0x31, concat([...parts].sort(compareBytes)));

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return a.byteLength - b.byteLength;
}

export const nullDer = (): Der => new Uint8Array([0x05, 0x00]);
export const bool = (v: boolean): Der => new Uint8Array([0x01, 0x01, v ? 0xff : 0x00]);
export const octetString = (v: Uint8Array): Der => tlv(0x04, v);
export const utf8String = (s: string): Der => tlv(0x0c, new TextEncoder().encode(s));
export const ia5String = (s: string): Der => {
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(s)) throw new SsmaxError('USAGE', `Cannot encode "${s}" as IA5String. It holds non-ASCII characters (use the A-label of an IDN).`);
  return tlv(0x16, new TextEncoder().encode(s));
};
export const printableString = (s: string): Der => tlv(0x13, new TextEncoder().encode(s));
export const isPrintable = (s: string): boolean => /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s);

/** Context-specific tag [n], primitive (IMPLICIT over a primitive type). */
export const ctxPrimitive = (n: number, content: Uint8Array): Der => tlv(0x80 | n, content);
/** Context-specific tag [n], constructed (EXPLICIT, or IMPLICIT over a constructed type). */
export const ctxConstructed = (n: number, ...parts: Der[]): Der => tlv(0xa0 | n, concat(parts));

/** INTEGER from a non-negative magnitude (big-endian), minimally encoded (X.690 §8.3.2). */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let i = 0;
  while (i < magnitude.byteLength - 1 && magnitude[i] === 0) i++;
  let body = magnitude.subarray(i);
  if (body.byteLength === 0) body = new Uint8Array([0]);
  if ((body[0] ?? 0) & 0x80) body = concat([new Uint8Array([0]), body]);
  return tlv(0x02, body);
}

export function smallInteger(n: number): Der {
  if (!Number.isSafeInteger(n) || n < 0) throw new SsmaxError('USAGE', `Cannot encode ${n} as INTEGER. Only non-negative safe integers are supported.`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(new Uint8Array(bytes));
}

export function enumerated(n: number): Der {
  const int = smallInteger(n);
  int[0] = 0x0a;
  return int;
}

export function oid(dotted: string): Der {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new SsmaxError('USAGE', `Cannot encode the OID "${dotted}". Arc "${a}" is not a number.`);
    return BigInt(a);
  });
  const [a0, a1, ...rest] = arcs;
  if (a0 === undefined || a1 === undefined || a0 > 2n) throw new SsmaxError('USAGE', `Cannot encode the OID "${dotted}". It needs at least two arcs and a first arc of 0, 1 or 2.`);
  const out: number[] = [];
  for (const arc of [a0 * 40n + a1, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(out));
}

/** BIT STRING holding whole bytes (signatures, public keys). */
export const bitStringBytes = (bytes: Uint8Array): Der => tlv(0x03, concat([new Uint8Array([0]), bytes]));

/**
 * Named-bit BIT STRING (KeyUsage): trailing zero bits removed, as X.690 §11.2.2 requires for DER.
 */
export function namedBits(bits: readonly number[]): Der {
  if (bits.length === 0) return new Uint8Array([0x03, 0x01, 0x00]);
  const highest = Math.max(...bits);
  const nBytes = Math.floor(highest / 8) + 1;
  const body = new Uint8Array(nBytes);
  for (const b of bits) body[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  const unused = 7 - (highest % 8);
  return tlv(0x03, concat([new Uint8Array([unused]), body]));
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always Zulu, whole seconds. */
export function x509Time(d: Date): Der {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, new TextEncoder().encode(`${pad(y % 100)}${rest}`));
  return generalizedTime(d);
}

/** GeneralizedTime, Zulu, whole seconds (RFC 5280 §4.1.2.5.2). */
export function generalizedTime(d: Date): Der {
  if (Number.isNaN(d.getTime())) throw new SsmaxError('USAGE', 'Cannot encode the time. The date is invalid.');
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, new TextEncoder().encode(s));
}

/** Drops milliseconds so the encoded and the returned times agree. */
export const wholeSeconds = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);
