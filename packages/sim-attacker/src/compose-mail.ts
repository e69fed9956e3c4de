import { randomBytes } from 'node:crypto';
import { buildMimeEntity, type MimeAttachmentInput, type MimeHeader } from '@ssmax/core';

/** A mail as the attacker writes it. */
export interface ComposeMailOptions {
  /** The From header value as written (`"CEO" <ceo@org-a.example>`); see {@link formatAddress}. */
  readonly from: string;
  readonly to: string | readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly attachments?: readonly MimeAttachmentInput[];
  /** Without angle brackets; default random at the From domain. */
  readonly messageId?: string;
  readonly date?: Date;
  readonly extraHeaders?: readonly MimeHeader[];
  readonly random?: (n: number) => Uint8Array;
}

const ATEXT_PHRASE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$/;

/** RFC 2047 §4.1 B-encoding of UTF-8 text, so non-ASCII names and subjects survive 7bit transport. */
function encodeWord(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/** A mailbox (RFC 5322 §3.4): `"Display Name" <addr>`, the name RFC 2047-encoded when it is not ASCII. */
export function formatAddress(displayName: string | undefined, address: string): string {
  if (displayName === undefined || displayName === '') return address;
  if (/[\r\n]/.test(displayName)) throw new TypeError('A display name must not contain a line break.');
  if (!/^[\x20-\x7e]*$/.test(displayName)) return `${encodeWord(displayName)} <${address}>`;
  return ATEXT_PHRASE.test(displayName) && !displayName.includes('"')
    ? `"${displayName}" <${address}>`
    : `"${displayName.replace(/["\\]/g, '\\$&')}" <${address}>`;
}

/** The bare address inside a From/To value. */
export function addressIn(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /<([^<>\s]+@[^<>\s]+)>/.exec(value) ?? /([^\s<>,;"]+@[^\s<>,;"]+)/.exec(value);
  return m?.[1]?.toLowerCase();
}

function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Header lines (CRLF-terminated) of a top-level mail, without Content-* (the entity brings those). */
export function topHeaders(o: Omit<ComposeMailOptions, 'text' | 'attachments'>): string {
  const random = o.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const domain = addressIn(o.from)?.split('@')[1] ?? 'attacker.invalid';
  const id = o.messageId ?? `${Buffer.from(random(12)).toString('hex')}@${domain}`;
  const to = typeof o.to === 'string' ? o.to : o.to.join(', ');
  for (const v of [o.from, to]) if (/[\r\n]/.test(v)) throw new TypeError('A header value must not contain a line break.');
  let out = `From: ${o.from}\r\nTo: ${to}\r\nSubject: ${encodeWord(o.subject)}\r\nDate: ${rfc5322Date(o.date ?? new Date())}\r\nMessage-ID: <${id}>\r\n`;
  for (const h of o.extraHeaders ?? []) out += `${h.name}: ${h.value}\r\n`;
  return `${out}MIME-Version: 1.0\r\n`;
}

/** Builds a complete RFC 5322 mail (CRLF, 7bit-safe): headers, then a text or multipart/mixed entity. */
export function composeMail(o: ComposeMailOptions): Uint8Array {
  const entity = buildMimeEntity({ text: o.text, ...(o.attachments ? { attachments: o.attachments } : {}), ...(o.random ? { random: o.random } : {}) });
  // RFC 5321 §4.1.1.4: DATA ends with CRLF "." CRLF, so a mail that does not end in CRLF gains one in
  // transit; ending in CRLF keeps the bytes sent equal to the bytes received.
  const tail = entity.byteLength >= 2 && entity[entity.byteLength - 2] === 13 && entity[entity.byteLength - 1] === 10 ? [] : [Buffer.from('\r\n')];
  return new Uint8Array(Buffer.concat([Buffer.from(topHeaders(o), 'latin1'), entity, ...tail]));
}

/** The header block (up to the first empty line) of a raw mail. */
export function headerBlock(raw: Uint8Array): Uint8Array {
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const end = b.indexOf('\r\n\r\n');
  return new Uint8Array(end < 0 ? b : b.subarray(0, end + 2));
}

/** The value of the first header `name` in a raw mail (unfolded), or undefined. */
export function rawHeader(raw: Uint8Array, name: string): string | undefined {
  const text = Buffer.from(headerBlock(raw))
    .toString('latin1')
    .replace(/\r\n[ \t]+/g, ' ');
  const re = new RegExp(`^${name.replace(/[-]/g, '\\-')}:[ \\t]*(.*)$`, 'im');
  return re.exec(text)?.[1]?.trim();
}

/** The Message-ID of a raw mail, without angle brackets. */
export function messageIdOf(raw: Uint8Array): string {
  return (rawHeader(raw, 'Message-ID') ?? '').replace(/^<|>$/g, '');
}

/**
 * Splits a mail into its top-level header lines other than Content-* (From, To, Subject, …) and the MIME
 * entity (the Content-* header lines and the body), which is what S/MIME signs (RFC 8551 §3.1).
 */
export function splitTopLevel(raw: Uint8Array): { headers: string; entity: Uint8Array } {
  const b = Buffer.from(raw);
  const end = b.indexOf('\r\n\r\n');
  const head = b.subarray(0, end < 0 ? b.length : end + 2).toString('latin1');
  const lines = head.split(/\r\n(?![ \t])/).filter((l) => l.length > 0);
  const content = lines.filter((l) => /^content-/i.test(l));
  const other = lines.filter((l) => !/^content-/i.test(l));
  const body = end < 0 ? Buffer.alloc(0) : b.subarray(end + 2);
  return {
    headers: other.map((l) => `${l}\r\n`).join(''),
    entity: new Uint8Array(Buffer.concat([Buffer.from(content.map((l) => `${l}\r\n`).join(''), 'latin1'), body])),
  };
}
