import { SsmaxError } from '../errors.js';

const CR = 0x0d;
const LF = 0x0a;

/** Bounds for parsing untrusted MIME. Every parser entry point takes them, so hostile input cannot hang or exhaust memory. */
export interface MimeLimits {
  /** Largest message accepted, in bytes. */
  readonly maxBytes: number;
  /** Deepest multipart nesting accepted (the outer entity is depth 0). */
  readonly maxDepth: number;
  /** Most body parts accepted in the whole tree. */
  readonly maxParts: number;
  /** Most header fields accepted in one entity's header section. */
  readonly maxHeaderFields: number;
  /** Longest header section accepted for one entity, in bytes. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_MIME_LIMITS: MimeLimits = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 20,
  maxParts: 1000,
  maxHeaderFields: 1000,
  maxHeaderBytes: 256 * 1024,
});

export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Copies into a plain Uint8Array (not a Buffer), so results compare equal to Uint8Arrays in tests and callers. */
export function plain(u8: Uint8Array): Uint8Array {
  return new Uint8Array(u8);
}

export function concatBytes(chunks: readonly (Uint8Array | string)[]): Uint8Array {
  const bufs = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : asBuffer(c)));
  return new Uint8Array(Buffer.concat(bufs));
}

/** True if every line break is CRLF (no bare CR, no bare LF). */
export function isCanonicalCrlf(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === CR) {
      if (bytes[i + 1] !== LF) return false;
      i++;
    } else if (b === LF) {
      return false;
    }
  }
  return true;
}

/**
 * Canonical line endings for a MIME entity (RFC 8551 §3.1.1, RFC 5751 §3.1.1): every bare LF becomes CRLF, and
 * a bare CR becomes CRLF too, so an LF-only mail from a Unix mailbox and its CRLF wire form canonicalise to the
 * same bytes. Returns the input itself when it is already canonical.
 */
export function canonicalizeLineEndings(bytes: Uint8Array): Uint8Array {
  if (isCanonicalCrlf(bytes)) return bytes;
  const out = Buffer.allocUnsafe(bytes.length * 2);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === CR) {
      out[o++] = CR;
      out[o++] = LF;
      if (bytes[i + 1] === LF) i++;
    } else if (b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else {
      out[o++] = b;
    }
  }
  return new Uint8Array(out.subarray(0, o));
}

/** Base64 in lines of 76 characters (RFC 2045 §6.8), CRLF-terminated. */
export function encodeBase64Lines(bytes: Uint8Array): string {
  const b64 = asBuffer(bytes).toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 76) out += `${b64.slice(i, i + 76)}\r\n`;
  return out;
}

/** Strict base64 for a MIME body: whitespace is ignored, anything else outside the alphabet is an error (RFC 2045 §6.8). */
export function decodeBase64Body(body: Uint8Array, what: string): Uint8Array {
  const text = asBuffer(body)
    .toString('latin1')
    .replace(/[ \t\r\n]+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) {
    throw new SsmaxError('MALFORMED_MIME', `Cannot decode ${what}. Its base64 body contains characters outside the base64 alphabet or is truncated.`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function hexVal(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/** Quoted-printable (RFC 2045 §6.7). A malformed "=" sequence is kept literally, as §6.7 note (1) suggests. */
export function decodeQuotedPrintable(body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(body.length);
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const b = body[i] as number;
    if (b !== 0x3d) {
      out[o++] = b;
      continue;
    }
    // Soft line break: "=" then optional transport whitespace then CRLF.
    let j = i + 1;
    while (body[j] === 0x20 || body[j] === 0x09) j++;
    if (body[j] === CR && body[j + 1] === LF) {
      i = j + 1;
      continue;
    }
    if (j >= body.length) {
      i = j;
      continue;
    }
    const hi = hexVal(body[i + 1]);
    const lo = hexVal(body[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[o++] = hi * 16 + lo;
      i += 2;
    } else {
      out[o++] = b;
    }
  }
  return new Uint8Array(out.subarray(0, o));
}

/** Decodes a body per its Content-Transfer-Encoding (RFC 2045 §6). */
export function decodeTransferEncoding(body: Uint8Array, cte: string, what: string): Uint8Array {
  switch (cte) {
    case 'base64':
      return decodeBase64Body(body, what);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case '7bit':
    case '8bit':
    case 'binary':
      return plain(body);
    default:
      throw new SsmaxError(
        'MALFORMED_MIME',
        `Cannot decode ${what}. Its Content-Transfer-Encoding "${cte.slice(0, 40)}" is not one of 7bit, 8bit, binary, quoted-printable or base64.`,
      );
  }
}
