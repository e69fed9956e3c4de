/**
 * The full chain over SMTP: sender → org-a (MSA, (4) verify, (5) inspect, (6) re-encrypt, MTA-out) →
 * org-b (MTA-in, (7) verify, (8) inspect, (9) re-encrypt and deliver to Dovecot), in a real world
 * (packages/world): registry, simulated DNS, STARTTLS between the MTAs, spools and journeys fsynced.
 * Mails per second at 1, 4 and 16 concurrent senders (distinct users, one mail in flight each), a
 * mail counted when org-b's journey records procedure (9) `delivered` for its Message-ID.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWorldConfig, World } from '@ssmax/world';
import { fixedContent } from './fixtures.js';
import type { BenchCase } from './results.js';

export interface ChainBenchOptions {
  /** Concurrent senders per case. */
  readonly concurrency: readonly number[];
  /** Mails each sender sends per case (after one warm-up mail each). */
  readonly mailsPerSender: (c: number) => number;
  readonly fileSize: number;
  readonly profile?: string;
  readonly log?: (line: string) => void;
  /** Where the world stores its state (default: a fresh temp dir, removed afterwards). */
  readonly storageDir?: string;
  /** Workers per spool in each org (World option; default 1). */
  readonly spoolWorkers?: number;
}

export interface ChainBenchResult {
  readonly cases: BenchCase[];
  readonly notes: string[];
}

const strip = (id: string): string => id.replace(/^<|>$/g, '');

/** Runs the chain cases in one world (started once; its start-up is not measured). */
export async function runChainBench(opts: ChainBenchOptions): Promise<ChainBenchResult> {
  const profile = opts.profile ?? 'ssmax-org';
  const log = opts.log ?? (() => undefined);
  const senders = Math.max(...opts.concurrency);
  const names = Array.from({ length: senders }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);
  const config = parseWorldConfig(`
version: 1
seed: 77
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ ${names.map((n) => `{ address: ${n}, pin: "1111", password: ${n}-pass }`).join(', ')} ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);
  const dir = opts.storageDir ?? mkdtempSync(join(tmpdir(), 'ssmax-chain-'));
  const started = performance.now();
  const world = await World.create(config, {
    storageDir: dir,
    profile,
    retryMs: 20,
    ...(opts.spoolWorkers !== undefined ? { spoolWorkers: opts.spoolWorkers } : {}),
  });
  log(`chain: world (${profile}, ${senders} senders) started in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const cases: BenchCase[] = [];
  try {
    // Delivered = org-b's (9) `delivered` event for the Message-ID; anything else at (9) fails the run.
    const waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
    const early = new Map<string, string | null>();
    const unsubscribe = world.org('org-b').organisation.journey.subscribe((e) => {
      if (e.procedure !== 9) return;
      const id = strip(e.messageId);
      const failure = e.outcome === 'delivered' ? null : `${e.outcome}: ${JSON.stringify(e.checks)} ${e.detail ?? ''}`;
      const w = waiting.get(id);
      if (!w) return void early.set(id, failure);
      waiting.delete(id);
      if (failure === null) w.resolve();
      else w.reject(new Error(`mail ${id} not delivered at (9): ${failure}`));
    });
    const delivered = (messageId: string): Promise<void> => {
      const id = strip(messageId);
      if (early.has(id)) {
        const f = early.get(id);
        early.delete(id);
        return f === null ? Promise.resolve() : Promise.reject(new Error(`mail ${id} not delivered at (9): ${f}`));
      }
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    };
    let serial = 0;
    const content = fixedContent(opts.fileSize);
    /** One sender's loop: send, wait for delivery at org-b, send the next. */
    const sendLoop = async (user: string, count: number, latencies: number[]): Promise<void> => {
      const u = world.user(`${user}@org-a.example`);
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const n = serial++;
        const sent = await u.send({
          to: 'bob@org-b.example',
          subject: `bench ${n}`,
          body: 'Benchmark mail with one file.',
          files: [{ name: `file-${n}.bin`, contentType: 'application/octet-stream', content }],
          pin: '1111',
        });
        if (!/^250/.test(sent.response)) throw new Error(`MSA refused mail ${n}: ${sent.response}`);
        await withTimeout(delivered(sent.messageId), 60_000, `mail ${sent.messageId} not delivered within 60 s`);
        latencies.push(performance.now() - t0);
      }
    };
    // Warm-up: one mail per sender (card sessions, TLS, caches), not measured.
    await Promise.all(names.map((n) => sendLoop(n, 1, [])));
    await world.waitIdle();
    for (const c of opts.concurrency) {
      const per = opts.mailsPerSender(c);
      const latencies: number[] = [];
      const t0 = performance.now();
      await Promise.all(names.slice(0, c).map((n) => sendLoop(n, per, latencies)));
      const seconds = (performance.now() - t0) / 1000;
      const mails = c * per;
      const opsPerSec = mails / seconds;
      latencies.sort((a, b) => a - b);
      const p = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
      const name = `chain/${profile}/${opts.fileSize >= 1024 ? `${opts.fileSize / 1024}KiB` : `${opts.fileSize}B`}/c${c}`;
      log(
        `${name}: ${mails} mails in ${seconds.toFixed(2)} s = ${opsPerSec.toFixed(2)} mails/s; latency p50 ${p(0.5).toFixed(0)} ms, p95 ${p(0.95).toFixed(0)} ms`,
      );
      cases.push({
        name,
        size: opts.fileSize,
        opsPerSec,
        mbPerSec: (opsPerSec * opts.fileSize) / 1e6,
        peakRssDelta: null,
        references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
        ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
        details: { senders: c, mails, seconds, latencyP50Ms: p(0.5), latencyP95Ms: p(0.95) },
      });
      await world.waitIdle();
    }
    unsubscribe();
  } finally {
    await world.close();
    if (!opts.storageDir) rmSync(dir, { recursive: true, force: true });
  }
  const notes = [
    `Full chain (chain/…): a real world (packages/world, profile ${profile}): user agent signs on its card and submits to org-a's MSA (SMTP AUTH), org-a verifies (4), inspects (5), re-encrypts (6) and relays over STARTTLS to org-b's MTA-in, which verifies (7), inspects (8), re-encrypts and delivers to Dovecot (9); spools and journeys fsynced. One ${opts.fileSize / 1024} KiB file per mail; each sender has one mail in flight (send, wait for (9) delivered, send the next); mails/s = mails ÷ wall time from the first submission to the last (9). World start-up and one warm-up mail per sender are not counted.`,
    "Where the chain time goes (node --cpu-prof of the world, 48 mails at 16 senders, separate run on the same machine): the whole world is one node process, busy ~58% of the wall time, ~200 ms CPU per mail: the MSA's SMTP AUTH password check (scryptSync, synchronous, ~35-50 ms per mail, the largest single item), MIME parsing and base64 of the 100 KiB file at each of the five stages, X.509 parsing and chain validation per stage, synchronous SoftHSM2 calls (pkcs11js). The rest is waiting: each org has ONE worker per spool (sim-org organisation.ts drains one message at a time), so the chain is a pipeline of serial stages and adding senders barely adds throughput. smtp-server holds every new connection 100 ms before its greeting (early-talker check, not configurable); org-a's serial relay worker paid that per mail until the relay connection was reused (sim-org mta-out.ts now keeps it open 250 ms after a mail: +30% at 16 senders in a trial run). 100 mails/s would need ≤ 10 ms CPU per mail in one process, or concurrent spool workers and several processes; neither is in the bench's reach (sim-org owns them).",
    "Connections: the world's user agent opens one SMTP submission per mail (AUTH, no TLS on loopback; sim-org user-agent.ts), so each mail waits the 100 ms greeting once at submission (latency, not throughput: senders submit in parallel); org-a's MTA-out reuses its STARTTLS connection to org-b for mails that follow within 250 ms (at 1 sender they mostly do not).",
    "Keys in the chain case are where the world keeps them: user cards and each org KMS on SoftHSM2 (native PKCS#11, in-process library), not node:crypto keys; signing keys P-256, encryption keys RSA-2048 (the world's defaults). The issue asks for P-256 keys in-process; the world offers no such option, so this is a harder case than asked.",
  ];
  return { cases, notes };
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}
