/**
 * Runs an outside organisation implementation (`implementation: {kind: process}` in a world file) as the
 * contract says (docs/IMPLEMENTING.md, v1): the config is a JSON file named by `--config FILE` after the
 * command and by SSMAX_ORG_CONFIG_FILE; readiness is the first JSON line on stdout with `"event":"ready"`;
 * SIGTERM stops it (SIGKILL after a grace period). Nothing else passes between the world and the
 * implementation but the network.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ORG_CONFIG_ENV, ORG_IMPLEMENTATION_CONTRACT, SsmaxError, startLocalContainer, type OrgImplementationConfig, type OrgReadyLine } from '@ssmax/core';

/** Options of {@link OrgImplementationProcess.start}. */
export interface OrgLaunchOptions {
  /** The program and its arguments (`--config FILE` is appended); in a container, the arguments after its entrypoint. */
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Run in this locally built image (testcontainers, host network) instead of as a child process. */
  readonly container?: {
    readonly image: string;
    /** Host paths mounted at the same paths (the config's directories), plus any the world file adds. */
    readonly bindMounts: readonly { readonly source: string; readonly target: string; readonly readOnly?: boolean }[];
  };
  /** Where the config file is written. */
  readonly configFile: string;
  readonly config: OrgImplementationConfig;
  /** How long the implementation may take to print its readiness line (default 120 s). */
  readonly readyTimeoutMs?: number;
  /** stderr lines, for the run's log. */
  readonly log?: (line: string) => void;
}

/** What runs the implementation: a child process or a container, seen the same way. */
interface Runner {
  /** stdout lines (a container's stdout and stderr come merged: every line is read for the readiness line). */
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr?: NodeJS.ReadableStream;
  readonly exited: Promise<void>;
  /** How it ended, for messages. */
  exitStatus(): string;
  running(): boolean;
  terminate(graceMs: number): Promise<void>;
  kill(): Promise<void>;
}

function processRunner(o: OrgLaunchOptions, program: string, args: readonly string[], spawnError: (e: Error) => void): Runner {
  const child = spawn(program, [...args, '--config', o.configFile], {
    cwd: o.cwd ?? process.cwd(),
    env: { ...process.env, ...(o.env ?? {}), [ORG_CONFIG_ENV]: o.configFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.once('error', spawnError);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    stdout: child.stdout!,
    stderr: child.stderr!,
    exited,
    exitStatus: () => String(child.exitCode ?? child.signalCode),
    running,
    async terminate(graceMs) {
      if (!running()) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
  };
}

async function containerRunner(o: OrgLaunchOptions, container: NonNullable<OrgLaunchOptions['container']>): Promise<Runner> {
  const c = await startLocalContainer({
    image: container.image,
    ...(o.command.length > 0 ? { command: [...o.command, '--config', o.configFile] } : {}),
    env: { ...(o.env ?? {}), [ORG_CONFIG_ENV]: o.configFile },
    bindMounts: container.bindMounts,
    // The simulated network is the host's loopback.
    networkMode: 'host',
  });
  let ended = false;
  void c.ended.then(() => (ended = true));
  return {
    stdout: c.output,
    exited: c.ended,
    exitStatus: () => `container ${c.id.slice(0, 12)} stopped`,
    running: () => !ended,
    terminate: (graceMs) => c.stop(graceMs),
    kill: () => c.stop(0),
  };
}

/** A running implementation (a process or a container). */
export class OrgImplementationProcess {
  #stopping: Promise<void> | undefined;

  private constructor(
    private readonly runner: Runner,
    readonly ready: OrgReadyLine,
  ) {}

  /** Writes the config, starts the program (or container) and waits for its readiness line. */
  static async start(o: OrgLaunchOptions): Promise<OrgImplementationProcess> {
    const [program, ...args] = o.command;
    if (!program && !o.container) throw new SsmaxError('USAGE', `Cannot start the implementation of ${o.config.org.id}. Its command is empty.`);
    writeFileSync(o.configFile, JSON.stringify(o.config, null, 2) + '\n', { mode: 0o600 });
    const what = o.container ? `image ${o.container.image}${o.command.length ? ` ${o.command.join(' ')}` : ''}` : o.command.join(' ');
    const stderr: string[] = [];
    const why = (text: string) =>
      new SsmaxError(
        'IO_ERROR',
        `Cannot start the implementation of ${o.config.org.id} (${what}). ${text}${stderr.length ? ` stderr: ${stderr.slice(-8).join(' | ')}` : ''}`,
      );
    let spawnFailed: ((e: Error) => void) | undefined;
    const runner = o.container ? await containerRunner(o, o.container) : processRunner(o, program!, args, (e) => spawnFailed?.(e));
    const keep = (l: string) => {
      stderr.push(l);
      if (stderr.length > 40) stderr.shift();
    };
    if (runner.stderr)
      createInterface({ input: runner.stderr }).on('line', (l) => {
        keep(l);
        o.log?.(`[${o.config.org.id}] ${l}`);
      });
    const timeoutMs = o.readyTimeoutMs ?? 120_000;
    const ready = await new Promise<OrgReadyLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(why(`It printed no readiness line within ${timeoutMs} ms.`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      spawnFailed = (e) => fail(why(`${e.message}.`));
      void runner.exited.then(() => fail(why(`It exited (${runner.exitStatus()}) before it was ready.`)));
      createInterface({ input: runner.stdout }).on('line', (line) => {
        let e: { event?: unknown; contract?: unknown; message?: unknown };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          // A container's stderr comes on this stream too: kept for the error message.
          if (!runner.stderr) keep(line);
          return o.log?.(`[${o.config.org.id}] stdout: ${line}`);
        }
        if (e.event === 'error') fail(why(`It said: ${String(e.message)}`));
        else if (e.event !== 'ready') return;
        else if (e.contract !== ORG_IMPLEMENTATION_CONTRACT)
          fail(why(`Its readiness line speaks contract ${String(e.contract)}, not ${ORG_IMPLEMENTATION_CONTRACT}.`));
        else {
          clearTimeout(timer);
          resolve(e as OrgReadyLine);
        }
      });
    }).catch(async (e: unknown) => {
      await runner.kill();
      throw e;
    });
    return new OrgImplementationProcess(runner, ready);
  }

  /** Whether it still runs. */
  get running(): boolean {
    return this.runner.running();
  }

  /** SIGKILL, as a crash would (nothing is flushed). */
  kill(): Promise<void> {
    return this.runner.kill();
  }

  /** SIGTERM, then SIGKILL after `graceMs` (default 10 s). */
  stop(graceMs = 10_000): Promise<void> {
    this.#stopping ??= this.runner.terminate(graceMs);
    return this.#stopping;
  }
}
