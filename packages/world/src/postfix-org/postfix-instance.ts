/**
 * One Postfix instance from a generated configuration directory (postfix-config.ts): `postfix -c DIR check`
 * creates its queue, `postfix -c DIR start-fg` runs its master in the foreground as our child, SIGTERM stops
 * it. The system instance in /etc/postfix is never touched. Every daemon of the instance carries
 * `MAIL_CONFIG=<its conf dir>` in its environment: that is how leftovers of a killed master are found and
 * stopped, before a start and after a stop, so nothing of the instance outlives {@link PostfixInstance.stop}.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { SsmaxError } from '@ssmax/core';
import {
  mailboxesMap,
  mainCf,
  masterCf,
  POSTFIX_MAIL_OWNER,
  postfixPaths,
  tlsPolicyMap,
  transportMap,
  type PostfixConfigOptions,
  type PostfixPeer,
} from './postfix-config.js';

const execFileP = promisify(execFile);
const POSTFIX = '/usr/sbin/postfix';

export interface PostfixInstanceOptions extends PostfixConfigOptions {
  /** Local mailboxes (virtual_mailbox_maps). */
  readonly mailboxes: readonly string[];
  readonly peers: readonly PostfixPeer[];
  /** Milliseconds to wait for the listeners (default 30 s). */
  readonly startTimeoutMs?: number;
}

/** Pids of processes whose environment holds `MAIL_CONFIG=<confDir>` (this instance's daemons). */
export async function instancePids(confDir: string): Promise<number[]> {
  const needle = Buffer.from(`MAIL_CONFIG=${confDir}\0`);
  const pids: number[] = [];
  for (const name of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const env = await fs.readFile(`/proc/${name}/environ`).catch(() => undefined);
    if (env?.includes(needle)) pids.push(Number(name));
  }
  return pids;
}

/** SIGKILLs every daemon of the instance whose configuration is `confDir` and waits until they are gone; resolves with how many. */
export async function killInstance(confDir: string): Promise<number> {
  let killed = 0;
  for (let i = 0; i < 100; i++) {
    const pids = await instancePids(confDir);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // Gone already.
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return killed;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class PostfixInstance implements AsyncDisposable {
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(
    readonly options: PostfixInstanceOptions,
    private readonly proc: ChildProcess,
    private readonly output: string[],
  ) {
    this.#exit = new Promise((r) => proc.once('exit', () => ((this.#exited = true), r())));
  }

  get confDir(): string {
    return postfixPaths(this.options.dir).conf;
  }

  /** The master's pid. */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The instance's log (maillog_file through postlogd). */
  log(): string {
    const p = postfixPaths(this.options.dir).maillog;
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  }

  /** Writes the configuration, creates the queue and starts the master; resolves once the MX and MSA accept connections. */
  static async start(o: PostfixInstanceOptions): Promise<PostfixInstance> {
    const p = postfixPaths(o.dir);
    for (const d of [p.conf, p.queue, p.data, p.log]) await fs.mkdir(d, { recursive: true });
    // The daemons drop to mail_owner: the data directory (master.lock, TLS caches) must be theirs.
    const { stdout: uidLine } = await execFileP('id', ['-u', POSTFIX_MAIL_OWNER]);
    const { stdout: gidLine } = await execFileP('id', ['-g', POSTFIX_MAIL_OWNER]);
    await fs.chown(p.data, Number(uidLine.trim()), Number(gidLine.trim()));
    await fs.writeFile(`${p.conf}/main.cf`, mainCf(o), { mode: 0o644 });
    await fs.writeFile(`${p.conf}/master.cf`, masterCf(o), { mode: 0o644 });
    await fs.writeFile(p.mailboxes, mailboxesMap(o.mailboxes), { mode: 0o644 });
    await fs.writeFile(p.transport, transportMap(o.peers), { mode: 0o644 });
    await fs.writeFile(p.tlsPolicy, tlsPolicyMap(o.peers, o.outboundTls), { mode: 0o644 });
    await killInstance(p.conf);
    try {
      await execFileP(POSTFIX, ['-c', p.conf, 'check'], { env: { ...process.env, MAIL_CONFIG: p.conf } });
    } catch (e) {
      throw new SsmaxError(
        'IO_ERROR',
        `Cannot start Postfix in ${o.dir}. postfix check failed: ${String((e as { stderr?: unknown }).stderr ?? (e as Error).message)
          .trim()
          .slice(0, 500)} ${readTail(p.maillog)}`,
      );
    }
    const output: string[] = [];
    const proc = spawn(POSTFIX, ['-c', p.conf, 'start-fg'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MAIL_CONFIG: p.conf } });
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => output.push(d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => output.push(d));
    proc.once('error', (e) => output.push(e.message));
    const pf = new PostfixInstance(o, proc, output);
    const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
    while (!pf.#exited && Date.now() < deadline) {
      if ((await canConnect(o.address, o.ports.mx)) && (await canConnect(o.address, o.ports.msa))) {
        // Mail a killed instance left queued (deferred while its filter or mailbox was gone) is tried now, not after its backoff.
        await execFileP('/usr/sbin/postqueue', ['-c', p.conf, '-f'], { env: { ...process.env, MAIL_CONFIG: p.conf } }).catch(() => undefined);
        return pf;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await pf.stop();
    throw new SsmaxError(
      'IO_ERROR',
      `Cannot start Postfix in ${o.dir}. ${pf.#exited ? 'The master exited' : 'Its listeners did not open in time'}: ${output.join('').trim().slice(-500)} ${readTail(p.maillog)}`,
    );
  }

  /** SIGTERM to the master (it stops its daemons), SIGKILL after 10 s; then any daemon of this instance still running is killed. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
      await this.#exit;
      clearTimeout(t);
    }
    await killInstance(this.confDir);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function readTail(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').slice(-5).join(' | ') : '';
}
