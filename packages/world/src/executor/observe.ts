/**
 * Observers: the recipient's mailbox read through that user's own client, one per kind of client the
 * profiles give users. Each returns the tracked copy as shown ({@link RecipientView}) plus the passwords
 * the same sender stated (what a PPAP recipient opens archives with). Observers read; they never judge.
 */
import { Oids, type CertificateInfo } from '@ssmax/core';
import type { JourneyEvent, MailVerdict } from '@ssmax/sim-org';
import type { ObtainedItem } from '@ssmax/sim-attacker';
import type { WorldUser } from '../world.js';
import { isSmimeMailView, readSmimeMessage, type SmimeIdentity, type SmimeReadOptions, type SmimeReading } from '../smime-client.js';
import { fetchInbox } from '../imap-fetch.js';
import type { RecipientView } from './evidence.js';
import { dmarcPassed, readMail, reputationSuspicious, statedPasswords, type ReadMail } from './conventional.js';
import { HarnessError, msaNamesSender } from './judge.js';

/** What an observer saw: the tracked copy (if it is in the mailbox) and the same sender's stated passwords. */
export interface Observed {
  readonly view?: RecipientView;
  readonly passwords: readonly string[];
}

/** Message-IDs compared without the angle brackets (RFC 5322 §3.6.4 msg-id). */
export function bareId(id: string | undefined): string {
  return (id ?? '').trim().replace(/^<|>$/g, '');
}

const enc = new TextEncoder();
const domainOf = (address: string): string => (address.split('@')[1] ?? '').toLowerCase();
const passwordsIn = (texts: readonly string[]): string[] => [...new Set(texts.flatMap(statedPasswords))];

/** The IMAP password as the user's client sends it (with the TOTP of now when the mailbox demands one: Dovecot checks real time). */
function imapPass(u: WorldUser): string {
  const totp = u.totpCode(new Date());
  return totp ? `${u.password}:${totp}` : u.password;
}

/** Every message in the user's INBOX, raw, over IMAP. */
export async function fetchAllRaw(u: WorldUser): Promise<Uint8Array[]> {
  return (await fetchInbox({ host: u.org.mailbox.host, port: u.org.mailbox.imapPort, user: u.address, pass: imapPass(u) })).map((m) => m.source);
}

/**
 * SSMAX: the recipient's user agent over IMAP with the card (procedure (10)). A verified mail is shown
 * normally; outside mail the receiving MTA-in marked unverified is shown with the banner; anything else
 * the agent refuses. The agent names a person when it verified the sender manifest, or when the sending
 * org's MSA (4) record confirms the card signature the notice claims; else the verified org chain names
 * the org.
 */
export async function observeSsmax(
  target: WorldUser,
  tracked: { messageId: string; copy: number },
  journey: readonly JourneyEvent[],
  sendingOrg: string | undefined,
): Promise<Observed> {
  const totp = target.totpCode(new Date());
  const inbox: MailVerdict[] = await target.inbox({ password: target.password, pin: target.pin, ...(totp !== undefined ? { totp } : {}) });
  const copies = inbox.filter((m) => bareId(m.messageId) === bareId(tracked.messageId));
  const mine = copies[tracked.copy - 1];
  if (!mine) return { passwords: [] };
  // Outside mail the receiving MTA-in marked unverified is shown under the banner; any other mail that
  // failed (10) is refused by the agent (no downgrade of a broken SSMAX mail to "unverified").
  // A verified mail whose outer header fields are not what the sender put outside (RFC 9788 HP-Outer: a
  // forged outer Subject) is shown with the protected fields and a warning.
  const outerDiffers = mine.headerProtection?.outerDifferences ?? [];
  const shown: RecipientView['shown'] = mine.verified ? (outerDiffers.length > 0 ? 'warning' : 'normal') : mine.outside === true ? 'warning' : 'refused';
  const notice = mine.identityNotice;
  const released = shown === 'refused' ? [] : mine.files.flatMap((f) => (f.content ? [f.content] : []));
  let signer: RecipientView['signer'];
  if (mine.verified && notice) {
    const domain = notice.sendingDomain ?? domainOf(mine.senderAddress);
    // A person is named by a card signature someone verified: the agent's own manifest check, or the
    // sending org's (4) record (paper mode: the notice's "card and PIN used" is only the org's claim).
    const msaRecord = msaNamesSender({ journey, sendingOrg });
    if (mine.manifestSigner)
      signer = {
        kind: 'person',
        domain: domainOf(mine.manifestSigner.address) || domain,
        serial: mine.manifestSigner.serial,
        via: 'the sender manifest the agent verified',
      };
    else if (notice.cardAndPinUsed && msaRecord)
      signer = {
        kind: 'person',
        domain,
        ...(notice.certSerial ? { serial: notice.certSerial } : {}),
        via: "the sending org's MSA (4) record of the card signature",
      };
    else signer = { kind: 'org', domain, via: 'the chain of org signatures the agent verified' };
  }
  const sameSender = inbox.filter((m) => m.senderAddress === mine.senderAddress && m.verified === mine.verified);
  const readable: ObtainedItem[] =
    shown === 'refused'
      ? []
      : [
          ...released.map((b) => ({ kind: 'files' as const, bytes: b, note: 'released by the agent' })),
          { kind: 'body', bytes: enc.encode(mine.text), note: 'the body as the agent shows it' },
        ];
  return {
    view: {
      shown,
      identityShown: mine.verified ? (notice?.cardAndPinUsed ? 'identity-proofed' : 'signature-valid') : shown === 'warning' ? 'unverified' : 'none',
      released,
      ...(signer ? { signer } : {}),
      readable,
      reasons: [...mine.problems, ...(mine.verified ? outerDiffers : [])],
    },
    passwords: passwordsIn(sameSender.map((m) => m.text)),
  };
}

/**
 * Conventional baselines: the user's mail client over IMAP; what it shows of authenticity is what the
 * receiving MTA-in wrote (Authentication-Results under its own authserv-id, X-SSMAX-Reputation).
 */
export async function observeConventional(target: WorldUser, tracked: { messageId: string; copy: number }): Promise<Observed> {
  const raws = await fetchAllRaw(target);
  const mails = (await Promise.all(raws.map(async (raw) => ({ raw, m: await readMail(raw) })))).filter(
    (x): x is { raw: Uint8Array; m: ReadMail } => x.m !== undefined,
  );
  const got = mails.filter((x) => x.m.messageId === bareId(tracked.messageId))[tracked.copy - 1];
  if (!got) return { passwords: [] };
  const authenticated = dmarcPassed(got.m, target.org.domain);
  const sameSender = mails.filter((x) => x.m.from === got.m.from);
  const fromDomain = domainOf(got.m.from);
  return {
    view: {
      shown: reputationSuspicious(got.m) ? 'warning' : 'normal',
      identityShown: authenticated ? 'domain-authenticated' : 'unverified',
      released: got.m.attachments,
      ...(authenticated ? { signer: { kind: 'org' as const, domain: fromDomain, via: `dmarc=pass for ${fromDomain} at the receiving MTA` } } : {}),
      readable: sameSender.map((x) => ({ kind: 'body' as const, bytes: x.raw, note: 'a mail of the same sender in the mailbox' })),
      reasons: got.m.reputation,
    },
    passwords: passwordsIn(sameSender.map((x) => x.m.text)),
  };
}

/**
 * Who a trusted S/MIME signature names (CA/B S/MIME BR validation type): a sponsor-validated
 * certificate names a person of the sponsoring organisation; a mailbox-validated one only the mailbox.
 */
export function smimeSigner(r: SmimeReading): RecipientView['signer'] {
  const c: CertificateInfo | undefined = r.trustedSigner;
  if (!c) return undefined;
  const domain = domainOf(c.emailAddresses[0] ?? '');
  if (!domain) return undefined;
  const sponsor = c.policies?.includes(Oids.smimeBrSponsorValidated) === true;
  return { kind: sponsor ? 'person' : 'org', domain, via: `a ${sponsor ? 'sponsor' : 'mailbox'}-validated S/MIME signature the client verified` };
}

function smimeView(r: SmimeReading, readableNote: string): RecipientView {
  const signer = smimeSigner(r);
  const released = r.attachments.map((a) => a.content);
  return {
    shown: r.signature === 'invalid' || r.signature === 'partial' ? 'warning' : 'normal',
    identityShown: r.signature === 'valid' ? 'signature-valid' : 'unverified',
    released,
    ...(signer ? { signer } : {}),
    readable: [
      ...released.map((b) => ({ kind: 'files' as const, bytes: b, note: readableNote })),
      { kind: 'body', bytes: enc.encode(r.text), note: readableNote },
    ],
    reasons: r.reasons,
  };
}

/** smime-e2e: the recipient's S/MIME client over IMAP (decrypts with the user's key; whole-message signature, trusted root, From = signer). */
export async function observeSmime(target: WorldUser, tracked: { messageId: string; copy: number }): Promise<Observed> {
  const totp = target.totpCode(new Date());
  const listed = await target.inbox({ password: target.password, pin: target.pin, ...(totp !== undefined ? { totp } : {}) });
  const inbox = listed.filter(isSmimeMailView);
  if (inbox.length !== listed.length) throw new HarnessError(`Cannot observe ${target.address} as an S/MIME client. Its inbox is read by another client.`);
  const got = inbox.filter((m) => bareId(m.messageId) === bareId(tracked.messageId))[tracked.copy - 1];
  if (!got) return { passwords: [] };
  const sameSender = inbox.filter((m) => m.senderAddress === got.senderAddress);
  return { view: smimeView(got.smime, 'decrypted by the mailbox holder'), passwords: passwordsIn(sameSender.map((m) => m.smime.text)) };
}

/** A mailbox outside every scheme: the non-member's own MX, which checks SPF/DKIM/DMARC like any receiving MTA today. */
export interface OutsideMailbox {
  readonly domain: string;
  readonly received: readonly Uint8Array[];
  /** DMARC result per received message: the authenticated From domain. */
  readonly dmarcPass: ReadonlyMap<Uint8Array, string>;
}

/**
 * The outside mailbox's owner reads the tracked mail with an ordinary client, or with its S/MIME client
 * and its own key where it has one.
 */
export async function observeOutside(
  box: OutsideMailbox,
  tracked: { messageId: string; copy: number },
  smime: { identity?: SmimeIdentity; trustAnchors: readonly Uint8Array[]; now: Date; policy?: SmimeReadOptions['policy'] } | undefined,
): Promise<Observed> {
  const got = box.received.filter((r) => Buffer.from(r).toString('latin1').includes(bareId(tracked.messageId)))[tracked.copy - 1];
  if (!got) return { passwords: [] };
  const mails = (await Promise.all(box.received.map(readMail))).filter((m): m is ReadMail => m !== undefined);
  const passwords = passwordsIn(mails.map((m) => m.text));
  const readable: ObtainedItem[] = box.received.map((r) => ({ kind: 'body', bytes: r, note: `held by the owner of ${box.domain}` }));
  const authDomain = box.dmarcPass.get(got);
  // DMARC (RFC 7489) is what the outside MX can tell of the From domain, whatever the client shows of a signature.
  const dmarc =
    authDomain !== undefined
      ? {
          identityShown: 'domain-authenticated' as const,
          signer: { kind: 'org' as const, domain: authDomain.toLowerCase(), via: `dmarc=pass for ${authDomain} at the outside MX` },
        }
      : undefined;
  if (smime) {
    const r = await readSmimeMessage(got, {
      ...(smime.identity ? { identity: smime.identity } : {}),
      trustAnchors: [...smime.trustAnchors],
      now: smime.now,
      ...(smime.policy ? { policy: smime.policy } : {}),
    });
    const v = smimeView(r, `decrypted by the owner of ${box.domain}`);
    return {
      view: {
        ...v,
        shown: 'normal',
        identityShown: r.signature === 'valid' ? 'signature-valid' : 'unverified',
        readable: [...v.readable, ...readable],
        ...(dmarc ?? {}),
      },
      passwords,
    };
  }
  const m = await readMail(got);
  return {
    view: {
      shown: 'normal',
      identityShown: dmarc?.identityShown ?? 'unverified',
      released: m?.attachments ?? [],
      ...(dmarc ? { signer: dmarc.signer } : {}),
      readable,
      reasons: [],
    },
    passwords,
  };
}
