/**
 * The DER writer (X.690 §8, §10) shared by X.509 issuance and CMS. Values are built as a tree whose
 * leaves are the caller's byte arrays, so large content (a 64 MiB eContent or encryptedContent) is
 * copied exactly once, by {@link derEncode}, into the final buffer, and pre-encoded parts such as an
 * issuer's Name are copied byte-for-byte, which RFC 5280 §7.1 name chaining relies on. The encoding is
 * DER by construction (definite minimal lengths, minimal INTEGERs, sorted SET OF, whole-second times;
 * callers omit DEFAULT values). asn1js is not used on the write path because it copies every primitive
 * value several times.
 */
import { SsmaxError } from '../errors.js';

/** A DER value that is not yet serialised: identifier octet, length, and parts in order. */
export class DerValue {
  /** Length of the full encoding (identifier + length octets + contents). */
  readonly byteLength: number;
  /** Length of the contents octets. */
  readonly contentLength: number;

  constructor(
    /** The single identifier octet (tag class, constructed bit, tag number ≤ 30). */
    readonly tag: number,
    readonly parts: readonly DerInput[],
  ) {
    if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
      throw new SsmaxError('USAGE', `Cannot encode the DER value. Identifier octet ${tag} is not a low-tag-number identifier.`);
    }
    let n = 0;
    for (const p of parts) n += p.byteLength;
    this.contentLength = n;
    this.byteLength = 1 + lengthOfLength(n) + n;
  }
}

/** Either an already encoded DER element (or several concatenated), or a {@link DerValue} tree. */
export type DerInput = Uint8Array | DerValue;

function lengthOfLength(n: number): number {
  if (n < 0x80) return 1;
  let k = 0;
  for (let v = n; v > 0; v = Math.floor(v / 256)) k++;
  return 1 + k;
}

/** DER length octets (X.690 §8.1.3, definite form, minimal). */
export function encodeLength(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new SsmaxError('USAGE', `Cannot encode a DER length of ${n}.`);
  const out = new Uint8Array(lengthOfLength(n));
  writeLength(out, 0, n);
  return out;
}

/**
 * Identifier and length octets alone, for a value of `contentLength` bytes that the caller writes
 * separately (streamed content that is never held in one buffer).
 */
export function derHeader(tag: number, contentLength: number): Uint8Array {
  const len = encodeLength(contentLength);
  const out = new Uint8Array(1 + len.byteLength);
  out[0] = tag;
  out.set(len, 1);
  return out;
}

function writeLength(out: Uint8Array, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  const k = lengthOfLength(n) - 1;
  out[at] = 0x80 | k;
  let v = n;
  for (let i = k; i >= 1; i--) {
    out[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
  return at + 1 + k;
}

function writeInto(out: Uint8Array, at: number, v: DerInput): number {
  if (v instanceof Uint8Array) {
    out.set(v, at);
    return at + v.byteLength;
  }
  out[at] = v.tag;
  let p = writeLength(out, at + 1, v.contentLength);
  for (const part of v.parts) p = writeInto(out, p, part);
  return p;
}

/** Serialises a value tree into one new buffer (a Uint8Array input is returned as is). */
export function derEncode(v: DerInput): Uint8Array {
  if (v instanceof Uint8Array) return v;
  const out = new Uint8Array(v.byteLength);
  writeInto(out, 0, v);
  return out;
}

export function derSequence(...parts: DerInput[]): DerValue {
  return new DerValue(0x30, parts);
}

/**
 * SET OF in DER order: elements sorted by their encodings as octet strings, the shorter one padded
 * with trailing zero octets (X.690 §11.6). `tag` lets callers write an IMPLICIT tagged SET OF
 * (e.g. 0xa0 for SignerInfo signedAttrs, RFC 5652 §5.3).
 */
export function derSetOf(elements: readonly DerInput[], tag = 0x31): DerValue {
  const encoded = elements.map(derEncode);
  encoded.sort(compareSetOfElements);
  return new DerValue(tag, encoded);
}

function compareSetOfElements(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}

/** [n] EXPLICIT wrapper (context-specific, constructed). */
export function derExplicit(n: number, ...parts: DerInput[]): DerValue {
  return new DerValue(0xa0 | n, parts);
}

/** [n] IMPLICIT with the given contents; `constructed` must follow the underlying type. */
export function derImplicit(n: number, constructed: boolean, ...parts: DerInput[]): DerValue {
  return new DerValue((constructed ? 0xa0 : 0x80) | n, parts);
}

/**
 * OCTET STRING; the content is referenced, not copied, until {@link derEncode}. A {@link DerValue}
 * content is the DER value wrapped in the string (X.509 extnValue, RFC 5280 §4.1).
 */
export function derOctetString(content: DerInput): DerValue {
  return new DerValue(0x04, [content]);
}

export function derNull(): Uint8Array {
  return Uint8Array.of(0x05, 0x00);
}

export function derBoolean(v: boolean): Uint8Array {
  return Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);
}

/** BIT STRING with `unusedBits` in the last octet (X.690 §8.6). */
export function derBitString(bytes: Uint8Array, unusedBits = 0): DerValue {
  return new DerValue(0x03, [Uint8Array.of(unusedBits), bytes]);
}

/**
 * INTEGER from a bigint/number, or from an unsigned big-endian magnitude (e.g. a serial number's
 * bytes), minimally encoded (X.690 §8.3.2).
 */
export function derInteger(value: bigint | number | Uint8Array): Uint8Array {
  return derEncode(new DerValue(0x02, [integerContent(value)]));
}

/** ENUMERATED (X.690 §8.4: encoded as an INTEGER with tag 10). */
export function derEnumerated(value: number): Uint8Array {
  return derEncode(new DerValue(0x0a, [integerContent(value)]));
}

function integerContent(value: bigint | number | Uint8Array): Uint8Array {
  let bytes: Uint8Array;
  if (value instanceof Uint8Array) {
    let i = 0;
    while (i < value.byteLength - 1 && value[i] === 0) i++;
    const mag = value.byteLength === 0 ? Uint8Array.of(0) : value.subarray(i);
    bytes = (mag[0] ?? 0) & 0x80 ? concatBytes([Uint8Array.of(0), mag]) : mag;
  } else {
    if (typeof value === 'number' && !Number.isSafeInteger(value))
      throw new SsmaxError('USAGE', `Cannot encode ${value} as INTEGER. It is not a safe integer.`);
    let v = BigInt(value);
    const out: number[] = [];
    // Two's complement, minimal: stop once the remaining value is all sign bits of the last octet.
    for (;;) {
      const byte = Number(v & 0xffn);
      out.unshift(byte);
      v >>= 8n;
      if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
    }
    bytes = Uint8Array.from(out);
  }
  return bytes;
}

/** OBJECT IDENTIFIER from dotted form (X.690 §8.19); arcs may exceed 2^53 (UUID arcs). */
export function derOid(dotted: string): Uint8Array {
  return derEncode(new DerValue(0x06, [encodeOidContent(dotted)]));
}

const oidCache = new Map<string, Uint8Array>();

/** The contents octets of an OBJECT IDENTIFIER. */
export function encodeOidContent(dotted: string): Uint8Array {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) {
    throw new SsmaxError('USAGE', `Cannot encode the OID "${dotted}". It is not in dotted-decimal form.`);
  }
  const arcs = dotted.split('.').map((s) => BigInt(s));
  const [a0 = 0n, a1 = 0n] = arcs;
  if (a0 < 2n && a1 > 39n) throw new SsmaxError('USAGE', `Cannot encode the OID "${dotted}". The second arc must be below 40.`);
  const out: number[] = [];
  for (const arc of [a0 * 40n + a1, ...arcs.slice(2)]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  const bytes = Uint8Array.from(out);
  oidCache.set(dotted, bytes);
  return bytes;
}

/**
 * A Time value (RFC 5652 §11.3, RFC 5280 §4.1.2.5): UTCTime for 1950–2049, GeneralizedTime
 * otherwise, always in UTC with whole seconds.
 */
export function derTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  if (year >= 1950 && year <= 2049) return derEncode(new DerValue(0x17, [ascii(`${timeDigits(date).slice(2)}Z`)]));
  return derGeneralizedTime(date);
}

/** GeneralizedTime in UTC with whole seconds (RFC 5280 §4.1.2.5.2: no fraction, 'Z'). */
export function derGeneralizedTime(date: Date): Uint8Array {
  return derEncode(new DerValue(0x18, [ascii(`${timeDigits(date)}Z`)]));
}

/** YYYYMMDDHHMMSS of the date, milliseconds dropped. */
function timeDigits(date: Date): string {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new SsmaxError('USAGE', 'Cannot encode the time. The date is invalid.');
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new SsmaxError('USAGE', `Cannot encode the time. Year ${year} is out of range.`);
  const iso = new Date(Math.floor(t / 1000) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return iso.slice(0, 19).replace(/[-:T]/g, '');
}

/** Drops milliseconds, so a Date and its encoded time agree. */
export function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** UTF8String (X.690 §8.23.10). */
export function derUtf8String(s: string): DerValue {
  return new DerValue(0x0c, [new TextEncoder().encode(s)]);
}

/** PrintableString; check the value with {@link isPrintableString} first (it is not re-checked here). */
export function derPrintableString(s: string): DerValue {
  return new DerValue(0x13, [new TextEncoder().encode(s)]);
}

/** True if every character is in the PrintableString repertoire (X.680 §41.4). */
export function isPrintableString(s: string): boolean {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s);
}

/** IA5String; non-ASCII text is refused (an IDN must be given as its A-label, RFC 5280 §7.2). */
export function derIa5String(s: string): DerValue {
  if (!/^[\x00-\x7f]*$/.test(s)) throw new SsmaxError('USAGE', `Cannot encode "${s}" as IA5String. It holds non-ASCII characters (use the A-label of an IDN).`);
  return new DerValue(0x16, [ascii(s)]);
}

/** Named-bit BIT STRING (e.g. KeyUsage): trailing zero bits removed, as X.690 §11.2.2 requires for DER. */
export function derNamedBits(bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return Uint8Array.of(0x03, 0x01, 0x00);
  const highest = Math.max(...bits);
  const body = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const b of bits) body[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  return derEncode(derBitString(body, 7 - (highest % 8)));
}

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Concatenates byte arrays into one new buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
