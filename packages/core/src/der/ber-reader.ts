/**
 * A bounded, zero-copy BER reader (X.690 §8) for CMS. It records byte offsets instead of copying
 * values, never looks inside primitive OCTET STRINGs (so a 64 MiB eContent that happens to hold a
 * nested SignedData costs nothing to skip), and keeps the exact received bytes of every element, which
 * RFC 5652 §5.4 needs for signed attributes. It accepts BER (indefinite lengths, constructed strings)
 * because `openssl cms -stream` writes them, under the same {@link DerLimits} as `parseDer`.
 */
import { DEFAULT_DER_LIMITS, type DerLimits } from '../asn1.js';
import { SsmaxError } from '../errors.js';
import { concatBytes } from './der-writer.js';

export const TagClass = { universal: 0, application: 1, context: 2, private: 3 } as const;
export type TagClass = (typeof TagClass)[keyof typeof TagClass];

/** One parsed element: offsets into {@link BerElement.input}. */
export interface BerElement {
  readonly input: Uint8Array;
  readonly tagClass: TagClass;
  readonly constructed: boolean;
  readonly tagNumber: number;
  /** Offset of the identifier octets. */
  readonly start: number;
  /** Offset of the first contents octet. */
  readonly contentStart: number;
  /** Offset after the last contents octet (before the end-of-contents octets if indefinite). */
  readonly contentEnd: number;
  /** Offset after the whole element (including end-of-contents octets). */
  readonly end: number;
  readonly indefinite: boolean;
  /** Sub-elements of a constructed element (empty for primitives). */
  readonly children: readonly BerElement[];
}

interface Ctx {
  readonly input: Uint8Array;
  readonly limits: DerLimits;
  readonly what: string;
  nodes: number;
}

function fail(ctx: Ctx, at: number, reason: string): never {
  throw new SsmaxError('MALFORMED_DER', `Cannot parse ${ctx.what}. ${reason} (at byte ${at}).`, { details: { offset: at } });
}

/**
 * Parses exactly one BER element covering the whole input, or throws SsmaxError MALFORMED_DER /
 * LIMIT_EXCEEDED. The result references `input`; it does not copy it.
 */
export function readBer(input: Uint8Array, what: string, limits: DerLimits = DEFAULT_DER_LIMITS): BerElement {
  if (input.byteLength === 0) throw new SsmaxError('MALFORMED_DER', `Cannot parse ${what}. The input is empty.`);
  if (input.byteLength > limits.maxContentLength) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${what}. The input is ${input.byteLength} bytes, above the limit of ${limits.maxContentLength}.`);
  }
  const ctx: Ctx = { input, limits, what, nodes: 0 };
  const el = readElement(ctx, 0, input.byteLength, 0);
  if (el.end !== input.byteLength) fail(ctx, el.end, `${input.byteLength - el.end} trailing bytes follow the element`);
  return el;
}

function readElement(ctx: Ctx, at: number, limit: number, depth: number): BerElement {
  const { input } = ctx;
  if (depth > ctx.limits.maxDepth) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${ctx.what}. Nesting is deeper than ${ctx.limits.maxDepth}.`);
  }
  if (++ctx.nodes > ctx.limits.maxNodes) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${ctx.what}. It has more than ${ctx.limits.maxNodes} elements.`);
  }
  const start = at;
  if (at >= limit) fail(ctx, at, 'The data ends before an identifier octet');
  const id = input[at++] as number;
  const tagClass = (id >> 6) as TagClass;
  const constructed = (id & 0x20) !== 0;
  let tagNumber = id & 0x1f;
  if (tagNumber === 0x1f) {
    // X.690 §8.1.2.4: high tag numbers in base 128; bounded so the number stays a small integer.
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (at >= limit) fail(ctx, at, 'The data ends inside a tag number');
      if (i >= 4) fail(ctx, at, 'The tag number is too large');
      const b = input[at++] as number;
      if (i === 0 && b === 0x80) fail(ctx, at - 1, 'The tag number is not minimally encoded');
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (at >= limit) fail(ctx, at, 'The data ends before the length octets');
  const l0 = input[at++] as number;
  let length = -1;
  if (l0 === 0x80) {
    if (!constructed) fail(ctx, at - 1, 'A primitive element has an indefinite length');
  } else if (l0 & 0x80) {
    const k = l0 & 0x7f;
    if (k === 0x7f) fail(ctx, at - 1, 'The length octets use the reserved value 0xff');
    if (k > 6) fail(ctx, at - 1, `The length takes ${k} octets, more than supported`);
    if (at + k > limit) fail(ctx, at, 'The data ends inside the length octets');
    length = 0;
    for (let i = 0; i < k; i++) length = length * 256 + (input[at++] as number);
  } else {
    length = l0;
  }
  const contentStart = at;
  if (length >= 0) {
    const contentEnd = contentStart + length;
    if (contentEnd > limit) fail(ctx, contentStart, `The element declares ${length} content bytes but only ${limit - contentStart} remain`);
    const children: BerElement[] = [];
    if (constructed) {
      let p = contentStart;
      while (p < contentEnd) {
        const child = readElement(ctx, p, contentEnd, depth + 1);
        if (isEoc(child)) fail(ctx, p, 'An end-of-contents marker appears inside a definite-length element');
        children.push(child);
        p = child.end;
      }
    } else if (tagClass === 0 && tagNumber === 0 && length !== 0) {
      fail(ctx, start, 'An end-of-contents marker has contents');
    }
    return { input, tagClass, constructed, tagNumber, start, contentStart, contentEnd, end: contentEnd, indefinite: false, children };
  }
  // X.690 §8.1.3.6: indefinite form, children until the end-of-contents octets 00 00.
  const children: BerElement[] = [];
  let p = contentStart;
  for (;;) {
    if (p >= limit) fail(ctx, p, 'The data ends before the end-of-contents octets of an indefinite-length element');
    const child = readElement(ctx, p, limit, depth + 1);
    if (isEoc(child)) {
      return { input, tagClass, constructed, tagNumber, start, contentStart, contentEnd: p, end: child.end, indefinite: true, children };
    }
    children.push(child);
    p = child.end;
  }
}

function isEoc(el: BerElement): boolean {
  return el.tagClass === 0 && !el.constructed && el.tagNumber === 0;
}

/** The exact received encoding of the element (a view, not a copy). */
export function berEncoded(el: BerElement): Uint8Array {
  return el.input.subarray(el.start, el.end);
}

/** The contents octets of a primitive element (a view, not a copy). */
export function berContent(el: BerElement): Uint8Array {
  return el.input.subarray(el.contentStart, el.contentEnd);
}

/** True if the element has the given universal/context tag. */
export function berIs(el: BerElement | undefined, tagClass: TagClass, tagNumber: number, constructed?: boolean): el is BerElement {
  return el !== undefined && el.tagClass === tagClass && el.tagNumber === tagNumber && (constructed === undefined || el.constructed === constructed);
}

/** Universal tag numbers used by CMS. */
export const UniversalTag = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  null: 5,
  oid: 6,
  utf8String: 12,
  sequence: 16,
  set: 17,
  printableString: 19,
  utcTime: 23,
  generalizedTime: 24,
} as const;

/**
 * The value of a string type (OCTET STRING by default), joining the segments of a BER constructed
 * string (X.690 §8.7.3, as `openssl cms -stream` writes eContent). Primitive: a view; constructed: one copy.
 */
export function berStringValue(el: BerElement, what: string, tagNumber: number = UniversalTag.octetString): Uint8Array {
  if (!el.constructed) return berContent(el);
  const parts: Uint8Array[] = [];
  const walk = (e: BerElement): void => {
    for (const c of e.children) {
      if (c.tagClass !== TagClass.universal || c.tagNumber !== tagNumber) {
        throw new SsmaxError(
          'MALFORMED_DER',
          `Cannot read ${what}. A segment of a constructed string has tag [${c.tagClass}:${c.tagNumber}], not the string's own type.`,
        );
      }
      if (c.constructed) walk(c);
      else parts.push(berContent(c));
    }
  };
  walk(el);
  return parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts);
}

/** Decodes an OBJECT IDENTIFIER element to dotted form (X.690 §8.19). */
export function berOid(el: BerElement, what: string): string {
  if (!berIs(el, TagClass.universal, UniversalTag.oid, false)) {
    throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. Expected an OBJECT IDENTIFIER.`);
  }
  return decodeOidContent(berContent(el), what);
}

export function decodeOidContent(c: Uint8Array, what: string): string {
  if (c.byteLength === 0 || (c[c.byteLength - 1] as number) & 0x80) {
    throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. The OBJECT IDENTIFIER is empty or truncated.`);
  }
  const arcs: bigint[] = [];
  let v = 0n;
  let first = true;
  for (let i = 0; i < c.byteLength; i++) {
    const b = c[i] as number;
    if (first && b === 0x80) throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. An OBJECT IDENTIFIER arc is not minimally encoded.`);
    first = false;
    v = (v << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0n;
      first = true;
    }
  }
  const [f = 0n, ...rest] = arcs;
  const head = f < 40n ? [0n, f] : f < 80n ? [1n, f - 40n] : [2n, f - 80n];
  return [...head, ...rest].join('.');
}

/** Reads an INTEGER as a bigint (two's complement). */
export function berInteger(el: BerElement, what: string): bigint {
  if (!berIs(el, TagClass.universal, UniversalTag.integer, false) || el.contentEnd === el.contentStart) {
    throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. Expected an INTEGER.`);
  }
  const c = berContent(el);
  if (c.byteLength > 64) throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. The INTEGER is ${c.byteLength} bytes long.`);
  let v = 0n;
  for (const b of c) v = (v << 8n) | BigInt(b);
  if ((c[0] as number) & 0x80) v -= 1n << BigInt(8 * c.byteLength);
  return v;
}

/** Reads a UTCTime or GeneralizedTime (RFC 5652 §11.3; RFC 5280 §4.1.2.5 profile, 'Z' required). */
export function berTime(el: BerElement, what: string): Date {
  const isUtc = berIs(el, TagClass.universal, UniversalTag.utcTime);
  const isGen = berIs(el, TagClass.universal, UniversalTag.generalizedTime);
  if (!isUtc && !isGen) throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. Expected UTCTime or GeneralizedTime.`);
  const s = Buffer.from(berStringValue(el, what, el.tagNumber)).toString('latin1');
  const m = isUtc ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. "${s.slice(0, 40)}" is not a UTC time.`);
  let year = Number(m[1]);
  if (isUtc) year += year < 50 ? 2000 : 1900;
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const t = Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  const d = new Date(t);
  if (
    Number.isNaN(t) ||
    d.getUTCMonth() !== Number(m[2]) - 1 ||
    d.getUTCDate() !== Number(m[3]) ||
    Number(m[4]) > 23 ||
    Number(m[5]) > 59 ||
    Number(m[6]) > 59
  ) {
    throw new SsmaxError('MALFORMED_DER', `Cannot read ${what}. "${s}" is not a valid date.`);
  }
  if (year < 100) d.setUTCFullYear(year);
  return d;
}
