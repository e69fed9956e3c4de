/**
 * Judging rules of the matrix: pure functions from {@link CellEvidence} to the five outcome fields.
 * Each rule reads only evidence that crossed a boundary; none compares a scenario, profile or
 * capability name. When the evidence decides nothing, the rule throws a {@link HarnessError}: the cell
 * is an error (exit 3), never a guess.
 */
import type { ObtainedItem } from '@ssmax/sim-attacker';
import type { Leak, Traced, Verdict } from '../runner/types.js';
import type { CellEvidence, RecipientView } from './evidence.js';
import { filesReadable, openAll } from './conventional.js';
import type { Payload, PayloadFile } from './payload.js';

/** The harness could not observe what it needed: the cell is an error, not a verdict. */
export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A verdict with the evidence it rests on. */
export interface Judged<T> {
  readonly value: T;
  readonly because: string;
}

const actorOrg = (actor: string): string => actor.split('/')[0] ?? '';
const actorService = (actor: string): string => actor.split('/')[1] ?? '';
const isPermanentReply = (r: string | undefined): boolean => /^5\d\d[ -]/.test(r ?? '');

/** A refusal on the receiving side: its MX's 5xx in the session, its own `rejected` or `bounced` event, or the 5xx the sending MTA-out got back. */
export function receivingRefusal(e: Pick<CellEvidence, 'attempts' | 'journey' | 'sendingOrg' | 'receivingOrg' | 'dsn'>): string | undefined {
  const last = e.attempts.at(-1);
  if (last && !last.accepted && last.answeredBy === 'receiving')
    return `the receiving server answered ${last.by === 'attacker' ? 'the attacker' : 'the sender'}: ${last.reply}`;
  if (last && !last.accepted) return undefined;
  // Rejected in the session, or accepted and then bounced by one of its own hops (e.g. (9) cannot decrypt).
  const ev = e.journey.find(
    (x) => e.receivingOrg !== undefined && actorOrg(x.actor) === e.receivingOrg && (x.outcome === 'rejected' || x.outcome === 'bounced'),
  );
  if (ev) return `${ev.actor} (${ev.procedure}) rejected it${ev.detail ? `: ${ev.detail}` : ''}`;
  const remote = e.journey.find(
    (x) =>
      e.sendingOrg !== undefined &&
      actorOrg(x.actor) === e.sendingOrg &&
      actorService(x.actor) === 'mta-out' &&
      x.outcome === 'bounced' &&
      isPermanentReply(x.reply),
  );
  if (remote) return `the receiving MTA answered ${remote.actor}: ${remote.reply ?? ''}`;
  // No published event: the DSN the receiving side sent back to the sender says it (RFC 3464).
  if (e.dsn && e.receivingOrg !== undefined && e.dsn.reportingOrg === e.receivingOrg)
    return `a DSN from ${e.dsn.reportingMta} in the sender's mailbox: ${e.dsn.status} ${e.dsn.diagnostic}`.trim();
  return undefined;
}

/** A refusal or hold record on the sending side: its MSA's or card's refusal, or one of its hops rejecting. */
export function sendingRefusal(e: Pick<CellEvidence, 'attempts' | 'journey' | 'sendingOrg' | 'attackerHadNothing' | 'dsn'>): string | undefined {
  const last = e.attempts.at(-1);
  if (last && !last.accepted && last.answeredBy === 'sending')
    return `the sending side refused ${last.by === 'attacker' ? 'the attacker' : 'the sender'}: ${last.reply}`;
  if (e.attackerHadNothing) return 'the attacker obtained nothing it could send';
  if (last && !last.accepted) return undefined;
  const ev = e.journey.find((x) => e.sendingOrg !== undefined && actorOrg(x.actor) === e.sendingOrg && (x.outcome === 'rejected' || x.outcome === 'bounced'));
  if (ev) return `${ev.actor} (${ev.procedure}) ${ev.outcome} it${ev.detail ? `: ${ev.detail}` : ''}`;
  if (e.dsn && e.sendingOrg !== undefined && e.dsn.reportingOrg === e.sendingOrg)
    return `a DSN from ${e.dsn.reportingMta} in the sender's mailbox: ${e.dsn.status} ${e.dsn.diagnostic}`.trim();
  return undefined;
}

/**
 * The verdict: what the recipient's client shows, else a refusal someone answered with. `blocked` needs
 * a receiving-side refusal, `not-sent` a sending-side one; neither: a harness error.
 */
export function judgeVerdict(e: CellEvidence): Judged<Verdict> {
  if (e.view) {
    const value: Verdict = e.view.shown === 'normal' ? 'delivered' : e.view.shown === 'warning' ? 'flagged' : 'blocked';
    return {
      value,
      because: `the recipient's client ${e.view.shown === 'refused' ? 'refused it' : `shows it ${e.view.shown === 'warning' ? 'with a warning' : 'normally'}`}${e.view.reasons.length ? ` (${e.view.reasons.slice(0, 3).join('; ')})` : ''}`,
    };
  }
  const recv = receivingRefusal(e);
  if (recv) return { value: 'blocked', because: recv };
  const send = sendingRefusal(e);
  if (send) return { value: 'not-sent', because: send };
  const last = e.attempts.at(-1);
  throw new HarnessError(
    `Cannot judge the cell. The mail ${e.tracked ? `${e.tracked.messageId} (copy ${e.tracked.copy})` : '(no Message-ID)'} is not in the recipient's mailbox and nobody refused it: ${last ? `last attempt ${last.accepted ? 'accepted' : 'refused'} (${last.reply})` : 'nothing was handed over'}; journey: ${e.journey.map((x) => `${x.actor}(${x.procedure}) ${x.outcome}${x.detail ? ` [${x.detail.slice(0, 80)}]` : ''}`).join(' → ') || 'none'}.`,
  );
}

/** The tracked copy re-sends a Message-ID someone else handed over first: its signatures bind that transmission, not this one. */
export function copyAccountable(e: Pick<CellEvidence, 'tracked'>): boolean {
  return e.tracked?.repeatsHandover !== true;
}

/** The sending org's MSA (4) verified a card signature chained to its CA for this mail: the org can name the card holder. */
export function msaNamesSender(e: Pick<CellEvidence, 'journey' | 'sendingOrg'>): boolean {
  return e.journey.some((x) => {
    if (e.sendingOrg === undefined || x.actor !== `${e.sendingOrg}/msa` || x.procedure !== 4) return false;
    const ok = (n: string) => x.checks.some((c) => c.name === n && c.result === 'pass');
    return ok('user-signature') && ok('certificate-chain');
  });
}

/** The receiving org verified, on arrival, who is answerable: a member org's signature at (7), or DMARC for the From domain. */
export function receivingVerifiedOrg(e: Pick<CellEvidence, 'journey' | 'receivingOrg' | 'accountableDomains'>): string | undefined {
  for (const x of e.journey) {
    if (e.receivingOrg === undefined || actorOrg(x.actor) !== e.receivingOrg) continue;
    const pass = (n: string) => x.checks.find((c) => c.name === n && c.result === 'pass');
    if (x.procedure === 7 && pass('org-signature') && pass('org-chain') && pass('from-domain')) {
      const d = pass('from-domain')?.detail?.toLowerCase();
      if (d && e.accountableDomains.has(d)) return `(7) verified the signature of ${d}`;
    }
    const dm = /\(([^)\s]+)\)\s*$/.exec(pass('dmarc')?.detail ?? '')?.[1]?.toLowerCase();
    if (dm && e.accountableDomains.has(dm)) return `DMARC passed for ${dm}`;
  }
  return undefined;
}

/**
 * Who the cell traces, the same way for every attack: (12)'s observable result first (the CRL fetched
 * over the network and a refused resubmission: sender-revoked), then a signature the recipient's client
 * verified that names a person or an accountable org, then the sending org's (4) record of a mail that
 * never left, then what the receiving org verified on arrival. An extra copy of a Message-ID (replayed)
 * is answerable to nobody: the signatures bind the original transmission.
 */
export function judgeTraced(e: CellEvidence, verdict: Verdict): Judged<Traced> {
  const i = e.incident;
  if (i) {
    if (i.ownHosts) return { value: 'org', because: "(12): the sending org's self-review found its own hosts sent it" };
    if (i.identified && i.onCrl && i.resubmissionRefused)
      return { value: 'sender-revoked', because: '(12): the serial is on the CRL fetched afterwards and the card is refused at (4)' };
    if (i.identified) return { value: 'sender', because: '(12): the sending org identified the sender' };
  }
  if (!copyAccountable(e))
    return {
      value: 'none',
      because: `${e.tracked!.messageId} was handed over before by another party: the signatures in this copy bind that transmission, not this one`,
    };
  const s = e.view?.signer;
  if (s && e.accountableDomains.has(s.domain.toLowerCase()))
    return { value: s.kind === 'person' ? 'sender' : 'org', because: `${s.via} names ${s.kind === 'person' ? 'a person' : 'the organisation'} of ${s.domain}` };
  if (verdict === 'not-sent' && msaNamesSender(e)) return { value: 'sender', because: "the sending org's MSA (4) verified the card signature" };
  const org = receivingVerifiedOrg(e);
  if (org) return { value: 'org', because: org };
  return { value: 'none', because: 'no evidence names anyone accountable' };
}

function contains(hay: Uint8Array | undefined, needle: Uint8Array): boolean {
  return hay !== undefined && Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
}

/** Bodies travel base64 in SSMAX mail (RFC 8551 §3.1.1): decode base64 runs and look again. */
function base64Contains(bytes: Uint8Array, marker: string): boolean {
  const text = Buffer.from(bytes).toString('latin1');
  for (const m of text.matchAll(/(?:[A-Za-z0-9+/]{4,}\r?\n?)+={0,2}/g)) {
    if (m[0].length < 16) continue;
    if (Buffer.from(m[0].replace(/\s+/g, ''), 'base64').toString('utf8').includes(marker)) return true;
  }
  return false;
}

const LEAK_ORDER: readonly Leak[] = ['none', 'metadata', 'body', 'files'];
const maxLeak = (a: Leak, b: Leak): Leak => (LEAK_ORDER.indexOf(a) >= LEAK_ORDER.indexOf(b) ? a : b);

/**
 * How much of the cell's honest mail the obtained bytes reveal, by content: a file counts only in
 * plaintext, or as an archive together with a mail stating its password (PPAP).
 */
export async function judgeLeak(obtained: readonly ObtainedItem[], payload: Payload): Promise<Judged<Leak>> {
  let leak: Leak = 'none';
  const enc = new TextEncoder();
  for (const it of obtained) {
    if (it.kind === 'credentials' || !it.bytes) continue;
    const b = it.bytes;
    if (payload.files.some((f) => contains(b, f.zip ? f.zip.inner : f.content))) leak = maxLeak(leak, 'files');
    else if (contains(b, enc.encode(payload.bodyMarker)) || base64Contains(b, payload.bodyMarker)) leak = maxLeak(leak, 'body');
    else if (contains(b, enc.encode(payload.subjectMarker))) leak = maxLeak(leak, 'metadata');
  }
  if (leak !== 'files') {
    const raws = obtained.filter((o) => o.kind !== 'credentials' && o.kind !== 'files' && o.bytes).map((o) => o.bytes!);
    const loose = obtained.filter((o) => o.kind === 'files' && o.bytes).map((o) => o.bytes!);
    if (await filesReadable(raws, loose, payload))
      return { value: 'files', because: 'an archive opened with a password stated in the obtained mails, or a file part in the clear' };
  }
  return { value: leak, because: leak === 'none' ? 'nothing obtained holds the cell’s content' : `obtained bytes hold the ${leak}` };
}

/**
 * Malware reached the recipient: the bytes its client released (archives opened with every password
 * the same sender stated) hold a malicious payload file or a file an attacker swapped in.
 */
export function judgeMalware(
  view: RecipientView | undefined,
  passwords: readonly string[],
  payload: Payload,
  swapped: readonly PayloadFile[],
): Judged<boolean> {
  if (!view || view.shown === 'refused' || view.released.length === 0) return { value: false, because: 'the client released no file' };
  const opened = openAll(view.released, passwords);
  const bad = [...payload.files, ...swapped].filter((f) => f.malicious);
  const hit = bad.find((f) => opened.some((b) => contains(b, f.zip ? f.zip.inner : f.content)));
  return hit
    ? { value: true, because: `the client released ${hit.name} (${hit.kind})` }
    : { value: false, because: 'no released file holds a malicious payload' };
}
