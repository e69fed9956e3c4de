/** One tinybench task measured on its own; the median latency is the figure (robust to GC pauses). */
import { Bench } from 'tinybench';
import { SsmaxError } from '@ssmax/core';

export interface Budget {
  /** Minimum measuring time, ms. */
  readonly time: number;
  /** Minimum number of iterations. */
  readonly iterations: number;
  /** Warm-up iterations (not measured). */
  readonly warmup: number;
}

export interface Measurement {
  /** 1000 / median latency (ms). */
  readonly opsPerSec: number;
  readonly medianMs: number;
  readonly samples: number;
  /** Relative margin of error of the mean, %. */
  readonly rme: number;
}

export async function measure(name: string, fn: () => unknown, budget: Budget): Promise<Measurement> {
  const bench = new Bench({
    time: budget.time,
    iterations: budget.iterations,
    warmup: budget.warmup > 0,
    warmupIterations: budget.warmup,
    warmupTime: 0,
    throws: true,
  });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]?.result;
  if (!r || !('latency' in r)) throw new SsmaxError('INTERNAL', `Cannot measure ${name}. tinybench reported ${r?.state ?? 'nothing'}.`);
  const medianMs = r.latency.p50;
  return { opsPerSec: 1000 / medianMs, medianMs, samples: r.latency.samplesCount, rme: r.latency.rme };
}

export interface RoundTask {
  readonly name: string;
  readonly fn: () => unknown;
  readonly budget: Budget;
}

/**
 * Measures the tasks in turn, `rounds` times over (A B C A B C …), and reports for each the median of
 * its per-round medians: on a shared machine whose load drifts, a comparison measured interleaved is
 * fair where two measurements taken minutes apart are not.
 */
export async function measureRounds(tasks: readonly RoundTask[], rounds: number): Promise<Measurement[]> {
  const per: Measurement[][] = tasks.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, t] of tasks.entries()) per[i]!.push(await measure(t.name, t.fn, t.budget));
  }
  return per.map((ms) => {
    const sorted = [...ms].sort((a, b) => a.medianMs - b.medianMs);
    const mid = sorted[Math.floor(sorted.length / 2)]!;
    return { ...mid, samples: ms.reduce((a, m) => a + m.samples, 0) };
  });
}
