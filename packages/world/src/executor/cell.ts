/**
 * One cell's working state: the honest mail's content, the attacker's network context, and the evidence
 * sinks (sending attempts, obtained bytes, attack outcomes). Capabilities act through it; the judge reads
 * what it collected. Footholds are granted here, one narrow handle per kind, so an attack never holds
 * the world.
 */
import { SsmaxError } from '@ssmax/core';
import { attackerContext, type AttackOutcome, type AttackerContext, type ObtainedItem } from '@ssmax/sim-attacker';
import type { World, WorldUser } from '../world.js';
import type { CellContext, Scenario } from '../runner/types.js';
import type { Attempt, Side } from './evidence.js';
import { HarnessError } from './judge.js';
import { bareId } from './observe.js';
import { makePayload, type Payload, type PayloadFile } from './payload.js';
import { partyAddress } from './matrix-world.js';

export interface Party {
  readonly role: 'member-org-user' | 'esp-user' | 'non-member';
  readonly org?: string;
  readonly user?: string;
}

export interface Step {
  readonly capability: string;
  readonly params?: Record<string, unknown>;
}

/** The scenario fields the executor reads (scenarios/scenario.schema.json has the full shape). */
export interface ScenarioData extends Scenario {
  readonly sender: Party;
  readonly recipient: Party;
  readonly mistake?: { kind: string; actualRecipient: Party; noticedWithinCancelWindow: boolean };
  readonly attacker: { foothold: string; steps: Step[] } | null;
  readonly setup?: { receivingMtaStarttls?: boolean };
  readonly payload: { files?: { kind: string; name: string }[]; body?: string };
  readonly reportedAsMalicious?: boolean;
}

/** Codes of attack failures that are a refusal someone answered with (evidence), not a harness fault. */
const REFUSALS = new Set(['SMTP_REJECTED', 'AUTH_FAILED', 'TLS_REQUIRED', 'PIN_INCORRECT', 'PIN_LOCKED', 'PIN_REQUIRED', 'FORWARDING_REFUSED', 'NO_CARD']);

/**
 * Refusals the sending side answers with, as its own client reports them: the card refusing the PIN, or
 * the client refusing to send without a recipient certificate (it never sends unencrypted).
 */
const CLIENT_REFUSALS = new Set(['PIN_INCORRECT', 'PIN_LOCKED', 'PIN_REQUIRED', 'NO_MATCHING_RECIPIENT']);

/**
 * A refusal the sending party saw in an error thrown by its own client: an SMTP 4xx/5xx reply
 * (nodemailer's `responseCode`) or one of {@link CLIENT_REFUSALS}. Anything else is a harness fault.
 */
export function refusalIn(e: unknown): string | undefined {
  const code = (e as { responseCode?: unknown } | undefined)?.responseCode;
  if (typeof code === 'number' && code >= 400) return String((e as { response?: string }).response ?? code);
  if (e instanceof SsmaxError && CLIENT_REFUSALS.has(e.code)) return `${e.code}: ${e.message}`;
  return undefined;
}

/** The content every mail of the cell carries. */
export interface CellMail {
  readonly subject: string;
  readonly text: string;
  readonly attachments: { filename: string; contentType: string; content: Uint8Array }[];
  readonly files: { name: string; contentType: string; content: Uint8Array }[];
}

export class Cell {
  readonly payload: Payload;
  readonly mail: CellMail;
  readonly senderAddr: string;
  /** The recipient the scenario names (attacks address it). */
  readonly recipientAddr: string;
  /** Where the tracked mail lands: the recipient, or the unintended one of a misdelivery. */
  readonly targetAddr: string;
  readonly att: AttackerContext;
  readonly attempts: Attempt[] = [];
  readonly obtained: ObtainedItem[] = [];
  readonly outcomes: AttackOutcome[] = [];
  /** Files an on-path attacker swapped in. */
  readonly swapped: PayloadFile[] = [];
  readonly closers: { name: string; close: () => Promise<void> }[] = [];
  /** The attacker had nothing to hand over (no readable copy to replay). */
  attackerHadNothing = false;
  /** When the cell started (the wire tap is read from here on). */
  readonly startedAt = new Date();
  /**
   * smime-e2e replay to another recipient: the attacker is a legitimate recipient at another org
   * ("<org>/mailbox"), so the honest mail goes to it first.
   */
  legitRecipient: string | undefined;
  /** smime-e2e: the S/MIME identity of an outside mailbox the attacker owns. */
  outsideIdentity: import('../smime-client.js').SmimeIdentity | undefined;
  /** Mailboxes outside every scheme that belong to the attacker (it addressed its own domain). */
  readonly attackerOwnedDomains = new Set<string>();

  constructor(
    readonly world: World,
    readonly s: ScenarioData,
    readonly ctx: CellContext,
  ) {
    const marker = `${s.id.slice(0, 12)}-${ctx.seed.toString(16)}`;
    this.payload = makePayload(s.payload, marker);
    this.mail = {
      subject: this.payload.subject,
      text: this.payload.body,
      attachments: this.payload.files.map((f) => ({ filename: f.name, contentType: f.contentType, content: f.content })),
      files: this.payload.files.map((f) => ({ name: f.name, contentType: f.contentType, content: f.content })),
    };
    this.senderAddr = partyAddress(s.sender);
    this.recipientAddr = partyAddress(s.recipient, 'info');
    this.targetAddr = partyAddress(s.mistake?.actualRecipient ?? s.recipient, 'info');
    this.att = attackerContext(world.net, { now: () => this.now() });
  }

  now(): Date {
    return this.world.clock?.() ?? new Date();
  }

  get steps(): readonly Step[] {
    return this.s.attacker?.steps ?? [];
  }

  /** A mail handed over by the honest party or the attacker, with the reply it got. */
  attempt(a: Attempt): void {
    this.attempts.push(a);
  }

  /** An attack's outcome: its sent mail or its refusal becomes an attempt; any other failure is a harness fault. */
  recordAttack(o: AttackOutcome, answeredBy: Side, to?: string, composedId?: string): void {
    this.outcomes.push(o);
    if (o.sent) {
      this.attempt({ by: 'attacker', messageId: o.sent.messageId, answeredBy, accepted: true, reply: o.sent.smtpReply, ...(to ? { to } : {}) });
      return;
    }
    if (!o.error) return;
    if (o.error.code === 'NOTHING_CAPTURED') {
      this.attackerHadNothing = true;
      return;
    }
    if (!REFUSALS.has(o.error.code)) throw new HarnessError(`Cannot run ${o.capability}. It failed without a refusal from anyone: ${o.error.code}: ${o.error.message}`);
    this.attempt({ by: 'attacker', answeredBy, accepted: false, reply: o.error.smtpReply ?? `${o.error.code}: ${o.error.message}`, ...(to ? { to } : {}), ...(composedId ? { messageId: composedId } : {}) });
  }

  /** Runs a foothold's teardown at the end of the cell (in reverse order); its errors are harness faults. */
  closeLater(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const c of this.closers.reverse()) {
      try {
        await c.close();
      } catch (e) {
        errors.push(new HarnessError(`Cannot close ${c.name}. ${(e as Error).message}`, { cause: e }));
      }
    }
    this.closers.length = 0;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `Cannot close the cell's footholds. ${errors.length} failed.`);
  }

  /**
   * The tracked mail: the last one handed over and accepted (or the last attempt's Message-ID). `copy`
   * counts arrivals of that Message-ID for the same recipient; `repeatsHandover` says an earlier
   * hand-over by another party carried it.
   */
  tracked(): { messageId: string; copy: number; repeatsHandover: boolean } | undefined {
    const last = this.attempts.at(-1);
    if (!last || last.messageId === undefined) return undefined;
    const id = bareId(last.messageId);
    const same = this.attempts.filter((a) => a.accepted && a.messageId !== undefined && bareId(a.messageId) === id);
    const forTarget = same.filter((a) => (a.to ?? this.targetAddr).toLowerCase() === (last.to ?? this.targetAddr).toLowerCase());
    const idx = forTarget.indexOf(last);
    return { messageId: id, copy: idx >= 0 ? idx + 1 : forTarget.length + 1, repeatsHandover: same.some((a) => a !== last && a.by !== last.by && this.attempts.indexOf(a) < this.attempts.indexOf(last)) };
  }

  // ---- footholds: narrow handles, one per kind ----

  user(address: string): WorldUser {
    return this.world.user(address);
  }

  /** The org whose domain an address is in. */
  orgOf(address: string): ReturnType<World['org']> {
    const domain = (address.split('@')[1] ?? '').toLowerCase();
    const o = this.world.orgs().find((x) => x.domain.toLowerCase() === domain);
    if (!o) throw new SsmaxError('USAGE', `Cannot find the organisation of ${address}. No org of the world has the domain ${domain}.`);
    return o;
  }

  /** A sim-net context at a given address (an org's MTA-out, for a taken-over host). */
  contextAt(address: string, heloName: string): AttackerContext {
    return attackerContext(this.world.net, { address, heloName, now: () => this.now() });
  }
}
