import { describe, expect, it } from 'vitest';
import { CHAIN_TARGET, evaluateTargets, linkPlainReferences, plainReferenceOf, renderMarkdown, type BenchCase, type BenchResults } from './results.js';

const chain = (name: string, opsPerSec: number, details: Record<string, number> = {}): BenchCase => ({
  name,
  size: 102400,
  opsPerSec,
  mbPerSec: (opsPerSec * 102400) / 1e6,
  peakRssDelta: null,
  references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
  ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
  details,
});
const ratioTarget = (cases: readonly BenchCase[]) => evaluateTargets(cases).find((t) => t.target.startsWith('chain ratio'))!;
const rateTarget = (cases: readonly BenchCase[]) => evaluateTargets(cases).find((t) => t.target.startsWith('full chain'))!;

describe('evaluateTargets (chain ÷ plain-ppap)', () => {
  it('meets the ratio target when ssmax-org does at least half the mails/s of plain-ppap at 16 senders and 100 KiB', () => {
    const t = ratioTarget([chain(CHAIN_TARGET.ssmax, 6), chain(CHAIN_TARGET.plain, 10, { smtpMessagesPerMail: 2 })]);
    expect(t.met).toBe(true);
    expect(t.detail).toContain('worst spoolWorkers 1: 0.60× (6.00 ÷ 10.00 mails/s; per SMTP message 0.30× (plain-ppap sends 2 per mail');
  });

  it('misses the ratio target below half, with the figure', () => {
    const t = ratioTarget([chain(CHAIN_TARGET.ssmax, 3.8), chain(CHAIN_TARGET.plain, 9.5)]);
    expect(t).toMatchObject({ met: false, detail: 'worst spoolWorkers 1: 0.40× (3.80 ÷ 9.50 mails/s); 0 of 1 spool worker counts meet it' });
  });

  it('does not judge the ratio when the plain reference was not run, naming what is missing', () => {
    expect(ratioTarget([chain(CHAIN_TARGET.ssmax, 3.8)])).toMatchObject({ met: null, detail: expect.stringContaining(`${CHAIN_TARGET.plain} missing`) });
    expect(ratioTarget([chain(CHAIN_TARGET.plain, 9.5)]).met).toBeNull();
    // A reference at another size or sender count is no reference for the judged case.
    expect(ratioTarget([chain(CHAIN_TARGET.ssmax, 3.8), chain('chain/plain-ppap/100KiB/c4', 1)]).met).toBeNull();
  });

  it('misses the ratio when any spool worker count misses it: a plain reference held back at one worker does not excuse the other', () => {
    const t = ratioTarget([
      chain(CHAIN_TARGET.ssmax, 2.3),
      chain(CHAIN_TARGET.plain, 2.7),
      chain(`${CHAIN_TARGET.ssmax}/w4`, 2),
      chain(`${CHAIN_TARGET.plain}/w4`, 6),
    ]);
    expect(t.met).toBe(false);
    expect(t.detail).toBe('worst spoolWorkers 4: 0.33× (2.00 ÷ 6.00 mails/s); 1 of 2 spool worker counts meet it; spoolWorkers 1: 0.85× (2.30 ÷ 2.70 mails/s)');
    const both = ratioTarget([
      chain(CHAIN_TARGET.ssmax, 4),
      chain(CHAIN_TARGET.plain, 6),
      chain(`${CHAIN_TARGET.ssmax}/w4`, 5),
      chain(`${CHAIN_TARGET.plain}/w4`, 9),
    ]);
    expect(both).toMatchObject({ met: true, detail: expect.stringMatching(/^worst spoolWorkers 4: 0\.56× .*; 2 of 2 spool worker counts meet it/) });
  });

  it('judges 100 mails/s on the ssmax-org case only: a fast plain-ppap case does not meet it, nor a 4-worker case', () => {
    const t = rateTarget([chain(CHAIN_TARGET.ssmax, 42), chain(CHAIN_TARGET.plain, 500), chain(`${CHAIN_TARGET.ssmax}/w4`, 120)]);
    expect(t.met).toBe(false);
    expect(t.detail).toContain('worst 42.00 mails/s (chain/ssmax-org/100KiB/c16)');
    expect(t.detail).toContain('spoolWorkers 4 (chain/ssmax-org/100KiB/c16/w4): 120.00 mails/s');
    expect(rateTarget([chain(CHAIN_TARGET.plain, 500)]).met).toBeNull();
  });
});

describe('linkPlainReferences', () => {
  it('gives each chain case the plain-ppap case of the same size, senders and workers as its reference', () => {
    const cases = [
      chain('chain/ssmax-org/100KiB/c4', 2),
      chain('chain/plain-ppap/100KiB/c4', 8),
      chain('chain/ssmax-org/100KiB/c16/w4', 5),
      chain('chain/plain-ppap/100KiB/c16', 10),
    ];
    const linked = linkPlainReferences(cases);
    expect(linked.map((c) => c.ratios['plainPpap'] ?? null)).toEqual([0.25, null, null, null]);
    expect(linked[0]!.references['plainPpap']).toBe(8);
    expect(plainReferenceOf(cases, cases[1]!)).toBeUndefined();
  });
});

describe('renderMarkdown (chain)', () => {
  it('shows the p99 latency, the ratio to plain-ppap, CPU per mail with its split, and links the curve', () => {
    const details = {
      mails: 64,
      latencyP50Ms: 3997,
      latencyP95Ms: 4398,
      latencyP99Ms: 4512,
      cpuMsPerMail: 180,
      cpuMsPerMailMainThread: 150,
      cpuMsPerMailOtherThreads: 30,
      cpuMsPerMailChildren: 12,
      'cpuMsPerMailChild:dovecot org-b': 9,
      'cpuMsPerMailChild:clamd': 3,
    };
    const cases = linkPlainReferences([chain(CHAIN_TARGET.ssmax, 3.8, details), chain(CHAIN_TARGET.plain, 9.5)]);
    const r: BenchResults = {
      meta: {
        commit: 'abc',
        node: 'v20',
        openssl: 'OpenSSL 3',
        cpu: 'cpu',
        date: '2026-12-08T00:00:00.000Z',
        cores: 2,
        quick: false,
        contentSeed: 's',
        units: {},
        opensslSpeed: {},
        opensslCmsStartupMs: 4,
        notes: [],
        chainCurveSvg: '2026-12-08-chain-curve.svg',
      },
      cases,
      memoryFit: [],
      targets: evaluateTargets(cases),
      skipped: [],
    };
    const md = renderMarkdown(r);
    expect(md).toContain('| chain/ssmax-org/100KiB/c16 | 3.80 | 0.389 | 0.40 | 64 | 3997 | 4398 | 4512 | 180 (150 + 30) | 12: dovecot org-b 9, clamd 3 |');
    expect(md).toContain('[2026-12-08-chain-curve.svg](2026-12-08-chain-curve.svg)');
    expect(md).toContain('- MISSED — chain ratio ssmax-org ÷ plain-ppap ≥ 0.5');
  });
});
