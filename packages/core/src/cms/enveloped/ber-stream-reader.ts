/**
 * A pull-based BER reader over an async byte stream (private to cms/enveloped).
 *
 * It reads the small header elements of a CMS message into memory (bounded by `maxElement`) and hands
 * the encrypted content out as zero-copy views of the input chunks, so a 64 MiB message never sits in
 * memory whole. Definite lengths are checked against every enclosing definite length; indefinite ones
 * must end with end-of-contents octets (X.690 §8.1.5).
 */
import { concatBytes } from '../../der/der-writer.js';
import { malformed } from './ber-node-reader.js';

/**
 * The input of the streaming CMS functions. A producer may reuse a chunk's memory as soon as the next
 * chunk is asked for (e.g. a file read into one buffer over and over): the reader copies whatever it
 * still needs of a chunk before it pulls the next, and consumers of streamed views use them before
 * asking for more.
 */
export type ByteInput = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface ElementHeader {
  readonly tag: number;
  readonly constructed: boolean;
  /** -1 for indefinite. */
  readonly length: number;
}

interface Frame {
  readonly indefinite: boolean;
  /** Absolute end offset of the innermost definite length in force (Infinity if none). */
  readonly limit: number;
}

/** A copy of the bytes (a node Buffer's `slice` is a view, so `slice()` is not used for copies here). */
function copyOf(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

export class BerStreamReader {
  private readonly iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private available = 0;
  private eof = false;
  private readonly frames: Frame[] = [];
  /** Absolute offset of the next unread byte. */
  position = 0;

  constructor(
    input: ByteInput,
    private readonly maxElement = 1 << 20,
  ) {
    this.iterator = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : (input as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  private get limit(): number {
    return this.frames.at(-1)?.limit ?? Infinity;
  }

  private async pull(): Promise<boolean> {
    // Bytes still unread (a header spanning chunks) become private copies before the producer may
    // overwrite them; the streaming path only pulls with an empty queue, so content is never copied.
    if (this.queue.length > 0) {
      this.queue[0] = copyOf((this.queue[0] as Uint8Array).subarray(this.head));
      this.head = 0;
      for (let i = 1; i < this.queue.length; i++) this.queue[i] = copyOf(this.queue[i] as Uint8Array);
    }
    while (!this.eof) {
      const r = await this.iterator.next();
      if (r.done) {
        this.eof = true;
        break;
      }
      const chunk: unknown = r.value;
      if (!(chunk instanceof Uint8Array)) throw malformed('The input stream yielded something other than bytes (is an encoding set?)');
      if (chunk.byteLength === 0) continue;
      this.queue.push(chunk);
      this.available += chunk.byteLength;
      return true;
    }
    return false;
  }

  private async ensure(n: number): Promise<boolean> {
    while (this.available < n) if (!(await this.pull())) return false;
    return true;
  }

  private peek(i: number): number {
    let idx = this.head + i;
    for (const c of this.queue) {
      if (idx < c.byteLength) return c[idx] as number;
      idx -= c.byteLength;
    }
    throw malformed('The input is truncated');
  }

  /** Takes up to `n` buffered bytes as a zero-copy view of one chunk. */
  private take(n: number): Uint8Array {
    const c = this.queue[0] as Uint8Array;
    const k = Math.min(n, c.byteLength - this.head);
    const out = c.subarray(this.head, this.head + k);
    this.head += k;
    if (this.head === c.byteLength) {
      this.queue.shift();
      this.head = 0;
    }
    this.available -= k;
    this.position += k;
    return out;
  }

  async readExact(n: number, what: string): Promise<Uint8Array> {
    // An empty element (e.g. `31 00`, a SET with no RecipientInfo) may end the buffered bytes: nothing to take.
    if (n === 0) return new Uint8Array(0);
    if (this.position + n > this.limit) throw malformed(`${what} runs past the end of its container`);
    if (n > this.maxElement) throw malformed(`${what} is ${n} bytes, above the header limit of ${this.maxElement}`);
    if (!(await this.ensure(n))) throw malformed(`The input is truncated inside ${what}`);
    const first = this.take(n);
    // Header elements outlive the chunk they came in (see ByteInput): a copy, never a view.
    if (first.byteLength === n) return copyOf(first);
    const parts = [first];
    for (let got = first.byteLength; got < n;) {
      const p = this.take(n - got);
      parts.push(p);
      got += p.byteLength;
    }
    return concatBytes(parts);
  }

  /** Yields exactly `n` bytes as views of the input chunks (no copies). */
  async *stream(n: number, what: string): AsyncGenerator<Uint8Array> {
    if (this.position + n > this.limit) throw malformed(`${what} runs past the end of its container`);
    let left = n;
    while (left > 0) {
      if (this.available === 0 && !(await this.pull())) throw malformed(`The input is truncated inside ${what}`);
      const p = this.take(left);
      left -= p.byteLength;
      yield p;
    }
  }

  async readHeader(what: string): Promise<ElementHeader & { raw: Uint8Array }> {
    if (!(await this.ensure(2))) throw malformed(`The input is truncated where ${what} was expected`);
    const tag = this.peek(0);
    if ((tag & 0x1f) === 0x1f) throw malformed(`${what} has a high tag number`);
    const first = this.peek(1);
    let hlen = 2;
    if (first > 0x80) {
      const k = first & 0x7f;
      if (k > 6) throw malformed(`${what} has a ${k}-octet length`);
      hlen += k;
      if (!(await this.ensure(hlen))) throw malformed(`The input is truncated inside the length of ${what}`);
    }
    let length: number;
    if (first < 0x80) length = first;
    else if (first === 0x80) length = -1;
    else {
      length = 0;
      for (let i = 2; i < hlen; i++) length = length * 256 + this.peek(i);
    }
    const constructed = (tag & 0x20) !== 0;
    if (length < 0 && !constructed) throw malformed(`${what} is primitive with an indefinite length`);
    const raw = await this.readExact(hlen, what);
    if (length >= 0 && this.position + length > this.limit) throw malformed(`${what} is longer than its container`);
    return { tag, constructed, length, raw };
  }

  /** Reads a whole element (header included) into memory, re-encoding nothing. */
  async readElement(what: string, expectedTag?: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    const walk = async (depth: number): Promise<number> => {
      if (depth > 32) throw malformed(`${what} nests too deeply`);
      const h = await this.readHeader(what);
      if (depth === 0 && expectedTag !== undefined && h.tag !== expectedTag) {
        throw malformed(`${what} has tag 0x${h.tag.toString(16)}, expected 0x${expectedTag.toString(16)}`);
      }
      parts.push(h.raw);
      total += h.raw.byteLength;
      if (h.length >= 0) {
        if (total + h.length > this.maxElement) throw malformed(`${what} is above the header limit of ${this.maxElement} bytes`);
        parts.push(await this.readExact(h.length, what));
        total += h.length;
        return h.tag;
      }
      this.frames.push({ indefinite: true, limit: this.limit });
      while (await this.hasMore()) await walk(depth + 1);
      await this.close(what);
      parts.push(Uint8Array.of(0, 0));
      total += 2;
      return h.tag;
    };
    await walk(0);
    return parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts);
  }

  /** Opens a constructed element whose children are read one by one. */
  async open(tag: number, what: string): Promise<ElementHeader> {
    const h = await this.readHeader(what);
    if (h.tag !== tag) throw malformed(`${what} has tag 0x${h.tag.toString(16)}, expected 0x${tag.toString(16)}`);
    this.enter(h);
    return h;
  }

  /** Enters an already-read constructed header. */
  enter(h: ElementHeader): void {
    if (!h.constructed) throw malformed('A primitive element was used as a container');
    this.frames.push(h.length < 0 ? { indefinite: true, limit: this.limit } : { indefinite: false, limit: this.position + h.length });
  }

  /** True while the innermost open element has more children. */
  async hasMore(): Promise<boolean> {
    const f = this.frames.at(-1);
    if (!f) throw malformed('No element is open');
    if (!f.indefinite) return this.position < f.limit;
    if (!(await this.ensure(2))) throw malformed('The input is truncated before end-of-contents');
    return !(this.peek(0) === 0 && this.peek(1) === 0);
  }

  /** Closes the innermost element: end-of-contents for indefinite, exact end for definite. */
  async close(what: string): Promise<void> {
    const f = this.frames.pop();
    if (!f) throw malformed('No element is open');
    if (f.indefinite) {
      const eoc = await this.readExact(2, what);
      if (eoc[0] !== 0 || eoc[1] !== 0) throw malformed(`${what} has unexpected trailing fields`);
    } else if (this.position !== f.limit) {
      throw malformed(`${what} has unexpected trailing fields`);
    }
  }

  /** Peeks the next tag octet inside the innermost open element (undefined at its end). */
  async peekTag(): Promise<number | undefined> {
    if (!(await this.hasMore())) return undefined;
    if (!(await this.ensure(1))) throw malformed('The input is truncated');
    return this.peek(0);
  }

  async atEnd(): Promise<boolean> {
    return !(await this.ensure(1));
  }

  /**
   * Streams the contents of an encryptedContent element: primitive [0] IMPLICIT OCTET STRING, or the
   * constructed form whose segments are (possibly nested) OCTET STRINGs (X.690 §8.7.3; openssl -stream).
   */
  async *streamOctets(h: ElementHeader, what: string, depth = 0): AsyncGenerator<Uint8Array> {
    if (!h.constructed) {
      yield* this.stream(h.length, what);
      return;
    }
    if (depth > 8) throw malformed(`${what} nests too deeply`);
    this.enter(h);
    while (await this.hasMore()) {
      const c = await this.readHeader(what);
      if (c.tag !== 0x04 && c.tag !== 0x24) throw malformed(`A segment of ${what} is not an OCTET STRING`);
      yield* this.streamOctets(c, what, depth + 1);
    }
    await this.close(what);
  }
}
