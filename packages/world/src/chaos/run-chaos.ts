/**
 * `npm run chaos [-- --kills 200 --seed N --submitters 2 --gap 150-900 --out FILE]`: runs the kill
 * harness (chaos.ts), prints what it saw, writes the report as JSON (default
 * `chaos/results/<date>.json` at the repo root), and exits 1 when an acknowledged mail was lost or
 * delivered twice, or a submission was refused.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../runner/load-scenarios.js';
import { environmentMeta } from '../runner/write-report.js';
import { runChaos, type ChaosReport } from './chaos.js';

const USAGE = `usage: npm run chaos -- [--kills N] [--seed N] [--submitters N] [--gap MIN-MAX] [--out FILE]
  --kills N        SIGKILLs to deliver, each followed by a restart (default 200)
  --seed N         seed of the kill schedule (default: from the clock, printed)
  --submitters N   concurrent user-agent submitters (default 2)
  --gap MIN-MAX    random wait before each kill in ms (default 150-900)
  --out FILE       where the JSON report goes (default chaos/results/<date>.json)
  --at-least-once  without the ENVID and the mailbox question (shows the duplicates they prevent)`;

function fail(message: string): never {
  process.stderr.write(`Cannot run the chaos harness. ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(value: string | undefined, name: string, dflt: number): number {
  if (value === undefined) return dflt;
  if (!/^\d+$/.test(value) || Number(value) < 1) fail(`--${name} ${JSON.stringify(value)} is not a positive integer.`);
  return Number(value);
}

export function formatChaosReport(r: ChaosReport): string {
  const m = r.mails;
  return [
    `chaos${r.meta.exactlyOnce ? '' : ' (at-least-once: no ENVID, mailbox not asked)'}: seed ${r.meta.seed}, ${r.meta.kills} kills (${Object.entries(r.killed)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}; ${r.killedDuringStartUp} of them during an org's start-up), ${(r.meta.durationMs / 1000).toFixed(1)} s`,
    `  mails acknowledged        ${m.acknowledged}`,
    `  delivered once            ${m.deliveredOnce}`,
    `  delivered twice           ${m.deliveredTwice}${r.duplicates.length ? `  ${r.duplicates.slice(0, 5).join(' ')}` : ''}`,
    `  lost                      ${m.lost}${r.lostIds.length ? `  ${r.lostIds.slice(0, 5).join(' ')}` : ''}`,
    `  unacknowledged delivered  ${m.unacknowledgedDelivered}`,
    `  refused (5xx)             ${m.refused}`,
    `  submission attempts       ${m.submissionAttempts}`,
  ].join('\n');
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        kills: { type: 'string' },
        seed: { type: 'string' },
        submitters: { type: 'string' },
        gap: { type: 'string' },
        out: { type: 'string' },
        'at-least-once': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values['help']) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const str = (k: string) => (typeof values[k] === 'string' ? values[k] : undefined);
  const kills = positiveInt(str('kills'), 'kills', 200);
  const seed = str('seed') === undefined ? Date.now() % 2 ** 31 : Number(str('seed'));
  if (!Number.isSafeInteger(seed)) fail(`--seed ${JSON.stringify(str('seed'))} is not an integer.`);
  const submitters = positiveInt(str('submitters'), 'submitters', 2);
  const gapText = str('gap') ?? '150-900';
  const g = /^(\d+)-(\d+)$/.exec(gapText);
  if (!g || Number(g[1]) > Number(g[2])) fail(`--gap ${JSON.stringify(gapText)} is not MIN-MAX in ms.`);
  const out = resolve(str('out') ?? resolve(REPO_ROOT, 'chaos/results', `${new Date().toISOString().slice(0, 10)}.json`));
  process.stdout.write(`chaos: seed ${seed}, ${kills} kills\n`);
  const report = await runChaos({
    kills,
    seed,
    submitters,
    gapMs: [Number(g[1]), Number(g[2])],
    exactlyOnce: values['at-least-once'] !== true,
    log: (l) => process.stdout.write(`${l}\n`),
  });
  const env = environmentMeta();
  const full = { ...report, meta: { ...report.meta, commit: env.commit, oracles: env.oracles } };
  process.stdout.write(`${formatChaosReport(report)}\n`);
  // Write in place when the target is not a regular file (e.g. /dev/null): a rename would replace it.
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(full, null, 2) + '\n');
  process.stdout.write(`report: ${out}\n`);
  const m = report.mails;
  process.exitCode = m.deliveredTwice > 0 || m.lost > 0 || m.refused > 0 ? 1 : 0;
}

main().catch((e: unknown) => {
  process.stderr.write(`Cannot finish the chaos run. ${(e as Error).stack ?? String(e)}\n`);
  process.exit(2);
});
