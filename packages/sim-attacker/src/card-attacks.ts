import { randomBytes } from 'node:crypto';
import { SsmaxError, buildMimeEntity, buildMultipartSigned, parseCertificate, signSignedData, type MimeAttachmentInput, type PrivateKeyOps } from '@ssmax/core';
import { formatAddress } from './compose-mail.js';
import type { AttackerContext, CardHandle, InsiderFoothold, SenderPcMalwareFoothold, ServiceRef, SmtpCredentials, StolenCardFoothold } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { deliverAndRecord } from './spoof-direct.js';

export interface StolenCardOptions {
  /** PINs to try, in order (default four common ones: one more than a 3-try card allows). */
  readonly guesses?: readonly string[];
  /** What the attacker wants signed once in (default a short text). */
  readonly data?: Uint8Array;
}

/**
 * A stolen card without its PIN: tries to sign without a session (the card refuses), then guesses PINs
 * until one works or the card locks (paper §4 (2): possession alone is not enough).
 */
export async function useStolenCard(foothold: StolenCardFoothold, o: StolenCardOptions = {}): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('stolen-card');
  const { card } = foothold;
  rec.act(`holds card ${card.label}; tries to use key ${foothold.keyLabel} without a PIN`);
  try {
    const key = await card.key(foothold.keyLabel);
    await key.sign(key.signSchemes[0] ?? 'ECDSA-SHA256', o.data ?? new Uint8Array(Buffer.from('attacker text')));
    rec.act('signed without a PIN');
    rec.obtain({ kind: 'credentials', note: `a signature by ${card.label} without its PIN` });
    return rec.done();
  } catch (err) {
    rec.act(`refused: ${(err as Error).message}`);
    if (!SsmaxError.is(err, 'PIN_REQUIRED')) {
      rec.fail(SsmaxError.is(err) ? err.code : 'CARD_ERROR', (err as Error).message);
      return rec.done();
    }
  }
  for (const guess of o.guesses ?? ['0000', '1234', '1111', '123456']) {
    try {
      await card.login(guess);
    } catch (err) {
      const code = SsmaxError.is(err) ? err.code : 'CARD_ERROR';
      rec.act(`PIN guess ${guess}: ${(err as Error).message}`);
      rec.fail(code, (err as Error).message);
      if (code === 'PIN_LOCKED') break;
      continue;
    }
    rec.act(`PIN guess ${guess} was right`);
    rec.obtain({ kind: 'credentials', bytes: new Uint8Array(Buffer.from(guess)), note: `PIN of ${card.label} (guessed)` });
    rec.error = undefined;
    await card.logout();
    return rec.done();
  }
  if (card.locked) rec.fail('PIN_LOCKED', `Cannot use card ${card.label}. It locked after ${card.maxPinTries} wrong PINs.`);
  return rec.done();
}

/** A mail the card holder's client would send. */
export interface CardMailOptions {
  readonly to: string | readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly attachments?: readonly MimeAttachmentInput[];
  readonly displayName?: string;
  /**
   * Builds the mail with the card's key instead of plain S/MIME signing (the world passes its SSMAX
   * user agent here, so the mail has the format its MSA expects). Gets the From address too.
   */
  readonly build?: (signer: { key: PrivateKeyOps; certificate: Uint8Array; from: string }, mail: Omit<CardMailOptions, 'build'>) => Promise<Uint8Array>;
}

/** Multipart/signed (RFC 8551 §3.5.3) with the card's key, From the certificate's address. */
async function signWithCard(key: PrivateKeyOps, certificate: Uint8Array, from: string, o: CardMailOptions, now: Date): Promise<Uint8Array> {
  const inner = buildMimeEntity({ text: o.text, ...(o.attachments ? { attachments: o.attachments } : {}) });
  const sig = await signSignedData(inner, { key, certificate, detached: true, signingTime: now });
  const to = typeof o.to === 'string' ? [o.to] : [...o.to];
  return buildMultipartSigned(inner, sig, {
    headers: {
      from: formatAddress(o.displayName, from),
      to,
      subject: o.subject,
      date: now,
      messageId: `${randomBytes(12).toString('hex')}@${from.split('@')[1]}`,
    },
  });
}

async function signAndSubmit(
  ctx: AttackerContext,
  rec: OutcomeRecorder,
  handle: CardHandle,
  pin: string,
  submit: ServiceRef & { readonly auth?: SmtpCredentials },
  o: CardMailOptions,
): Promise<AttackOutcome> {
  const { card } = handle;
  try {
    await card.login(pin);
  } catch (err) {
    rec.fail(SsmaxError.is(err) ? err.code : 'CARD_ERROR', (err as Error).message);
    rec.act(`card refused the PIN: ${(err as Error).message}`);
    return rec.done();
  }
  let raw: Uint8Array;
  let from: string;
  try {
    const key = await card.key(handle.keyLabel);
    const certificate = handle.certificate ?? (await card.getCertificate(handle.keyLabel));
    if (!certificate) {
      rec.fail('CERTIFICATE_MISSING', `Cannot sign as the card holder. Card ${card.label} holds no certificate ${handle.keyLabel}.`);
      return rec.done();
    }
    from = parseCertificate(certificate).emailAddresses[0] ?? '';
    raw = o.build ? await o.build({ key, certificate, from }, o) : await signWithCard(key, certificate, from, o, ctx.now?.() ?? new Date());
    rec.act(`signed the mail as ${from} with the card's key`);
  } finally {
    await card.logout();
  }
  const to = typeof o.to === 'string' ? [o.to] : [...o.to];
  return deliverAndRecord(ctx, rec, { target: submit, envelope: { from, to }, raw, ...(submit.auth ? { auth: submit.auth } : {}) });
}

/**
 * Paper §6 (12), "takeover of the sender's client": malware on the PC while the card is in the reader
 * and the PIN was keylogged. It signs with the real card and submits through the real MSA, so the mail is
 * genuinely the user's as far as every check can tell; only tracing and revocation remain.
 */
export async function sendAsUserViaMalware(ctx: AttackerContext, foothold: SenderPcMalwareFoothold, o: CardMailOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('sender-pc-malware');
  rec.obtain({ kind: 'credentials', bytes: new Uint8Array(Buffer.from(foothold.keyloggedPin)), note: `PIN of card ${foothold.card.label} (keylogged)` });
  rec.act(`malware on the sender's PC; card ${foothold.card.label} inserted; logs in with the keylogged PIN`);
  return signAndSubmit(ctx, rec, foothold, foothold.keyloggedPin, foothold.submit, o);
}

/**
 * A malicious insider with their own card and PIN sends malware the legitimate way. SSMAX delivers it
 * (every signature is real) but the mail is traceable to the insider, who can then be revoked.
 */
export async function sendAsInsider(ctx: AttackerContext, foothold: InsiderFoothold, o: CardMailOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('malicious-insider');
  rec.act(`insider logs in to own card ${foothold.card.label}`);
  return signAndSubmit(ctx, rec, foothold, foothold.pin, foothold.submit, o);
}
