/**
 * One cell's working state: the honest mail's content, the attacker's network context, and the evidence
 * sinks (sending attempts, obtained bytes, attack outcomes). Capabilities act through it; the judge reads
 * what it collected. Footholds are granted here, one narrow handle per kind, so an attack never holds
 * the world.
 */
import { SsmaxError } from '@ssmax/core';
import { attackerContext, type AttackOutcome, type AttackerContext, type ObtainedItem } from '@ssmax/sim-attacker';
import { RegistryClient, type Kms, type Spool } from '@ssmax/sim-org';
import type { WireTap } from '@ssmax/sim-net';
import type { World, WorldUser } from '../world.js';
import { directoryLookup, type SmimeClientPolicy } from '../smime-client.js';
import { transport } from '../conventional-client.js';
import { nonMemberMx, type OutsideMx } from './outside-mx.js';
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
  readonly setup?: { receivingMtaStarttls?: boolean; receivingMtaDown?: boolean };
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

/** The foothold of a taken-over org mail host: its MTA-out address, its outbound spool and (if reached) its KMS. */
export interface TakeoverFoothold {
  readonly domain: string;
  readonly mtaOutAddress: string;
  readonly registryOrgId: string;
  readonly spool: Spool;
  readonly kms?: Kms;
}

/** The world of each cell, for the harness only (the executor and the honest sender): capabilities get handles. */
const worlds = new WeakMap<Cell, World>();

/** The world a cell runs in. For the executor and the honest parties it plays; never for a capability. */
export function harnessWorld(cell: Cell): World {
  return worlds.get(cell)!;
}

/**
 * A cell as its capabilities see it: the scenario, the content, the attacker's network context, the
 * evidence sinks, and one narrow handle per foothold kind. The world itself stays with the harness.
 */
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
   * Replay to another recipient (smime-e2e and SSMAX): the attacker is a legitimate recipient at another
   * org ("<org>/mailbox"), so the honest mail goes to it first.
   */
  legitRecipient: string | undefined;
  /** smime-e2e: the S/MIME identity of an outside mailbox the attacker owns. */
  outsideIdentity: import('../smime-client.js').SmimeIdentity | undefined;
  /** Mailboxes outside every scheme that belong to the attacker (it addressed its own domain). */
  readonly attackerOwnedDomains = new Set<string>();

  constructor(
    world: World,
    readonly s: ScenarioData,
    readonly ctx: CellContext,
  ) {
    worlds.set(this, world);
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
    return harnessWorld(this).clock?.() ?? new Date();
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
    if (!REFUSALS.has(o.error.code))
      throw new HarnessError(`Cannot run ${o.capability}. It failed without a refusal from anyone: ${o.error.code}: ${o.error.message}`);
    this.attempt({
      by: 'attacker',
      answeredBy,
      accepted: false,
      reply: o.error.smtpReply ?? `${o.error.code}: ${o.error.message}`,
      ...(to ? { to } : {}),
      ...(composedId ? { messageId: composedId } : {}),
    });
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
    return {
      messageId: id,
      copy: idx >= 0 ? idx + 1 : forTarget.length + 1,
      repeatsHandover: same.some((a) => a !== last && a.by !== last.by && this.attempts.indexOf(a) < this.attempts.indexOf(last)),
    };
  }

  // ---- footholds and public facts: narrow handles, one per kind ----

  /** A world user the scenario's foothold names (its password, card, mailbox: whatever the foothold grants). */
  user(address: string): WorldUser {
    return harnessWorld(this).user(address);
  }

  /** What kind of world this is, as anyone can tell from outside (SSMAX members or not; S/MIME clients). */
  get kind(): { readonly ssmax: boolean; readonly smimeClients: boolean; readonly profile: string; readonly smimePolicy: Partial<SmimeClientPolicy> } {
    const w = harnessWorld(this);
    return {
      ssmax: w.profile.kind === 'ssmax',
      smimeClients: w.profile.conventional?.attachments === 'smime-e2e',
      profile: w.profile.id,
      smimePolicy: w.switches.smime,
    };
  }

  /** The public DNS domain of a world org (public knowledge). */
  orgDomain(orgId: string): string {
    return harnessWorld(this).org(orgId).domain;
  }

  /** The SSMAX registry's URL (public: every relying org and every applicant uses it). */
  registryUrl(): string {
    return harnessWorld(this).registry.url;
  }

  /** The public S/MIME CA, as reached from `from` (default the attacker's address). */
  publicCa(from: string = this.att.address): ReturnType<World['publicCa']['endpoint']> {
    return harnessWorld(this).publicCa.endpoint(from);
  }

  /** A certificate from the public CA's directory (public). */
  directoryCertificate(address: string): Promise<Uint8Array | undefined> {
    return directoryLookup(this.publicCa(), address);
  }

  /** The registrar: records a domain the attacker (or an outside party) registers, and to whom. */
  registerDomain(domain: string, createdAt: Date | undefined, registrant: { readonly registrant: string; readonly verified: boolean }): void {
    harnessWorld(this).recordDomainRegistration(domain, createdAt, registrant);
  }

  /** A TXT record in a zone the attacker controls (its own domains; the CA's DNS challenge). */
  addTxt(name: string, value: string): void {
    harnessWorld(this).net.zone.addTxt(name, value);
  }

  /** The wire tap (the passive-capture foothold, or a link without TLS the attacker sits on). */
  wireTap(): WireTap {
    return harnessWorld(this).net.tap;
  }

  /** Lets mail in flight on the simulated network arrive (harness synchronisation, no access). */
  settle(): Promise<void> {
    return harnessWorld(this).waitIdle();
  }

  /** A mailbox of the attacker's own at an outside domain (its MX on the simulated network). */
  ownMailbox(domain: string): Promise<OutsideMx> {
    return nonMemberMx(harnessWorld(this), domain);
  }

  /** The sending org's taken-over mail host (incident 1): MTA-out address, outbound spool, and its KMS when `withKms` and the org has one. */
  takeover(address: string, withKms: boolean): TakeoverFoothold {
    const domain = (address.split('@')[1] ?? '').toLowerCase();
    const w = harnessWorld(this);
    const org = w.orgs().find((x) => x.domain.toLowerCase() === domain);
    if (!org) throw new SsmaxError('USAGE', `Cannot take over the mail host of ${address}. No org of the world has the domain ${domain}.`);
    const kms = withKms && w.profile.kind === 'ssmax' ? org.organisation.kms : undefined;
    return {
      domain: org.domain,
      mtaOutAddress: org.organisation.ctx.addresses.mtaOut,
      registryOrgId: org.organisation.registryOrgId,
      spool: org.organisation.ctx.outbound,
      ...(kms ? { kms } : {}),
    };
  }

  /** Public registry data: the KMS encryption certificate the directory (fetched over HTTP) lists for a member domain. */
  async memberEncryptionCertificate(domain: string): Promise<Uint8Array | undefined> {
    const w = harnessWorld(this);
    const client = new RegistryClient({ url: w.registry.url, rootCertificate: w.registry.rootCertificate, localAddress: this.att.address, maxAgeSeconds: 0 });
    const m = await client.memberByDomain(domain);
    return m?.kmsEncryptionCertificate ? new Uint8Array(Buffer.from(m.kmsEncryptionCertificate, 'base64')) : undefined;
  }

  /** A user's signing certificate (public: it travels in every mail the user signs). */
  userCertificate(address: string): Uint8Array | undefined {
    const u = harnessWorld(this)
      .users()
      .find((x) => x.address === address);
    return u?.hasCard ? u.registered.signingCertificate.der : undefined;
  }

  /** The user's own mail client (an insider's, or one malware on the user's PC drives): SMTP to the MSA and the CA directory, from the user's address. */
  userClient(u: WorldUser): { transport: () => ReturnType<typeof transport>; directory: (address: string) => Promise<Uint8Array | undefined> } {
    const w = harnessWorld(this);
    return { transport: () => transport(w, u), directory: (a) => directoryLookup(w.publicCa.endpoint(w.net.address(`${u.address}/ua`)), a) };
  }

  /** A sim-net context at a given address (an org's MTA-out, for a taken-over host). */
  contextAt(address: string, heloName: string): AttackerContext {
    return attackerContext(harnessWorld(this).net, { address, heloName, now: () => this.now() });
  }
}
