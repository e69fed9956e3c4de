/**
 * A pull reader of BER (X.690) over an async stream of chunks, just enough to walk a SignedData whose
 * eContent is too large to hold: headers and small elements are read into memory, the eContent octets
 * are handed out as zero-copy views of the incoming chunks.
 */
import { SsmaxError } from '@ssmax/core';

export interface BerHeader {
  readonly tag: number;
  /** Undefined for the indefinite form (X.690 §8.1.3.6). */
  readonly length: number | undefined;
  readonly constructed: boolean;
  /** The identifier and length octets as read. */
  readonly bytes: Uint8Array;
}

function malformed(why: string): SsmaxError {
  return new SsmaxError('MALFORMED_CMS', `Cannot read the SignedData. ${why}.`);
}

/** Longest element read into memory (certificates, signerInfos); larger ones must be streamed. */
const MAX_ELEMENT = 1 << 20;

export class ChunkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private off = 0;
  /** Bytes consumed so far, for definite-length bookkeeping. */
  pos = 0;
  private done = false;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    while (this.off >= this.buf.byteLength) {
      if (this.done) return false;
      const next = await this.source.next();
      if (next.done) {
        this.done = true;
        return false;
      }
      this.buf = next.value;
      this.off = 0;
    }
    return true;
  }

  /** True when the stream has no more bytes. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  async peekByte(): Promise<number | undefined> {
    if (!(await this.fill())) return undefined;
    return this.buf[this.off];
  }

  /** Reads exactly `n` bytes into one array. */
  async read(n: number, what: string): Promise<Uint8Array> {
    if (n > MAX_ELEMENT) throw malformed(`${what} is longer than ${MAX_ELEMENT} bytes`);
    if (this.off + n <= this.buf.byteLength) {
      const v = this.buf.subarray(this.off, this.off + n);
      this.off += n;
      this.pos += n;
      return v;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (!(await this.fill())) throw malformed(`${what} is truncated`);
      const take = Math.min(n - got, this.buf.byteLength - this.off);
      out.set(this.buf.subarray(this.off, this.off + take), got);
      this.off += take;
      got += take;
    }
    this.pos += n;
    return out;
  }

  /** Hands out the next `n` bytes as views of the incoming chunks. */
  async *stream(n: number, what: string): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw malformed(`${what} is truncated`);
      const take = Math.min(left, this.buf.byteLength - this.off);
      const v = this.buf.subarray(this.off, this.off + take);
      this.off += take;
      this.pos += take;
      left -= take;
      yield v;
    }
  }

  async header(what: string, expectTag?: number): Promise<BerHeader> {
    const first = await this.read(2, what);
    const tag = first[0]!;
    if ((tag & 0x1f) === 0x1f) throw malformed(`${what} uses a high tag number`);
    if (expectTag !== undefined && tag !== expectTag) {
      throw malformed(`${what} has tag 0x${tag.toString(16)}, expected 0x${expectTag.toString(16)}`);
    }
    const l0 = first[1]!;
    const constructed = (tag & 0x20) !== 0;
    if (l0 < 0x80) return { tag, length: l0, constructed, bytes: first.slice() };
    if (l0 === 0x80) {
      if (!constructed) throw malformed(`${what} is primitive with an indefinite length`);
      return { tag, length: undefined, constructed, bytes: first.slice() };
    }
    const k = l0 & 0x7f;
    if (k > 6) throw malformed(`${what} has a ${k}-byte length`);
    const lb = await this.read(k, what);
    let length = 0;
    for (const b of lb) length = length * 256 + b;
    const bytes = new Uint8Array(2 + k);
    bytes.set(first.subarray(0, 2));
    bytes.set(lb, 2);
    return { tag, length, constructed, bytes };
  }

  /** Reads the end-of-contents octets of an indefinite-length element. */
  async eoc(what: string): Promise<void> {
    const e = await this.read(2, what);
    if (e[0] !== 0 || e[1] !== 0) throw malformed(`${what} is not closed by end-of-contents octets`);
  }

  /** True when the next two bytes are end-of-contents (does not consume them). */
  async atEoc(): Promise<boolean> {
    return (await this.peekByte()) === 0;
  }

  /** Reads a whole element (header and value) into memory; indefinite forms are read recursively. */
  async element(what: string, expectTag?: number): Promise<Uint8Array> {
    const h = await this.header(what, expectTag);
    if (h.length !== undefined) return concatBytes([h.bytes, await this.read(h.length, what)]);
    const parts: Uint8Array[] = [h.bytes];
    while (!(await this.atEoc())) parts.push(await this.element(what));
    await this.eoc(what);
    parts.push(Uint8Array.of(0, 0));
    return concatBytes(parts);
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** DER identifier + definite length octets (X.690 §8.1.3). */
export function derHeader(tag: number, length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(tag, length);
  const octets: number[] = [];
  for (let l = length; l > 0; l = Math.floor(l / 256)) octets.unshift(l & 0xff);
  return Uint8Array.of(tag, 0x80 | octets.length, ...octets);
}

export function derTlv(tag: number, ...value: Uint8Array[]): Uint8Array {
  const v = concatBytes(value);
  return concatBytes([derHeader(tag, v.byteLength), v]);
}

/** Splits a DER buffer holding consecutive elements into their full encodings (definite lengths only). */
export function derChildren(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < der.byteLength) {
    const start = i;
    i++;
    const l0 = der[i++];
    if (l0 === undefined) throw malformed('A DER element is truncated');
    let len = l0;
    if (l0 === 0x80) throw malformed('A DER element has an indefinite length');
    if (l0 > 0x80) {
      len = 0;
      for (let k = l0 & 0x7f; k > 0; k--) len = len * 256 + (der[i++] ?? 0);
    }
    i += len;
    if (i > der.byteLength) throw malformed('A DER element is truncated');
    out.push(der.subarray(start, i));
  }
  return out;
}

/** The value octets of one DER element. */
export function derValue(el: Uint8Array): Uint8Array {
  const l0 = el[1]!;
  return el.subarray(l0 < 0x80 ? 2 : 2 + (l0 & 0x7f));
}
