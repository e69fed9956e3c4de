/**
 * The test side of testing/org-process.ts: spawns the compiled entry with `node`, reads its JSON-line
 * events, sends commands, and kills it (SIGKILL, as a crash would) or stops it. Not exported from the
 * package index.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { OrgProcessConfig, OrgProcessEvent } from './org-process.js';

type Ready = Extract<OrgProcessEvent, { event: 'ready' }>;

/** The parent's DNS zone as the child org writes to it (its domain-control TXT records, procedure (1)). */
export interface ParentDns {
  /** Resolves (when it returns a promise) once the record is visible to whoever checks it. */
  publishTxt(name: string, value: string): void | Promise<void>;
  withdrawTxt(name: string, value: string): void | Promise<void>;
}

export class OrgProcess implements AsyncDisposable {
  readonly events: OrgProcessEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: { match: (e: OrgProcessEvent) => boolean; resolve: (e: OrgProcessEvent) => void }[] = [];
  #ready: Ready | undefined;

  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    dns: ParentDns | undefined,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: OrgProcessEvent;
      try {
        e = JSON.parse(line) as OrgProcessEvent;
      } catch {
        this.stderr.push(`stdout: ${line}`);
        return;
      }
      if (e.event === 'dns') {
        // Without a zone to write to, nothing is published and the registry refuses the enrolment (E11).
        void Promise.resolve(e.op === 'publish' ? dns?.publishTxt(e.name, e.value) : dns?.withdrawTxt(e.name, e.value)).finally(() => {
          if (this.child.exitCode === null && this.child.signalCode === null) this.child.stdin.write(JSON.stringify({ cmd: 'dns-done', seq: e.seq }) + '\n');
        });
        return;
      }
      this.events.push(e);
      this.#waiters = this.#waiters.filter((w) => (w.match(e) ? (w.resolve(e), false) : true));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => this.stderr.push(d));
    // A command written as the child dies (SIGKILL) fails with EPIPE: the exit is what the caller watches.
    child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /**
   * Spawns `node <entry> <config>` and waits for its `ready` line; `dns` is the zone the org's domain lives in.
   * `onSpawn` sees the child before it is ready (a harness that kills it during its start-up).
   */
  static async start(
    entry: string,
    config: OrgProcessConfig,
    dns?: ParentDns,
    timeoutMs = 120_000,
    onSpawn?: (child: ChildProcessWithoutNullStreams) => void,
  ): Promise<OrgProcess> {
    const child = spawn(process.execPath, [entry, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    onSpawn?.(child);
    const p = new OrgProcess(child, dns);
    const first = await Promise.race([
      p.next((e) => e.event === 'ready' || e.event === 'error', timeoutMs),
      p.exited.then((x) => ({ event: 'error', message: `exited ${x.code ?? x.signal}` }) as const),
    ]);
    if (first.event !== 'ready') {
      child.kill('SIGKILL');
      throw new Error(`Cannot start org process ${config.id}. ${first.event === 'error' ? first.message : first.event}\n${p.stderr.join('')}`);
    }
    p.#ready = first;
    return p;
  }

  get ready(): Ready {
    return this.#ready!;
  }

  /** Resolves with the next event `match` accepts (events already seen do not count). */
  next(match: (e: OrgProcessEvent) => boolean, timeoutMs = 60_000): Promise<OrgProcessEvent> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`No matching event from the org process within ${timeoutMs} ms.\n${this.stderr.join('')}`)), timeoutMs);
      this.#waiters.push({ match, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  }

  send(cmd: { cmd: 'idle' | 'stop' }): void {
    this.child.stdin.write(JSON.stringify(cmd) + '\n');
  }

  /** Waits until the child's spools are empty and no worker runs. */
  async idle(timeoutMs = 120_000): Promise<void> {
    const got = this.next((e) => e.event === 'idle' || e.event === 'error', timeoutMs);
    this.send({ cmd: 'idle' });
    const e = await got;
    if (e.event === 'error') throw new Error(`Org process did not become idle. ${e.message}`);
  }

  /** SIGKILL: no handler runs, nothing is flushed; what survives is what was on disk. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send({ cmd: 'stop' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
