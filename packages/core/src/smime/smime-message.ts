import { SsmaxError } from '../errors.js';
import {
  DEFAULT_MIME_LIMITS,
  asBuffer,
  canonicalizeLineEndings,
  concatBytes,
  decodeTransferEncoding,
  encodeBase64Lines,
  isCanonicalCrlf,
  plain,
  type MimeLimits,
} from './mime-bytes.js';
import { encodeHeaderText, parseHeaderSection, parseParameterizedHeader, singleHeader, type MimeHeader } from './mime-headers.js';
import { makeBoundary } from './mime-entity.js';
import { splitMultipart } from './multipart.js';

/** smime-type values of RFC 8551 §3.2.2 (and authEnveloped-data, RFC 8551 §3.4). */
export type SmimeType = 'signed-data' | 'enveloped-data' | 'authEnveloped-data' | 'certs-only' | 'compressed-data';
/** The smime-type values this test bed builds. */
export type BuildableSmimeType = 'signed-data' | 'enveloped-data' | 'authEnveloped-data';
/** micalg values of RFC 8551 §3.5.3.2 (lower case). */
export type Micalg = 'sha-256' | 'sha-384' | 'sha-512' | 'sha-1' | 'md5' | (string & {});

const SMIME_TYPES: readonly SmimeType[] = ['signed-data', 'enveloped-data', 'authEnveloped-data', 'certs-only', 'compressed-data'];

/** Header fields passed through on the outer message. Values are text; non-ASCII text is RFC 2047-encoded. */
export interface OuterHeaders {
  readonly from?: string;
  readonly to?: string | readonly string[];
  readonly cc?: string | readonly string[];
  readonly subject?: string;
  /** A Date or an RFC 5322 date string. */
  readonly date?: Date | string;
  /** With or without the angle brackets. */
  readonly messageId?: string;
  /** Further fields, in order (e.g. X-SSMAX-Trace). */
  readonly extra?: readonly MimeHeader[];
}

export interface BuildMultipartSignedOptions {
  /** Default "sha-256". */
  readonly micalg?: Micalg;
  readonly headers?: OuterHeaders;
  /** Default a random one; must not occur in the entity. */
  readonly boundary?: string;
  readonly random?: (n: number) => Uint8Array;
}

export interface BuildPkcs7MimeOptions {
  readonly headers?: OuterHeaders;
}

/** What {@link parseSmime} found. */
export type ParsedSmime =
  | {
      readonly kind: 'multipart-signed';
      /** The exact bytes that were signed: the first body part, canonical CRLF (RFC 1847 §2.1, RFC 2046 §5.1.1). */
      readonly signedEntity: Uint8Array;
      /** The detached CMS SignedData (DER) from the application/pkcs7-signature part. */
      readonly signature: Uint8Array;
      /** Lower-cased micalg parameter ("" when absent). */
      readonly micalg: string;
      readonly headers: readonly MimeHeader[];
    }
  | {
      readonly kind: 'pkcs7-mime';
      /** undefined when the smime-type parameter is absent (older agents, RFC 8551 §3.2.2). */
      readonly smimeType: SmimeType | undefined;
      readonly der: Uint8Array;
      readonly headers: readonly MimeHeader[];
    }
  | {
      readonly kind: 'plain';
      /** The canonical entity as it came. */
      readonly entity: Uint8Array;
      readonly headers: readonly MimeHeader[];
    };

function headerLine(name: string, value: string): string {
  return `${name}: ${value}\r\n`;
}

function formatDate(d: Date): string {
  // RFC 5322 §3.3 in UTC, so the output does not depend on the host's time zone.
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function checkStructured(name: string, value: string): string {
  if (/[\r\n]/.test(value))
    throw new SsmaxError('USAGE', `Cannot build the ${name} header. Its value contains a line break, which would inject another header.`);
  return value;
}

function outerHeaderLines(h: OuterHeaders | undefined): string {
  if (!h) return '';
  let out = '';
  const list = (v: string | readonly string[]): string => (typeof v === 'string' ? v : v.join(', '));
  if (h.from !== undefined) out += headerLine('From', checkStructured('From', h.from));
  if (h.to !== undefined) out += headerLine('To', checkStructured('To', list(h.to)));
  if (h.cc !== undefined) out += headerLine('Cc', checkStructured('Cc', list(h.cc)));
  if (h.subject !== undefined) out += headerLine('Subject', encodeHeaderText(h.subject));
  if (h.date !== undefined) out += headerLine('Date', checkStructured('Date', typeof h.date === 'string' ? h.date : formatDate(h.date)));
  if (h.messageId !== undefined) {
    const id = checkStructured('Message-ID', h.messageId);
    out += headerLine('Message-ID', id.startsWith('<') ? id : `<${id}>`);
  }
  for (const x of h.extra ?? []) {
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(x.name)) throw new SsmaxError('USAGE', `Cannot build a header. "${x.name.slice(0, 40)}" is not a valid field name.`);
    out += headerLine(x.name, encodeHeaderText(x.value));
  }
  return out;
}

/**
 * Builds multipart/signed (RFC 1847 §2.1, RFC 8551 §3.5.3): the first part is `innerEntity` byte for byte (it
 * must already be canonical CRLF — it is what was signed), the second the detached SignedData as
 * application/pkcs7-signature, base64.
 */
export function buildMultipartSigned(innerEntity: Uint8Array, signatureDer: Uint8Array, opts: BuildMultipartSignedOptions = {}): Uint8Array {
  if (!isCanonicalCrlf(innerEntity)) {
    throw new SsmaxError(
      'USAGE',
      'Cannot build multipart/signed. The signed entity has bare CR or LF line breaks; canonicalise it to CRLF before signing (RFC 8551 §3.1.1).',
    );
  }
  const micalg = (opts.micalg ?? 'sha-256').toLowerCase();
  if (!/^[a-z0-9-]+$/.test(micalg)) throw new SsmaxError('USAGE', `Cannot build multipart/signed. "${micalg.slice(0, 40)}" is not a micalg value.`);
  const inner = asBuffer(innerEntity);
  let boundary = opts.boundary ?? makeBoundary(opts.random);
  // RFC 2046 §5.1.1: the boundary must not occur in the encapsulated parts.
  if (inner.indexOf(`--${boundary}`, 0, 'latin1') >= 0) {
    if (opts.boundary !== undefined) throw new SsmaxError('USAGE', 'Cannot build multipart/signed. The given boundary occurs inside the signed entity.');
    while (inner.indexOf(`--${boundary}`, 0, 'latin1') >= 0) boundary = makeBoundary(opts.random);
  }
  return concatBytes([
    'MIME-Version: 1.0\r\n',
    outerHeaderLines(opts.headers),
    `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=${micalg};\r\n boundary="${boundary}"\r\n`,
    '\r\n',
    'This is a cryptographically signed message in MIME format.\r\n',
    '\r\n',
    `--${boundary}\r\n`,
    innerEntity,
    `\r\n--${boundary}\r\n`,
    'Content-Type: application/pkcs7-signature; name=smime.p7s\r\n',
    'Content-Transfer-Encoding: base64\r\n',
    'Content-Disposition: attachment; filename=smime.p7s\r\n',
    'Content-Description: S/MIME Cryptographic Signature\r\n',
    '\r\n',
    encodeBase64Lines(signatureDer),
    `\r\n--${boundary}--\r\n`,
  ]);
}

/** Builds application/pkcs7-mime (RFC 8551 §3.2, §3.4) carrying `der`, base64, named smime.p7m. */
export function buildPkcs7Mime(der: Uint8Array, smimeType: BuildableSmimeType, opts: BuildPkcs7MimeOptions = {}): Uint8Array {
  if (smimeType !== 'signed-data' && smimeType !== 'enveloped-data' && smimeType !== 'authEnveloped-data') {
    throw new SsmaxError(
      'USAGE',
      `Cannot build application/pkcs7-mime. smime-type "${String(smimeType).slice(0, 40)}" is not signed-data, enveloped-data or authEnveloped-data.`,
    );
  }
  return concatBytes([
    'MIME-Version: 1.0\r\n',
    outerHeaderLines(opts.headers),
    `Content-Type: application/pkcs7-mime; smime-type=${smimeType}; name=smime.p7m\r\n`,
    'Content-Transfer-Encoding: base64\r\n',
    'Content-Disposition: attachment; filename=smime.p7m\r\n',
    '\r\n',
    encodeBase64Lines(der),
  ]);
}

const SIG_TYPES = ['application/pkcs7-signature', 'application/x-pkcs7-signature'];
const MIME_TYPES = ['application/pkcs7-mime', 'application/x-pkcs7-mime'];

/**
 * Reads the S/MIME structure of a message: multipart/signed (with the exact signed bytes and the detached
 * signature), application/pkcs7-mime (with its DER), or anything else as 'plain'. Only the outer layer is
 * read; callers parse `signedEntity` again for nested layers. LF-only input is canonicalised to CRLF first, as
 * the signer canonicalised before signing (RFC 8551 §3.1.1). Throws SsmaxError MALFORMED_MIME or LIMIT_EXCEEDED.
 */
export function parseSmime(raw: Uint8Array, limits: MimeLimits = DEFAULT_MIME_LIMITS): ParsedSmime {
  if (raw.byteLength > limits.maxBytes) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot parse the S/MIME message. It is ${raw.byteLength} bytes, above the limit of ${limits.maxBytes}.`);
  }
  if (raw.byteLength === 0) throw new SsmaxError('MALFORMED_MIME', 'Cannot parse the S/MIME message. It is empty.');
  const msg = canonicalizeLineEndings(raw);
  const what = 'the S/MIME message';
  const { headers, bodyOffset } = parseHeaderSection(msg, what, limits);
  const body = msg.subarray(bodyOffset);
  const ctValue = singleHeader(headers, 'Content-Type', what);
  if (ctValue === undefined) return { kind: 'plain', entity: plain(msg), headers };
  const ct = parseParameterizedHeader(ctValue, `the Content-Type of ${what}`, 'content-type');
  const cte = (singleHeader(headers, 'Content-Transfer-Encoding', what) ?? '7bit').trim().toLowerCase();

  if (ct.mediaType === 'multipart/signed') {
    const protocol = (ct.params['protocol'] ?? '').toLowerCase();
    if (!SIG_TYPES.includes(protocol)) {
      throw new SsmaxError(
        'MALFORMED_MIME',
        `Cannot parse ${what}. multipart/signed has protocol "${protocol.slice(0, 60)}", not application/pkcs7-signature (RFC 8551 §3.5.3).`,
      );
    }
    const boundary = ct.params['boundary'];
    if (boundary === undefined) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. multipart/signed has no boundary parameter.`);
    const split = splitMultipart(body, boundary, what, limits, { used: 0 });
    if (split.parts.length !== 2) {
      throw new SsmaxError(
        'MALFORMED_MIME',
        `Cannot parse ${what}. multipart/signed has ${split.parts.length} body parts; RFC 1847 §2.1 requires exactly two.`,
      );
    }
    const [signedEntity, sigPart] = split.parts as [Uint8Array, Uint8Array];
    const sigWhat = 'the signature part of the S/MIME message';
    const sh = parseHeaderSection(sigPart, sigWhat, limits);
    const sct = singleHeader(sh.headers, 'Content-Type', sigWhat);
    const sigType = sct === undefined ? '' : parseParameterizedHeader(sct, `the Content-Type of ${sigWhat}`, 'content-type').mediaType;
    if (!SIG_TYPES.includes(sigType)) {
      throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. Its second part is "${sigType.slice(0, 60)}", not application/pkcs7-signature.`);
    }
    const scte = (singleHeader(sh.headers, 'Content-Transfer-Encoding', sigWhat) ?? '7bit').trim().toLowerCase();
    const signature = decodeTransferEncoding(sigPart.subarray(sh.bodyOffset), scte, sigWhat);
    if (signature.length === 0) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. Its signature part is empty.`);
    return { kind: 'multipart-signed', signedEntity: plain(signedEntity), signature, micalg: (ct.params['micalg'] ?? '').toLowerCase(), headers };
  }

  if (MIME_TYPES.includes(ct.mediaType)) {
    const rawType = ct.params['smime-type'];
    let smimeType: SmimeType | undefined;
    if (rawType !== undefined) {
      smimeType = SMIME_TYPES.find((t) => t.toLowerCase() === rawType.toLowerCase());
      if (smimeType === undefined) {
        throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. smime-type "${rawType.slice(0, 40)}" is not one RFC 8551 §3.2.2 defines.`);
      }
    }
    const der = decodeTransferEncoding(body, cte, what);
    if (der.length === 0) throw new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. Its application/pkcs7-mime body is empty.`);
    return { kind: 'pkcs7-mime', smimeType, der, headers };
  }
  return { kind: 'plain', entity: plain(msg), headers };
}

/** Canonicalises a MIME entity to CRLF before signing (RFC 8551 §3.1.1). */
export function canonicalizeMimeEntity(entity: Uint8Array): Uint8Array {
  return plain(canonicalizeLineEndings(entity));
}
