import { cellCode, outsideLabel } from './terminal-table.js';
import type { Matrix, MatrixResult } from './types.js';

function esc(s: string): string {
  // XML 1.0 §2.2: strip characters XML cannot carry at all, then escape markup.
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function testcase(r: MatrixResult): string {
  const name = `${r.file}#${r.scenarioId} [${r.profile}]${outsideLabel(r)}`;
  const head = `    <testcase classname="${esc(r.file)}" name="${esc(name)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
  if (r.notObservable !== undefined) return `${head}>\n      <skipped message="${esc(`not observable: ${r.notObservable}`)}"/>\n    </testcase>`;
  if (r.actual === null)
    return `${head}>\n      <error message="${esc(r.error ?? 'executor failed')}" type="infrastructure">${esc(r.error ?? '')}</error>\n    </testcase>`;
  if (r.pass) return `${head}/>`;
  const exp = JSON.stringify(Object.fromEntries(r.mismatches.map((f) => [f, r.expected[f]])));
  const act = JSON.stringify(Object.fromEntries(r.mismatches.map((f) => [f, r.actual![f]])));
  const body = `expected ${cellCode(r.expected)} ${JSON.stringify({ ...r.expected, reason: undefined })}\nactual   ${cellCode(r.actual)} ${JSON.stringify(r.actual)}\nreason (expected): ${r.expected.reason}`;
  return `${head}>\n      <failure message="${esc(`expected ${exp}, actual ${act}`)}" type="mismatch">${esc(body)}</failure>\n    </testcase>`;
}

/** JUnit XML: one testsuite per scenario file, one testcase per cell named `<file>#<id> [<profile>]`. */
export function formatJunit(m: Matrix): string {
  const files = [...new Set(m.results.map((r) => r.file))];
  const count = (rs: readonly MatrixResult[]) => ({
    tests: rs.length,
    failures: rs.filter((r) => r.actual !== null && !r.pass).length,
    errors: rs.filter((r) => r.actual === null && r.notObservable === undefined).length,
    skipped: rs.filter((r) => r.notObservable !== undefined).length,
    time: (rs.reduce((a, r) => a + r.durationMs, 0) / 1000).toFixed(3),
  });
  const all = count(m.results);
  // The environment of the run as testsuite properties (JUnit XML's place for it): commit, node, and each
  // oracle's version as oracle.<name>, so a CI failure shows which openssl, gpgsm, Dovecot… it was measured with.
  const env: [string, string][] = [
    ['commit', m.meta.commit],
    ['node', m.meta.node],
    ['openssl', m.meta.openssl],
    ...Object.entries(m.meta.oracles ?? {}).map(([name, version]): [string, string] => [`oracle.${name}`, version]),
  ];
  const props = env.map(([name, value]) => `      <property name="${esc(name)}" value="${esc(value)}"/>`).join('\n');
  const suites = files.map((f) => {
    const rs = m.results.filter((r) => r.file === f);
    const c = count(rs);
    return `  <testsuite name="${esc(f)}" tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}" time="${c.time}" timestamp="${esc(m.meta.startedAt)}">\n    <properties>\n${props}\n    </properties>\n${rs.map(testcase).join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="ssmax scenario matrix (seed ${m.meta.seed}${m.meta.shard ? `, shard ${m.meta.shard.k}/${m.meta.shard.n}` : ''})" tests="${all.tests}" failures="${all.failures}" errors="${all.errors}" time="${all.time}">\n${suites.join('\n')}\n</testsuites>\n`;
}
