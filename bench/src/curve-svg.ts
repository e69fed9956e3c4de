/**
 * The chain's scaling curve as an SVG (issue 13 item 3): mails/s and p99 latency against concurrent
 * senders, one line per profile and payload size, both axes logarithmic. Written by hand (no plotting
 * dependency): two panels, each with its axes, grid and one `<path class="series">` per series.
 */
import { sizeLabel, type BenchCase } from './results.js';

export interface CurvePoint {
  readonly senders: number;
  readonly mailsPerSec: number;
  readonly p99Ms: number;
}

export interface CurveSeries {
  /** `<profile> <size>`, e.g. `ssmax-org 100KiB`. */
  readonly label: string;
  readonly profile: string;
  readonly size: number;
  /** Ascending by senders. */
  readonly points: readonly CurvePoint[];
}

/**
 * The curve's series from a run's chain cases (`chain/<profile>/<size>/c<senders>`): cases at another
 * spool worker count (`…/w<N>`) are left out, series with a single point too (nothing to draw).
 */
export function curveSeries(cases: readonly BenchCase[]): CurveSeries[] {
  const bySeries = new Map<string, { profile: string; size: number; points: CurvePoint[] }>();
  for (const c of cases) {
    const m = /^chain\/([^/]+)\/[^/]+\/c(\d+)$/.exec(c.name);
    const p99 = c.details?.['latencyP99Ms'];
    if (!m || typeof p99 !== 'number') continue;
    const key = `${m[1]!} ${sizeLabel(c.size)}`;
    const s = bySeries.get(key) ?? { profile: m[1]!, size: c.size, points: [] };
    s.points.push({ senders: Number(m[2]), mailsPerSec: c.opsPerSec, p99Ms: p99 });
    bySeries.set(key, s);
  }
  return (
    [...bySeries.entries()]
      .filter(([, s]) => s.points.length >= 2)
      .map(([label, s]) => ({ label, profile: s.profile, size: s.size, points: [...s.points].sort((a, b) => a.senders - b.senders) }))
      // SSMAX first, then the references; smallest payload first.
      .sort((a, b) => Number(b.profile === 'ssmax-org') - Number(a.profile === 'ssmax-org') || a.profile.localeCompare(b.profile) || a.size - b.size)
  );
}

const PALETTE = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number): string => (Math.round(v * 10) / 10).toString();

/** Decade-aligned log range covering the values (×/÷ 2 around a single value). */
function logRange(values: readonly number[]): [number, number] {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length === 0) return [1, 10];
  let lo = Math.min(...pos);
  let hi = Math.max(...pos);
  if (lo === hi) [lo, hi] = [lo / 2, hi * 2];
  return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
}

/** 1, 2, 5 × 10^k ticks inside [lo, hi]. */
function logTicks([lo, hi]: [number, number]): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

const tickLabel = (v: number): string => (v >= 1000 ? `${v / 1000}k` : v >= 1 ? String(v) : String(Number(v.toPrecision(1))));

interface Panel {
  readonly metric: 'mailsPerSec' | 'p99Ms';
  readonly title: string;
  readonly yLabel: string;
  /** Plotted value from the point's figure (latency in seconds). */
  readonly scale: number;
}

const PANELS: readonly Panel[] = [
  { metric: 'mailsPerSec', title: 'Throughput', yLabel: 'mails/s', scale: 1 },
  { metric: 'p99Ms', title: 'p99 latency, submission to delivery', yLabel: 'seconds', scale: 1 / 1000 },
];

/** The SVG document (UTF-8 XML) of the series; `title` heads it. */
export function renderCurveSvg(series: readonly CurveSeries[], title: string): string {
  const panelW = 440;
  const panelH = 300;
  const left = 70;
  const top = 60;
  const gap = 90;
  const W = left + 2 * panelW + gap + 30;
  const legendTop = top + panelH + 60;
  // Legend: one column per profile (SSMAX first, as the series are sorted), one row per size.
  const profiles = [...new Set(series.map((s) => s.profile))];
  const senders = [...new Set(series.flatMap((s) => s.points.map((p) => p.senders)))].sort((a, b) => a - b);
  const [xlo, xhi] = senders.length > 1 ? [senders[0]!, senders[senders.length - 1]!] : [(senders[0] ?? 1) / 2, (senders[0] ?? 1) * 2];
  const sizes = [...new Set(series.map((s) => s.size))].sort((a, b) => a - b);
  const H = legendTop + 20 * sizes.length + 20;
  const color = (s: CurveSeries): string => PALETTE[sizes.indexOf(s.size) % PALETTE.length]!;
  const dashed = (s: CurveSeries): boolean => s.profile !== 'ssmax-org';
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${esc(title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  PANELS.forEach((panel, i) => {
    const x0 = left + i * (panelW + gap);
    const value = (p: CurvePoint): number => p[panel.metric] * panel.scale;
    const yr = logRange(series.flatMap((s) => s.points.map(value)));
    const sx = (v: number): number => x0 + ((Math.log(v) - Math.log(xlo)) / (Math.log(xhi) - Math.log(xlo))) * panelW;
    const sy = (v: number): number => top + panelH - ((Math.log(v) - Math.log(yr[0])) / (Math.log(yr[1]) - Math.log(yr[0]))) * panelH;
    out.push(`<g class="panel" data-metric="${panel.metric}">`);
    out.push(`<text x="${num(x0 + panelW / 2)}" y="${top - 12}" text-anchor="middle" font-size="13">${esc(panel.title)}</text>`);
    out.push(`<g class="axis x" stroke="#999999">`);
    out.push(`<line x1="${num(x0)}" y1="${top + panelH}" x2="${num(x0 + panelW)}" y2="${top + panelH}"/>`);
    for (const s of senders) {
      out.push(`<line x1="${num(sx(s))}" y1="${top}" x2="${num(sx(s))}" y2="${top + panelH + 5}" stroke="#eeeeee"/>`);
      out.push(`<text x="${num(sx(s))}" y="${top + panelH + 18}" text-anchor="middle" stroke="none" fill="#333333">${s}</text>`);
    }
    out.push(`<text x="${num(x0 + panelW / 2)}" y="${top + panelH + 36}" text-anchor="middle" stroke="none" fill="#333333">concurrent senders</text>`);
    out.push('</g>');
    out.push(`<g class="axis y" stroke="#999999">`);
    out.push(`<line x1="${num(x0)}" y1="${top}" x2="${num(x0)}" y2="${top + panelH}"/>`);
    for (const t of logTicks(yr)) {
      out.push(`<line x1="${num(x0 - 5)}" y1="${num(sy(t))}" x2="${num(x0 + panelW)}" y2="${num(sy(t))}" stroke="#eeeeee"/>`);
      out.push(`<text x="${num(x0 - 8)}" y="${num(sy(t) + 4)}" text-anchor="end" stroke="none" fill="#333333">${tickLabel(t)}</text>`);
    }
    out.push(
      `<text x="${num(x0 - 52)}" y="${num(top + panelH / 2)}" text-anchor="middle" stroke="none" fill="#333333" transform="rotate(-90 ${num(x0 - 52)} ${num(top + panelH / 2)})">${esc(panel.yLabel)} (log)</text>`,
    );
    out.push('</g>');
    for (const s of series) {
      const pts = s.points.filter((p) => value(p) > 0);
      const d = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${num(sx(p.senders))} ${num(sy(value(p)))}`).join(' ');
      out.push(
        `<path class="series" data-series="${esc(s.label)}" d="${d}" fill="none" stroke="${color(s)}" stroke-width="2"${dashed(s) ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      for (const p of pts) out.push(`<circle cx="${num(sx(p.senders))}" cy="${num(sy(value(p)))}" r="3" fill="${color(s)}"/>`);
    }
    out.push('</g>');
  });
  out.push('<g class="legend">');
  series.forEach((s) => {
    const x = left + profiles.indexOf(s.profile) * (panelW + gap);
    const y = legendTop + 20 * sizes.indexOf(s.size);
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 30}" y2="${y}" stroke="${color(s)}" stroke-width="2"${dashed(s) ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${x + 38}" y="${y + 4}">${esc(s.label)}</text>`);
  });
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}
