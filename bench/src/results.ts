/** The results file (`bench/results/<date>.json`), its targets and its markdown table. */
import { renderPlusSection } from './chain-plus.js';

export interface BenchMeta {
  readonly commit: string;
  readonly node: string;
  readonly openssl: string;
  readonly cpu: string;
  readonly date: string;
  readonly cores: number;
  readonly quick: boolean;
  readonly contentSeed: string;
  /** Units of the figures, spelled out. */
  readonly units: Readonly<Record<string, string>>;
  /** `openssl speed -bytes 65536`, bytes per second. */
  readonly opensslSpeed: Readonly<Record<string, number>>;
  /** Median wall time of one `openssl cms` process on a trivial input, ms. */
  readonly opensslCmsStartupMs: number;
  readonly notes: readonly string[];
  /** The chain's scaling plot written beside the results (file name), when the run has one. */
  readonly chainCurveSvg?: string;
}

export interface BenchCase {
  readonly name: string;
  /** Content bytes per operation. */
  readonly size: number;
  readonly opsPerSec: number;
  /** 10^6 content bytes per second. */
  readonly mbPerSec: number;
  /** Peak RSS increase over a fresh child's baseline, bytes; null when not measured for this case. */
  readonly peakRssDelta: number | null;
  /** Operations per second of each reference on the same input (null: not applicable). */
  readonly references: {
    readonly opensslCms: number | null;
    readonly opensslCmsNoStartup: number | null;
    readonly cryptoFloor: number | null;
    readonly [k: string]: number | null;
  };
  /** Our opsPerSec ÷ the reference's (above 1: faster than it). */
  readonly ratios: {
    readonly opensslCms: number | null;
    readonly opensslCmsNoStartup: number | null;
    readonly cryptoFloor: number | null;
    readonly [k: string]: number | null;
  };
  /** Extra figures (openssl speed floor, openssl peak RSS, samples). */
  readonly details?: Readonly<Record<string, number | string | null>>;
}

export interface MemoryFit {
  /** Which cases the fit covers (a name prefix). */
  readonly scope: string;
  /** Peak RSS increase per content byte. */
  readonly slope: number;
  /** Peak RSS increase at size 0, bytes. */
  readonly intercept: number;
  readonly points: number;
}

export interface TargetCheck {
  readonly target: string;
  /** null: not measured in this run. */
  readonly met: boolean | null;
  readonly detail: string;
}

export interface BenchResults {
  readonly meta: BenchMeta;
  readonly cases: readonly BenchCase[];
  readonly memoryFit: readonly MemoryFit[];
  readonly targets: readonly TargetCheck[];
  /** Parts of the plan not run, with the reason. */
  readonly skipped: readonly string[];
}

/** Ordinary least squares y = slope·x + intercept. */
export function linearFit(points: readonly (readonly [number, number])[]): { slope: number; intercept: number } {
  const n = points.length;
  if (n === 0) return { slope: NaN, intercept: NaN };
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes >> 20}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes >> 10}KiB`;
  return `${bytes}B`;
}

const KiB = 1024;
const MiB = 1 << 20;
/** Hop cases with software keys and no inspection: the like-for-like comparison the targets use. */
const PLAIN_HOP = /^hop\/(rsa|ec)\//;

/** The worst value: the lowest for a floor (`atLeast`), the highest for a ceiling. */
function worstOf(cases: readonly BenchCase[], f: (c: BenchCase) => number | null, atLeast: boolean): { v: number; at: string } | undefined {
  let worst: { v: number; at: string } | undefined;
  for (const c of cases) {
    const v = f(c);
    if (v === null || Number.isNaN(v)) continue;
    if (!worst || (atLeast ? v < worst.v : v > worst.v)) worst = { v, at: c.name };
  }
  return worst;
}

function check(
  target: string,
  cases: readonly BenchCase[],
  f: (c: BenchCase) => number | null,
  bound: { atLeast: number } | { atMost: number } | { below: number },
  unit = '×',
): TargetCheck {
  const atLeast = 'atLeast' in bound;
  const ok = (v: number): boolean => ('atLeast' in bound ? v >= bound.atLeast : 'atMost' in bound ? v <= bound.atMost : v < bound.below);
  const w = worstOf(cases, f, atLeast);
  if (!w) return { target, met: null, detail: 'not measured in this run' };
  const values = cases.map(f).filter((v): v is number => v !== null && !Number.isNaN(v));
  const missing = cases.length - values.length;
  const without = missing === 0 ? '' : `; ${missing} case(s) have no figure (e.g. the hop took less than 4 × the start-up, so nothing is left to compare)`;
  return {
    target,
    met: values.every(ok),
    detail: `worst ${w.v.toFixed(2)}${unit} (${w.at}); ${values.filter(ok).length} of ${values.length} cases meet it${without}`,
  };
}

/** Adds the range of peakRssDelta per size, in MiB and × file, to a memory target's detail. */
function withPerSize(t: TargetCheck, cases: readonly BenchCase[]): TargetCheck {
  const sizes = [...new Set(cases.map((c) => c.size))].sort((a, b) => a - b);
  const parts = sizes.map((size) => {
    const d = cases.filter((c) => c.size === size).map((c) => c.peakRssDelta!);
    const lo = Math.min(...d);
    const hi = Math.max(...d);
    return `${sizeLabel(size)}: ${(lo / MiB).toFixed(2)}…${(hi / MiB).toFixed(2)} MiB (${(lo / size).toFixed(2)}…${(hi / size).toFixed(2)}×)`;
  });
  return parts.length === 0 ? t : { ...t, detail: `${t.detail}; per size ${parts.join(', ')}` };
}

/** Issue 13 item 2: the chain case judged, its plain-mail reference in the same run, and the bounds. */
export const CHAIN_TARGET = {
  ssmax: 'chain/ssmax-org/100KiB/c16',
  plain: 'chain/plain-ppap/100KiB/c16',
  mailsPerSecond: 100,
  /** ssmax-org mails/s ÷ plain-ppap mails/s: SSMAX costs at most half the throughput of plain mail. */
  ratioToPlain: 0.5,
} as const;

const PLAIN_PROFILE = 'plain-ppap';
const workersOf = (name: string): string => /\/w(\d+)$/.exec(name)?.[1] ?? '1';

/** The plain-ppap case with the same size, senders and spool workers as an SSMAX chain case, if the run has it. */
export function plainReferenceOf(cases: readonly BenchCase[], c: BenchCase): BenchCase | undefined {
  const m = /^chain\/([^/]+)\/(.+)$/.exec(c.name);
  if (!m || m[1] === PLAIN_PROFILE) return undefined;
  return cases.find((x) => x.name === `chain/${PLAIN_PROFILE}/${m[2]}`);
}

/** Sets references.plainPpap and ratios.plainPpap (mails/s ÷ plain-ppap mails/s) on every chain case that has its plain reference. */
export function linkPlainReferences(cases: readonly BenchCase[]): BenchCase[] {
  return cases.map((c) => {
    const ref = plainReferenceOf(cases, c);
    return ref ? { ...c, references: { ...c.references, plainPpap: ref.opsPerSec }, ratios: { ...c.ratios, plainPpap: c.opsPerSec / ref.opsPerSec } } : c;
  });
}

/** Appends the same case at other spool worker counts (…/w<N>) to a chain target's detail. */
function withOtherWorkers(t: TargetCheck, cases: readonly BenchCase[], figure: (c: BenchCase) => string | undefined): TargetCheck {
  const others = cases
    .filter((c) => c.name.startsWith(`${CHAIN_TARGET.ssmax}/w`))
    .map((c) => {
      const f = figure(c);
      return f === undefined ? undefined : `spoolWorkers ${workersOf(c.name)} (${c.name}): ${f}`;
    })
    .filter((x): x is string => x !== undefined);
  return others.length === 0 ? t : { ...t, detail: `${t.detail}; not judged, for comparison: ${others.join('; ')}` };
}

/**
 * ssmax-org ÷ plain-ppap at 16 senders and 100 KiB, both measured in this run, at every spool worker
 * count the run has as a pair (…/c16 and …/c16/w<N>): met only when every pair meets it, since a
 * reference held back by one setting (plain mail through one worker per spool) would flatter SSMAX.
 * Not judged when no pair was measured.
 */
function chainRatioTarget(cases: readonly BenchCase[]): TargetCheck {
  const target = `chain ratio ssmax-org ÷ plain-ppap ≥ ${CHAIN_TARGET.ratioToPlain} (${CHAIN_TARGET.ssmax} ÷ ${CHAIN_TARGET.plain}, same run, every spool worker count measured)`;
  const pairs = cases
    .filter((c) => c.name === CHAIN_TARGET.ssmax || c.name.startsWith(`${CHAIN_TARGET.ssmax}/w`))
    .map((c) => ({ c, ref: plainReferenceOf(cases, c) }))
    .filter((p): p is { c: BenchCase; ref: BenchCase } => p.ref !== undefined)
    .map((p) => ({ ...p, ratio: p.c.opsPerSec / p.ref.opsPerSec }));
  if (pairs.length === 0) {
    const missing = [CHAIN_TARGET.ssmax, CHAIN_TARGET.plain].filter((n) => !cases.some((c) => c.name === n));
    return {
      target,
      met: null,
      detail: `not measured in this run (${missing.length > 0 ? `${missing.join(' and ')} missing` : 'no pair at the same spool workers'})`,
    };
  }
  const describe = (p: (typeof pairs)[number]): string => {
    const messages = typeof p.ref.details?.['smtpMessagesPerMail'] === 'number' ? p.ref.details['smtpMessagesPerMail'] : 1;
    const perMessage =
      messages === 1 ? '' : `; per SMTP message ${(p.ratio / messages).toFixed(2)}× (plain-ppap sends ${messages} per mail: the ZIP and the password)`;
    return `spoolWorkers ${workersOf(p.c.name)}: ${p.ratio.toFixed(2)}× (${p.c.opsPerSec.toFixed(2)} ÷ ${p.ref.opsPerSec.toFixed(2)} mails/s${perMessage})`;
  };
  const ok = pairs.filter((p) => p.ratio >= CHAIN_TARGET.ratioToPlain);
  const worst = pairs.reduce((a, b) => (b.ratio < a.ratio ? b : a));
  const others = pairs.filter((p) => p !== worst);
  return {
    target,
    met: ok.length === pairs.length,
    detail: `worst ${describe(worst)}; ${ok.length} of ${pairs.length} spool worker counts meet it${others.length > 0 ? `; ${others.map(describe).join('; ')}` : ''}`,
  };
}

export function evaluateTargets(cases: readonly BenchCase[]): TargetCheck[] {
  const hop = cases.filter((c) => PLAIN_HOP.test(c.name));
  const small = hop.filter((c) => c.size <= 64 * KiB);
  const large = hop.filter((c) => c.size >= MiB);
  const largest = hop.filter((c) => c.size === 64 * MiB);
  const memSmall = hop.filter((c) => c.size <= 16 * MiB && c.peakRssDelta !== null);
  // Fresh processes repeating one case spread ±0.25 MiB (kernel RSS counters, allocator pages): below 1 MiB
  // that is more than 2× the file either way, so those sizes are listed but not judged.
  const memJudged = memSmall.filter((c) => c.size >= MiB);
  const memLargest = hop.filter((c) => c.size === 64 * MiB && c.peakRssDelta !== null);
  const tokenSign = cases.filter((c) => /^token\/softhsm-[^/]+\/[^/]+\/sign$/.test(c.name));
  return [
    check('1–64 KiB: ratios.opensslCmsNoStartup ≥ 2', small, (c) => c.ratios.opensslCmsNoStartup, { atLeast: 2 }),
    check('≥ 1 MiB: ratios.opensslCms ≥ 2', large, (c) => c.ratios.opensslCms, { atLeast: 2 }),
    check('64 MiB: ratios.cryptoFloor ≥ 0.33', largest, (c) => c.ratios.cryptoFloor, { atLeast: 0.33 }),
    withPerSize(
      check('memory ≤ 16 MiB: peakRssDelta ≤ 2× file (judged from 1 MiB)', memJudged, (c) => (c.peakRssDelta === null ? null : c.peakRssDelta / c.size), {
        atMost: 2,
      }),
      memSmall,
    ),
    check('memory 64 MiB: peakRssDelta < 1× file', memLargest, (c) => (c.peakRssDelta === null ? null : c.peakRssDelta / c.size), { below: 1 }),
    // Issue 13 item 2: the named case (default spool workers); other worker counts are named in the detail.
    withOtherWorkers(
      check(
        'full chain ≥ 100 mails/s at 16 senders',
        cases.filter((c) => c.name === CHAIN_TARGET.ssmax),
        (c) => c.opsPerSec,
        { atLeast: CHAIN_TARGET.mailsPerSecond },
        ' mails/s',
      ),
      cases,
      (c) => `${c.opsPerSec.toFixed(2)} mails/s`,
    ),
    chainRatioTarget(cases),
    check('token layer ≥ 70% of raw pkcs11js sign/s', tokenSign, (c) => c.ratios['rawPkcs11js'] ?? null, { atLeast: 0.7 }),
  ];
}

const f1 = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(d));
/** Three significant digits, so 1 KiB throughputs do not read as 0.0. */
const sig = (v: number | null | undefined): string => (v === null || v === undefined || Number.isNaN(v) ? '–' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const mb = (ops: number | null, size: number): string => (ops === null ? '–' : sig((ops * size) / 1e6));
const x = (v: number | null): string => (v === null ? '' : ` (${v.toFixed(2)}×)`);

export function renderMarkdown(r: BenchResults): string {
  const m = r.meta;
  const lines: string[] = [];
  lines.push(`# SSMAX bench — ${m.date.slice(0, 10)}${m.quick ? ' (quick)' : ''}`, '');
  lines.push(`commit \`${m.commit.slice(0, 12)}\` · node ${m.node} · ${m.openssl} · ${m.cpu} × ${m.cores} · seed \`${m.contentSeed}\``, '');
  lines.push(
    `One \`openssl cms\` process on a trivial input: ${m.opensslCmsStartupMs.toFixed(1)} ms (median). ` +
      `openssl speed (64 KiB blocks): ${Object.entries(m.opensslSpeed)
        .map(([k, v]) => `${k} ${(v / 1e6).toFixed(0)} MB/s`)
        .join(', ')}.`,
    '',
  );
  lines.push('MB/s = 10^6 content bytes per second; (×) = ours ÷ reference, above 1 = faster. Memory: peak RSS increase of a fresh process, ÷ file size.', '');
  lines.push('## Organisation hop (decrypt, verify sender, [inspect], org-sign, encrypt)', '');
  lines.push(
    '| case | ours MB/s | ops/s | openssl cms MB/s | openssl cms w/o start-up MB/s | crypto floor MB/s | openssl speed floor MB/s | peak RSS Δ ×file | openssl peak RSS ×file |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of r.cases.filter((c) => c.name.startsWith('hop'))) {
    const d = c.details ?? {};
    const ospeed = typeof d['opensslSpeedFloor'] === 'number' ? d['opensslSpeedFloor'] : null;
    const orss = typeof d['opensslPeakRss'] === 'number' ? d['opensslPeakRss'] : null;
    lines.push(
      `| ${c.name} | ${sig(c.mbPerSec)} | ${sig(c.opsPerSec)} | ${mb(c.references.opensslCms, c.size)}${x(c.ratios.opensslCms)} | ${mb(c.references.opensslCmsNoStartup, c.size)}${x(c.ratios.opensslCmsNoStartup)} | ${mb(c.references.cryptoFloor, c.size)}${x(c.ratios.cryptoFloor)} | ${ospeed === null ? '–' : sig((ospeed * c.size) / 1e6)} | ${c.peakRssDelta === null ? '–' : f1(c.peakRssDelta / c.size, 2)} | ${orss === null ? '–' : f1(orss / c.size, 2)} |`,
    );
  }
  const tok = r.cases.filter((c) => c.name.startsWith('token/'));
  if (tok.length > 0) {
    lines.push('', '## Key backends (ops/s, ours beside the raw call on the same key)', '');
    lines.push('| case | ours ops/s | raw ops/s | ours ÷ raw |', '|---|---:|---:|---:|');
    for (const c of tok) {
      const ref = c.references['rawPkcs11js'] ?? c.references['rawNodeCrypto'] ?? null;
      const ratio = c.ratios['rawPkcs11js'] ?? c.ratios['rawNodeCrypto'] ?? null;
      lines.push(`| ${c.name} | ${f1(c.opsPerSec, 0)} | ${f1(ref, 0)} | ${f1(ratio, 2)} |`);
    }
  }
  const chain = r.cases.filter((c) => c.name.startsWith('chain/'));
  if (chain.length > 0) {
    lines.push('', '## Full chain over SMTP (sender → org → org → recipient mailbox)', '');
    if (m.chainCurveSvg !== undefined) lines.push(`Mails/s and p99 latency against senders: [${m.chainCurveSvg}](${m.chainCurveSvg})`, '');
    lines.push(
      '| case | mails/s | content MB/s | ÷ plain-ppap | mails | latency p50 ms | p95 ms | p99 ms | CPU ms/mail, world process (main thread + other threads) | CPU ms/mail, child processes |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const c of chain) {
      const d = c.details ?? {};
      const n = (k: string): number | null => (typeof d[k] === 'number' ? d[k] : null);
      const ref = plainReferenceOf(r.cases, c);
      const children = Object.entries(d)
        .filter((e): e is [string, number] => e[0].startsWith('cpuMsPerMailChild:') && typeof e[1] === 'number')
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k.slice('cpuMsPerMailChild:'.length)} ${v.toFixed(0)}`);
      const main = n('cpuMsPerMailMainThread');
      lines.push(
        `| ${c.name} | ${sig(c.opsPerSec)} | ${sig(c.mbPerSec)} | ${ref ? (c.opsPerSec / ref.opsPerSec).toFixed(2) : '–'} | ${f1(n('mails'), 0)} | ${f1(n('latencyP50Ms'), 0)} | ${f1(n('latencyP95Ms'), 0)} | ${f1(n('latencyP99Ms'), 0)} | ` +
          `${f1(n('cpuMsPerMail'), 0)}${main === null ? '' : ` (${f1(main, 0)} + ${f1(n('cpuMsPerMailOtherThreads'), 0)})`} | ${n('cpuMsPerMailChildren') === null ? '–' : `${f1(n('cpuMsPerMailChildren'), 0)}${children.length > 0 ? `: ${children.join(', ')}` : ''}`} |`,
      );
    }
  }
  lines.push(...renderPlusSection(r.cases));
  if (r.memoryFit.length > 0) {
    lines.push('', '## Memory against size (least squares over the cases)', '', '| scope | slope (B/B) | intercept (MiB) | points |', '|---|---:|---:|---:|');
    for (const f of r.memoryFit) lines.push(`| ${f.scope} | ${f.slope.toFixed(4)} | ${(f.intercept / MiB).toFixed(1)} | ${f.points} |`);
  }
  lines.push('', '## Targets (same run; the hop targets on the no-inspection hop)', '');
  for (const t of r.targets) lines.push(`- ${t.met === null ? 'NOT MEASURED' : t.met ? 'MET' : 'MISSED'} — ${t.target}: ${t.detail}`);
  if (r.skipped.length > 0) {
    lines.push('', '## Not run', '');
    for (const s of r.skipped) lines.push(`- ${s}`);
  }
  if (m.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of m.notes) lines.push(`- ${n}`);
  }
  return lines.join('\n') + '\n';
}
