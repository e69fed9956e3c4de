import { SsmaxError } from '../errors.js';
import { asBuffer, type MimeLimits } from './mime-bytes.js';

/** Byte ranges of one multipart body, as offsets into the body that was split. */
export interface MultipartSplit {
  readonly preamble: Uint8Array;
  /** Each body part's exact bytes, without the CRLF that precedes the next delimiter (RFC 2046 §5.1.1). */
  readonly parts: Uint8Array[];
  readonly epilogue: Uint8Array;
}

/** RFC 2046 §5.1.1: 1-70 characters from bchars, not ending in a space. */
export function isValidBoundary(boundary: string): boolean {
  return /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary);
}

/**
 * Splits a canonical (CRLF) multipart body at its boundary delimiters, byte-exactly.
 *
 * RFC 2046 §5.1.1: a delimiter is CRLF "--" boundary at the start of a line, optionally followed by "--" (the
 * close delimiter) and by transport padding (spaces, tabs) before its CRLF. The CRLF in front of a delimiter
 * belongs to the delimiter, not to the part before it, so a part's bytes end just before that CRLF; this is
 * what makes the first part of multipart/signed exactly the bytes that were signed. A line that merely starts
 * with the boundary string followed by other characters is content, not a delimiter.
 */
export function splitMultipart(body: Uint8Array, boundary: string, what: string, limits: MimeLimits, partBudget: { used: number }): MultipartSplit {
  if (!isValidBoundary(boundary)) {
    throw new SsmaxError(
      'MALFORMED_MIME',
      `Cannot parse ${what}. Its boundary parameter is empty, longer than 70 characters or uses characters RFC 2046 §5.1.1 forbids.`,
    );
  }
  const buf = asBuffer(body);
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  // Each delimiter line: start = first byte of "--boundary", next = first byte after its CRLF (or end).
  const delims: { start: number; next: number; close: boolean }[] = [];
  let from = 0;
  let closed = false;
  while (!closed) {
    const at = buf.indexOf(dash, from);
    if (at < 0) break;
    from = at + 1;
    if (at !== 0 && !(buf[at - 1] === 0x0a && buf[at - 2] === 0x0d)) continue;
    let p = at + dash.length;
    let close = false;
    if (buf[p] === 0x2d && buf[p + 1] === 0x2d) {
      close = true;
      p += 2;
    }
    while (buf[p] === 0x20 || buf[p] === 0x09) p++;
    let next: number;
    if (p >= buf.length) next = buf.length;
    else if (buf[p] === 0x0d && buf[p + 1] === 0x0a) next = p + 2;
    else continue;
    delims.push({ start: at, next, close });
    if (!close && delims.length + partBudget.used > limits.maxParts) {
      throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${what}. It has more than ${limits.maxParts} body parts.`);
    }
    from = next;
    closed = close;
  }
  const first = delims[0];
  if (!first || first.close) {
    throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. No "--${boundary.slice(0, 70)}" boundary delimiter starts a body part.`);
  }
  if (!closed) {
    throw new SsmaxError(
      'MALFORMED_MIME',
      `Cannot parse ${what}. The closing "--${boundary.slice(0, 70)}--" delimiter is missing; the message may be truncated.`,
    );
  }
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const parts: Uint8Array[] = [];
  for (let i = 0; i + 1 < delims.length; i++) {
    const s = (delims[i] as { next: number }).next;
    const t = (delims[i + 1] as { start: number }).start;
    parts.push(u8.subarray(s, Math.max(s, t - 2)));
  }
  partBudget.used += parts.length;
  const last = delims[delims.length - 1] as { next: number };
  return {
    preamble: u8.subarray(0, Math.max(0, first.start - 2)),
    parts,
    epilogue: u8.subarray(last.next),
  };
}
