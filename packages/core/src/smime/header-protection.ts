/**
 * Header Protection for S/MIME (RFC 9788) with Injected Headers (§2.1): the protected header fields are
 * copied onto the root of the Cryptographic Payload, whose Content-Type carries `hp="cipher"` (encrypted)
 * or `hp="clear"` (signed only, §2.1.1); in an encrypted message each header field the sender put on the
 * outside is recorded as an `HP-Outer` field of the payload (§2.2), so a reader can tell a field changed in
 * transit from one the sender obscured. The outer header section follows a Header Confidentiality Policy
 * (§3.2): {@link hcpBaseline} replaces the Subject with `[...]` and drops Comments and Keywords.
 *
 * The Cryptographic Envelope this module builds is AuthEnvelopedData (RFC 5083, AES-256-GCM) around a
 * multipart/signed (RFC 8551 §3.5.3) whose first part is the payload: sign, then encrypt (RFC 8551 §3.7).
 */
import { SsmaxError } from '../errors.js';
import { encryptContent, verifySignedData } from '../cms/index.js';
import { DEFAULT_MIME_LIMITS, asBuffer, concatBytes, type MimeLimits } from './mime-bytes.js';
import { parseHeaderSection, parseParameterizedHeader, singleHeader, type MimeHeader } from './mime-headers.js';
import { buildPkcs7Mime, parseSmime } from './smime-message.js';

/** The value hcp_baseline gives the outer Subject (RFC 9788 §3.2.1). */
export const OBSCURED_SUBJECT = '[...]';

/**
 * A Header Confidentiality Policy (RFC 9788 §3.2): for one protected field, the value the outer header
 * section shows, or null to leave the field off the outside.
 */
export type HeaderConfidentialityPolicy = (name: string, value: string) => string | null;

/** hcp_baseline (RFC 9788 §3.2.1): Subject becomes `[...]`, Comments and Keywords are removed, the rest is kept. */
export const hcpBaseline: HeaderConfidentialityPolicy = (name, value) => {
  const n = name.toLowerCase();
  if (n === 'subject') return OBSCURED_SUBJECT;
  if (n === 'comments' || n === 'keywords') return null;
  return value;
};

/**
 * The user-facing header fields this test bed protects and compares (RFC 9788 §1.1 "user-facing"): what a
 * reader is shown or answers to. Trace and transport fields (Received, X-SSMAX-*) stay outside.
 */
export const PROTECTED_FIELD_NAMES: readonly string[] = [
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'subject',
  'date',
  'message-id',
  'in-reply-to',
  'references',
  'comments',
  'keywords',
];

const isProtectedName = (name: string): boolean => PROTECTED_FIELD_NAMES.includes(name.toLowerCase());
/** The user-facing fields RFC 5322 §3.6 allows at most once (comments and keywords may repeat). */
const SINGLE_FIELDS: readonly string[] = PROTECTED_FIELD_NAMES.filter((n) => n !== 'comments' && n !== 'keywords');
const isMimeStructural = (name: string): boolean => /^(content-|mime-version$)/i.test(name);

/** The header fields of a payload root as RFC 9788 reads them. */
export interface ProtectedHeaders {
  /** The `hp` parameter of the payload's Content-Type (RFC 9788 §2.1.1). */
  readonly hp: 'cipher' | 'clear';
  /** The protected (injected) fields, in order; neither Content-* nor HP-Outer. */
  readonly fields: readonly MimeHeader[];
  /** The outer fields the sender recorded (HP-Outer, §2.2), as name/value pairs; empty for hp="clear". */
  readonly hpOuter: readonly MimeHeader[];
}

/** One user-facing field whose outer value is not the one the sender put there. */
export interface OuterHeaderDifference {
  /** Field name, lower case. */
  readonly name: string;
  /** What the outer header section holds (empty: absent). */
  readonly outer: readonly string[];
  /** What the sender put outside (HP-Outer; for hp="clear", the protected value). */
  readonly expected: readonly string[];
  /** The protected value shown to the reader. */
  readonly protectedValue: readonly string[];
}

function checkValue(name: string, value: string): string {
  // Folding (CRLF then whitespace, RFC 5322 §2.2.3) is allowed; any other line break would inject a field.
  if (/[\r\n]/.test(value.replace(/\r\n(?=[ \t])/g, ''))) throw new SsmaxError('USAGE', `Cannot protect the ${name} header. Its value contains a line break.`);
  return value;
}

function fieldLines(fields: readonly MimeHeader[]): string {
  return fields.map((f) => `${f.name}: ${checkValue(f.name, f.value)}\r\n`).join('');
}

/**
 * The outer header fields a policy leaves of `fields` (RFC 9788 §3.2): each protected field with the value
 * `hcp` gives it, in order; fields it removes are left off.
 */
export function outerHeadersFor(fields: readonly MimeHeader[], hcp: HeaderConfidentialityPolicy = hcpBaseline): MimeHeader[] {
  const out: MimeHeader[] = [];
  for (const f of fields) {
    if (!isProtectedName(f.name)) continue;
    const v = hcp(f.name, f.value);
    if (v !== null) out.push({ name: f.name, value: v });
  }
  return out;
}

/**
 * Injects protected header fields into a payload (RFC 9788 §2.1): `fields` (the user-facing ones only) go on
 * top of the payload's header section, then one `HP-Outer` per field of `outer` (hp="cipher" only, §2.2),
 * then the payload's own fields byte for byte, its Content-Type gaining `hp`. The payload must be canonical
 * CRLF and carry no `hp` yet. Throws SsmaxError USAGE / MALFORMED_MIME.
 */
export function injectProtectedHeaders(
  payload: Uint8Array,
  fields: readonly MimeHeader[],
  o: { readonly hp: 'cipher' | 'clear'; readonly outer?: readonly MimeHeader[] },
): Uint8Array {
  const buf = asBuffer(payload);
  const { headers, bodyOffset } = parseHeaderSection(payload, 'the payload', DEFAULT_MIME_LIMITS);
  const ct = singleHeader(headers, 'Content-Type', 'the payload');
  if (ct === undefined) throw new SsmaxError('USAGE', 'Cannot inject protected headers. The payload has no Content-Type.');
  if (parseParameterizedHeader(ct, 'the Content-Type of the payload', 'content-type').params['hp'] !== undefined)
    throw new SsmaxError('USAGE', 'Cannot inject protected headers. The payload already carries an hp parameter.');
  const stray = headers.find((h) => isProtectedName(h.name) || h.name.toLowerCase() === 'hp-outer');
  if (stray) throw new SsmaxError('USAGE', `Cannot inject protected headers. The payload already has a ${stray.name} field.`);
  const injected = fields.filter((f) => isProtectedName(f.name));
  const hpOuter = o.hp === 'cipher' ? (o.outer ?? []).map((f) => ({ name: 'HP-Outer', value: `${f.name}: ${checkValue(f.name, f.value)}` })) : [];
  // The payload's own header section, each field kept as written; the Content-Type field (up to the CRLF
  // that is not followed by folding whitespace) gains the parameter.
  const headerEnd = bodyOffset >= 2 ? bodyOffset - 2 : 0;
  const section = buf.subarray(0, headerEnd).toString('latin1');
  const m = /(^|\r\n)Content-Type:(?:[^\r]|\r\n[ \t])*/i.exec(section);
  if (!m) throw new SsmaxError('MALFORMED_MIME', 'Cannot inject protected headers. The Content-Type field of the payload was not found.');
  const at = m.index + m[0].length;
  const own = `${section.slice(0, at)};\r\n hp="${o.hp}"${section.slice(at)}`;
  return concatBytes([fieldLines(injected), fieldLines(hpOuter), Buffer.from(own, 'latin1'), buf.subarray(headerEnd)]);
}

/**
 * Reads the protected header fields of a payload (RFC 9788 §4.1): undefined when its Content-Type has no
 * `hp` parameter (a message without Header Protection, read as before). An `hp` value other than "cipher"
 * or "clear" is MALFORMED_MIME. HP-Outer fields of an hp="clear" payload are ignored (§2.2).
 */
export function readProtectedHeaders(payload: Uint8Array, limits: MimeLimits = DEFAULT_MIME_LIMITS): ProtectedHeaders | undefined {
  const { headers } = parseHeaderSection(payload, 'the payload', limits);
  const ct = singleHeader(headers, 'Content-Type', 'the payload');
  if (ct === undefined) return undefined;
  const hp = parseParameterizedHeader(ct, 'the Content-Type of the payload', 'content-type').params['hp']?.toLowerCase();
  if (hp === undefined) return undefined;
  if (hp !== 'cipher' && hp !== 'clear')
    throw new SsmaxError('MALFORMED_MIME', `Cannot read the protected headers. hp="${hp.slice(0, 20)}" is neither "cipher" nor "clear" (RFC 9788 §2.1.1).`);
  const fields = headers.filter((h) => !isMimeStructural(h.name) && h.name.toLowerCase() !== 'hp-outer');
  // Two protected From (or Subject, ...) would leave which one the reader is shown to the reader's parser.
  for (const name of SINGLE_FIELDS) {
    const count = fields.filter((f) => f.name.toLowerCase() === name).length;
    if (count > 1)
      throw new SsmaxError('MALFORMED_MIME', `Cannot read the protected headers. The payload has ${count} ${name} fields (RFC 5322 §3.6 allows one).`);
  }
  const hpOuter: MimeHeader[] = [];
  if (hp === 'cipher') {
    for (const h of headers.filter((x) => x.name.toLowerCase() === 'hp-outer')) {
      const colon = h.value.indexOf(':');
      if (colon <= 0)
        throw new SsmaxError('MALFORMED_MIME', `Cannot read the protected headers. "HP-Outer: ${h.value.slice(0, 40)}" names no field (RFC 9788 §2.2).`);
      hpOuter.push({ name: h.value.slice(0, colon).trim(), value: h.value.slice(colon + 1).trim() });
    }
  }
  return { hp, fields, hpOuter };
}

const valuesOf = (headers: readonly MimeHeader[], name: string): string[] =>
  headers.filter((h) => h.name.toLowerCase() === name).map((h) => h.value.replace(/\s+/g, ' ').trim());

/**
 * Every user-facing outer field that is not what the sender put outside (RFC 9788 §4.4): with hp="cipher"
 * compared with the HP-Outer record, with hp="clear" with the protected value itself. A difference means the
 * outside was changed after the sender (a forged Subject, an added Reply-To): data for the reader, who is
 * shown the protected values anyway.
 */
export function compareOuterHeaders(outer: readonly MimeHeader[], p: ProtectedHeaders): OuterHeaderDifference[] {
  const expectedFrom = p.hp === 'cipher' ? p.hpOuter : p.fields;
  const names = new Set<string>(
    [...outer.map((h) => h.name.toLowerCase()), ...expectedFrom.map((h) => h.name.toLowerCase())].filter((n) => isProtectedName(n)),
  );
  const out: OuterHeaderDifference[] = [];
  for (const name of PROTECTED_FIELD_NAMES) {
    if (!names.has(name)) continue;
    const o = valuesOf(outer, name);
    const e = valuesOf(expectedFrom, name);
    if (o.length !== e.length || o.some((v, i) => v !== e[i])) out.push({ name, outer: o, expected: e, protectedValue: valuesOf(p.fields, name) });
  }
  return out;
}

/** Options of {@link wrapHeaderProtected}. */
export interface WrapHeaderProtectedOptions {
  /** DER certificates the envelope is for. */
  readonly recipients: readonly Uint8Array[];
  /** The outer header fields (the HCP's result, plus any transport fields), in order. */
  readonly outer: readonly MimeHeader[];
  readonly random?: (n: number) => Uint8Array;
}

/**
 * The Cryptographic Envelope's outer layer: `signedMessage` (a multipart/signed MIME entity whose first part
 * is the hp="cipher" payload) encrypted as AuthEnvelopedData (AES-256-GCM) to `recipients`, framed as
 * application/pkcs7-mime; smime-type=authEnveloped-data (RFC 8551 §3.4) under the outer fields.
 */
export async function wrapHeaderProtected(signedMessage: Uint8Array, o: WrapHeaderProtectedOptions): Promise<Uint8Array> {
  if (o.recipients.length === 0) throw new SsmaxError('USAGE', 'Cannot protect the message. The envelope has no recipient.');
  const der = await encryptContent(signedMessage, { recipients: o.recipients, cipher: 'aes-256-gcm', ...(o.random ? { random: o.random } : {}) });
  return buildPkcs7Mime(der, 'authEnveloped-data', { headers: { extra: o.outer } });
}

/** What {@link openHeaderProtected} found inside a protected message. */
export interface OpenedHeaderProtected {
  /**
   * The message as the next reader handles it: the outer transport fields (Received, X-SSMAX-*, ...), then the
   * protected fields, then the decrypted entity (multipart/signed) with its own header section.
   */
  readonly message: Uint8Array;
  /** The decrypted entity as it was inside the envelope. */
  readonly inner: Uint8Array;
  /** The outer header fields as they arrived. */
  readonly outer: readonly MimeHeader[];
  /** The payload's protected fields; undefined when the payload carries no `hp` (plain S/MIME encryption). */
  readonly protectedHeaders: ProtectedHeaders | undefined;
  /** User-facing outer fields that differ from what the sender put outside. */
  readonly differences: readonly OuterHeaderDifference[];
}

/** True when `raw` is application/pkcs7-mime with smime-type enveloped-data or authEnveloped-data. */
export function isEnvelopedMessage(raw: Uint8Array): boolean {
  try {
    const p = parseSmime(raw);
    return p.kind === 'pkcs7-mime' && (p.smimeType === 'enveloped-data' || p.smimeType === 'authEnveloped-data');
  } catch {
    return false;
  }
}

/**
 * Opens an encrypted message: `decrypt` (a KMS or a card) turns the envelope's DER into the inner entity.
 * Returns undefined for a message that is not enveloped (read as before). The payload is the first part of a
 * multipart/signed inner entity, the encapsulated content of an opaque application/pkcs7-mime signed-data one
 * (RFC 8551 §3.5.2; its signature is checked by whoever verifies the message, not here), or the inner entity
 * itself. Throws SsmaxError for a malformed message, and whatever `decrypt` throws.
 */
export async function openHeaderProtected(
  raw: Uint8Array,
  decrypt: (der: Uint8Array) => Promise<Uint8Array>,
  limits: MimeLimits = DEFAULT_MIME_LIMITS,
): Promise<OpenedHeaderProtected | undefined> {
  const p = parseSmime(raw, limits);
  if (p.kind !== 'pkcs7-mime' || (p.smimeType !== 'enveloped-data' && p.smimeType !== 'authEnveloped-data')) return undefined;
  const inner = await decrypt(p.der);
  const ip = parseSmime(inner, limits);
  const payload =
    ip.kind === 'multipart-signed'
      ? ip.signedEntity
      : ip.kind === 'plain'
        ? ip.entity
        : ip.smimeType === 'signed-data'
          ? verifySignedData(ip.der).content
          : undefined;
  const protectedHeaders = payload ? readProtectedHeaders(payload, limits) : undefined;
  const transport = p.headers.filter((h) => !isProtectedName(h.name) && !isMimeStructural(h.name));
  // Encrypted only (RFC 9788 §4.1): the decrypted entity is the payload, and its header section already holds
  // the protected fields the reader sees; nothing is added in front of it.
  const payloadIsInner = ip.kind === 'plain' && protectedHeaders !== undefined;
  // Without hp the outer user-facing fields are all the reader has (RFC 9788 §4.1): they stay.
  const shown = payloadIsInner
    ? []
    : protectedHeaders
      ? protectedHeaders.fields.filter((f) => isProtectedName(f.name))
      : p.headers.filter((h) => isProtectedName(h.name));
  // Anywhere else a user-facing field inside would stand beside the shown ones: which one the reader takes is ambiguous.
  if (!payloadIsInner && ip.headers.some((h) => isProtectedName(h.name)))
    throw new SsmaxError('MALFORMED_MIME', 'Cannot open the protected message. Its inner entity carries user-facing header fields outside the payload.');
  const message = concatBytes([fieldLines(transport), fieldLines(shown), inner]);
  return {
    message,
    inner,
    outer: p.headers,
    protectedHeaders,
    differences: protectedHeaders ? compareOuterHeaders(p.headers, protectedHeaders) : [],
  };
}
