#!/usr/bin/env node
// Merges ablation reports of `ssmax run --ablate` runs into one, as when a long run was followed by a
// shorter one for defences added since or for scenarios whose attack changed since:
//
//   node scripts/merge-ablation.mjs OUT.json BASE_DIR [--rerun SCENARIO_ID,… | SUPPLEMENT_DIR]…
//
// BASE_DIR and each SUPPLEMENT_DIR hold ablation.json (and matrix.json: the baseline of that run). The
// steps apply in order: `--rerun IDS` drops every entry merged so far for those scenarios (the
// supplements after it ran them again, with every defence), a SUPPLEMENT_DIR adds its defences' flips
// and errors (a defence in several keeps the union of its flips, each field once). notFalsifiable is
// computed again over the credited cells of the bundled corpus with the current crediting rule, from
// the latest baseline of each cell. Nothing is run; the report says what it took from where.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const w = await import(new URL('../packages/world/dist/index.js', import.meta.url).href);
const args = process.argv.slice(2);
const out = args.shift();
const baseDir = args.shift();
const steps = [];
while (args.length > 0) {
  const a = args.shift();
  if (a === '--rerun') steps.push({ rerun: (args.shift() ?? '').split(',').filter(Boolean) });
  else steps.push({ dir: a });
}
if (!out || !baseDir) {
  console.error('usage: node scripts/merge-ablation.mjs OUT.json BASE_DIR [--rerun SCENARIO_ID,… | SUPPLEMENT_DIR]…');
  process.exit(2);
}
const read = (dir, f) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
const lines = new Map();
const results = new Map();
const key = (x) => `${x.scenarioId}\u0000${x.profile}`;
const add = (dir) => {
  for (const d of read(dir, 'ablation.json').defences) {
    const prev = lines.get(d.id) ?? { id: d.id, description: d.description, flipped: [], errors: [] };
    const seen = new Set(prev.flipped.map((f) => `${key(f)}\u0000${f.field}`));
    lines.set(d.id, {
      ...prev,
      flipped: [...prev.flipped, ...d.flipped.filter((f) => !seen.has(`${key(f)}\u0000${f.field}`))],
      errors: [...prev.errors, ...(d.errors ?? [])],
    });
  }
  for (const r of w.readMatrix(join(dir, 'matrix.json')).results) results.set(key(r), r);
};
// --rerun drops what was merged so far for those scenarios: the supplements after it ran them again.
const drop = (ids) => {
  const gone = new Set(ids);
  for (const [id, d] of lines)
    lines.set(id, { ...d, flipped: d.flipped.filter((f) => !gone.has(f.scenarioId)), errors: d.errors.filter((e) => !gone.has(e.scenarioId)) });
};
add(baseDir);
for (const step of steps) step.rerun ? drop(step.rerun) : add(step.dir);
const order = new Map(w.DEFENCES.map((d, i) => [d.id, i]));
const defences = [...lines.values()]
  .map((d) => (d.errors.length === 0 ? (({ errors, ...rest }) => rest)(d) : d))
  .sort((a, b) => (order.get(a.id) ?? 99) - (order.get(b.id) ?? 99));
const scenarios = w.loadScenarios([w.BUNDLED_SCENARIOS]);
const baseline = { meta: w.readMatrix(join(baseDir, 'matrix.json')).meta, results: [...results.values()] };
const credited = w.creditedCells(scenarios, [...w.MATRIX_PROFILES], baseline);
const report = { defences, notFalsifiable: w.notFalsifiable(credited, defences), merged: { base: baseDir, steps } };
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
const dead = w.deadDefences(report);
console.log(
  `${credited.length} credited cells; ${report.notFalsifiable.length} not falsifiable; ${dead.length} defence(s) flip nothing${dead.length ? `: ${dead.join(', ')}` : ''}; ${defences.reduce((n, d) => n + (d.errors?.length ?? 0), 0)} error(s)`,
);
for (const c of report.notFalsifiable) console.log(`  not falsifiable: ${c.scenarioId} [${c.profile}]`);
process.exit(report.notFalsifiable.length === 0 && dead.length === 0 && defences.every((d) => !d.errors?.length) ? 0 : 1);
