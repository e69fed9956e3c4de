import nodemailer from 'nodemailer';
import type { AttackerContext, ServiceRef, SmtpCredentials } from './footholds.js';
import type { AttackFailure } from './outcome.js';

/** How the attacker's client treats STARTTLS (RFC 3207). */
export type ClientTls = 'opportunistic' | 'none' | 'require';

export interface SmtpSendOptions {
  readonly target: ServiceRef;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  readonly raw: Uint8Array;
  readonly auth?: SmtpCredentials;
  /** Default 'opportunistic'. */
  readonly tls?: ClientTls;
}

export type SmtpSendResult = { readonly ok: true; readonly reply: string } | { readonly ok: false; readonly failure: AttackFailure };

interface NodemailerError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
}

/** Maps a nodemailer failure to outcome data (the reply code decides, not the message text). */
export function smtpFailure(err: unknown): AttackFailure {
  const e = err as NodemailerError;
  const message = e?.message ?? String(err);
  const reply = e?.response;
  if (e?.code === 'EAUTH') return { code: 'AUTH_FAILED', message, ...(reply ? { smtpReply: reply } : {}) };
  if (e?.code === 'ETLS') return { code: 'TLS_REQUIRED', message, ...(reply ? { smtpReply: reply } : {}) };
  if (typeof e?.responseCode === 'number') return { code: 'SMTP_REJECTED', message, ...(reply ? { smtpReply: reply } : {}) };
  return { code: 'CONNECTION_FAILED', message };
}

/**
 * Sends `raw` over SMTP from the attacker's own address to a service of the simulated network, with the
 * envelope given (RFC 5321 §3.3: the envelope, not the headers, routes the mail). Refusals are data.
 */
export async function smtpSend(ctx: AttackerContext, o: SmtpSendOptions): Promise<SmtpSendResult> {
  let connect;
  try {
    connect = ctx.net.connectOptions(ctx.address, o.target.host, o.target.port);
  } catch (err) {
    return { ok: false, failure: { code: 'CONNECTION_FAILED', message: (err as Error).message } };
  }
  const tls = o.tls ?? 'opportunistic';
  const transport = nodemailer.createTransport({
    ...connect,
    secure: false,
    name: ctx.heloName ?? 'mail.attacker.invalid',
    ...(o.auth ? { auth: { user: o.auth.user, pass: o.auth.pass } } : {}),
    ignoreTLS: tls === 'none',
    requireTLS: tls === 'require',
    // The attacker does not care whose certificate it is talking to.
    tls: { rejectUnauthorized: false },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  try {
    const info = await transport.sendMail({ envelope: { from: o.envelope.from, to: [...o.envelope.to] }, raw: Buffer.from(o.raw) });
    return { ok: true, reply: String(info.response ?? '') };
  } catch (err) {
    return { ok: false, failure: smtpFailure(err) };
  } finally {
    transport.close();
  }
}

/** The lowest-preference MX of `domain` (RFC 5321 §5.1), or the domain itself when it has none. */
export async function mxOf(ctx: AttackerContext, domain: string): Promise<string> {
  try {
    const mx = await ctx.net.resolver(domain, 'MX');
    const best = [...mx].sort((a, b) => a.priority - b.priority)[0];
    if (best) return best.exchange;
  } catch {
    // RFC 5321 §5.1: no MX → the implicit MX is the domain's own address record.
  }
  return domain;
}
