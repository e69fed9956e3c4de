import { randomBytes } from 'node:crypto';
import { SsmaxError } from '../errors.js';
import {
  DEFAULT_MIME_LIMITS,
  asBuffer,
  canonicalizeLineEndings,
  concatBytes,
  decodeTransferEncoding,
  encodeBase64Lines,
  plain,
  type MimeLimits,
} from './mime-bytes.js';
import {
  decodeEncodedWords,
  formatParam,
  parseHeaderSection,
  parseParameterizedHeader,
  singleHeader,
  type MimeContentType,
  type MimeHeader,
} from './mime-headers.js';
import { splitMultipart } from './multipart.js';

/** One node of a parsed MIME tree. */
export interface MimePart {
  readonly headers: readonly MimeHeader[];
  readonly contentType: MimeContentType;
  /** Content-Disposition, when present. */
  readonly disposition?: MimeContentType;
  /** From Content-Disposition filename, else Content-Type name (RFC 2183 §2.3, RFC 2231). */
  readonly filename?: string;
  /** Lower-cased Content-Transfer-Encoding (default 7bit, RFC 2045 §6.1). */
  readonly transferEncoding: string;
  /** The entity's exact canonical bytes, headers included. */
  readonly raw: Uint8Array;
  /** The decoded body of a leaf; for a multipart, its raw body. */
  readonly body: Uint8Array;
  /** Children of a multipart (empty for a leaf). */
  readonly parts: readonly MimePart[];
}

/** A file found in a MIME tree. */
export interface MimeAttachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Uint8Array;
}

/** A file to attach with {@link buildMimeEntity}. */
export interface MimeAttachmentInput {
  readonly filename: string;
  /** Default application/octet-stream. */
  readonly contentType?: string;
  readonly content: Uint8Array;
}

export interface BuildMimeEntityOptions {
  readonly text: string;
  readonly attachments?: readonly MimeAttachmentInput[];
  /** Source of boundary randomness (tests inject a seeded one). Default node:crypto. */
  readonly random?: (n: number) => Uint8Array;
}

/** A boundary that cannot occur in base64 or in the 7bit text we emit, because it contains "=_" and "." (RFC 2046 §5.1.1 advice). */
export function makeBoundary(random: (n: number) => Uint8Array = randomBytes): string {
  return `=_ssmax.${asBuffer(random(18)).toString('hex')}`;
}

/** True when the text can go as 7bit and survive transports: ASCII, lines ≤ 998 octets, no trailing whitespace (RFC 8551 §3.1.1, RFC 5322 §2.1.1). */
function is7bitSafe(textCrlf: string): boolean {
  if (!/^[\x20-\x7e\t\r\n]*$/.test(textCrlf)) return false;
  return textCrlf.split('\r\n').every((l) => l.length <= 998 && !/[ \t]$/.test(l) && !l.startsWith('From ') && !l.includes('\r') && !l.includes('\n'));
}

function textPart(text: string): string[] {
  const crlf = text.replace(/\r\n|\r|\n/g, '\r\n');
  if (is7bitSafe(crlf)) {
    return ['Content-Type: text/plain; charset=us-ascii\r\n', 'Content-Transfer-Encoding: 7bit\r\n', '\r\n', crlf];
  }
  return [
    'Content-Type: text/plain; charset=utf-8\r\n',
    'Content-Transfer-Encoding: base64\r\n',
    '\r\n',
    encodeBase64Lines(Buffer.from(crlf, 'utf8')).replace(/\r\n$/, ''),
  ];
}

/**
 * Builds a canonical (CRLF) MIME entity ready to be signed: a text/plain body alone, or multipart/mixed with the
 * text first and each attachment base64-encoded with its filename (RFC 2045, RFC 2046 §5.1.3, RFC 2183). Text is
 * 7bit when that is safe and base64 otherwise, so no transport rewrites the signed bytes (RFC 8551 §3.1.1).
 */
export function buildMimeEntity(opts: BuildMimeEntityOptions): Uint8Array {
  const atts = opts.attachments ?? [];
  if (atts.length === 0) return concatBytes(textPart(opts.text));
  const boundary = makeBoundary(opts.random);
  const out: (string | Uint8Array)[] = [`Content-Type: multipart/mixed; boundary="${boundary}"\r\n`, '\r\n', `--${boundary}\r\n`, ...textPart(opts.text)];
  for (const a of atts) {
    const ct = (a.contentType ?? 'application/octet-stream').toLowerCase();
    if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct)) {
      throw new SsmaxError('USAGE', `Cannot build a MIME entity. "${ct.slice(0, 60)}" is not a type/subtype media type.`);
    }
    if (a.filename === '' || /[\r\n\0/\\]/.test(a.filename)) {
      throw new SsmaxError('USAGE', 'Cannot build a MIME entity. An attachment filename is empty or contains a line break, NUL or path separator.');
    }
    out.push(
      `\r\n--${boundary}\r\n`,
      `Content-Type: ${ct}; ${formatParam('name', a.filename)}\r\n`,
      'Content-Transfer-Encoding: base64\r\n',
      `Content-Disposition: attachment; ${formatParam('filename', a.filename)}\r\n`,
      '\r\n',
      encodeBase64Lines(a.content).replace(/\r\n$/, ''),
    );
  }
  out.push(`\r\n--${boundary}--\r\n`);
  return concatBytes(out);
}

interface ParseCtx {
  readonly limits: MimeLimits;
  readonly budget: { used: number };
}

function parseEntityAt(raw: Uint8Array, depth: number, ctx: ParseCtx, what: string): MimePart {
  if (depth > ctx.limits.maxDepth) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse ${what}. Multipart nesting is deeper than ${ctx.limits.maxDepth} levels.`);
  }
  const { headers, bodyOffset } = parseHeaderSection(raw, what, ctx.limits);
  const rawBody = raw.subarray(bodyOffset);
  const ctValue = singleHeader(headers, 'Content-Type', what);
  const contentType =
    ctValue === undefined
      ? { mediaType: 'text/plain', params: { charset: 'us-ascii' } }
      : parseParameterizedHeader(ctValue, `the Content-Type of ${what}`, 'content-type');
  const cdValue = singleHeader(headers, 'Content-Disposition', what);
  const disposition = cdValue === undefined ? undefined : parseParameterizedHeader(cdValue, `the Content-Disposition of ${what}`, 'disposition');
  const cte = (singleHeader(headers, 'Content-Transfer-Encoding', what) ?? '7bit').trim().toLowerCase();
  const nameParam = disposition?.params['filename'] ?? contentType.params['name'];
  const filename = nameParam === undefined ? undefined : decodeEncodedWords(nameParam);
  const base = { headers, contentType, transferEncoding: cte, raw, ...(disposition ? { disposition } : {}), ...(filename !== undefined ? { filename } : {}) };
  if (contentType.mediaType.startsWith('multipart/')) {
    // RFC 2045 §6.4: a multipart entity is never encoded beyond 7bit/8bit/binary.
    if (!['7bit', '8bit', 'binary'].includes(cte)) {
      throw new SsmaxError(
        'MALFORMED_MIME',
        `Cannot parse ${what}. A multipart entity has Content-Transfer-Encoding "${cte.slice(0, 40)}", which RFC 2045 §6.4 forbids.`,
      );
    }
    const boundary = contentType.params['boundary'];
    if (boundary === undefined)
      throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. Its ${contentType.mediaType} Content-Type has no boundary parameter.`);
    const split = splitMultipart(rawBody, boundary, what, ctx.limits, ctx.budget);
    const parts = split.parts.map((p, i) =>
      parseEntityAt(
        p,
        depth + 1,
        ctx,
        what.startsWith('part ') ? `${what.replace(/ of the MIME entity$/, '')}.${i + 1} of the MIME entity` : `part ${i + 1} of ${what}`,
      ),
    );
    return { ...base, body: rawBody, parts };
  }
  return { ...base, body: decodeTransferEncoding(rawBody, cte, what), parts: [] };
}

/**
 * Parses a MIME entity (headers and, recursively, body parts) within `limits`. LF-only input is canonicalised to
 * CRLF first. Malformed input throws SsmaxError MALFORMED_MIME, oversized input LIMIT_EXCEEDED.
 */
export function parseMimeEntity(raw: Uint8Array, limits: MimeLimits = DEFAULT_MIME_LIMITS): MimePart {
  if (raw.byteLength > limits.maxBytes) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse the MIME entity. It is ${raw.byteLength} bytes, above the limit of ${limits.maxBytes}.`);
  }
  return parseEntityAt(canonicalizeLineEndings(raw), 0, { limits, budget: { used: 0 } }, 'the MIME entity');
}

/** Every leaf with a filename, depth first, in document order: the files attached to a mail. */
export function collectAttachments(root: MimePart): MimeAttachment[] {
  const out: MimeAttachment[] = [];
  const walk = (p: MimePart): void => {
    if (p.parts.length > 0) {
      p.parts.forEach(walk);
      return;
    }
    if (p.filename !== undefined && !p.contentType.mediaType.startsWith('multipart/')) {
      out.push({ filename: p.filename, contentType: p.contentType.mediaType, content: plain(p.body) });
    }
  };
  walk(root);
  return out;
}

/** The first text/plain leaf that is not an attachment, decoded with its charset (UTF-8 or Latin-1). */
export function findTextBody(root: MimePart): string | undefined {
  const walk = (p: MimePart): string | undefined => {
    if (p.parts.length > 0) {
      for (const c of p.parts) {
        const t = walk(c);
        if (t !== undefined) return t;
      }
      return undefined;
    }
    if (p.contentType.mediaType !== 'text/plain' || p.disposition?.mediaType === 'attachment') return undefined;
    const cs = (p.contentType.params['charset'] ?? 'us-ascii').toLowerCase();
    return asBuffer(p.body).toString(cs === 'iso-8859-1' || cs === 'latin1' ? 'latin1' : 'utf8');
  };
  return walk(root);
}
