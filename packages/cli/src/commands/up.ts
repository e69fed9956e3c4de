/**
 * `ssmax up [world.yaml] [--profile P] [--storage DIR] [--state FILE] [--seed N]`: starts a world
 * (default `worlds/default.yaml`), prints where each service listens and the users' initial PINs and
 * passwords (it is a simulator), writes the state file (`.ssmax/world.json`) with the control socket
 * `ssmax send` / `ssmax inbox` use, and runs until SIGINT/SIGTERM, then stops every service.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SsmaxError } from '@ssmax/core';
import {
  World,
  controlSocketPath,
  describeWorld,
  loadWorldConfig,
  removeWorldState,
  startControlServer,
  stateFilePath,
  worldRunning,
  writeWorldState,
} from '@ssmax/world';
import { one, parseArgs } from '../args.js';

interface Out {
  write(s: string): void;
}
export interface CommandIo {
  readonly stdout: Out;
  readonly stderr: Out;
}

export const UP_USAGE = `usage: ssmax up [world.yaml] [--profile P] [--storage DIR] [--state FILE] [--seed N]
  Starts the registry, organisations, ESPs and users of the world file (default worlds/default.yaml)
  and runs until Ctrl-C. --storage keeps tokens, spools and mailboxes in DIR (default: a temporary
  directory removed on exit). The state file (default .ssmax/world.json) tells ssmax send/inbox where
  the control socket is.
`;

function defaultWorldFile(cwd: string): string {
  const local = join(cwd, 'worlds', 'default.yaml');
  if (existsSync(local)) return local;
  // The bundled world beside the repository root (packages/cli/dist/commands → ../../../../worlds).
  return fileURLToPath(new URL('../../../../worlds/default.yaml', import.meta.url));
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd()).join('\n');
}

/**
 * Runs `ssmax up`. Resolves with the exit code once the world has stopped: on SIGINT/SIGTERM, or when
 * `stop` (for tests and embedding) is aborted.
 */
export async function runUpCommand(argv: string[], io: CommandIo, stop?: AbortSignal): Promise<number> {
  const args = parseArgs(argv, { values: ['profile', 'storage', 'state', 'seed'], flags: ['help'] });
  if (args.flags.has('help')) {
    io.stdout.write(UP_USAGE);
    return 0;
  }
  if (args.positionals.length > 1) throw new SsmaxError('USAGE', `Cannot start the world. Give at most one world file.\n${UP_USAGE}`);
  const cwd = process.cwd();
  const worldFile = resolve(cwd, args.positionals[0] ?? defaultWorldFile(cwd));
  const seedArg = one(args, 'seed');
  const seed = seedArg === undefined ? undefined : Number(seedArg);
  if (seed !== undefined && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff))
    throw new SsmaxError('USAGE', `Cannot parse --seed ${seedArg}. It must be an integer from 0 to 4294967295.`);
  const statePath = stateFilePath(one(args, 'state'));
  if (worldRunning(statePath)) throw new SsmaxError('USAGE', `Cannot start the world. Another one is running (${statePath}); stop it first or pass --state.`);
  const config = await loadWorldConfig(worldFile);

  const storageArg = one(args, 'storage');
  const storageDir = storageArg ? resolve(cwd, storageArg) : mkdtempSync(join(tmpdir(), 'ssmax-up-'));
  const profileArg = one(args, 'profile');
  io.stdout.write(`Starting the SSMAX world of ${relative(cwd, worldFile) || worldFile} (storage ${storageDir})…\n`);

  let stopRequested = false;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (wake = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!stopRequested) io.stdout.write(`\n${sig}: stopping the world…\n`);
    stopRequested = true;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onAbort = (): void => {
    stopRequested = true;
    wake();
  };
  stop?.addEventListener('abort', onAbort, { once: true });

  let world: World | undefined;
  let control: Awaited<ReturnType<typeof startControlServer>> | undefined;
  try {
    world = await World.create(config, { storageDir, ...(seed !== undefined ? { seed } : {}), ...(profileArg ? { profile: profileArg } : {}) });
    // The world starts clamd on the first scan; an interactive world starts it now, so the listing shows
    // it running and a missing clamav-daemon is reported before the first mail (which would fail closed).
    await world.clamd
      ?.start()
      .catch((e: unknown) =>
        io.stderr.write(`ssmax: warning: ${(e as Error).message} Inbound inspection will refuse every mail with files as uninspectable.\n`),
      );
    const socket = controlSocketPath(statePath);
    control = await startControlServer(world, socket);
    const d = describeWorld(world);
    await writeWorldState(statePath, { v: 1, pid: process.pid, socket, startedAt: new Date().toISOString(), worldFile, ...d });

    io.stdout.write(`\nProfile ${world.profile.id}: ${world.profile.title}\n\nServices\n`);
    io.stdout.write(`${table([['NAME', 'DNS NAME', 'LISTENS ON', 'PROTOCOL'], ...d.services.map((s) => [s.name, s.host ?? '-', s.listen, s.protocol])])}\n`);
    io.stdout.write('\nUsers (simulator: initial card PINs and mail passwords)\n');
    io.stdout.write(
      `${table([
        ['ADDRESS', 'ORG', 'MODE', 'PROOFING', 'PIN', 'PASSWORD', ...(d.users.some((u) => u.totpSecret) ? ['TOTP SECRET'] : [])],
        ...d.users.map((u) => [u.address, u.org, u.mode, u.proofing, u.pin, u.password, ...(u.totpSecret ? [u.totpSecret] : [])]),
      ])}\n`,
    );
    const [a, b] = [d.users[0], d.users.find((u) => u.org !== d.users[0]?.org)];
    io.stdout.write(`\nControl socket ${socket} (state file ${relative(cwd, statePath) || statePath})\n`);
    if (a && b) {
      io.stdout.write(`Try, in another terminal in this directory:\n`);
      io.stdout.write(`  ssmax send --from ${a.address} --to ${b.address} --subject "Hello" --body "Files attached." --file README.md --pin ${a.pin}\n`);
      io.stdout.write(`  ssmax inbox --user ${b.address} --password ${b.password} --pin ${b.pin}\n`);
    }
    io.stdout.write('Ready. Press Ctrl-C to stop.\n');
    if (!stopRequested && !stop?.aborted) await stopped;
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stop?.removeEventListener('abort', onAbort);
    await control?.close().catch(() => undefined);
    await world?.close();
    await removeWorldState(statePath);
    if (!storageArg) rmSync(storageDir, { recursive: true, force: true });
    if (world) io.stdout.write('Stopped.\n');
  }
}
