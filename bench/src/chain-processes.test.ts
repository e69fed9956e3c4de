import { beforeAll, describe, expect, it } from 'vitest';
import { buildCompiled } from '@ssmax/core/testing';
import { runProcessChainBench } from './chain-processes.js';

beforeAll(async () => {
  // The org and registry processes run compiled JavaScript; -b rebuilds only what changed.
  await buildCompiled('packages/world');
}, 180_000);

describe('runProcessChainBench', () => {
  it('times mails through orgs in processes of their own, each counted once org B handed it to Dovecot', async () => {
    const lines: string[] = [];
    const cases = await runProcessChainBench({ concurrency: [2], mailsPerSender: () => 2, fileSize: 2048, spoolWorkers: 2, log: (l) => lines.push(l) });
    expect(cases.map((c) => c.name)).toEqual(['chain-processes/ssmax-org/2KiB/c2/w2']);
    const c = cases[0]!;
    expect(c.details).toMatchObject({ senders: 2, mails: 4, spoolWorkers: 2 });
    expect(c.opsPerSec).toBeGreaterThan(0);
    expect(c.opsPerSec).toBeCloseTo(4 / Number(c.details!['seconds']), 6);
    expect(Number(c.details!['latencyP99Ms'])).toBeGreaterThanOrEqual(Number(c.details!['latencyP50Ms']));
    expect(lines.some((l) => /^chain-processes\/ssmax-org\/2KiB\/c2\/w2: 4 mails in /.test(l))).toBe(true);
  }, 300_000);
});
