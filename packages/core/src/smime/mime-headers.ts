import { SsmaxError } from '../errors.js';
import { asBuffer, type MimeLimits } from './mime-bytes.js';

/** One header field, unfolded (RFC 5322 §2.2.3); `name` keeps its spelling, compare it case-insensitively. */
export interface MimeHeader {
  readonly name: string;
  readonly value: string;
}

/** A parsed Content-Type or Content-Disposition: lower-cased type and parameter names, parameter values as given. */
export interface MimeContentType {
  /** e.g. "multipart/signed" (lower case). */
  readonly mediaType: string;
  readonly params: Readonly<Record<string, string>>;
}

export interface HeaderSection {
  readonly headers: MimeHeader[];
  /** Offset of the first body byte (just after the blank line), or the input length when there is no body. */
  readonly bodyOffset: number;
}

const FIELD_NAME_RE = /^[\x21-\x39\x3b-\x7e]+$/;

/**
 * Splits the header section off a canonical (CRLF) entity (RFC 5322 §2.1, RFC 2045 §3). An entity that starts
 * with CRLF has no header fields (RFC 2046 §5.1.1 allows that for body parts). A line that is neither a field nor
 * a continuation makes the entity malformed rather than silently ending the headers.
 */
export function parseHeaderSection(entity: Uint8Array, what: string, limits: MimeLimits): HeaderSection {
  const buf = asBuffer(entity);
  let end: number;
  let bodyOffset: number;
  if (buf[0] === 0x0d && buf[1] === 0x0a) {
    end = 0;
    bodyOffset = 2;
  } else {
    const blank = buf.indexOf('\r\n\r\n', 0, 'latin1');
    if (blank < 0) {
      end = buf.length;
      bodyOffset = buf.length;
    } else {
      end = blank + 2;
      bodyOffset = blank + 4;
    }
  }
  if (end > limits.maxHeaderBytes) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${what}. Its header section is ${end} bytes, above the limit of ${limits.maxHeaderBytes}.`);
  }
  const text = buf.subarray(0, end).toString('utf8');
  const lines = text.split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const headers: { name: string; value: string }[] = [];
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = headers[headers.length - 1];
      if (!last) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. Its header section starts with a continuation line.`);
      last.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).replace(/[ \t]+$/, '') : '';
    if (!FIELD_NAME_RE.test(name)) {
      throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The header line "${line.slice(0, 60)}" is not a "Name: value" field.`);
    }
    if (headers.length >= limits.maxHeaderFields) {
      throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${what}. It has more than ${limits.maxHeaderFields} header fields.`);
    }
    headers.push({ name, value: line.slice(colon + 1) });
  }
  return { headers: headers.map((h) => ({ name: h.name, value: h.value.trim() })), bodyOffset };
}

/** The value of the only header `name`; a duplicate of a MIME header is ambiguous, so it is an error. */
export function singleHeader(headers: readonly MimeHeader[], name: string, what: string): string | undefined {
  const lower = name.toLowerCase();
  const found = headers.filter((h) => h.name.toLowerCase() === lower);
  if (found.length > 1) {
    throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. It has ${found.length} ${name} header fields; exactly one is allowed.`);
  }
  return found[0]?.value;
}

/** First value of header `name` (case-insensitive), for informational fields such as Subject. */
export function getHeader(headers: readonly MimeHeader[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find((h) => h.name.toLowerCase() === lower)?.value;
}

function stripComments(s: string): string {
  // RFC 822 comments in structured fields; quoted strings are kept intact.
  let out = '';
  let depth = 0;
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (inQuote) {
      out += c;
      if (c === '\\' && i + 1 < s.length) out += s[++i];
      else if (c === '"') inQuote = false;
    } else if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') {
      depth = 1;
    } else {
      if (c === '"') inQuote = true;
      out += c;
    }
  }
  return out;
}

const TOKEN_RE = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;

function decodeRfc2231(value: string): string {
  // charset'language'percent-encoded (RFC 2231 §4)
  const m = /^([^']*)'[^']*'(.*)$/.exec(value);
  const charset = (m?.[1] ?? 'us-ascii').toLowerCase();
  const encoded = m ? (m[2] ?? '') : value;
  const bytes = Buffer.from(
    encoded.replace(/%([0-9A-Fa-f]{2})/g, (_s, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
  return charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii' ? bytes.toString('utf8') : bytes.toString('latin1');
}

/**
 * Parses `type/subtype; attr=value; ...` (RFC 2045 §5.1) or a Content-Disposition (RFC 2183), with RFC 2231
 * parameter continuations and charset encoding. Duplicate parameters are an error: two boundaries would let two
 * parsers see two different messages.
 */
export function parseParameterizedHeader(value: string, what: string, kind: 'content-type' | 'disposition'): MimeContentType {
  const s = stripComments(value);
  const parts: string[] = [];
  let cur = '';
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (inQuote) {
      cur += c;
      if (c === '\\' && i + 1 < s.length) cur += s[++i];
      else if (c === '"') inQuote = false;
    } else if (c === '"') {
      inQuote = true;
      cur += c;
    } else if (c === ';') {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (inQuote) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. A quoted parameter value is not closed.`);
  parts.push(cur);
  const head = (parts.shift() ?? '').trim().toLowerCase();
  if (kind === 'content-type') {
    const m = /^([^\s/]+)\s*\/\s*([^\s/]+)$/.exec(head);
    if (!m || !TOKEN_RE.test(m[1] ?? '') || !TOKEN_RE.test(m[2] ?? '')) {
      throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. "${head.slice(0, 60)}" is not a type/subtype media type.`);
    }
  } else if (!TOKEN_RE.test(head)) {
    throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. "${head.slice(0, 60)}" is not a disposition type.`);
  }
  const simple = new Map<string, string>();
  const continued = new Map<string, Map<number, { value: string; encoded: boolean }>>();
  for (const raw of parts) {
    const p = raw.trim();
    if (p === '') continue; // tolerate a trailing ";"
    const eq = p.indexOf('=');
    if (eq <= 0) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter "${p.slice(0, 60)}" has no value.`);
    const attr = p.slice(0, eq).trim().toLowerCase();
    let val = p.slice(eq + 1).trim();
    if (val.startsWith('"')) {
      if (!val.endsWith('"') || val.length < 2)
        throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter ${attr} has a broken quoted value.`);
      val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    const cm = /^([^*]+)\*(\d+)(\*?)$/.exec(attr);
    if (cm) {
      const base = cm[1] as string;
      const idx = Number(cm[2]);
      if (idx > 999) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter ${base} has too many continuations.`);
      const m = continued.get(base) ?? new Map();
      if (m.has(idx)) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter ${attr} appears twice.`);
      m.set(idx, { value: val, encoded: cm[3] === '*' });
      continued.set(base, m);
      continue;
    }
    const key = attr.endsWith('*') ? attr.slice(0, -1) : attr;
    const decoded = attr.endsWith('*') ? decodeRfc2231(val) : val;
    if (simple.has(key)) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter ${key} appears twice.`);
    simple.set(key, decoded);
  }
  for (const [base, segs] of continued) {
    if (simple.has(base)) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter ${base} appears twice.`);
    // RFC 2231 §3-§4: segments are numbered from 0 without gaps; only the first carries charset'language', and
    // only segments marked with "*" are percent-encoded.
    const bytes: Buffer[] = [];
    let charset = 'us-ascii';
    for (let i = 0; i < segs.size; i++) {
      const seg = segs.get(i);
      if (!seg) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. The parameter ${base} misses continuation ${i}.`);
      let v = seg.value;
      if (seg.encoded && i === 0) {
        const m = /^([^']*)'[^']*'(.*)$/.exec(v);
        if (m) {
          charset = (m[1] ?? '').toLowerCase() || 'us-ascii';
          v = m[2] ?? '';
        }
      }
      bytes.push(
        seg.encoded
          ? Buffer.from(
              v.replace(/%([0-9A-Fa-f]{2})/g, (_s, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            )
          : Buffer.from(v, 'utf8'),
      );
    }
    const all = Buffer.concat(bytes);
    simple.set(base, charset === 'iso-8859-1' || charset === 'latin1' ? all.toString('latin1') : all.toString('utf8'));
  }
  return { mediaType: head, params: Object.fromEntries(simple) };
}

/** Decodes RFC 2047 encoded words (=?charset?B|Q?...?=) in an unstructured header value such as Subject. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (whole, cs: string, enc: string, text: string) => {
      const charset = cs.toLowerCase().split('*')[0];
      const bytes =
        enc.toLowerCase() === 'b'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_s, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            );
      if (charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii') return bytes.toString('utf8');
      if (charset === 'iso-8859-1' || charset === 'latin1') return bytes.toString('latin1');
      return whole;
    });
}

/** Encodes an unstructured header value as RFC 2047 B-encoded words when it is not plain printable ASCII. */
export function encodeHeaderText(value: string): string {
  if (/[\r\n]/.test(value)) {
    throw new SsmaxError('USAGE', 'Cannot build a header field. Its value contains a line break, which would inject another header.');
  }
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  // Whole UTF-8 characters per word, each word at most 75 characters (RFC 2047 §2).
  const words: string[] = [];
  let chunk = '';
  for (const ch of value) {
    if (Buffer.byteLength(chunk + ch, 'utf8') > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join('\r\n ');
}

/** Formats a parameter value: a token as is, else a quoted string, else RFC 2231 UTF-8 encoding for non-ASCII. */
export function formatParam(name: string, value: string): string {
  if (TOKEN_RE.test(value)) return `${name}=${value}`;
  if (/^[\x20-\x7e]*$/.test(value)) return `${name}="${value.replace(/(["\\])/g, '\\$1')}"`;
  const enc = Array.from(Buffer.from(value, 'utf8'))
    .map((b) => (/[A-Za-z0-9\-_.!~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
  return `${name}*=UTF-8''${enc}`;
}
