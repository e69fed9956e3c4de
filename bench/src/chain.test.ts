import type { JourneyEvent } from '@ssmax/sim-org';
import { describe, expect, it } from 'vitest';
import { DELIVERY_MARK, DeliveryWatch, deliveryIds, percentile, runChainBench } from './chain.js';
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
    expect(c.details!['latencyP99Ms']).toBeGreaterThanOrEqual(c.details!['latencyP95Ms'] as number);
    expect(c.details).toMatchObject({ profile: 'ssmax-org', spoolWorkers: 1, smtpMessagesPerMail: 1 });
    // The world's CPU over the case, per mail: something was spent, the main thread is part of it, the child processes add up.
    const cpu = c.details!['cpuMsPerMail'] as number;
    expect(cpu).toBeGreaterThan(0);
    expect(c.details!['cpuMsPerMailMainThread'] as number).toBeLessThanOrEqual(cpu + 10);
    expect(c.details!['cpuMsPerMailOtherThreads'] as number).toBeCloseTo(cpu - (c.details!['cpuMsPerMailMainThread'] as number), 6);
    const children = Object.entries(c.details!).filter(([k]) => k.startsWith('cpuMsPerMailChild:'));
    expect(children.every(([k]) => /^cpuMsPerMailChild:(dovecot org-[ab]|clamd)$/.test(k))).toBe(true);
    expect(c.details!['cpuMsPerMailChildren']).toBeCloseTo(
      children.reduce((a, [, v]) => a + (v as number), 0),
      6,
    );
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

describe('runChainBench (plain-ppap reference)', () => {
  it('reports plain-ppap cases (two SMTP messages per mail) at two sizes and another spool worker count when the world runs the conventional profile', async () => {
    const r = await runChainBench({
      profile: 'plain-ppap',
      concurrency: [1, 2],
      mailsPerSender: (c, size) => (size === 1024 ? 2 : 1),
      fileSize: 1024,
      fileSizes: [1024, 4096],
      spoolWorkers: 2,
    });
    expect(r.cases.map((c) => c.name)).toEqual([
      'chain/plain-ppap/1KiB/c1/w2',
      'chain/plain-ppap/1KiB/c2/w2',
      'chain/plain-ppap/4KiB/c1/w2',
      'chain/plain-ppap/4KiB/c2/w2',
    ]);
    expect(r.cases.map((c) => c.details!['mails'])).toEqual([2, 4, 1, 2]);
    for (const c of r.cases) {
      expect(c.details).toMatchObject({ profile: 'plain-ppap', spoolWorkers: 2, smtpMessagesPerMail: 2 });
      expect(c.details!['latencyP99Ms']).toBeGreaterThanOrEqual(c.details!['latencyP50Ms'] as number);
    }
  }, 120_000);
});

describe('DeliveryWatch', () => {
  const event = (over: Partial<JourneyEvent>): JourneyEvent => ({
    v: 1,
    messageId: '<m1@org-a.example>',
    at: '2026-12-08T00:00:00.000Z',
    actor: 'org-b/delivery',
    procedure: 9,
    checks: [],
    files: 'plaintext',
    outcome: 'delivered',
    ...over,
  });
  const settled = async (p: Promise<void>): Promise<string> =>
    Promise.race([
      p.then(
        () => 'delivered',
        (e: Error) => `failed: ${e.message}`,
      ),
      new Promise<string>((r) => setTimeout(() => r('pending'), 20)),
    ]);

  it("resolves an SSMAX mail only on org-b's (9) delivery event, not on the earlier hops", async () => {
    const w = new DeliveryWatch(DELIVERY_MARK.ssmax);
    const p = w.delivered('<m1@org-a.example>');
    w.onEvent(event({ actor: 'org-b/mta-in', procedure: 7, outcome: 'accepted' }));
    w.onEvent(event({ actor: 'org-b/inspection', procedure: 8, outcome: 'accepted' }));
    w.onEvent(event({ procedure: 0 }));
    expect(await settled(p)).toBe('pending');
    w.onEvent(event({}));
    expect(await settled(p)).toBe('delivered');
  });

  it("resolves a conventional mail on org-b's procedure 0 delivery event, also when it came before the wait", async () => {
    const w = new DeliveryWatch(DELIVERY_MARK.conventional);
    w.onEvent(event({ procedure: 0, messageId: '<early@org-a.example>' }));
    w.onEvent(event({ procedure: 0, actor: 'org-a/mta-out', outcome: 'relayed' }));
    expect(await settled(w.delivered('early@org-a.example'))).toBe('delivered');
    expect(await settled(w.delivered('<m1@org-a.example>'))).toBe('pending');
  });

  it('fails the mail when the delivery stage records another outcome', async () => {
    const w = new DeliveryWatch(DELIVERY_MARK.ssmax);
    const p = w.delivered('<m1@org-a.example>');
    w.onEvent(event({ outcome: 'bounced', checks: [{ name: 'recipient-certificate', result: 'fail' }] }));
    expect(await settled(p)).toMatch(/^failed: mail m1@org-a.example not delivered .*bounced/);
  });
});

describe('deliveryIds', () => {
  it("waits for a PPAP mail's password mail too when the client sent one", () => {
    expect(deliveryIds({ messageId: '<a@x>' })).toEqual(['<a@x>']);
    expect(deliveryIds({ messageId: '<a@x>', passwordMessageId: '<p@x>' } as { messageId: string })).toEqual(['<a@x>', '<p@x>']);
  });
});

describe('percentile', () => {
  it('takes the nearest rank: p99 of 100 values is the 99th, of 10 values the largest', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(hundred, 0.5), percentile(hundred, 0.95), percentile(hundred, 0.99)]).toEqual([50, 95, 99]);
    expect(percentile(hundred.slice(0, 10), 0.99)).toBe(10);
    expect(percentile([], 0.5)).toBeNaN();
  });
});
