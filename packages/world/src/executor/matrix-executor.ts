/**
 * The real {@link CellExecutor}: runs one scenario under one defence profile in a real {@link World}
 * (registry, orgs, Dovecot mailboxes, SoftHSM2 cards on the simulated network), drives the honest
 * sender and the attacker (sim-attacker, with only the foothold the scenario grants), and MEASURES the
 * cell from observations: the recipient's user agent over IMAP, the journey, the attacker's `obtained`
 * items and the wire tap, the incident desks of procedure (12). Expected values are never read.
 *
 * One world at a time (SoftHSM2 reads its configuration once per process): the world of a profile is
 * reused by the next cell of the same profile, its public registrars (DNS zone, domain registrar, public
 * CA directory) put back before each cell as they were when the world started (world-checkpoint.ts), and
 * replaced when the profile changes or when a cell left state in an actor a later cell must not see (see
 * {@link needsFreshWorldAfter}). An SSMAX world is started from the profile's template (world-template.ts:
 * the world built once per profile and run, with its cards and registrations, copied and restarted)
 * instead of built again. Run cells grouped by profile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SsmaxError } from '@ssmax/core';
import { leakLevel, type AttackOutcome } from '@ssmax/sim-attacker';
import { conventionalProfile, type JourneyEvent as OrgJourneyEvent } from '@ssmax/sim-org';
import { AddressPlan } from '@ssmax/sim-net';
import { World } from '../world.js';
import type { WorldConfig } from '../world-config.js';
import { NotObservableError } from '../implementation/outside-org.js';
import { JobExecutor } from './job-executor.js';
import { WorldTemplate } from '../world-template.js';
import { checkpointWorld } from '../world-checkpoint.js';
import { getProfile } from '../profiles.js';
import type { CellContext, CellExecutor, CellRun, JourneyEvent, Outcome, Scenario } from '../runner/types.js';
import type { CellCosts } from '../runner/run-matrix.js';
import { normalizeJourneyEvent } from '../runner/run-matrix.js';
import { MATRIX_WORLD } from './matrix-world.js';
import { Cell, harnessWorld, type ScenarioData } from './cell.js';
import type { CellEvidence, IncidentEvidence } from './evidence.js';
import { HarnessError, judgeLeak, judgeMalware, judgeTraced, judgeVerdict, receivingRefusal, sendingRefusal } from './judge.js';
import { observeConventional, observeOutside, observeSmime, observeSsmax, type Observed } from './observe.js';
import { nonMemberMx, type OutsideMx } from './outside-mx.js';
import { findDsn } from './dsn-evidence.js';
import { outsideSmimeIdentity, sendHonest } from './attacks.js';
import { capabilityByName, stepPhase, type CapabilityPhase, type RunnableCapability } from '../capabilities/index.js';
import { reportMalicious } from './incident.js';

/** Options of {@link createMatrixExecutor}. */
export interface MatrixExecutorOptions {
  /** Parent directory for world storage (default a new temp dir, removed on close). */
  readonly storageDir?: string;
  /** World seed (address plan, generated secrets); default the matrix world's. */
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Spool retry interval (ms) of the orgs. */
  readonly retryMs?: number;
  /** Defences switched off in every world this executor builds (`ssmax run --ablate`; ids in world/src/defences.ts). */
  readonly ablate?: readonly string[];
  /**
   * Fault injection for tests of the harness itself: called after the cell acted and before it is
   * observed (e.g. stop the recipient's IMAP service). Never set by `ssmax run`.
   */
  readonly beforeObserve?: (world: World, scenario: Scenario) => Promise<void>;
  /** The worlds' /24 on loopback (WorldOptions.netPrefix); default derived from the seed. */
  readonly netPrefix?: string;
  /**
   * Start each fresh SSMAX world from the profile's template (default true; conventional worlds are always
   * built, which costs what starting a copy does). False builds every world from scratch (for comparisons).
   */
  readonly templates?: boolean;
  /**
   * This executor is job k of n running side by side (`ssmax run --jobs N`). With n > 1 its worlds live in
   * a process of their own (job-executor.ts), on their own /24 (job 1 keeps the one a single job uses).
   */
  readonly job?: { readonly k: number; readonly n: number };
  /**
   * The world the cells run in (`ssmax run --world FILE`); default {@link MATRIX_WORLD}. Its orgs and users
   * must be the ones the scenarios name; an org may be run by an outside implementation (docs/IMPLEMENTING.md).
   */
  readonly world?: WorldConfig;
}

/**
 * Cells after which the world must be rebuilt whatever happened: a stolen card locks; a planted
 * forwarding rule stays; setup overrides change services. Procedure (12) marks the world dirty only
 * when an incident desk actually handled a case (revocation, registry re-evaluation (13)). Everything
 * else (mail in mailboxes, journeys) is told apart by message id and marker.
 */
export function needsFreshWorldAfter(s: Scenario): boolean {
  const d = s as ScenarioData;
  return d.setup !== undefined || (d.attacker?.steps ?? []).some((x) => capabilityOf(x.capability).leavesState === true);
}

/**
 * What this executor's cells cost relative to an ordinary one, for cutting the matrix into jobs of about
 * equal time (`ssmax run --jobs`, runMatrix `cost`), as measured on the 2-core reference machine: a cell
 * ~0.7 s; replacing its world after it ~3 s more (under SSMAX a cell reported as malicious replaces it too:
 * the incident desks revoke and the registry re-evaluates); a job's first world of a profile ~3 s for a
 * conventional one and 10-25 s for an SSMAX one (its template: every card's keys and every registration).
 */
export const MATRIX_COSTS: CellCosts = {
  cell: (s, profile) => (needsFreshWorldAfter(s) || ((s as ScenarioData).reportedAsMalicious === true && getProfile(profile).kind === 'ssmax') ? 5 : 1),
  world: (profile) => (getProfile(profile).kind === 'ssmax' ? 25 : 4),
};

/** A scenario needs a world built for it (not one reused from an earlier cell). */
export function needsFreshWorldBefore(s: Scenario): boolean {
  return (s as ScenarioData).setup !== undefined;
}

class MatrixExecutor implements CellExecutor {
  #world: World | undefined;
  #profile: string | undefined;
  #dirty = false;
  /** Puts the current world's public registrars back as they were when it started. */
  #restore: (() => void) | undefined;
  readonly #templates = new Map<string, WorldTemplate>();
  #n = 0;
  readonly #root: string;
  readonly #ownRoot: boolean;

  constructor(private readonly o: MatrixExecutorOptions) {
    this.#ownRoot = o.storageDir === undefined;
    this.#root = o.storageDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-matrix-'));
    fs.mkdirSync(this.#root, { recursive: true });
    // Dovecot's unprivileged mail processes must traverse every ancestor of the mail directories.
    for (let d = this.#root; d !== path.dirname(d) && d.startsWith(os.tmpdir() + path.sep); d = path.dirname(d)) fs.chmodSync(d, 0o711);
    fs.chmodSync(this.#root, 0o711);
  }

  /** Simulated-clock lead over real time, for hold-then-send (conventional worlds only). */
  #lead = 0;

  async #worldFor(profile: string, fresh: boolean, ctx: CellContext, withoutStarttls: readonly string[] = []): Promise<World> {
    if (this.#world && this.#profile === profile && !this.#dirty && !fresh) return this.#world;
    await this.#closeWorld();
    const dir = path.join(this.#root, `w${++this.#n}-${profile}`);
    const t0 = Date.now();
    const options = {
      profile,
      seed: this.o.seed ?? MATRIX_WORLD.seed ?? 1,
      retryMs: this.o.retryMs ?? 100,
      ...(this.o.netPrefix !== undefined ? { netPrefix: this.o.netPrefix } : {}),
      ...(this.o.ablate && this.o.ablate.length > 0 ? { ablate: this.o.ablate } : {}),
      // ssmax-plus holds at the MTA-out and checks freshness windows: its orgs run on the clock the harness moves too.
      ...(getProfile(profile).kind === 'conventional' || getProfile(profile).plus ? { clock: this.#clock } : {}),
    };
    const starttls = withoutStarttls.length > 0 ? { withoutStarttls } : {};
    let how = 'built';
    // A conventional world makes no card and registers nobody: starting a copy costs what building it does.
    const config = this.o.world ?? MATRIX_WORLD;
    // An outside implementation's storage is its own: a world with one is built, never copied from a template.
    const outside = config.orgs.some((o) => o.implementation !== undefined && o.implementation.kind !== 'builtin');
    if (this.o.templates === false || getProfile(profile).kind !== 'ssmax' || outside)
      this.#world = await World.create(config, { ...options, ...starttls, storageDir: dir });
    else {
      // Whether STARTTLS is offered is not kept in storage: one template per profile serves the legacy-peer cells too.
      let template = this.#templates.get(profile);
      if (!template) {
        template = new WorldTemplate(config, path.join(this.#root, `t-${profile}`), options);
        this.#templates.set(profile, template);
        await template.prepare();
        ctx.log(`world ${profile} template built in ${Date.now() - t0} ms`);
        how = 'built (its template, then a copy of it started)';
      } else how = 'started from its template';
      this.#world = await template.start(dir, starttls);
    }
    this.#restore = checkpointWorld(this.#world);
    this.#profile = profile;
    this.#dirty = false;
    ctx.log(`world ${profile} ${how} in ${Date.now() - t0} ms`);
    return this.#world;
  }

  readonly #clock = Object.assign(() => new Date(Date.now() + this.#lead), { advance: (ms: number) => void (this.#lead += ms) });

  /** Worlds whose Dovecot masters are still exiting; their storage goes when they have. */
  readonly #leaving = new Set<Promise<void>>();

  async #closeWorld(): Promise<void> {
    const w = this.#world;
    this.#world = undefined;
    this.#restore = undefined;
    if (!w) return;
    // The next world need not wait the second each Dovecot takes to exit: only the storage does.
    const { mailboxesStopped } = await w.shutdown();
    // A storage that cannot be removed now goes with the executor's root (close).
    const leaving = mailboxesStopped.then(() => fs.rmSync(w.storageDir, { recursive: true, force: true })).catch(() => undefined);
    this.#leaving.add(leaving);
    void leaving.finally(() => this.#leaving.delete(leaving));
  }

  async run(scenario: Scenario, profile: string, ctx: CellContext): Promise<CellRun> {
    const s = scenario as ScenarioData;
    // setup.receivingMtaStarttls: false — the recipient's org is a legacy peer without STARTTLS.
    const legacy = s.setup?.receivingMtaStarttls === false && s.recipient.org ? [s.recipient.org] : [];
    const world = await this.#worldFor(profile, needsFreshWorldBefore(s), ctx, legacy);
    // What an earlier cell published (a look-alike domain with p=reject, its registrar record, a public-CA
    // certificate) must not answer this one.
    this.#restore?.();
    const state = { changed: false };
    const implementations = Object.fromEntries(world.orgs().map((o) => [o.id, o.implementation]));
    try {
      return { ...(await runCell(world, s, ctx, state, this.o.beforeObserve)), implementations };
    } catch (e) {
      // A cell that failed half-way may have left mail in flight: the next cell gets a fresh world.
      state.changed = true;
      // It needed what only an in-process org gives: recorded as such, never as a guessed verdict.
      if (e instanceof NotObservableError) {
        ctx.log(`not observable: ${e.message}`);
        return { actual: null, events: [], notObservable: e.message, implementations };
      }
      throw e;
    } finally {
      // (12) only changes the world (revocation, registry re-evaluation (13)) when a desk acted on it.
      if (needsFreshWorldAfter(s) || state.changed) this.#dirty = true;
    }
  }

  async close(): Promise<void> {
    await this.#closeWorld();
    await Promise.all(this.#leaving);
    for (const t of this.#templates.values()) fs.rmSync(t.dir, { recursive: true, force: true });
    if (this.#ownRoot) fs.rmSync(this.#root, { recursive: true, force: true });
  }
}

/** Creates the executor `ssmax run` and `npm start` use. */
export function createMatrixExecutor(options: MatrixExecutorOptions = {}): CellExecutor {
  const { job, beforeObserve, log, ...rest } = options;
  if (!job || job.n <= 1) return new MatrixExecutor(options);
  if (beforeObserve) throw new SsmaxError('USAGE', 'Cannot run a fault-injection hook in a job process. Run the executor as one job.');
  const seed = options.seed ?? MATRIX_WORLD.seed ?? 1;
  // Consecutive /24s from the one a single job takes: worlds side by side never share an address.
  const netPrefix = options.netPrefix ?? AddressPlan.create({ seed: seed + job.k - 1 }).prefix;
  return new JobExecutor({ ...rest, seed, netPrefix, job, ...(log ? { log } : {}) });
}

/** Runs one cell in `world`: set up, act, observe, judge. */
async function runCell(
  world: World,
  s: ScenarioData,
  ctx: CellContext,
  state: { changed: boolean },
  beforeObserve?: MatrixExecutorOptions['beforeObserve'],
): Promise<CellRun> {
  const cell = new Cell(world, s, ctx);
  let outside: OutsideMx | undefined;
  try {
    // The unintended or outside recipient's own mailbox, when it is outside every scheme.
    if ((s.mistake?.actualRecipient ?? s.recipient).role === 'non-member') {
      const mx = await nonMemberMx(world, cell.targetAddr.split('@')[1]!);
      outside = mx;
      cell.closeLater(`the outside MX of ${mx.domain}`, mx.close);
      const owned = cell.steps.map((st) => String(st.params?.['to'] ?? '').toLowerCase()).find((a) => a.endsWith(`@${mx.domain}`));
      if (owned) {
        // The attacker addressed a mailbox of its own there; under smime-e2e it holds a public-CA certificate for it.
        cell.attackerOwnedDomains.add(mx.domain);
        if (world.profile.conventional?.attachments === 'smime-e2e') cell.outsideIdentity = await outsideSmimeIdentity(cell, owned);
      }
    }
    if (s.setup?.receivingMtaDown === true) {
      // The receiving MX is down: every connection to it is reset, for the whole cell.
      const service = `mx.${cell.recipientAddr.split('@')[1]}:25`;
      const hook = world.net.insertOnPath(service, (socket) => void socket.destroy());
      cell.closeLater(`the outage of ${service}`, async () => hook.remove());
    }
    cell.legitRecipient = cell.steps.map((st) => capabilityOf(st.capability).honestRecipient?.(cell, st.params ?? {})).find((a) => a !== undefined);
    await runPhase(cell, 'foothold');
    // The honest sender's mail moves unless the attacker sends the mail itself.
    if (cell.steps.every((st) => stepPhase(capabilityOf(st.capability), st.params) !== 'send')) await sendHonest(cell, cell.legitRecipient ?? cell.targetAddr);
    await runPhase(cell, 'send');
    await releaseHeld(cell);
    await outlastRetryWindow(cell);
    await world.waitIdle();
    await runPhase(cell, 'after-delivery');
  } finally {
    await cell.closeAll();
  }
  for (const o of cell.outcomes) cell.obtained.push(...o.obtained);
  if (outside && outside.faults.length > 0) throw new HarnessError(`Cannot read what the outside MX of ${outside.domain} saw. ${outside.faults[0]!.message}`);

  // OBSERVE: the tracked mail through the recipient's own client, and what the actors published.
  await beforeObserve?.(world, s);
  const tracked = cell.tracked();
  const journey = tracked ? world.journey(`<${tracked.messageId}>`).concat(world.journey(tracked.messageId)) : [];
  const observed = tracked ? await observe(cell, outside, tracked, journey) : { passwords: [] };
  const view = observed.view;
  if (view && (s.mistake || (outside && cell.attackerOwnedDomains.has(outside.domain)))) cell.obtained.push(...view.readable);
  let evidence: CellEvidence = {
    attempts: cell.attempts,
    ...(tracked ? { tracked } : {}),
    journey,
    ...orgIds(cell),
    ...(view ? { view } : {}),
    attackerHadNothing: cell.attackerHadNothing,
    obtained: cell.obtained,
    accountableDomains: await world.accountableDomains(),
  };
  // Not in the recipient's mailbox and no reply or published event says who refused it: a DSN in the sender's
  // mailbox does (an implementation that publishes no journey refuses after its 250 only by DSN).
  const dsn =
    tracked && !view && !receivingRefusal(evidence) && !sendingRefusal(evidence) ? await findDsn(world, cell.senderAddr, tracked.messageId) : undefined;
  if (dsn) evidence = { ...evidence, dsn };

  // JUDGE.
  const verdict = judgeVerdict(evidence);
  let incident: IncidentEvidence | undefined;
  if (s.reportedAsMalicious && tracked) {
    incident = await reportMalicious(world, cell.targetAddr, tracked.messageId, view, ctx);
    if (incident) state.changed = true;
  }
  const traced = judgeTraced({ ...evidence, ...(incident ? { incident } : {}) }, verdict.value);
  const leaked = await judgeLeak(cell.obtained, cell.payload);
  const malware = judgeMalware(view, observed.passwords, cell.payload, cell.swapped);
  const actual: Outcome = {
    verdict: verdict.value,
    leaked: leaked.value,
    malwareReached: malware.value,
    traced: traced.value,
    identityShown: view?.identityShown ?? 'none',
  };
  ctx.log(
    `judged: verdict ${verdict.value} (${verdict.because}); traced ${traced.value} (${traced.because}); leaked ${leaked.value} (${leaked.because}); malware ${malware.value} (${malware.because})`,
  );
  const at = new Date().toISOString();
  const events: JourneyEvent[] = [
    ...journey.map((e) => normalizeJourneyEvent(e)),
    ...cell.outcomes.map((o) => attackerEvent(tracked?.messageId ?? '', o, at)),
    judgeEvent(
      tracked?.messageId ?? '',
      at,
      [verdict, traced, leaked, malware].map((j, i) => ({ name: ['verdict', 'traced', 'leaked', 'malwareReached'][i]!, because: j.because })),
    ),
  ];
  return { actual, events };
}

/** The capability of a step; an unknown name is a scenario error (exit 2). */
function capabilityOf(name: string): RunnableCapability {
  const c = capabilityByName(name);
  if (!c) throw new SsmaxError('USAGE', `Cannot run capability "${name}". No capability module has that name (packages/world/src/capabilities/).`);
  return c;
}

/** Runs every step of one phase, in scenario order. */
async function runPhase(cell: Cell, phase: CapabilityPhase): Promise<void> {
  for (const st of cell.steps) {
    const c = capabilityOf(st.capability);
    if (stepPhase(c, st.params) === phase) await c.run(cell, st.params ?? {});
  }
}

/** Sending and receiving org ids, from the address plan (the actors publish events as `<org>/<service>`). */
function orgIds(cell: Cell): { sendingOrg?: string; receivingOrg?: string } {
  const find = (a: string) =>
    harnessWorld(cell)
      .orgs()
      .find((o) => o.domain.toLowerCase() === (a.split('@')[1] ?? '').toLowerCase())?.id;
  const sendingOrg = find(cell.senderAddr);
  const receivingOrg = find(cell.targetAddr);
  return { ...(sendingOrg ? { sendingOrg } : {}), ...(receivingOrg ? { receivingOrg } : {}) };
}

/** The recipient's client, by the kind of mailbox it reads. */
async function observe(
  cell: Cell,
  outside: OutsideMx | undefined,
  tracked: { messageId: string; copy: number },
  journey: readonly OrgJourneyEvent[],
): Promise<Observed> {
  const world = harnessWorld(cell);
  const smime = world.profile.conventional?.attachments === 'smime-e2e';
  if (outside)
    return observeOutside(
      outside,
      tracked,
      smime
        ? {
            ...(cell.outsideIdentity ? { identity: cell.outsideIdentity } : {}),
            trustAnchors: [world.publicCa.root.der],
            now: cell.now(),
            policy: world.switches.smime,
          }
        : undefined,
    );
  const target = world.user(cell.targetAddr);
  if (smime) return observeSmime(target, tracked);
  if (world.profile.kind === 'conventional') return observeConventional(target, tracked);
  return observeSsmax(target, tracked, journey, orgIds(cell).sendingOrg);
}

/**
 * Hold-then-send (seed 002): the MSA holds every submission for the profile's cancel window on the org
 * clock. A sender who noticed a mistake within the window cancels it by Message-ID; then the simulated
 * clock moves past the window so whatever is still held leaves.
 */
async function releaseHeld(cell: Cell): Promise<void> {
  const world = harnessWorld(cell);
  const { s } = cell;
  const preset = world.profile.conventional?.preset;
  // The window the world's orgs actually run with (a falsifiability run may have switched it off).
  // ssmax-plus addition 4 holds at the SSMAX MTA-out the same way (World.plus has ablated switches off).
  const hold = preset
    ? (world.switches.conventional.holdSeconds ?? conventionalProfile(preset).conventional?.holdSeconds ?? 0)
    : (world.plus?.holdSeconds ?? 0);
  const clock = world.clock as (() => Date) & { advance?: (ms: number) => void };
  if (hold <= 0 || !clock?.advance) return;
  const senderOrg = world.orgs().find((o) => o.domain === cell.senderAddr.split('@')[1]);
  const messageId = cell.attempts.at(-1)?.messageId;
  if (s.mistake?.noticedWithinCancelWindow && messageId && senderOrg) {
    const r = await senderOrg.organisation.cancelSubmission(messageId, cell.senderAddr);
    cell.ctx.log(`hold-then-send: ${cell.senderAddr} cancels ${messageId}: ${r}`);
  }
  clock.advance(hold * 1000 + 1000);
}

/**
 * ssmax-plus addition 1: a member the MTA-out cannot reach over pinned TLS is retried, never sent in clear,
 * until the retry window has passed, then the sender gets a DSN. When the tracked mail is deferred, the
 * simulated clock moves past that window, as the days of retrying would.
 */
async function outlastRetryWindow(cell: Cell): Promise<void> {
  const world = harnessWorld(cell);
  const plus = world.plus;
  const clock = world.clock as (() => Date) & { advance?: (ms: number) => void };
  const id = cell.attempts.at(-1)?.messageId;
  if (!plus || !clock?.advance || !id) return;
  const bare = id.replace(/^<|>$/g, '');
  for (let i = 0; i < 40; i++) {
    const events = [...world.journey(`<${bare}>`), ...world.journey(bare)].filter((e) => e.actor.endsWith('/mta-out'));
    if (events.some((e) => e.outcome === 'deferred')) {
      clock.advance(plus.retryWindowSeconds * 1000 + 1000);
      cell.ctx.log(`retry window: ${id} deferred at the MTA-out; the clock moves ${plus.retryWindowSeconds} s on`);
      return;
    }
    if (events.some((e) => e.outcome === 'relayed' || e.outcome === 'bounced')) return;
    try {
      await world.waitIdle(250);
      return;
    } catch {
      // still moving (or deferred): look again
    }
  }
}

function attackerEvent(messageId: string, o: AttackOutcome, at: string): JourneyEvent {
  return {
    messageId,
    actor: `attacker/${o.capability}`,
    procedure: 0,
    at,
    checks: o.error ? [{ name: o.capability, result: 'fail', detail: `${o.error.code}: ${o.error.message}` }] : [{ name: o.capability, result: 'pass' }],
    payload: leakLevel(o) === 'files' ? 'plaintext' : 'none',
    note: o.actions.join('; ').slice(0, 2000),
    outcome: o.error ? 'failed' : o.sent ? `sent: ${o.sent.smtpReply}` : 'done',
  };
}

/** The judge's reasons, as one event the report shows beside the journey. */
function judgeEvent(messageId: string, at: string, reasons: { name: string; because: string }[]): JourneyEvent {
  return {
    messageId,
    actor: 'judge/evidence',
    procedure: 0,
    at,
    checks: reasons.map((r) => ({ name: r.name, result: 'pass' as const, detail: r.because.slice(0, 500) })),
    payload: 'none',
    outcome: 'judged',
  };
}
