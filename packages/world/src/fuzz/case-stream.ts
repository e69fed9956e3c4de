/**
 * Deterministic case streams: case i of a target is the (i mod 64)-th value fast-check draws for batch
 * floor(i / 64), whose seed is derived from the run's seed and the target's name. The same seed, target and
 * corpus give the same inputs in the same order, and a run that stops on a budget is a prefix of a longer one.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';

const BATCH = 64;

function batchSeed(seed: number, target: string, batch: number): number {
  return createHash('sha256').update(`${seed}:${target}:${batch}`).digest().readInt32LE(0);
}

/** The cases of `target` from index `from` on, without end. */
export function* caseStream<T>(arb: fc.Arbitrary<T>, seed: number, target: string, from = 0): Generator<{ readonly index: number; readonly value: T }> {
  for (let batch = Math.floor(from / BATCH); ; batch++) {
    const values = fc.sample(arb, { seed: batchSeed(seed, target, batch), numRuns: BATCH });
    for (let k = 0; k < values.length; k++) {
      const index = batch * BATCH + k;
      if (index >= from) yield { index, value: values[k] as T };
    }
  }
}
