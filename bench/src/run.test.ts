import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateTargets, linearFit, type BenchCase } from './results.js';
import { runBench } from './run.js';

const out = mkdtempSync(join(tmpdir(), 'ssmax-bench-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const once = { time: 0, iterations: 2, warmup: 0 };

describe('runBench', () => {
  it('writes results JSON with references and ratios, and the markdown table, when the smallest quick case runs', async () => {
    const jsonPath = join(out, 'smoke.json');
    const r = await runBench({
      quick: true,
      out: jsonPath,
      plan: {
        sizes: [1024],
        suites: ['ec'],
        ciphers: ['aes-256-gcm'],
        inspection: true,
        memory: false,
        backends: [],
        budget: () => once,
        opensslBudget: () => once,
      },
    });
    const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
    expect(Object.keys(json.meta)).toEqual(expect.arrayContaining(['commit', 'node', 'openssl', 'cpu', 'date']));
    expect(json.meta.openssl).toMatch(/^OpenSSL 3\./);
    expect(json.cases.map((c: { name: string }) => c.name)).toEqual(['hop/ec/aes-256-gcm/1KiB', 'hop+inspect/ec/aes-256-gcm/1KiB']);
    for (const c of json.cases) {
      expect(c.size).toBe(1024);
      expect(c.opsPerSec).toBeGreaterThan(0);
      expect(c.mbPerSec).toBeCloseTo((c.opsPerSec * 1024) / 1e6, 9);
      expect(c.peakRssDelta).toBeNull();
      expect(Object.keys(c.references)).toEqual(expect.arrayContaining(['opensslCms', 'opensslCmsNoStartup', 'cryptoFloor']));
      expect(c.references.opensslCms).toBeGreaterThan(0);
      expect(c.references.cryptoFloor).toBeGreaterThan(0);
      expect(c.ratios.opensslCms).toBeCloseTo(c.opsPerSec / c.references.opensslCms, 9);
      expect(c.ratios.cryptoFloor).toBeCloseTo(c.opsPerSec / c.references.cryptoFloor, 9);
    }
    // The SMTP chain is left out of this run: it must say so, not appear as a case.
    expect(json.targets.find((t: { target: string }) => t.target.startsWith('full chain')).met).toBeNull();
    expect(json.skipped.join('\n')).toMatch(/full chain/);
    expect(r.mdPath).toBe(join(out, 'smoke.md'));
    expect(existsSync(r.mdPath)).toBe(true);
    expect(readFileSync(r.mdPath, 'utf8')).toContain('| hop/ec/aes-256-gcm/1KiB |');
  });
});

describe('linearFit', () => {
  it('recovers slope and intercept when the points lie on a line', () => {
    expect(
      linearFit([
        [1, 5],
        [2, 7],
        [4, 11],
      ]),
    ).toEqual({ slope: 2, intercept: 3 });
  });
});

describe('evaluateTargets', () => {
  const hop = (size: number, peakRssDelta: number, noStartup: number): BenchCase => ({
    name: `hop/ec/aes-256-gcm/${size}`,
    size,
    opsPerSec: 10,
    mbPerSec: (10 * size) / 1e6,
    peakRssDelta,
    references: { opensslCms: 5, opensslCmsNoStartup: 10 / noStartup, cryptoFloor: 100 },
    ratios: { opensslCms: 2, opensslCmsNoStartup: noStartup, cryptoFloor: 0.1 },
  });

  it('reports the highest memory ratio as the worst when a ceiling target is missed', () => {
    const t = evaluateTargets([hop(1 << 20, 3 << 20, 3), hop(16 << 20, 16 << 20, 3)]);
    const mem = t.find((x) => x.target.startsWith('memory ≤ 16 MiB'))!;
    expect(mem.met).toBe(false);
    expect(mem.detail).toContain('worst 3.00×');
  });

  it('judges memory from 1 MiB and lists smaller files without judging them when their figure is within the RSS noise', () => {
    const t = evaluateTargets([hop(1024, 48 * 1024, 3), hop(1 << 20, 1 << 20, 3), hop(16 << 20, 1 << 20, 3)]);
    const mem = t.find((x) => x.target.startsWith('memory ≤ 16 MiB'))!;
    expect(mem.met).toBe(true);
    expect(mem.detail).toContain('worst 1.00× (hop/ec/aes-256-gcm/1048576); 2 of 2 cases meet it');
    expect(mem.detail).toContain('1KiB: 0.05…0.05 MiB (48.00…48.00×)');
  });

  it('reports the lowest ratio as the worst when a floor target is missed', () => {
    const t = evaluateTargets([hop(1024, 0, 1.5), hop(65536, 0, 2.5)]);
    const small = t.find((x) => x.target.startsWith('1–64 KiB'))!;
    expect(small).toMatchObject({ met: false });
    expect(small.detail).toContain('worst 1.50×');
  });

  it('ignores inspection and token-key hops when judging the like-for-like targets', () => {
    const slow = { ...hop(1024, 0, 0.1), name: 'hop+inspect/ec/aes-256-gcm/1KiB' };
    const t = evaluateTargets([hop(1024, 0, 2.5), slow]);
    expect(t.find((x) => x.target.startsWith('1–64 KiB'))!.met).toBe(true);
  });
});
