/**
 * The runner's side of fuzz-host.ts: forks the compiled entry, waits for `ready`, collects the registry's
 * internal-error lines and the uncaught error that ended the child, and stops it. A crashed host is replaced by
 * {@link FuzzHost.start} on a fresh directory.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostMessage, HostReady } from './fuzz-host.js';

const READY_TIMEOUT_MS = 180_000;

export class FuzzHost implements AsyncDisposable {
  #registryErrors: string[] = [];
  #uncaught: { name: string; message: string } | undefined;
  #exited = false;
  readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly ready: HostReady,
    readonly dir: string,
    readonly stderr: string[],
  ) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
    void this.exited.then(() => (this.#exited = true));
    child.on('message', (m: HostMessage) => {
      if (m.type === 'registry-error') this.#registryErrors.push(m.line);
      else if (m.type === 'uncaught') this.#uncaught = { name: m.name, message: m.message };
    });
  }

  static async start(seed: number): Promise<FuzzHost> {
    const dir = mkdtempSync(join(tmpdir(), 'ssmax-fuzz-host-'));
    // Dovecot's unprivileged mail processes must traverse to the world's mail directories.
    chmodSync(dir, 0o711);
    const child = fork(new URL('./fuzz-host.js', import.meta.url), [dir, String(seed)], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const stderr: string[] = [];
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr.push(d.slice(0, 2000));
      if (stderr.length > 50) stderr.shift();
    });
    const ready = await new Promise<HostReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Cannot start the fuzz host. No ready within ${READY_TIMEOUT_MS} ms.`)), READY_TIMEOUT_MS);
      child.on('message', (m: HostMessage) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m);
        } else if (m.type === 'uncaught') {
          clearTimeout(timer);
          reject(new Error(`Cannot start the fuzz host. ${m.name}: ${m.message}`));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Cannot start the fuzz host. It exited with code ${code}: ${stderr.join('').slice(-1500)}`));
      });
    }).catch((e: unknown) => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw e;
    });
    return new FuzzHost(child, ready, dir, stderr);
  }

  get alive(): boolean {
    return !this.#exited;
  }

  /** Why the host died: the uncaught error it reported, else its exit. */
  get deathCause(): { name: string; message: string } {
    return this.#uncaught ?? { name: 'HostExit', message: `the host exited (code ${this.child.exitCode ?? this.child.signalCode})` };
  }

  /** The registry's internal-error log lines since the last call. */
  takeRegistryErrors(): string[] {
    const out = this.#registryErrors;
    this.#registryErrors = [];
    return out;
  }

  async close(): Promise<void> {
    if (this.alive) {
      this.child.send({ type: 'stop' });
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (this.alive) this.child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
