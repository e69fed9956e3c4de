/**
 * Runs an outside organisation implementation (`implementation: {kind: process}` in a world file) as the
 * contract says (docs/IMPLEMENTING.md, v1): the config is a JSON file named by `--config FILE` after the
 * command and by SSMAX_ORG_CONFIG_FILE; readiness is the first JSON line on stdout with `"event":"ready"`;
 * SIGTERM stops it (SIGKILL after a grace period). Nothing else passes between the world and the
 * implementation but the network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ORG_CONFIG_ENV, ORG_IMPLEMENTATION_CONTRACT, SsmaxError, type OrgImplementationConfig, type OrgReadyLine } from '@ssmax/core';

/** Options of {@link OrgImplementationProcess.start}. */
export interface OrgLaunchOptions {
  /** The program and its arguments (`--config FILE` is appended). */
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Where the config file is written. */
  readonly configFile: string;
  readonly config: OrgImplementationConfig;
  /** How long the implementation may take to print its readiness line (default 120 s). */
  readonly readyTimeoutMs?: number;
  /** stderr lines, for the run's log. */
  readonly log?: (line: string) => void;
}

/** A running implementation process. */
export class OrgImplementationProcess {
  readonly #exited: Promise<void>;
  #stopping: Promise<void> | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly ready: OrgReadyLine,
    exited: Promise<void>,
  ) {
    this.#exited = exited;
  }

  /** Writes the config, starts the program and waits for its readiness line. */
  static async start(o: OrgLaunchOptions): Promise<OrgImplementationProcess> {
    const [program, ...args] = o.command;
    if (!program) throw new SsmaxError('USAGE', `Cannot start the implementation of ${o.config.org.id}. Its command is empty.`);
    writeFileSync(o.configFile, JSON.stringify(o.config, null, 2) + '\n', { mode: 0o600 });
    const child = spawn(program, [...args, '--config', o.configFile], {
      cwd: o.cwd ?? process.cwd(),
      env: { ...process.env, ...(o.env ?? {}), [ORG_CONFIG_ENV]: o.configFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => {
      stderr.push(l);
      if (stderr.length > 40) stderr.shift();
      o.log?.(`[${o.config.org.id}] ${l}`);
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const timeoutMs = o.readyTimeoutMs ?? 120_000;
    const why = (what: string) =>
      new SsmaxError(
        'IO_ERROR',
        `Cannot start the implementation of ${o.config.org.id} (${o.command.join(' ')}). ${what}${stderr.length ? ` stderr: ${stderr.slice(-8).join(' | ')}` : ''}`,
      );
    const ready = await new Promise<OrgReadyLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(why(`It printed no readiness line within ${timeoutMs} ms.`)), timeoutMs);
      child.once('error', (e) => reject(why(`${e.message}.`)));
      void exited.then(() => reject(why(`It exited (${child.exitCode ?? child.signalCode}) before it was ready.`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let e: { event?: unknown; contract?: unknown; message?: unknown };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          return o.log?.(`[${o.config.org.id}] stdout: ${line}`);
        }
        clearTimeout(timer);
        if (e.event === 'error') reject(why(`It said: ${String(e.message)}`));
        else if (e.event !== 'ready') return;
        else if (e.contract !== ORG_IMPLEMENTATION_CONTRACT)
          reject(why(`Its readiness line speaks contract ${String(e.contract)}, not ${ORG_IMPLEMENTATION_CONTRACT}.`));
        else resolve(e as OrgReadyLine);
      });
    }).catch(async (e: unknown) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      throw e;
    });
    return new OrgImplementationProcess(child, ready, exited);
  }

  /** Whether the process still runs. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, as a crash would (nothing is flushed). */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs` (default 10 s). */
  stop(graceMs = 10_000): Promise<void> {
    this.#stopping ??= (async () => {
      if (!this.running) return this.#exited;
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    })();
    return this.#stopping;
  }
}
