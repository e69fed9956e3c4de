/** `ssmax bench [--quick | --chain-curve] [--out FILE]`: runs the benchmarks and writes the JSON results and the markdown table. */
import { readFileSync } from 'node:fs';
import { runBench } from '@ssmax/bench';
import { one, parseArgs } from '../args.js';

const USAGE = `usage: ssmax bench [--quick | --chain-curve | --chain-levers | --chain-plus] [--out FILE] [--keep]
  --quick        the reduced set (CI smoke test, under two minutes)
  --chain-curve  the full chain only, ssmax-org and plain-ppap at 1, 4, 16 and 64 senders x 1 KiB, 100 KiB
                 and 5 MiB (15-25 min on 2 cores): bench/results/<YYYY-MM-DD>-chain-curve.json, .md and
                 the plot .svg
  --chain-levers the chain at 16 senders x 100 KiB with each throughput lever (group commit of the spool
                 fsyncs, scrypt off the event loop) turned off in turn, beside all on, for ssmax-org and
                 plain-ppap (about 8 min): bench/results/<YYYY-MM-DD>-chain-levers.json and .md
  --chain-plus   the chain for ssmax-plus beside ssmax-org (issue 15): 1, 4 and 16 senders x 1 KiB and 100 KiB,
                 ssmax-plus with its hold off (mails/s, latency, bytes on the wire per mail), then the hold on
                 (about 7 min): bench/results/<YYYY-MM-DD>-chain-plus.json and .md
  --out FILE     the JSON results (default bench/results/<YYYY-MM-DD>.json, -quick.json with --quick);
                 the table goes beside it as .md; a full run to the default path also updates bench/README.md
  --keep         keep the working directory (inputs and outputs) and print its path
`;

/** Returns the exit code: 0 when the run completed (targets missed are reported, not failed), 2 on usage errors. */
export async function runBenchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['out'], flags: ['quick', 'chain-curve', 'chain-levers', 'chain-plus', 'help', 'keep'] });
  if (args.flags.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.positionals.length > 0) {
    process.stderr.write(`ssmax bench: unexpected argument ${args.positionals[0]}\n${USAGE}`);
    return 2;
  }
  const modes = ['quick', 'chain-curve', 'chain-levers', 'chain-plus'].filter((m) => args.flags.has(m));
  if (modes.length > 1) {
    process.stderr.write(`ssmax bench: Cannot run --${modes.join(' and --')} together. They are different runs; give one.\n${USAGE}`);
    return 2;
  }
  const out = one(args, 'out');
  const started = Date.now();
  const r = await runBench({
    quick: args.flags.has('quick'),
    chainCurve: args.flags.has('chain-curve'),
    chainLevers: args.flags.has('chain-levers'),
    chainPlus: args.flags.has('chain-plus'),
    ...(out === undefined ? {} : { out }),
    keepWorkDir: args.flags.has('keep'),
    log: (line) => void process.stderr.write(`bench: ${line}\n`),
  });
  process.stdout.write(readTable(r.mdPath));
  process.stdout.write(`\nwrote ${r.jsonPath} and ${r.mdPath} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (r.workDir) process.stdout.write(`kept ${r.workDir}\n`);
  return 0;
}

function readTable(path: string): string {
  return readFileSync(path, 'utf8');
}
