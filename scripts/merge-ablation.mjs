#!/usr/bin/env node
// Merges ablation reports of `ssmax run --ablate` runs into one, as when a long run was followed by a
// shorter one for defences added since or for scenarios whose attack changed since:
//
//   node scripts/merge-ablation.mjs OUT.json BASE_DIR [--rerun SCENARIO_ID,…] SUPPLEMENT_DIR…
//
// BASE_DIR and each SUPPLEMENT_DIR hold ablation.json (and matrix.json: the baseline of that run). The
// supplements win: every entry of BASE for a scenario listed in --rerun is dropped (those scenarios were
// run again, with every defence, in a supplement), and each supplement's defences are added (a defence in
// both keeps the union of its flips, without the dropped scenarios' entries of BASE). notFalsifiable is
// computed again over the credited cells of the bundled corpus with the current crediting rule, from the
// supplements' baselines over BASE's. Nothing is run; the merge says what it took from where.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const w = await import(new URL('../packages/world/dist/index.js', import.meta.url).href);
const args = process.argv.slice(2);
const out = args.shift();
const baseDir = args.shift();
let rerun = [];
const supplements = [];
while (args.length > 0) {
  const a = args.shift();
  if (a === '--rerun') rerun = (args.shift() ?? '').split(',').filter(Boolean);
  else supplements.push(a);
}
if (!out || !baseDir) {
  console.error('usage: node scripts/merge-ablation.mjs OUT.json BASE_DIR [--rerun SCENARIO_ID,…] SUPPLEMENT_DIR…');
  process.exit(2);
}
const read = (dir, f) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
const dropped = new Set(rerun);
const keep = (x) => !dropped.has(x.scenarioId);
const lines = new Map();
for (const d of read(baseDir, 'ablation.json').defences) lines.set(d.id, { ...d, flipped: d.flipped.filter(keep), ...(d.errors ? { errors: d.errors.filter(keep) } : {}) });
const results = new Map(w.readMatrix(join(baseDir, 'matrix.json')).results.map((r) => [`${r.scenarioId}\u0000${r.profile}`, r]));
for (const dir of supplements) {
  for (const d of read(dir, 'ablation.json').defences) {
    const prev = lines.get(d.id);
    lines.set(d.id, prev ? { ...prev, flipped: [...prev.flipped, ...d.flipped], errors: [...(prev.errors ?? []), ...(d.errors ?? [])] } : d);
  }
  for (const r of w.readMatrix(join(dir, 'matrix.json')).results) results.set(`${r.scenarioId}\u0000${r.profile}`, r);
}
const order = new Map(w.DEFENCES.map((d, i) => [d.id, i]));
const defences = [...lines.values()].map((d) => (d.errors && d.errors.length === 0 ? (({ errors, ...rest }) => rest)(d) : d)).sort((a, b) => (order.get(a.id) ?? 99) - (order.get(b.id) ?? 99));
const scenarios = w.loadScenarios([w.BUNDLED_SCENARIOS]);
const baseline = { meta: w.readMatrix(join(baseDir, 'matrix.json')).meta, results: [...results.values()] };
const credited = w.creditedCells(scenarios, [...w.MATRIX_PROFILES], baseline);
const report = { defences, notFalsifiable: w.notFalsifiable(credited, defences), merged: { base: baseDir, rerun, supplements } };
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
const dead = w.deadDefences(report);
console.log(`${credited.length} credited cells; ${report.notFalsifiable.length} not falsifiable; ${dead.length} defence(s) flip nothing${dead.length ? `: ${dead.join(', ')}` : ''}; ${defences.reduce((n, d) => n + (d.errors?.length ?? 0), 0)} error(s)`);
for (const c of report.notFalsifiable) console.log(`  not falsifiable: ${c.scenarioId} [${c.profile}]`);
process.exit(report.notFalsifiable.length === 0 && dead.length === 0 && defences.every((d) => !d.errors?.length) ? 0 : 1);
