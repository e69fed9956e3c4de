/**
 * `ssmax org serve --config FILE`: our own org as an outside implementation of docs/IMPLEMENTING.md (contract v1),
 * run by a world whose org says `implementation: {kind: process, command: [node, packages/cli/bin/ssmax.js, org, serve]}`.
 * `ssmax org postfix` and `ssmax org filter` (org-postfix.ts) are the Postfix organisation of issue 14 item 3.
 *
 * On a start failure `serve` prints the contract's error line `{"event":"error","message":…}` and exits non-zero.
 */
import { SsmaxError } from '@ssmax/core';
import { serveOrgImplementation } from '@ssmax/world';
import { one, parseArgs } from '../args.js';
import { ORG_POSTFIX_USAGE, runOrgPostfixCommand } from './org-postfix.js';
import type { CommandIo } from './up.js';

export const ORG_USAGE = `usage: ssmax org serve --config FILE      our org as an outside implementation (docs/IMPLEMENTING.md)
${ORG_POSTFIX_USAGE}`;

export async function runOrgCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'postfix' || sub === 'filter') return runOrgPostfixCommand(argv, io);
  if (sub === undefined || sub === '--help') {
    io.stdout.write(ORG_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'serve') throw new SsmaxError('USAGE', `Cannot run "ssmax org ${sub}". Unknown subcommand.\n${ORG_USAGE}`);
  const args = parseArgs(rest, { values: ['config'], flags: ['help'] });
  if (args.flags.has('help')) {
    io.stdout.write(ORG_USAGE);
    return 0;
  }
  const file = one(args, 'config') ?? process.env['SSMAX_ORG_CONFIG_FILE'];
  if (file === undefined) throw new SsmaxError('USAGE', `Cannot serve the org. Pass its config with --config FILE or SSMAX_ORG_CONFIG_FILE.\n${ORG_USAGE}`);
  let served: { stop: () => Promise<void> };
  try {
    served = await serveOrgImplementation(file, { write: (line) => io.stdout.write(line + '\n') });
  } catch (e) {
    // The contract's error line (docs/IMPLEMENTING.md §2), then a non-zero exit through the CLI's error path.
    io.stdout.write(JSON.stringify({ event: 'error', message: (e as Error).message }) + '\n');
    throw e;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await served.stop();
  return 0;
}
