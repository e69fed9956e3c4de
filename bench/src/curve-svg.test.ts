import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { curveSeries, renderCurveSvg } from './curve-svg.js';
import type { BenchCase } from './results.js';

const chain = (name: string, size: number, opsPerSec: number, p99: number): BenchCase => ({
  name,
  size,
  opsPerSec,
  mbPerSec: (opsPerSec * size) / 1e6,
  peakRssDelta: null,
  references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
  ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
  details: { latencyP99Ms: p99 },
});

const CASES: BenchCase[] = [
  chain('chain/ssmax-org/1KiB/c1', 1024, 3, 400),
  chain('chain/ssmax-org/1KiB/c4', 1024, 5, 900),
  chain('chain/ssmax-org/1KiB/c16', 1024, 6, 3000),
  chain('chain/ssmax-org/10MiB/c4', 10 << 20, 0.2, 20000),
  chain('chain/ssmax-org/10MiB/c1', 10 << 20, 0.1, 9000),
  chain('chain/plain-ppap/1KiB/c1', 1024, 9, 150),
  chain('chain/plain-ppap/1KiB/c16', 1024, 40, 500),
  // Another spool worker count, and a lone point: not curve series.
  chain('chain/ssmax-org/1KiB/c16/w4', 1024, 8, 2500),
  chain('chain/plain-ppap/100KiB/c16', 102400, 30, 700),
  { ...chain('hop/ec/aes-256-gcm/1KiB', 1024, 100, 1), details: {} },
];

/** Parses with Python's XML parser (a well-formedness check) and summarises the plot's structure. */
function parseSvg(svg: string): {
  root: string;
  panels: { metric: string; axes: string[]; series: { label: string; points: number; dashed: boolean }[]; xTicks: string[] }[];
} {
  const py = `
import sys, json, xml.dom.minidom as m
d = m.parseString(sys.stdin.buffer.read())
r = d.documentElement
out = {'root': r.tagName, 'panels': []}
for g in r.getElementsByTagName('g'):
    if g.getAttribute('class') != 'panel': continue
    axes = [a.getAttribute('class') for a in g.getElementsByTagName('g') if a.getAttribute('class').startswith('axis')]
    xt = [t.firstChild.data for a in g.getElementsByTagName('g') if a.getAttribute('class') == 'axis x' for t in a.getElementsByTagName('text')]
    series = [{'label': p.getAttribute('data-series'), 'points': sum(p.getAttribute('d').count(c) for c in 'ML'), 'dashed': p.hasAttribute('stroke-dasharray')}
              for p in g.getElementsByTagName('path') if p.getAttribute('class') == 'series']
    out['panels'].append({'metric': g.getAttribute('data-metric'), 'axes': axes, 'series': series, 'xTicks': xt})
print(json.dumps(out))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', py], { input: svg }).toString()) as ReturnType<typeof parseSvg>;
}

describe('curveSeries', () => {
  it('makes one series per profile and size from the chain cases, sorted by senders, without other worker counts or lone points', () => {
    const s = curveSeries(CASES);
    expect(s.map((x) => [x.label, x.points.map((p) => p.senders)])).toEqual([
      ['ssmax-org 1KiB', [1, 4, 16]],
      ['ssmax-org 10MiB', [1, 4]],
      ['plain-ppap 1KiB', [1, 16]],
    ]);
    expect(s[1]!.points).toEqual([
      { senders: 1, mailsPerSec: 0.1, p99Ms: 9000 },
      { senders: 4, mailsPerSec: 0.2, p99Ms: 20000 },
    ]);
  });
});

describe('renderCurveSvg', () => {
  it('writes well-formed SVG with two panels, both axes each and one path per series with a vertex per point', () => {
    const series = curveSeries(CASES);
    const svg = renderCurveSvg(series, 'Chain <scaling> & latency');
    const doc = parseSvg(svg);
    expect(doc.root).toBe('svg');
    expect(doc.panels.map((p) => p.metric)).toEqual(['mailsPerSec', 'p99Ms']);
    for (const p of doc.panels) {
      expect(p.axes).toEqual(['axis x', 'axis y']);
      expect(p.xTicks).toEqual(['1', '4', '16', 'concurrent senders']);
      expect(p.series).toEqual([
        { label: 'ssmax-org 1KiB', points: 3, dashed: false },
        { label: 'ssmax-org 10MiB', points: 2, dashed: false },
        { label: 'plain-ppap 1KiB', points: 2, dashed: true },
      ]);
    }
    expect(svg).toContain('<title>Chain &lt;scaling&gt; &amp; latency</title>');
  });

  it('places a higher throughput higher on the plot and a longer latency higher too', () => {
    const svg = renderCurveSvg(curveSeries(CASES), 't');
    // The y coordinate of the first vertex of each series in each panel (SVG y grows downwards).
    const firstY = [...svg.matchAll(/data-series="([^"]+)" d="M[\d.]+ ([\d.]+)/g)].map((m) => [m[1], Number(m[2])] as const);
    const [rate, latency] = [firstY.slice(0, 3), firstY.slice(3)];
    const y = (rows: typeof rate, label: string): number => rows.find((r) => r[0] === label)![1];
    // At one sender plain-ppap 1KiB does 9 mails/s and ssmax-org 10MiB 0.1: plain is drawn above.
    expect(y(rate, 'plain-ppap 1KiB')).toBeLessThan(y(rate, 'ssmax-org 10MiB'));
    // Its p99 is 150 ms against 9000 ms: drawn below.
    expect(y(latency, 'plain-ppap 1KiB')).toBeGreaterThan(y(latency, 'ssmax-org 10MiB'));
  });
});
