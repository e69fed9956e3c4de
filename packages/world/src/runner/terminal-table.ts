import { MATRIX_PROFILES } from './types.js';
import type { CellChange } from './run-matrix.js';
import type { Matrix, MatrixResult, Outcome, MatrixProfile } from './types.js';

/** The outside implementations of a cell's world, as ` {org-b: process:x}`; empty when every org is builtin. */
export function outsideLabel(r: Pick<MatrixResult, 'implementations'>): string {
  const outside = Object.entries(r.implementations ?? {}).filter(([, i]) => i !== 'builtin');
  return outside.length === 0 ? '' : ` {${outside.map(([org, i]) => `${org}: ${i}`).join(', ')}}`;
}

const VERDICT = { delivered: 'D', flagged: 'F', blocked: 'B', 'not-sent': 'N' } as const;
const LEAK = { none: '-', metadata: 'm', body: 'b', files: 'F' } as const;
const TRACE = { none: '-', org: 'o', sender: 's', 'sender-revoked': 'R' } as const;

/** Four characters for a cell: verdict, leak, malware (M), trace; e.g. "Bb-o". */
export function cellCode(o: Outcome): string {
  return `${VERDICT[o.verdict]}${LEAK[o.leaked]}${o.malwareReached ? 'M' : '-'}${TRACE[o.traced]}`;
}

const SHORT: Record<MatrixProfile, string> = {
  'plain-ppap': 'ppap',
  'best-practice': 'best',
  'smime-e2e': 'smime',
  'ssmax-paper': 'paper',
  'ssmax-org': 'org',
  'ssmax-esp-out': 'esp-o',
  'ssmax-esp-in': 'esp-i',
  'ssmax-plus': 'plus',
};

/**
 * The matrix as a fixed-width table (scenarios × profiles). A cell shows the actual outcome code and
 * a mark: " " match, "✗" mismatch (expected code follows on the detail lines), "!" executor error,
 * "n/o" not observable for an outside implementation, "·" not run (omitted or not selected).
 */
export function formatMatrixTable(m: Matrix): string {
  // One column per profile and set of outside implementations (a run over several worlds): `org²` and a legend.
  const labels = [...new Set(m.results.map(outsideLabel))].sort();
  const columns = MATRIX_PROFILES.filter((p) => m.meta.profiles.includes(p)).flatMap((p) =>
    labels.filter((l) => m.results.some((r) => r.profile === p && outsideLabel(r) === l)).map((label) => ({ p, label })),
  );
  const mark = (label: string) => (label === '' ? '' : String(labels.filter((l) => l !== '').indexOf(label) + 1));
  const ids = [...new Set(m.results.map((r) => r.scenarioId))];
  const byKey = new Map(m.results.map((r) => [`${r.scenarioId}#${r.profile}#${outsideLabel(r)}`, r]));
  const idW = Math.max(8, ...ids.map((i) => i.length));
  const lines: string[] = [];
  lines.push(`${'scenario'.padEnd(idW)} │ ${columns.map((c) => `${SHORT[c.p]}${mark(c.label)}`.padEnd(6)).join(' ')}`);
  lines.push(`${'─'.repeat(idW)}─┼─${columns.map(() => '──────').join('─')}`);
  const details: string[] = [];
  for (const id of ids) {
    const cells = columns.map(({ p, label }) => {
      const r = byKey.get(`${id}#${p}#${label}`);
      if (r === undefined) return '  ·   ';
      if (r.notObservable !== undefined) {
        details.push(`  ? ${id} [${p}]${label}: not observable: ${r.notObservable}`);
        return '  n/o ';
      }
      if (r.actual === null) {
        details.push(`  ! ${id} [${p}]${label}: ${r.error ?? 'no result'}`);
        return ' !err ';
      }
      if (!r.pass)
        details.push(
          `  ✗ ${id} [${p}]${label}: expected ${cellCode(r.expected)} got ${cellCode(r.actual)} (${r.mismatches.map((f) => `${f}: ${String(r.expected[f])} → ${String(r.actual![f])}`).join(', ')})`,
        );
      return `${cellCode(r.actual)}${r.pass ? ' ' : '✗'} `;
    });
    lines.push(`${id.padEnd(idW)} │ ${cells.join(' ')}`);
  }
  const pass = m.results.filter((r) => r.pass).length;
  lines.push('');
  for (const l of labels.filter((x) => x !== '')) lines.push(`${mark(l)}: the cells of the world where${l.replace(/^ \{/, ' ').replace(/\}$/, '')}`);
  lines.push(
    'code: verdict D delivered F flagged B blocked N not-sent · leak - none m metadata b body F files · M malware reached · trace - none o org s sender R revoked',
  );
  const unobserved = m.results.filter((r) => r.notObservable !== undefined).length;
  lines.push(
    `${pass}/${m.results.length} cells match${unobserved > 0 ? ` (${unobserved} not observable for the implementation under test)` : ''}${details.length > 0 ? ':' : '.'}`,
  );
  lines.push(...details);
  return lines.join('\n') + '\n';
}

/** The `--compare` listing. */
export function formatChanges(changes: readonly CellChange[]): string {
  if (changes.length === 0) return 'No cell changed its actual outcome.\n';
  const code = (o: Outcome | null | 'absent') => (o === 'absent' ? 'absent' : o === null ? 'error' : cellCode(o));
  return (
    `${changes.length} cell(s) changed:\n` +
    changes
      .map((c) => `  ${c.scenarioId} [${c.profile}]: ${code(c.before)} → ${code(c.after)}${c.fields.length ? ` (${c.fields.join(', ')})` : ''}`)
      .join('\n') +
    '\n'
  );
}
