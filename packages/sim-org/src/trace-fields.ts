/**
 * Trace fields (RFC 5321 §4.4, RFC 5322 §3.6.7): every SMTP server that takes responsibility for a mail
 * prepends one `Received` line and never alters the rest; the final delivery adds `Return-Path` from the
 * envelope (Dovecot's LMTP does that here, mailbox.ts). One writer serves the MSA, both kinds of MTA-in
 * and the org hops that rebuild a message, so every hop reads the same way.
 */
import type { SMTPServerSession } from 'smtp-server';

/** One hop as its Received line names it. */
export interface ReceivedHop {
  /** The name the client gave in EHLO/HELO; client-chosen, so anything but a domain or address literal is shown as a comment. */
  readonly helo: string;
  /** The client's IP address as the server saw it. */
  readonly ip: string;
  /** This server's own name. */
  readonly by: string;
  /** The session ran in TLS (STARTTLS, RFC 3207). */
  readonly tls: boolean;
  /** The client authenticated (SMTP AUTH, RFC 4954): submission (RFC 6409). */
  readonly authenticated?: boolean;
  /** The server's id of this transaction (an Atom). */
  readonly id?: string;
  readonly date: Date;
}

const DOMAIN = /^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const ADDRESS_LITERAL = /^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]{2,45})\]$/;
const ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}$/;

/** RFC 5321 §4.1.3 address literal of an IP as a socket reports it (IPv4-mapped IPv6 shown as IPv4). */
function addressLiteral(ip: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (v4) return `[${v4[1]}]`;
  return /^[0-9A-Fa-f:.]{2,45}$/.test(ip) ? `[IPv6:${ip}]` : '[unknown]';
}

/** RFC 5322 §3.3 date-time in UTC, so a trace line does not depend on the host's time zone. */
export function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * The `Received` line of one hop, CRLF-terminated (RFC 5321 §4.4 Time-stamp-line): `from <helo> ([ip])
 * by <host> with <protocol> id <id>; <date>`, the protocol named as RFC 3848 registers it (ESMTP, +S
 * for TLS, +A for an authenticated client). A HELO name that is neither a domain nor an address literal
 * cannot break out of the line: the hop is `from unknown` and the name a comment with only printable
 * characters that close no comment.
 */
export function receivedField(h: ReceivedHop): string {
  const helo = h.helo.trim();
  const literal = addressLiteral(h.ip);
  const named = DOMAIN.test(helo) || ADDRESS_LITERAL.test(helo);
  const from = named
    ? `${helo} (${literal})`
    : `unknown (${literal})${helo ? ` (helo=${helo.replace(/[^\x21-\x27\x2a-\x5b\x5d-\x7e]/g, '?').slice(0, 100)})` : ''}`;
  const protocol = `ESMTP${h.tls ? 'S' : ''}${h.authenticated ? 'A' : ''}`;
  const id = h.id !== undefined && ATOM.test(h.id) ? `\r\n\tid ${h.id}` : '';
  return `Received: from ${from}\r\n\tby ${h.by} with ${protocol}${id};\r\n\t${rfc5322Date(h.date)}\r\n`;
}

/** The id a Received line gives one SMTP transaction: the session's random id and the transaction's number in it. */
export function transactionId(session: Pick<SMTPServerSession, 'id' | 'transaction'>): string {
  return `${session.id}${session.transaction > 1 ? `-${session.transaction}` : ''}`;
}

/** The Received hop of the SMTP session `session` at server `by`. */
export function sessionHop(session: SMTPServerSession, by: string, date: Date): ReceivedHop {
  return {
    helo: session.hostNameAppearsAs || '',
    ip: session.remoteAddress,
    by,
    tls: session.secure === true,
    authenticated: Boolean(session.user),
    id: transactionId(session),
    date,
  };
}

/**
 * True when the header section starts with a continuation line (SP or HTAB). Such a line is no field
 * (RFC 5322 §2.2.3): prepended to it, a server's own trace field would take it as its continuation, so
 * a server refuses the mail rather than let the sender extend what it writes.
 */
export function startsWithContinuation(raw: Uint8Array): boolean {
  return raw[0] === 0x20 || raw[0] === 0x09;
}

/**
 * The `Received` fields of a message's header section, byte for byte and in order (each with its
 * continuation lines): what an org hop that rebuilds the message keeps on top of the new one, so the
 * hops before it stay on record (RFC 5321 §4.4: trace fields are never removed). Only the header
 * section is read; an unterminated one ends at the end of the input.
 */
export function receivedFieldsOf(raw: Uint8Array): Uint8Array {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
  const head = buf.subarray(0, end < 0 ? buf.length : end + 2);
  const out: Buffer[] = [];
  let keep = false;
  for (let at = 0; at < head.length;) {
    const nl = head.indexOf('\r\n', at, 'latin1');
    const next = nl < 0 ? head.length : nl + 2;
    const line = head.subarray(at, next);
    const continuation = line[0] === 0x20 || line[0] === 0x09;
    if (!continuation) keep = /^received[ \t]*:/i.test(line.subarray(0, 16).toString('latin1'));
    if (keep) out.push(nl < 0 ? Buffer.concat([line, Buffer.from('\r\n')]) : line);
    at = next;
  }
  return new Uint8Array(Buffer.concat(out));
}

/** `fields` (CRLF-terminated header lines) in front of `raw`. */
export function prependFields(fields: string | Uint8Array, raw: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([typeof fields === 'string' ? Buffer.from(fields, 'utf8') : Buffer.from(fields), Buffer.from(raw)]));
}
