/**
 * `ssmax bench`: measures the organisation hop against `openssl cms` and the crypto floor in one run,
 * the key backends against raw calls, and memory in fresh child processes; writes
 * `bench/results/<date>.json` and a markdown table beside it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCertificate, type ContentCipher } from '@ssmax/core';
import { CONTENT_SEED, createBenchPki, makeIncoming, makeWorkDir, openssl, type BenchPki, type Suite } from './fixtures.js';
import { defaultOrgInspection } from './inspection.js';
import { measure, measureRounds, type Budget } from './measure.js';
import type { MemoryCaseResult, MemoryCaseSpec } from './memory-case.js';
import { orgHopFile, type OrgHopOptions } from './org-hop.js';
import {
  cryptoFloorTask,
  measureOpensslSpeed,
  opensslHopCommands,
  opensslPeakRss,
  opensslSpeedFloorSeconds,
  opensslTrivialCommand,
  runOpensslHop,
} from './references.js';
import { evaluateTargets, linearFit, linkPlainReferences, renderMarkdown, sizeLabel, type BenchCase, type BenchResults, type MemoryFit } from './results.js';
import { CHAIN_NOTES, runChainBench, type ChainLevers } from './chain.js';
import { PROCESS_CHAIN_NOTE, runProcessChainBench } from './chain-processes.js';
import { curveSeries, renderCurveSvg } from './curve-svg.js';
import { runTokenBench, type KeyBackend } from './token-bench.js';

const KiB = 1024;
const MiB = 1 << 20;

export interface BenchPlan {
  readonly sizes: readonly number[];
  readonly suites: readonly Suite[];
  readonly ciphers: readonly ContentCipher[];
  /** Also run the hop with the organisation's default inspection. */
  readonly inspection: boolean;
  /** Measure peak RSS in a child process per hop case (needs the built bench/dist). */
  readonly memory: boolean;
  readonly backends: readonly KeyBackend[];
  readonly tokenHopSize: number;
  readonly budget: (size: number) => Budget;
  readonly opensslBudget: (size: number) => Budget;
  readonly tokenBudget: Budget;
  /** Interleaved rounds (ours, ours+inspect, openssl; ours, raw) for sizes up to 1 MiB and the key backends. */
  readonly rounds: number;
  /** The full chain over SMTP: one world per entry, run one after another; null leaves it out. */
  readonly chain: readonly ChainRun[] | null;
  /** The same chain with each actor in its own process (chain-processes.ts), one process world per entry; absent or null leaves it out. */
  readonly chainProcesses?: readonly ProcessChainRun[] | null;
}

/** One process world of the multi-process chain and its cases. */
export interface ProcessChainRun {
  readonly spoolWorkers: number;
  readonly concurrency: readonly number[];
  readonly fileSize: number;
  readonly mailsPerSender: (senders: number) => number;
}

/** One world of the chain benchmark and the cases run in it (every size × every sender count). */
export interface ChainRun {
  readonly profile: 'ssmax-org' | 'plain-ppap' | 'ssmax-plus';
  /** Workers per spool in each org (World option spoolWorkers). */
  readonly spoolWorkers: number;
  readonly concurrency: readonly number[];
  readonly fileSizes: readonly number[];
  readonly mailsPerSender: (senders: number, fileSize: number) => number;
  /** Levers turned off in this world (chain.ts ChainLevers; default all on). */
  readonly levers?: ChainLevers;
  /** Defences switched off in this world (World option ablate). */
  readonly ablate?: readonly string[];
}

const chainMails = (c: number): number => (c === 1 ? 20 : c === 4 ? 8 : 4);
/**
 * Issue 13 item 2: ssmax-org and its plain-ppap reference at 1, 4 and 16 senders, then both at 16
 * senders with 4 workers per spool (the lever), each ssmax world followed by its reference.
 */
const CHAIN_RUNS: readonly ChainRun[] = [
  { profile: 'ssmax-org', spoolWorkers: 1, concurrency: [1, 4, 16], fileSizes: [100 * KiB], mailsPerSender: chainMails },
  { profile: 'plain-ppap', spoolWorkers: 1, concurrency: [1, 4, 16], fileSizes: [100 * KiB], mailsPerSender: chainMails },
  { profile: 'ssmax-org', spoolWorkers: 4, concurrency: [16], fileSizes: [100 * KiB], mailsPerSender: chainMails },
  { profile: 'plain-ppap', spoolWorkers: 4, concurrency: [16], fileSizes: [100 * KiB], mailsPerSender: chainMails },
];

/**
 * Issue 13 item 3 asks for 1 KiB, 100 KiB and 10 MiB. A 10 MiB file does not fit through the chain: an
 * SSMAX mail carries its file at about 1.88× (the file base64 inside the encrypted MIME entity, the
 * CMS base64 again in the mail), and the MSA and MTA-in refuse messages over 10 MiB (sim-org
 * DEFAULT_MESSAGE_BYTES, docs/PROTOCOL.md §18; the World has no option to raise it): 552 5.3.4 at
 * submission. 5 MiB (about 9.4 MiB on the wire) is the largest whole MiB that fits.
 */
const CURVE_SIZES = [KiB, 100 * KiB, 5 * MiB] as const;
/**
 * Mails per sender: enough for a p99 at one sender, fewer as senders grow (c64 at 5 MiB sends one mail
 * per sender, 64 mails of 5 MiB in flight at once).
 */
const curveMails = (c: number, size: number): number => (size >= MiB ? (c === 1 ? 3 : c === 4 ? 2 : 1) : c === 1 ? 16 : c === 4 ? 6 : c === 16 ? 4 : 2);
const CURVE_RUNS: readonly ChainRun[] = [
  { profile: 'ssmax-org', spoolWorkers: 1, concurrency: [1, 4, 16, 64], fileSizes: CURVE_SIZES, mailsPerSender: curveMails },
  { profile: 'plain-ppap', spoolWorkers: 1, concurrency: [1, 4, 16, 64], fileSizes: CURVE_SIZES, mailsPerSender: curveMails },
  ...CHAIN_RUNS.slice(2),
];

export const FULL_PLAN: BenchPlan = {
  sizes: [KiB, 64 * KiB, MiB, 16 * MiB, 64 * MiB],
  suites: ['rsa', 'ec'],
  ciphers: ['aes-256-gcm', 'aes-256-cbc'],
  inspection: true,
  memory: true,
  backends: ['in-process', 'softhsm-native', 'softhsm-container'],
  tokenHopSize: 64 * KiB,
  budget: (s) =>
    s <= 64 * KiB
      ? { time: 400, iterations: 20, warmup: 5 }
      : s <= MiB
        ? { time: 400, iterations: 10, warmup: 2 }
        : s <= 16 * MiB
          ? { time: 0, iterations: 6, warmup: 1 }
          : { time: 0, iterations: 3, warmup: 1 },
  opensslBudget: (s) =>
    s <= 64 * KiB ? { time: 0, iterations: 10, warmup: 1 } : s <= MiB ? { time: 0, iterations: 6, warmup: 1 } : { time: 0, iterations: 3, warmup: 1 },
  tokenBudget: { time: 500, iterations: 50, warmup: 10 },
  rounds: 3,
  chain: CHAIN_RUNS,
  // Issue 13 item 2's first lever: both orgs (and the registry) in processes of their own, so both cores work.
  chainProcesses: [
    { spoolWorkers: 1, concurrency: [1, 16], fileSize: 100 * KiB, mailsPerSender: chainMails },
    { spoolWorkers: 4, concurrency: [16], fileSize: 100 * KiB, mailsPerSender: chainMails },
  ],
};

/** The reduced set `--quick` runs (CI smoke test; well under two minutes on 2 cores). */
export const QUICK_PLAN: BenchPlan = {
  sizes: [KiB, MiB],
  suites: ['rsa', 'ec'],
  ciphers: ['aes-256-gcm'],
  inspection: true,
  memory: true,
  backends: ['in-process', 'softhsm-native'],
  tokenHopSize: 64 * KiB,
  budget: () => ({ time: 250, iterations: 5, warmup: 3 }),
  opensslBudget: () => ({ time: 0, iterations: 4, warmup: 1 }),
  tokenBudget: { time: 150, iterations: 20, warmup: 5 },
  rounds: 3,
  // A world takes ~15 s to start and the chain ~40 s more: too much for the two-minute smoke test.
  chain: null,
};

/**
 * `--chain-curve`: the chain only, ssmax-org and plain-ppap at 1, 4, 16 and 64 senders × 1 KiB, 100 KiB
 * and 5 MiB, plus the 4-worker comparison (about 15-25 min on 2 busy cores: too slow for the full run).
 */
export const CHAIN_CURVE_PLAN: BenchPlan = {
  ...QUICK_PLAN,
  sizes: [],
  backends: [],
  memory: false,
  chain: CURVE_RUNS,
};

/**
 * `--chain-levers`: issue 13's levers measured one at a time at chain/…/100KiB/c16, each world with one
 * lever off beside the world with all on, for ssmax-org and its plain-ppap reference (about 8 min on 2 cores).
 */
const LEVER_RUNS: readonly ChainRun[] = (['ssmax-org', 'plain-ppap'] as const).flatMap((profile) =>
  [undefined, { spoolGroupCommit: false }, { passwordHashing: 'event-loop' as const }].map((levers): ChainRun => ({
    profile,
    spoolWorkers: 1,
    concurrency: [16],
    fileSizes: [100 * KiB],
    mailsPerSender: chainMails,
    ...(levers ? { levers } : {}),
  })),
);
export const CHAIN_LEVERS_PLAN: BenchPlan = { ...CHAIN_CURVE_PLAN, chain: LEVER_RUNS };

/**
 * `--chain-plus` (issue 15 addition 5): ssmax-plus beside ssmax-org at 1, 4 and 16 senders × 1 KiB and
 * 100 KiB (mails/s, latency, bytes on the wire), ssmax-plus with its hold switched off so the hold is not
 * counted as work; then ssmax-plus with the hold on, 4 senders × 1 mail, to show what the hold adds
 * (about 7 min on 2 cores).
 */
const PLUS_RUNS: readonly ChainRun[] = [
  { profile: 'ssmax-org', spoolWorkers: 1, concurrency: [1, 4, 16], fileSizes: [KiB, 100 * KiB], mailsPerSender: chainMails },
  { profile: 'ssmax-plus', ablate: ['hold-and-cancel'], spoolWorkers: 1, concurrency: [1, 4, 16], fileSizes: [KiB, 100 * KiB], mailsPerSender: chainMails },
  { profile: 'ssmax-plus', spoolWorkers: 1, concurrency: [4], fileSizes: [100 * KiB], mailsPerSender: () => 1 },
];
export const CHAIN_PLUS_PLAN: BenchPlan = { ...CHAIN_CURVE_PLAN, chain: PLUS_RUNS };

export interface RunBenchOptions {
  readonly quick?: boolean;
  /** Run {@link CHAIN_CURVE_PLAN} (the chain's scaling curve) and write `<date>-chain-curve.json`, `.md` and `.svg`. */
  readonly chainCurve?: boolean;
  /** Run {@link CHAIN_LEVERS_PLAN} and write `<date>-chain-levers.json` and `.md`. */
  readonly chainLevers?: boolean;
  /** Run {@link CHAIN_PLUS_PLAN} and write `<date>-chain-plus.json` and `.md`. */
  readonly chainPlus?: boolean;
  /** JSON output path; the markdown goes beside it (`.md`). Default bench/results/<YYYY-MM-DD>.json (`-quick.json` with quick). */
  readonly out?: string;
  /** Overrides parts of the plan (tests). */
  readonly plan?: Partial<BenchPlan>;
  readonly log?: (line: string) => void;
  /** Rewrite the results section of bench/README.md (default: a full run to the default path). */
  readonly updateReadme?: boolean;
  /** Keep the working directory (inputs, outputs) for inspection instead of deleting it. */
  readonly keepWorkDir?: boolean;
}

export interface RunBenchResult {
  readonly results: BenchResults;
  readonly jsonPath: string;
  readonly mdPath: string;
  /** The working directory, when kept. */
  readonly workDir?: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = join(HERE, '..');

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

function hopOptions(pki: BenchPki, suite: Suite, cipher: ContentCipher, inspect: boolean): OrgHopOptions {
  const p = pki.suites[suite];
  return {
    key: p.org.key,
    certificate: p.org.certDer,
    trustAnchors: [parseCertificate(pki.caDer)],
    certificateCache: new Map(),
    recipients: [p.next.certDer],
    cipher,
    ...(inspect ? { inspect: defaultOrgInspection } : {}),
  };
}

function memoryCase(spec: MemoryCaseSpec, workDir: string): MemoryCaseResult {
  const specPath = join(workDir, 'memory-spec.json');
  writeFileSync(specPath, JSON.stringify(spec));
  const r = spawnSync(process.execPath, ['--expose-gc', join(HERE, 'memory-case.js'), specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`memory case failed (${r.status}): ${r.stderr.toString().trim()}`);
  return JSON.parse(r.stdout.toString()) as MemoryCaseResult;
}

export async function runBench(opts: RunBenchOptions = {}): Promise<RunBenchResult> {
  const base = opts.chainPlus
    ? CHAIN_PLUS_PLAN
    : opts.chainLevers
      ? CHAIN_LEVERS_PLAN
      : opts.chainCurve
        ? CHAIN_CURVE_PLAN
        : opts.quick
          ? QUICK_PLAN
          : FULL_PLAN;
  const plan: BenchPlan = { ...base, ...opts.plan };
  const log = opts.log ?? (() => undefined);
  const date = new Date();
  // A quick run never overwrites the day's full results, nor the README table.
  const suffix = opts.chainPlus ? '-chain-plus' : opts.chainLevers ? '-chain-levers' : opts.chainCurve ? '-chain-curve' : opts.quick ? '-quick' : '';
  const jsonPath = opts.out ?? join(BENCH_DIR, 'results', `${date.toISOString().slice(0, 10)}${suffix}.json`);
  const mdPath = jsonPath.replace(/\.json$/, '') + '.md';
  const workDir = makeWorkDir();
  const skipped: string[] = [];
  const notes: string[] = [
    'Hop = decrypt (EnvelopedData/AuthEnvelopedData) → verify the sender SignedData and its chain → [inspect] → sign with the org key → encrypt to the next party; file → file. It runs sim-org orgFileHop = core protectedFileHop, the function every organisation runs per file part, with its signed-content layer.',
    'OpenSSL reference: the same hop as four `openssl cms` processes (-decrypt, -verify, -sign -nodetach, -encrypt; DER, -binary) on the same input files; "w/o start-up" subtracts 4 × the trivial-input median.',
    'Crypto floor: node:crypto decrypt + 2 × SHA-256 + encrypt streamed in 64 KiB chunks in memory (no framing, no I/O, no public-key operations). Every reference is measured interleaved with our hop (rounds A B C …), so load drift on a shared machine hits both sides.',
    "Our hop hashes the content once: the same SHA-256 checks the sender's messageDigest and feeds the org signature.",
    "Inspection variant (hop+inspect): sim-org's default outbound DLP and inbound malware scan on the whole file (both, the upper bound for one hop); it needs the whole file in memory.",
  ];
  try {
    log(`work directory ${workDir}`);
    const pki = createBenchPki(join(workDir, 'pki'));
    log('openssl speed …');
    const speed = measureOpensslSpeed();

    const tiny = makeIncoming(pki, workDir, 'ec', 'aes-256-gcm', 1, undefined, '-trivial');
    const trivial = opensslTrivialCommand(tiny.inPath);
    const startup = await measure('openssl cms (trivial)', () => openssl(trivial), { time: 0, iterations: 30, warmup: 3 });
    log(`openssl cms start-up: ${startup.medianMs.toFixed(2)} ms`);
    const trivialRss = opensslPeakRss(trivial);

    const warmups = new Map<string, string>();
    const warmup = (suite: Suite, cipher: ContentCipher): string => {
      const k = `${suite}-${cipher}`;
      if (!warmups.has(k)) warmups.set(k, makeIncoming(pki, workDir, suite, cipher, KiB, undefined, '-warmup').inPath);
      return warmups.get(k)!;
    };
    const cases: BenchCase[] = [];
    for (const size of plan.sizes) {
      for (const cipher of plan.ciphers) {
        const floorTask = cryptoFloorTask(cipher, size);
        for (const suite of plan.suites) {
          const tag = `${suite}/${cipher}/${sizeLabel(size)}`;
          const { inPath } = makeIncoming(pki, workDir, suite, cipher, size);
          const outPath = join(workDir, `out-${suite}-${cipher}-${size}.der`);

          const commands = opensslHopCommands(pki, suite, cipher, inPath, workDir);
          const variants = plan.inspection ? [false, true] : [false];
          const opts = variants.map((inspect) => hopOptions(pki, suite, cipher, inspect));
          for (const o of opts) {
            const first = await orgHopFile(inPath, outPath, o);
            if (!first.committed) throw new Error(`hop ${tag} did not commit: ${first.verdict.reasons.join('; ')}`);
          }
          const names = variants.map((inspect) => `${inspect ? 'hop+inspect' : 'hop'}/${tag}`);
          const ms = await measureRounds(
            [
              ...opts.map((o, i) => ({ name: names[i]!, fn: () => orgHopFile(inPath, outPath, o), budget: plan.budget(size) })),
              { name: `openssl ${tag}`, fn: () => runOpensslHop(commands), budget: plan.opensslBudget(size) },
              { name: `floor ${cipher}/${size}`, fn: floorTask, budget: plan.budget(size) },
              { name: 'openssl cms (trivial)', fn: () => openssl(trivial), budget: { time: 0, iterations: 10, warmup: 1 } },
            ],
            size <= MiB ? plan.rounds : 1,
          );
          const om = ms[ms.length - 3]!;
          const floorOps = ms[ms.length - 2]!.opsPerSec;
          // Start-up measured in the same rounds as the hop it is subtracted from.
          const startupMs = ms[ms.length - 1]!.medianMs;
          const opensslRss = Math.max(...commands.map((c) => opensslPeakRss(c))) - trivialRss;
          const noStartupMs = om.medianMs - 4 * startupMs;
          const opensslNoStartupOps = noStartupMs > 0 ? 1000 / noStartupMs : null;

          for (const [i, inspect] of variants.entries()) {
            const name = names[i]!;
            const m = ms[i]!;
            let peakRssDelta: number | null = null;
            if (plan.memory) {
              const p = pki.suites[suite];
              try {
                peakRssDelta = memoryCase(
                  {
                    warmupPath: warmup(suite, cipher),
                    inPath,
                    outPath: join(workDir, 'mem-out.der'),
                    orgKeyPath: p.org.keyPath,
                    orgCertPath: p.org.certPath,
                    nextCertPath: p.next.certPath,
                    caPath: pki.caPath,
                    cipher,
                    inspect,
                  },
                  workDir,
                ).delta;
              } catch (e) {
                // One failed child (e.g. out of memory) loses one figure, not the run.
                skipped.push(`memory of ${name}: ${(e instanceof Error ? e.message : String(e)).split('\n').slice(0, 2).join(' ')}`);
              }
            }
            const ratio = (ref: number | null): number | null => (ref === null ? null : m.opsPerSec / ref);
            cases.push({
              name,
              size,
              opsPerSec: m.opsPerSec,
              mbPerSec: (m.opsPerSec * size) / 1e6,
              peakRssDelta,
              references: { opensslCms: om.opsPerSec, opensslCmsNoStartup: opensslNoStartupOps, cryptoFloor: floorOps },
              ratios: { opensslCms: ratio(om.opsPerSec), opensslCmsNoStartup: ratio(opensslNoStartupOps), cryptoFloor: ratio(floorOps) },
              details: {
                medianMs: m.medianMs,
                samples: m.samples,
                opensslMedianMs: om.medianMs,
                opensslStartupMs: startupMs,
                opensslSpeedFloor: 1 / opensslSpeedFloorSeconds(speed, cipher, size),
                opensslPeakRss: opensslRss,
              },
            });
            log(
              `${name}: ${((m.opsPerSec * size) / 1e6).toFixed(1)} MB/s, ${m.opsPerSec.toFixed(1)}/s; openssl ${om.medianMs.toFixed(1)} ms; ` +
                `× openssl ${(m.opsPerSec / om.opsPerSec).toFixed(2)}, × no-startup ${opensslNoStartupOps ? (m.opsPerSec / opensslNoStartupOps).toFixed(2) : '–'}, × floor ${(m.opsPerSec / floorOps).toFixed(2)}` +
                (peakRssDelta === null ? '' : `; RSS Δ ${(peakRssDelta / size).toFixed(2)}× file`),
            );
          }
          for (const f of [inPath, outPath]) rmSync(f, { force: true });
        }
      }
      rmSync(join(workDir, `content-${size}.bin`), { force: true });
    }

    if (plan.sizes.length === 0)
      skipped.push('organisation hop cases: not in this plan (`ssmax bench --chain-curve` runs the chain only; `ssmax bench` runs them).');
    if (plan.backends.length > 0) {
      const t = await runTokenBench({
        pki,
        workDir,
        backends: plan.backends,
        rounds: plan.rounds,
        budget: plan.tokenBudget,
        hopBudget: plan.budget(plan.tokenHopSize),
        hopSize: plan.tokenHopSize,
        log,
      });
      cases.push(...t.cases);
      skipped.push(...t.skipped.map((s) => `key backend ${s}`));
    }
    if (plan.chain) {
      for (const run of plan.chain) {
        const c = await runChainBench({ ...run, fileSize: run.fileSizes[0]!, log });
        cases.push(...c.cases);
      }
      notes.push(...CHAIN_NOTES);
      for (const run of plan.chainProcesses ?? []) cases.push(...(await runProcessChainBench({ ...run, log })));
      if (plan.chainProcesses?.length) notes.push(PROCESS_CHAIN_NOTE);
    } else {
      skipped.push('full chain over SMTP (sender → org → org → recipient): left out of this run (--quick or plan.chain = null); `ssmax bench` runs it.');
    }

    const memoryFit: MemoryFit[] = [];
    for (const prefix of ['hop/', 'hop+inspect/']) {
      for (const [label, max] of [
        ['all sizes', Infinity],
        ['≤ 16 MiB', 16 * MiB],
      ] as const) {
        const pts = cases
          .filter((c) => c.name.startsWith(prefix) && !c.name.includes('/key-') && c.peakRssDelta !== null && c.size <= max)
          .map((c) => [c.size, c.peakRssDelta!] as const);
        if (pts.length >= 2) memoryFit.push({ scope: `${prefix} (${label})`, ...linearFit(pts), points: pts.length });
      }
    }
    const series = curveSeries(cases);
    const linked = linkPlainReferences(cases);
    const results: BenchResults = {
      meta: {
        commit: gitCommit(),
        node: process.version,
        openssl: openssl(['version']).toString().trim(),
        cpu: cpus()[0]?.model ?? 'unknown',
        date: date.toISOString(),
        cores: cpus().length,
        quick: opts.quick ?? false,
        contentSeed: CONTENT_SEED,
        units: {
          size: 'content bytes per operation',
          opsPerSec: 'operations per second (1000 / median latency in ms)',
          mbPerSec: '10^6 content bytes per second',
          peakRssDelta: 'bytes: VmHWM after the hop − VmHWM reset before it, in a fresh child process',
          references: 'operations per second of the reference on the same input',
          ratios: 'our opsPerSec ÷ the reference opsPerSec',
          opensslSpeed: 'bytes per second',
        },
        opensslSpeed: { ...speed },
        opensslCmsStartupMs: startup.medianMs,
        notes,
        ...(series.length > 0 ? { chainCurveSvg: curveSvgPath(jsonPath).name } : {}),
      },
      cases: linked,
      memoryFit,
      targets: evaluateTargets(linked),
      skipped,
    };
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
    const md = renderMarkdown(results);
    writeFileSync(mdPath, md);
    writeCurveSvg(results, jsonPath);
    if (opts.updateReadme ?? (opts.out === undefined && !opts.quick && !opts.chainCurve && !opts.chainLevers && !opts.chainPlus))
      updateReadme(md, jsonPath, results.meta.chainCurveSvg);
    return { results, jsonPath, mdPath, ...(opts.keepWorkDir ? { workDir } : {}) };
  } finally {
    if (!opts.keepWorkDir) rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Re-derives the targets and the markdown table of a results file (after a change to how targets are
 * judged or shown); the measurements are left as they are.
 */
export function rerender(jsonPath: string, updateReadmeToo = false): BenchResults {
  const old = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResults;
  const cases = linkPlainReferences(old.cases);
  const hasCurve = curveSeries(cases).length > 0;
  const meta = { ...old.meta, ...(hasCurve ? { chainCurveSvg: curveSvgPath(jsonPath).name } : {}) };
  const results: BenchResults = { ...old, meta, cases, targets: evaluateTargets(cases) };
  writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
  const md = renderMarkdown(results);
  writeFileSync(jsonPath.replace(/\.json$/, '') + '.md', md);
  writeCurveSvg(results, jsonPath);
  if (updateReadmeToo) updateReadme(md, jsonPath, results.meta.chainCurveSvg);
  return results;
}

/** The plot beside a results file: `<name>.svg`. */
function curveSvgPath(jsonPath: string): { path: string; name: string } {
  const path = jsonPath.replace(/\.json$/, '') + '.svg';
  return { path, name: path.slice(path.lastIndexOf('/') + 1) };
}

/** Writes the chain's scaling plot beside the results when they hold a curve (two or more sender counts of a series). */
function writeCurveSvg(r: BenchResults, jsonPath: string): void {
  const series = curveSeries(r.cases);
  if (series.length === 0) return;
  writeFileSync(
    curveSvgPath(jsonPath).path,
    renderCurveSvg(series, `SSMAX full chain against concurrent senders (${r.meta.date.slice(0, 10)}, ${r.meta.cores} cores)`),
  );
}

const BEGIN = '<!-- bench:results:begin -->';
const END = '<!-- bench:results:end -->';

/** Replaces the results section of bench/README.md with the latest table. */
function updateReadme(md: string, jsonPath: string, svgName?: string): void {
  const readme = join(BENCH_DIR, 'README.md');
  let text: string;
  try {
    text = readFileSync(readme, 'utf8');
  } catch {
    return;
  }
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a === -1 || b < a) return;
  const rel = jsonPath.slice(jsonPath.lastIndexOf('results/'));
  let body = md.replace(/^# .*\n/, '').replace(/^## /gm, '### ');
  // The table links the plot beside it; from the README it lives under results/.
  if (svgName !== undefined) body = body.split(`](${svgName})`).join(`](${rel.slice(0, rel.lastIndexOf('/') + 1)}${svgName})`);
  writeFileSync(readme, `${text.slice(0, a + BEGIN.length)}\nLatest run: [\`${rel}\`](${rel}).\n${body}${text.slice(b)}`);
}
