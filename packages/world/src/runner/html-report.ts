import { MATRIX_PROFILES } from './types.js';
import type { LoadedScenario, Matrix } from './types.js';
import type { AblationReport } from './ablation.js';
import { outsideLabel } from './terminal-table.js';

const escHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The "Falsifiability" section: per defence the cells its ablation flipped, then the credited cells none flipped. */
function falsifiabilitySection(a: AblationReport): string {
  const rows = a.defences
    .map((d) => {
      const cells = new Map<string, string[]>();
      for (const f of d.flipped)
        cells.set(`${f.scenarioId} [${f.profile}]`, [
          ...(cells.get(`${f.scenarioId} [${f.profile}]`) ?? []),
          `${f.field}: ${String(f.from)} → ${String(f.to)}`,
        ]);
      const flips = [...cells].map(([c, fs]) => `<li>${escHtml(c)}: ${escHtml(fs.join(', '))}</li>`).join('');
      const errors = (d.errors ?? []).map((e) => `<li class="bad">error ${escHtml(`${e.scenarioId} [${e.profile}]`)}: ${escHtml(e.error)}</li>`).join('');
      return `<tr class="${d.flipped.length === 0 ? 'dead' : ''}"><td><code>${escHtml(d.id)}</code></td><td>${escHtml(d.description)}</td><td>${cells.size}</td><td>${flips || errors ? `<ul>${flips}${errors}</ul>` : '<span class="bad">flips nothing</span>'}</td></tr>`;
    })
    .join('\n');
  const nf =
    a.notFalsifiable.length === 0
      ? '<p>Every credited cell flips under at least one ablation.</p>'
      : `<p class="bad">${a.notFalsifiable.length} credited cell(s) flip under no ablation:</p><ul>${a.notFalsifiable.map((c) => `<li>${escHtml(`${c.scenarioId} [${c.profile}]`)}</li>`).join('')}</ul>`;
  return `<section id="falsifiability"><h2>Falsifiability</h2>
<p class="desc">Each defence switched off in turn (<code>ssmax run --ablate</code>); only the cells whose expectation credits a defence ran again, in the profiles where the defence acts. A flip is a compared field that differs from the normal run. ${(a.durationMs / 1000).toFixed(1)} s in all.</p>
<table class="abl"><thead><tr><th>defence</th><th>what it does</th><th>cells flipped</th><th>flips (normal → switched off)</th></tr></thead><tbody>
${rows}
</tbody></table>
${nf}
</section>`;
}

/** Embeds JSON in a <script> element: "<" escaped so no "</script>" or "<!--" can end it early (HTML §4.12.1.3). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const CSS = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#d5d9e0;--del:#e3f4e5;--flag:#fff1c2;--block:#d7e6ff;--ns:#eadff7;--bad:#c62828}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans JP",sans-serif;color:var(--fg);margin:0;background:#f7f8fa}
header{padding:16px 24px;background:#fff;border-bottom:1px solid var(--line)}h1{font-size:20px;margin:0 0 4px}
.meta{color:var(--muted);font-size:12px}.summary{margin-top:6px;font-weight:600}.summary .bad{color:var(--bad)}
main{display:flex;gap:16px;padding:16px 24px;align-items:flex-start}
#matrix-wrap{overflow:auto;background:#fff;border:1px solid var(--line);border-radius:6px;flex:1 1 auto;max-height:calc(100vh - 190px)}
table.matrix{border-collapse:separate;border-spacing:0;font-size:12px}
.matrix th{position:sticky;top:0;background:#fff;z-index:1;padding:6px 4px;border-bottom:2px solid var(--line);font-weight:600;white-space:nowrap}
.matrix th.profile{writing-mode:horizontal-tb;min-width:92px}
.matrix td{border-bottom:1px solid var(--line);padding:3px 4px;vertical-align:middle}
.matrix td.sc{white-space:nowrap;max-width:340px;overflow:hidden;text-overflow:ellipsis}
.matrix td.sc .src{display:inline-block;min-width:44px;color:var(--muted);font-size:11px}
td.cell{cursor:pointer;text-align:center;border-left:1px solid #fff;min-width:92px;height:34px}
td.cell:hover{outline:2px solid #556;outline-offset:-2px}td.cell.selected{outline:3px solid #1a237e;outline-offset:-3px}
td.cell.v-delivered{background:var(--del)}td.cell.v-flagged{background:var(--flag)}td.cell.v-blocked{background:var(--block)}td.cell.v-not-sent{background:var(--ns)}
td.cell.omitted{background:repeating-linear-gradient(45deg,#f3f4f6,#f3f4f6 4px,#e9ebef 4px,#e9ebef 8px);cursor:default;color:#9aa}
td.cell.error{background:#ffd6d6}
td.cell.unobserved{background:#eeeeee;color:#666}
th .impl{font-weight:normal;font-size:11px;color:#555}
td.cell.mismatch{box-shadow:inset 0 0 0 3px var(--bad)}
.verdict{font-weight:600}.badges{display:block;font-size:10px;line-height:1.2}
.b{display:inline-block;border-radius:3px;padding:0 3px;margin:1px 1px 0}
.b.leak-metadata{background:#fff59d}.b.leak-body{background:#ffcc80}.b.leak-files{background:#ef5350;color:#fff}
.b.mal{background:#6a1b9a;color:#fff}.b.tr{background:#eceff1;color:#37474f}.b.tr-sender-revoked{background:#263238;color:#fff}.b.mm{background:var(--bad);color:#fff}
aside#journey{flex:0 0 440px;background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px;max-height:calc(100vh - 190px);overflow:auto}
aside h2{font-size:16px;margin:0 0 4px}aside .desc{color:var(--muted);font-size:12px;margin:4px 0 8px}
table.cmp{border-collapse:collapse;font-size:12px;margin:8px 0;width:100%}table.cmp td,table.cmp th{border:1px solid var(--line);padding:2px 6px;text-align:left}
table.cmp tr.diff td{background:#ffebee;font-weight:600}
ol.hops{list-style:none;padding:0;margin:8px 0}li.hop{border-left:4px solid #90a4ae;margin:0 0 8px;padding:4px 8px;background:#fafbfc}
li.hop.pl-plaintext{border-left-color:#e53935}li.hop.pl-ciphertext{border-left-color:#2e7d32}
.procedure{display:inline-block;min-width:30px;font-weight:700;color:#1a237e}.actor{font-weight:600}.at{color:var(--muted);font-size:11px;float:right}
.payload{font-size:11px;border-radius:3px;padding:0 4px;margin-left:4px}.payload.plaintext{background:#ffcdd2}.payload.ciphertext{background:#c8e6c9}.payload.none{background:#eceff1}
.checks{margin:2px 0 0 30px;padding:0;list-style:none;font-size:12px}.checks .pass::before{content:"✔ ";color:#2e7d32}.checks .fail::before{content:"✘ ";color:var(--bad)}.checks .skip::before{content:"– ";color:#999}
.note{margin-left:30px;font-size:12px;color:var(--muted)}
.legend{font-size:12px;color:var(--muted);margin-top:6px}.legend span.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 3px 0 10px;border:1px solid #ccc}
.empty{color:var(--muted)}
#falsifiability{margin:0 24px 24px;background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px}#falsifiability h2{font-size:16px;margin:0 0 4px}
table.abl{border-collapse:collapse;font-size:12px;width:100%}table.abl td,table.abl th{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
table.abl tr.dead td{background:#ffebee}table.abl ul{margin:0;padding-left:16px}.bad{color:var(--bad)}
`;

const JS = `
const DATA = JSON.parse(document.getElementById('matrix-data').textContent);
const COLUMNS = DATA.columns;
const el = (tag, attrs = {}, ...kids) => { const e = document.createElement(tag); for (const [k, v] of Object.entries(attrs)) { if (k === 'class') e.className = v; else e.setAttribute(k, v); } for (const k of kids) e.append(k); return e; };
const src = (s) => !s ? '' : s.ppapIncident ? 'I' + s.ppapIncident : s.pattern ? s.pattern : 'other';
const byKey = new Map(DATA.results.map((r, i) => [r.scenarioId + '#' + r.profile + '#' + DATA.labels[i], i]));
// Rows grouped by source: incidents 1-8, then patterns A, B, C, then other references.
const rank = (s) => !s ? 99 : s.ppapIncident ? s.ppapIncident : s.pattern ? 10 + 'ABC'.indexOf(s.pattern) : 20;
const ids = [...new Set(DATA.results.map((r) => r.scenarioId))].sort((a, b) => rank((DATA.scenarios[a] || {}).source) - rank((DATA.scenarios[b] || {}).source) || (a < b ? -1 : 1));
const tbl = el('table', { class: 'matrix', id: 'matrix' });
const hr = el('tr', {}, el('th', {}, 'scenario'));
for (const c of COLUMNS) hr.append(el('th', { class: 'profile' }, c.profile, ...(c.label ? [el('div', { class: 'impl' }, c.label)] : [])));
tbl.append(el('thead', {}, hr));
const tb = el('tbody');
for (const id of ids) {
  const info = DATA.scenarios[id] || {};
  const tr = el('tr', {}, el('td', { class: 'sc', title: (info.title || '') + '\\n' + (info.description || '') }, el('span', { class: 'src' }, src(info.source)), id));
  for (const { profile: p, label } of COLUMNS) {
    const i = byKey.get(id + '#' + p + '#' + label);
    if (i === undefined) { const why = (info.omitted || {})[p]; tr.append(el('td', { class: 'cell omitted', title: why ? 'omitted: ' + why : 'not run' }, '·')); continue; }
    const r = DATA.results[i];
    if (r.notObservable) { tr.append(el('td', { class: 'cell unobserved', 'data-i': String(i), title: 'not observable: ' + r.notObservable }, 'n/o')); continue; }
    if (!r.actual) { tr.append(el('td', { class: 'cell error', 'data-i': String(i), title: r.error || '' }, 'error')); continue; }
    const a = r.actual;
    const cls = ['cell', 'v-' + a.verdict, 'leak-' + a.leaked];
    if (a.malwareReached) cls.push('malware');
    if (!r.pass) cls.push('mismatch');
    const badges = el('span', { class: 'badges' });
    if (a.leaked !== 'none') badges.append(el('span', { class: 'b leak-' + a.leaked }, 'leak:' + a.leaked));
    if (a.malwareReached) badges.append(el('span', { class: 'b mal' }, 'malware'));
    if (a.traced !== 'none') badges.append(el('span', { class: 'b tr tr-' + a.traced }, a.traced === 'sender-revoked' ? 'revoked' : 'traced:' + a.traced));
    if (!r.pass) badges.append(el('span', { class: 'b mm' }, '≠ expected'));
    tr.append(el('td', { class: cls.join(' '), 'data-i': String(i), title: r.expected.reason }, el('span', { class: 'verdict' }, a.verdict), badges));
  }
  tb.append(tr);
}
tbl.append(tb);
document.getElementById('matrix-wrap').append(tbl);
const FIELDS = ['verdict', 'leaked', 'malwareReached', 'traced', 'identityShown'];
function show(i) {
  const r = DATA.results[i];
  for (const s of document.querySelectorAll('td.cell.selected')) s.classList.remove('selected');
  const td = document.querySelector('td.cell[data-i="' + i + '"]'); if (td) td.classList.add('selected');
  const info = DATA.scenarios[r.scenarioId] || {};
  const box = document.getElementById('journey'); box.textContent = '';
  box.append(el('h2', {}, r.scenarioId + ' [' + r.profile + ']'), el('div', { class: 'desc' }, (info.title || r.title || '') + (info.description ? ' — ' + info.description : '')));
  const cmp = el('table', { class: 'cmp' }, el('tr', {}, el('th', {}, ''), el('th', {}, 'expected'), el('th', {}, 'actual')));
  for (const f of FIELDS) cmp.append(el('tr', { class: r.actual && r.expected[f] !== r.actual[f] ? 'diff' : '' }, el('td', {}, f), el('td', {}, String(r.expected[f])), el('td', {}, r.actual ? String(r.actual[f]) : 'error')));
  box.append(cmp, el('div', { class: 'desc' }, 'Why: ' + r.expected.reason));
  if (r.error) box.append(el('div', { class: 'desc' }, 'Executor error: ' + r.error));
  if (r.notObservable) box.append(el('div', { class: 'desc' }, 'Not observable for this implementation: ' + r.notObservable));
  if (DATA.labels[i]) box.append(el('div', { class: 'desc' }, 'Implementations:' + DATA.labels[i]));
  box.append(el('h3', {}, 'Journey (' + r.events.length + ' hops)'));
  if (r.events.length === 0) { box.append(el('p', { class: 'empty' }, 'No journey events recorded.')); return; }
  const ol = el('ol', { class: 'hops', id: 'hops' });
  for (const e of r.events) {
    const li = el('li', { class: 'hop pl-' + e.payload },
      el('span', { class: 'at' }, e.at),
      el('span', { class: 'procedure' }, e.procedure ? '(' + e.procedure + ')' : '—'), ' ',
      el('span', { class: 'actor' }, e.actor),
      el('span', { class: 'payload ' + e.payload, title: 'files at this hop' }, e.payload === 'none' ? 'no files' : 'files ' + e.payload),
      e.outcome ? el('span', { class: 'payload none' }, e.outcome) : '');
    if (e.checks.length) { const ul = el('ul', { class: 'checks' }); for (const c of e.checks) ul.append(el('li', { class: c.result }, c.name + (c.detail ? ': ' + c.detail : ''))); li.append(ul); }
    if (e.note) li.append(el('div', { class: 'note' }, e.note));
    ol.append(li);
  }
  box.append(ol);
}
tbl.addEventListener('click', (ev) => { const td = ev.target.closest('td.cell[data-i]'); if (td) show(Number(td.dataset.i)); });
`;

/** Which part of a run the page shows: one shard's slice, or the shards a merge joined. */
function shardNote(m: Matrix): string {
  const { shard, shards } = m.meta;
  if (shard) return ` · shard ${shard.k}/${shard.n}: ${shard.cells.length} of the run's ${shard.totalCells} cells`;
  if (shards)
    return ` · merged from ${shards.length} shards (each ${shards.map((s) => `${(s.durationMs / 1000).toFixed(1)} s`).join(', ')}; the time above is first start to last end)`;
  return '';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * One self-contained page (inline CSS and JS, no network): the matrix with colour-coded cells, and a
 * click on a cell shows the mail's journey hop by hop. `scenarios` adds titles, descriptions, sources
 * and omission reasons.
 */
export function formatHtml(m: Matrix, scenarios: readonly LoadedScenario[] = [], ablation?: AblationReport): string {
  const info = Object.fromEntries(
    scenarios.map(({ scenario: s }) => [s.id, { title: s.title, description: s.description, source: s.source, omitted: s.omitted ?? {} }]),
  );
  for (const r of m.results) info[r.scenarioId] ??= { title: r.title, description: '', source: {}, omitted: {} };
  // One column per profile and set of outside implementations: two implementations of one profile (a run
  // over two worlds, `ssmax run --world A --world B`) stand side by side.
  const labels = m.results.map((r) => outsideLabel(r));
  const columns = MATRIX_PROFILES.filter((p) => m.meta.profiles.includes(p)).flatMap((profile) =>
    [...new Set(m.results.flatMap((r, i) => (r.profile === profile ? [labels[i]!] : [])))].sort().map((label) => ({ profile, label })),
  );
  const data = { columns, labels, scenarios: info, results: m.results };
  const pass = m.results.filter((r) => r.pass).length;
  const unobserved = m.results.filter((r) => r.notObservable !== undefined).length;
  const fail = m.results.length - pass - unobserved;
  // Reports written before issue 11 have no oracle versions.
  const oracles = m.meta.oracles
    ? `<div class="meta oracles">oracles: ${Object.entries(m.meta.oracles)
        .map(([name, version]) => `${esc(name)} ${esc(version)}`)
        .join(' · ')}</div>\n`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>SSMAX scenario matrix</title><style>${CSS}</style></head>
<body><header><h1>SSMAX test bed — attacks against defences</h1>
<div class="meta">commit ${esc(m.meta.commit)} · node ${esc(m.meta.node)} · ${esc(m.meta.openssl)} · started ${esc(m.meta.startedAt)} · seed ${m.meta.seed} · clock ${esc(m.meta.clockStart)} · ${(m.meta.durationMs / 1000).toFixed(1)} s${shardNote(m)}</div>
${oracles}<div class="summary">${pass} of ${m.results.length} cells as expected${fail ? ` · <span class="bad">${fail} differ</span>` : ''}${unobserved ? ` · ${unobserved} not observable for the implementation under test` : ''}</div>
<div class="legend">Cell colour = what happened to the mail carrying the files:<span class="sw" style="background:var(--del)"></span>delivered<span class="sw" style="background:var(--flag)"></span>flagged (warning)<span class="sw" style="background:var(--block)"></span>blocked at the receiver<span class="sw" style="background:var(--ns)"></span>not sent. Badges: what leaked to the attacker, malware reaching the recipient, how far the sender was traced; a red frame marks a cell that differs from its expectation. Click a cell for the mail's journey.</div>
</header>
<main><div id="matrix-wrap"></div><aside id="journey"><p class="empty">Click a cell to see the mail's journey hop by hop: who checked what (SSMAX procedure numbers from the paper, §6) and where the files were plaintext or ciphertext.</p></aside></main>
${ablation ? falsifiabilitySection(ablation) : ''}
<script type="application/json" id="matrix-data">${scriptJson(data)}</script>
<script>${JS}</script>
</body></html>
`;
}
