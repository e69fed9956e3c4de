/**
 * A lazy BER reader for the enveloped-data codec (private to cms/enveloped): it walks small header
 * elements held in memory (the bulk content is streamed by ber-stream-reader.ts and never reaches it).
 * Every read is bounds-checked and every failure is a typed MALFORMED_CMS error, because the input is
 * untrusted mail. Encoding uses the shared writer in ../../der/der-writer.ts.
 */
import { decodeOidContent } from '../../der/ber-reader.js';
import { concatBytes } from '../../der/der-writer.js';
import { SsmaxError } from '../../errors.js';

export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONSTRUCTED_OCTET_STRING: 0x24,
} as const;

export function malformed(reason: string, cause?: unknown): SsmaxError {
  return new SsmaxError('MALFORMED_CMS', `Cannot parse the CMS message. ${reason}.`, cause === undefined ? {} : { cause });
}

// ---------------------------------------------------------------------------------------------
// Reader (X.690 §8: BER, so openssl's indefinite-length `-stream` output is accepted too)

export interface Node {
  readonly tag: number;
  readonly constructed: boolean;
  /** Offset of the tag octet. */
  readonly start: number;
  readonly valueStart: number;
  /** End of the content octets (before the end-of-contents octets for indefinite lengths). */
  readonly valueEnd: number;
  /** Offset just past the element. */
  readonly end: number;
  readonly indefinite: boolean;
}

const MAX_NESTING = 32;

/** Parses the length octets at `off`; returns [length or -1 for indefinite, offset after]. */
export function readLengthAt(buf: Uint8Array, off: number, end: number): [number, number] {
  if (off >= end) throw malformed('The input is truncated inside a length');
  const first = buf[off] as number;
  if (first < 0x80) return [first, off + 1];
  if (first === 0x80) return [-1, off + 1];
  const n = first & 0x7f;
  if (n > 6 || first === 0xff) throw malformed(`A length of ${n} octets is not supported`);
  if (off + 1 + n > end) throw malformed('The input is truncated inside a length');
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (buf[off + 1 + i] as number);
  return [len, off + 1 + n];
}

export function readNode(buf: Uint8Array, off: number, end: number = buf.byteLength, depth = 0): Node {
  if (depth > MAX_NESTING) throw malformed('The encoding nests too deeply');
  if (off >= end) throw malformed('The input is truncated where an element was expected');
  const tag = buf[off] as number;
  if ((tag & 0x1f) === 0x1f) throw malformed('A high-tag-number element is not expected here');
  const constructed = (tag & 0x20) !== 0;
  const [len, valueStart] = readLengthAt(buf, off + 1, end);
  if (len >= 0) {
    if (valueStart + len > end) throw malformed('An element is longer than its container');
    return { tag, constructed, start: off, valueStart, valueEnd: valueStart + len, end: valueStart + len, indefinite: false };
  }
  if (!constructed) throw malformed('A primitive element has an indefinite length');
  let p = valueStart;
  for (;;) {
    if (p + 2 <= end && buf[p] === 0 && buf[p + 1] === 0) {
      return { tag, constructed, start: off, valueStart, valueEnd: p, end: p + 2, indefinite: true };
    }
    p = readNode(buf, p, end, depth + 1).end;
  }
}

export function children(buf: Uint8Array, node: Node): Node[] {
  if (!node.constructed) throw malformed(`Element with tag 0x${node.tag.toString(16)} is not constructed`);
  const out: Node[] = [];
  for (let p = node.valueStart; p < node.valueEnd;) {
    const c = readNode(buf, p, node.valueEnd);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const value = (buf: Uint8Array, n: Node): Uint8Array => buf.subarray(n.valueStart, n.valueEnd);
export const raw = (buf: Uint8Array, n: Node): Uint8Array => buf.subarray(n.start, n.end);

export function expectTag(n: Node | undefined, tag: number, what: string): Node {
  if (!n) throw malformed(`${what} is missing`);
  if (n.tag !== tag) throw malformed(`${what} has tag 0x${n.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return n;
}

/** OCTET STRING contents, joining the segments of a constructed (BER) OCTET STRING. */
export function octetValue(buf: Uint8Array, n: Node, what: string): Uint8Array {
  if (n.tag === Tag.OCTET_STRING || (!n.constructed && (n.tag & 0xc0) === 0x80)) return value(buf, n);
  if (n.constructed) return concatBytes(children(buf, n).map((c) => octetValue(buf, c, what)));
  throw malformed(`${what} is not an OCTET STRING`);
}

export function decodeOid(buf: Uint8Array, n: Node, what: string): string {
  if (n.tag !== Tag.OID) throw malformed(`${what} is not an OBJECT IDENTIFIER`);
  const v = value(buf, n);
  if (v.length === 0 || v.length > 64 || (v[v.length - 1] as number) & 0x80) throw malformed(`${what} is not a valid OBJECT IDENTIFIER`);
  try {
    return decodeOidContent(v, what);
  } catch (cause) {
    throw malformed(`${what} is not a valid OBJECT IDENTIFIER`, cause);
  }
}

export function decodeSmallInteger(buf: Uint8Array, n: Node, what: string): number {
  if (n.tag !== Tag.INTEGER) throw malformed(`${what} is not an INTEGER`);
  const v = value(buf, n);
  if (v.length === 0 || v.length > 4 || (v[0] as number) & 0x80) throw malformed(`${what} is out of range`);
  let x = 0;
  for (const b of v) x = x * 256 + b;
  return x;
}

/** Reads an AlgorithmIdentifier: OID and the raw parameters element (if any). */
export function readAlgId(buf: Uint8Array, n: Node, what: string): { oid: string; params?: Node } {
  const [o, p, extra] = children(buf, expectTag(n, Tag.SEQUENCE, what));
  if (extra) throw malformed(`${what} has unexpected trailing fields`);
  const oid = decodeOid(buf, expectTag(o, Tag.OID, what), what);
  return p === undefined ? { oid } : { oid, params: p };
}

/** True when the parameters are absent or NULL (RFC 4055 §2.1 / RFC 5754 §2: accept both). */
export function paramsAbsentOrNull(buf: Uint8Array, p: Node | undefined): boolean {
  return p === undefined || (p.tag === Tag.NULL && p.valueEnd === p.valueStart);
}
