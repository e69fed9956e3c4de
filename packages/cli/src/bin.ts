import { availableParallelism } from 'node:os';
import { SsmaxError, ErrorCodes } from '@ssmax/core';
import { runCms } from './commands/cms.js';
import { asSsmaxError } from './foreign-error.js';

const USAGE = `usage: ssmax <command> …
  cms sign|verify|encrypt|decrypt|reencrypt   CMS / S/MIME operations (ssmax cms --help)
  mail verify <file.eml> --CAfile CERT…       a whole mail judged as the recipient's client does:
                                              one JSON line (ssmax mail --help)
  run [files|folders…] [--profile P,…] [--report DIR] [--compare OLD.json]
                                              the scenario matrix (default: scenarios/, all profiles;
                                              --shard K/N runs one slice of it)
  report merge DIR… [--out DIR]               join the shards' reports into the whole run's
  up [world.yaml]                             start a world (registry, orgs, ESP, users) until Ctrl-C
  send --from A --to B [--file F…] …          send as a user of the running world
  inbox --user A …                            read a mailbox through the user agent
  demo                                        the core demonstration (card → org → recipient)
  org serve --config FILE                     our org as an outside implementation (docs/IMPLEMENTING.md)
  conformance --world FILE [--report DIR]     the checklist of an org implementation: one row per
                                              procedure, pass/fail, junit.xml (docs/IMPLEMENTING.md)
  bench [--quick] [--out FILE]                the re-encryption benchmarks
  org postfix|filter --config FILE            an SSMAX organisation on Postfix (docs/postfix-org.md)
`;

/** Exit codes of the CLI contract: 0 ok, 1 negative verdict, 2 usage, 3 malformed input, 4 infrastructure. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof SsmaxError) {
    return { verdict: 1, usage: 2, malformed: 3, infrastructure: 4 }[ErrorCodes[err.code]];
  }
  return 4;
}

const io = {
  stdout: { write: (s: string) => void process.stdout.write(s) },
  stderr: { write: (s: string) => void process.stderr.write(s) },
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'cms':
      return runCms(rest, io);
    case 'mail': {
      const { runMail } = await import('./commands/mail.js');
      return runMail(rest, io);
    }
    case 'demo': {
      const { runDemo } = await import('./commands/demo.js');
      return runDemo(rest, io);
    }
    case 'bench': {
      // Loaded lazily: the benchmark suite pulls in tinybench and the container backend.
      const { runBenchCommand } = await import('./commands/bench.js');
      return runBenchCommand(rest);
    }
    case 'run': {
      const [{ runRunCommand }, world] = await Promise.all([import('./commands/run.js'), import('@ssmax/world')]);
      const factory = (world as { createMatrixExecutor?: Parameters<typeof runRunCommand>[1] }).createMatrixExecutor;
      // Worlds side by side, one per core, unless --jobs says otherwise.
      return runRunCommand(rest, factory, undefined, { jobs: availableParallelism() });
    }
    case 'report': {
      const { runReportCommand } = await import('./commands/report.js');
      return runReportCommand(rest);
    }
    case 'conformance': {
      const { runConformanceCommand } = await import('./commands/conformance.js');
      return runConformanceCommand(rest, io);
    }
    case 'org': {
      const { runOrgCommand } = await import('./commands/org.js');
      return runOrgCommand(rest, io);
    }
    case 'up': {
      const { runUpCommand } = await import('./commands/up.js');
      return runUpCommand(rest, io);
    }
    case 'send': {
      const { runSendCommand } = await import('./commands/send.js');
      return runSendCommand(rest, io);
    }
    case 'inbox': {
      const { runInboxCommand } = await import('./commands/inbox.js');
      return runInboxCommand(rest, io);
    }
    case undefined:
    case 'help':
    case '--help':
      io.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new SsmaxError('USAGE', `Cannot run "ssmax ${cmd}". Unknown command.\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Errors of Node or a library become typed errors with a sentence of ours (foreign-error.ts).
    const e = asSsmaxError(
      err,
      process.argv
        .slice(2, 4)
        .filter((a) => !a.startsWith('-'))
        .join(' '),
    );
    process.stderr.write(`ssmax: ${e.code}: ${e.message}\n`);
    if (process.env['SSMAX_DEBUG'] && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = exitCodeFor(e);
  },
);
