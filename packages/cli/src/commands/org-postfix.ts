/**
 * `ssmax org postfix|filter`: an SSMAX organisation on Debian's Postfix (issue 14 item 3, docs/postfix-org.md).
 *
 * - `ssmax org postfix --config FILE` (else SSMAX_ORG_CONFIG_FILE): an outside implementation of docs/IMPLEMENTING.md
 *   (contract v1). It enrols the org with the registry ((1)-(2), our reference org's code, then stopped), starts its
 *   content filter and its own Postfix instance, prints the readiness line and runs until SIGTERM, which stops
 *   everything it started.
 * - `ssmax org filter --config FILE`: the content filter Postfix hands mail to ((4), (5)+(6), (7)+(8), (9) by
 *   sim-org's functions), until SIGTERM. `ssmax org postfix` starts it; it is a program of its own, as amavis is.
 */
import { SsmaxError } from '@ssmax/core';
import { runFilter, runPostfixOrg } from '@ssmax/world/postfix-org';
import { one, parseArgs, required } from '../args.js';
import type { CommandIo } from './up.js';

export const ORG_POSTFIX_USAGE = `       ssmax org postfix --config FILE    an SSMAX organisation on Postfix (docs/postfix-org.md)
       ssmax org filter --config FILE     its SSMAX content filter (started by org postfix)
`;

export async function runOrgPostfixCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, { values: ['config'], flags: ['help'] });
  if (args.flags.has('help')) {
    io.stdout.write(`usage: ssmax org ${sub ?? ''} --config FILE\n${ORG_POSTFIX_USAGE}`);
    return 0;
  }
  if (sub === 'filter') {
    await runFilter(required(args, 'config'), (e) => io.stdout.write(JSON.stringify(e) + '\n'));
    return 0;
  }
  if (sub === 'postfix') {
    const file = one(args, 'config') ?? process.env['SSMAX_ORG_CONFIG_FILE'];
    if (file === undefined) throw new SsmaxError('USAGE', `Cannot run the Postfix org. Pass its config with --config FILE or SSMAX_ORG_CONFIG_FILE.`);
    const { stop } = await runPostfixOrg(file, { write: (line) => io.stdout.write(line + '\n') });
    await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
    await stop();
    return 0;
  }
  throw new SsmaxError('USAGE', `Cannot run "ssmax org ${sub ?? ''}". Unknown subcommand.`);
}
