/**
 * The kill harness (issue 11 item 3): exactly-once delivery across SIGKILL of any process at any time.
 *
 * One SSMAX path, each actor its own process (process-world.ts): the registry, the sending org A, the
 * receiving org B and B's Dovecot. This process is the user agent: it signs each mail on a SoftHSM2
 * card ((3)), submits it to A's MSA with an RFC 3461 ENVID and retries every submission that got no
 * 250 (as any mail client does) until it gets one. Meanwhile a seeded killer waits a random gap,
 * SIGKILLs a random one of the four, restarts it on the same storage (same ports), and goes on, until
 * the wanted number of kills. Then everything drains, and Bob's mailbox is counted per Message-ID:
 * every acknowledged mail must be there exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROCESS_TARGETS, ProcessWorld } from './process-world.js';

export const CHAOS_TARGETS = PROCESS_TARGETS;
export type ChaosTarget = (typeof CHAOS_TARGETS)[number];

export interface ChaosOptions {
  /** SIGKILLs to deliver (each followed by a restart of the killed process). */
  readonly kills: number;
  readonly seed: number;
  /** Concurrent user-agent submitters (default 2). */
  readonly submitters?: number;
  /** Random wait before each kill, in ms (default [150, 900]). */
  readonly gapMs?: readonly [number, number];
  /** Work directory (default a fresh one under the OS temp dir, removed afterwards). */
  readonly dir?: string;
  readonly log?: (line: string) => void;
  /**
   * false: the user agent sends no ENVID and org B does not ask the mailbox before a retried delivery
   * (at-least-once, as before issue 11), to show that the harness sees the duplicates it exists to catch.
   */
  readonly exactlyOnce?: boolean;
}

export interface ChaosReport {
  readonly meta: {
    readonly seed: number;
    readonly kills: number;
    readonly submitters: number;
    readonly gapMs: readonly [number, number];
    readonly startedAt: string;
    readonly durationMs: number;
    readonly node: string;
    readonly exactlyOnce: boolean;
  };
  readonly killed: Record<ChaosTarget, number>;
  /** Of the org kills, those that hit a process during its start-up (spool recovery, registry checks), before or just after it reported ready. */
  readonly killedDuringStartUp: number;
  readonly mails: {
    /** Mails the MSA answered 250 (every submission is retried until it is). */
    readonly acknowledged: number;
    readonly deliveredOnce: number;
    /** Acknowledged mails in Bob's mailbox more than once. Target 0. */
    readonly deliveredTwice: number;
    /** Acknowledged mails not in Bob's mailbox after everything drained. Target 0. */
    readonly lost: number;
    /** Copies in the mailbox of mails never acknowledged (should be 0: every submission is retried to a 250). */
    readonly unacknowledgedDelivered: number;
    /** SMTP submission attempts, retries included. */
    readonly submissionAttempts: number;
    /** Submissions answered 5xx (not retried; each is a finding). */
    readonly refused: number;
  };
  readonly duplicates: readonly string[];
  readonly lostIds: readonly string[];
  readonly refusals: readonly string[];
}

/** mulberry32: a small seeded PRNG, so a run's kill schedule is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the harness; a fault of the harness itself (a process that does not come back) throws. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const random = prng(o.seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const gap = o.gapMs ?? [150, 900];
  const submitters = o.submitters ?? 2;
  const started = Date.now();
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'ssmax-chaos-'));
  let world: ProcessWorld | undefined;
  try {
    world = await ProcessWorld.start({ dir, senders: 1, askBeforeRetry: o.exactlyOnce !== false });
    const w = world;
    log(`[chaos] up: org A MSA ${w.msa.address}:${w.msa.port}, org B MX ${w.b.ready.mx.address}:${w.b.ready.mx.port}, mailbox ${w.mailbox.host}`);

    // The user agent: sign, submit with an ENVID, retry until 250.
    const acknowledged = new Set<string>();
    const refusals: string[] = [];
    let attempts = 0;
    let mailNo = 0;
    let killing = true;
    const submitOne = async (): Promise<void> => {
      const n = mailNo++;
      const { raw, messageId } = await w.compose(0, `chaos ${o.seed}/${n}`);
      const envid = o.exactlyOnce === false ? undefined : `chaos-${o.seed}-${n}`;
      for (;;) {
        attempts++;
        const r = await w.submit(0, raw, envid);
        if (r.code === 250) {
          acknowledged.add(messageId);
          return;
        }
        if (r.code >= 500) {
          refusals.push(`${messageId}: ${(r.message ?? '').slice(0, 200)}`);
          return;
        }
        await sleep(between(50, 250));
      }
    };
    const submitting = Array.from({ length: submitters }, async () => {
      while (killing) await submitOne();
    });

    // The killer. After one org kill in four, the restarted process is killed again 0-1500 ms after it
    // was spawned (during its start-up and spool recovery, or just after), and then started for good.
    const killed: Record<ChaosTarget, number> = { registry: 0, 'org-a': 0, 'org-b': 0, 'mailbox-b': 0 };
    let killedDuringStartUp = 0;
    let startUpKill: { target: 'org-a' | 'org-b'; afterMs: number } | undefined;
    for (let k = 0; k < o.kills; k++) {
      const t0 = Date.now();
      if (startUpKill) {
        const { target, afterMs } = startUpKill;
        startUpKill = undefined;
        let timer: NodeJS.Timeout | undefined;
        const up = await w
          .restart(target, (child) => {
            timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
          })
          .then(
            () => true,
            () => false,
          );
        // Ready before the timer: the kill still comes, just after its start.
        if (up) await (target === 'org-a' ? w.a : w.b).exited;
        clearTimeout(timer);
        await w.restart(target);
        killed[target]++;
        killedDuringStartUp++;
        log(`[chaos] kill ${k + 1}/${o.kills}: ${target} during its start-up, ${afterMs} ms after spawn (back in ${Date.now() - t0} ms)`);
        continue;
      }
      await sleep(between(gap[0], gap[1]));
      const target = CHAOS_TARGETS[Math.floor(random() * CHAOS_TARGETS.length)]!;
      await w.kill(target);
      if ((target === 'org-a' || target === 'org-b') && random() < 0.25) startUpKill = { target, afterMs: between(0, 1500) };
      else await w.restart(target);
      killed[target]++;
      log(`[chaos] kill ${k + 1}/${o.kills}: ${target} (back in ${Date.now() - t0} ms; ${acknowledged.size} acknowledged so far)`);
    }
    if (startUpKill) await w.restart(startUpKill.target);
    killing = false;
    await Promise.all(submitting);
    await w.drain();

    const copies = new Map<string, number>();
    for (const id of await w.delivered()) copies.set(id, (copies.get(id) ?? 0) + 1);
    const duplicates = [...acknowledged].filter((id) => (copies.get(id) ?? 0) > 1);
    const lostIds = [...acknowledged].filter((id) => !copies.has(id));
    return {
      meta: {
        seed: o.seed,
        kills: o.kills,
        submitters,
        gapMs: [gap[0], gap[1]],
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        node: process.version,
        exactlyOnce: o.exactlyOnce !== false,
      },
      killed,
      killedDuringStartUp,
      mails: {
        acknowledged: acknowledged.size,
        deliveredOnce: [...acknowledged].filter((id) => copies.get(id) === 1).length,
        deliveredTwice: duplicates.length,
        lost: lostIds.length,
        unacknowledgedDelivered: [...copies.keys()].filter((id) => !acknowledged.has(id)).length,
        submissionAttempts: attempts,
        refused: refusals.length,
      },
      duplicates,
      lostIds,
      refusals,
    };
  } finally {
    await world?.close();
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
