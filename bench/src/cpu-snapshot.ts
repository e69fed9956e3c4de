/**
 * CPU time of the bench process and of the processes it started, read before and after a case: the
 * whole process (`process.cpuUsage()`, every thread), its main thread (the event loop, from
 * `/proc/self/task/<pid>/stat`), and each child process with everything below it (Dovecot and its
 * services, clamd, …), from `/proc/<pid>/stat` (proc(5)). Linux only; elsewhere the thread and child
 * figures are absent.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSnapshot {
  /** process.cpuUsage(): user + system µs of every thread of this process. */
  readonly processMicros: number;
  /** utime + stime of the main thread in clock ticks, or null where /proc is not readable. */
  readonly mainThreadTicks: number | null;
  /** Per child of this process (labelled, see {@link childLabel}): clock ticks of its whole subtree. */
  readonly childTicks: ReadonlyMap<string, number>;
}

export interface CpuSpent {
  /** Every thread of this process, ms. */
  readonly processMs: number;
  /** The main thread (the event loop and everything synchronous on it), ms; null where unknown. */
  readonly mainThreadMs: number | null;
  /** Per child process label, ms (its subtree, living and reaped descendants). */
  readonly childMs: Readonly<Record<string, number>>;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond =
        Number(
          execFileSync('getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'ignore'] })
            .toString()
            .trim(),
        ) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  readonly ppid: number;
  /** utime + stime + cutime + cstime: its own CPU and that of the children it reaped (proc(5) fields 14-17). */
  readonly ticks: number;
  /** utime + stime only. */
  readonly ownTicks: number;
}

function readStat(path: string): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state), so field n is f[n - 3].
  const n = (field: number): number => Number(f[field - 3]);
  const own = n(14) + n(15);
  return { ppid: n(4), ownTicks: own, ticks: own + n(16) + n(17) };
}

/**
 * Names a child process after what it runs: the program (the script for node) and the org whose
 * storage its command line names (`…/orgs/<id>/…`), e.g. `dovecot org-b`, `clamd`.
 */
export function childLabel(argv: readonly string[]): string {
  const base = (p: string | undefined): string => (p ?? '?').split('/').pop() ?? '?';
  // node runs a script: name the script (`node -e …` stays node).
  const program = base(argv[0]) === 'node' && argv[1] !== undefined && !argv[1].startsWith('-') ? base(argv[1]) : base(argv[0]);
  const org = /\/orgs\/([^/]+)\//.exec(argv.join(' '))?.[1];
  return org === undefined ? program : `${program} ${org}`;
}

function childTicks(): Map<string, number> {
  const out = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  const stats = new Map<number, ProcStat>();
  for (const p of pids) {
    const s = readStat(`/proc/${p}/stat`);
    if (s) stats.set(Number(p), s);
  }
  // Each descendant's top-level child (a direct child of this process).
  const top = new Map<number, number>();
  const topOf = (pid: number, depth = 0): number | undefined => {
    if (top.has(pid)) return top.get(pid);
    const s = stats.get(pid);
    if (!s || depth > 64) return undefined;
    const t = s.ppid === process.pid ? pid : s.ppid <= 1 ? undefined : topOf(s.ppid, depth + 1);
    if (t !== undefined) top.set(pid, t);
    return t;
  };
  const labels = new Map<number, string>();
  for (const [pid, s] of stats) {
    const t = topOf(pid);
    if (t === undefined) continue;
    if (!labels.has(t)) {
      let argv: string[] = [];
      try {
        argv = readFileSync(`/proc/${t}/cmdline`, 'utf8').split('\0').filter(Boolean);
      } catch {
        // Gone between the two reads: counted under its pid.
      }
      labels.set(t, argv.length > 0 ? childLabel(argv) : `pid ${t}`);
    }
    // A living process's own time plus what it reaped; living children are counted on their own.
    const label = labels.get(t)!;
    out.set(label, (out.get(label) ?? 0) + s.ticks);
  }
  return out;
}

export function cpuSnapshot(): CpuSnapshot {
  const u = process.cpuUsage();
  return {
    processMicros: u.user + u.system,
    mainThreadTicks: readStat(`/proc/self/task/${process.pid}/stat`)?.ownTicks ?? null,
    childTicks: childTicks(),
  };
}

/**
 * CPU spent between two snapshots. A child's figure is exact for processes alive at both ends and for
 * descendants reaped in between by a living process (their time moves into its cutime); a whole child
 * subtree that ends in between is not counted.
 */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuSpent {
  const ms = (ticks: number): number => (ticks * 1000) / clockTicks();
  const childMs: Record<string, number> = {};
  for (const [label, t] of b.childTicks) {
    const d = t - (a.childTicks.get(label) ?? 0);
    if (d > 0) childMs[label] = ms(d);
  }
  return {
    processMs: (b.processMicros - a.processMicros) / 1000,
    mainThreadMs: a.mainThreadTicks === null || b.mainThreadTicks === null ? null : ms(b.mainThreadTicks - a.mainThreadTicks),
    childMs,
  };
}
