import { describe, expect, it } from 'vitest';
import { runChainBench } from './chain.js';
import { evaluateTargets } from './results.js';

describe('runChainBench', () => {
  it('counts every mail delivered at the recipient org (9) and reports mails/s per sender count when two senders send through a whole world', async () => {
    const lines: string[] = [];
    const r = await runChainBench({ concurrency: [2], mailsPerSender: () => 2, fileSize: 2048, log: (l) => lines.push(l) });
    expect(r.cases.map((c) => c.name)).toEqual(['chain/ssmax-org/2KiB/c2']);
    const c = r.cases[0]!;
    expect(c.details).toMatchObject({ senders: 2, mails: 4 });
    expect(c.opsPerSec).toBeCloseTo(4 / (c.details!['seconds'] as number), 9);
    expect(c.mbPerSec).toBeCloseTo((c.opsPerSec * 2048) / 1e6, 9);
    expect(c.details!['latencyP95Ms']).toBeGreaterThanOrEqual(c.details!['latencyP50Ms'] as number);
    expect(lines.some((l) => l.startsWith('chain/ssmax-org/2KiB/c2: 4 mails'))).toBe(true);
    // Without a c16 case the chain target is not judged.
    expect(evaluateTargets(r.cases).find((t) => t.target.startsWith('full chain'))!.met).toBeNull();
  }, 90_000);
});

describe('evaluateTargets (chain)', () => {
  it('judges the chain target on the 16-sender case only, as missed when it falls short of 100 mails/s', () => {
    const chain = (c: number, opsPerSec: number) => ({
      name: `chain/ssmax-org/100KiB/c${c}`,
      size: 102400,
      opsPerSec,
      mbPerSec: 0,
      peakRssDelta: null,
      references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
      ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
    });
    const t = (cases: ReturnType<typeof chain>[]) => evaluateTargets(cases).find((x) => x.target.startsWith('full chain'))!;
    expect(t([chain(1, 500), chain(16, 42)])).toMatchObject({ met: false });
    expect(t([chain(1, 500), chain(16, 42)]).detail).toContain('worst 42.00 mails/s (chain/ssmax-org/100KiB/c16)');
    expect(t([chain(1, 5), chain(16, 120)]).met).toBe(true);
  });
});
