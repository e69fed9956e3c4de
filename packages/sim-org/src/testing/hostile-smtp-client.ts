/**
 * One hostile SMTP client for the resource-limit tests (issue 11 item 5), run on a worker thread of its
 * own: a real attacker is another machine, so its own work (making and writing hundreds of MiB) must not
 * weigh on the event loop of the servers under test, or the test would measure itself. From one address it
 * sends, all at once and over and over: random bytes without a line end, a header field that never ends
 * and well-formed lines far past the size limit (both in DATA), a slowloris (a byte of a command every
 * 300 ms), optionally a mail with a ZIP bomb (one a second), and once each of those has been answered it opens
 * `hogSessions` sessions more. `answers` tells, as they come, how each behaviour's sessions ended (the
 * first 9 characters of the last reply, "" when the server closed without one, "refused" when the greeting
 * was not a 220); `stop()` ends it.
 *
 * The worker runs the compiled module (`tsc -b packages/sim-org` writes it), as inspection-pool.ts does.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface HostileSmtpPlan {
  /** Where to connect, and the address to leave from (sim-net `connectOptions`). */
  readonly target: { readonly host: string; readonly port: number; readonly localAddress: string };
  /** AUTH PLAIN argument to send after EHLO (the MSA), or none (the MTA-in). */
  readonly authPlain?: string;
  readonly mailFrom: string;
  readonly rcpt: string;
  /** A whole mail to send again and again (the ZIP bomb), or none. */
  readonly bomb?: string;
  /** Sessions the client opens once each other behaviour has had its answer (or after 30 s). */
  readonly hogSessions: number;
  /** Only these behaviours (all by default): a test of one reply. */
  readonly only?: readonly HostileBehaviour[];
}

export type HostileBehaviour = 'garbage' | 'endless-header' | 'huge-data' | 'slowloris' | 'zip-bomb' | 'hog';

/** How each behaviour's sessions ended: the distinct reply prefixes seen. */
export type HostileSmtpReport = Record<string, string[]>;

interface HostileSmtpClient {
  /** How each behaviour's sessions ended so far. */
  readonly answers: HostileSmtpReport;
  stop(): Promise<void>;
}

/** Starts the hostile client on a worker thread; it runs until `stop()`. */
export function startHostileSmtpClient(plan: HostileSmtpPlan): HostileSmtpClient {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith('.ts') ? new URL('../../dist/testing/hostile-smtp-client.js', here) : here;
  if (!existsSync(fileURLToPath(url))) throw new Error(`Cannot start the hostile client. ${fileURLToPath(url)} is missing: run npm run build.`);
  const worker = new Worker(url, { workerData: { hostileSmtp: plan }, execArgv: [] });
  worker.on('error', () => undefined);
  const answers: HostileSmtpReport = {};
  worker.on('message', (m: { name: string; reply: string } | 'stopped') => {
    if (m === 'stopped') return;
    const seen = (answers[m.name] ??= []);
    if (!seen.includes(m.reply)) seen.push(m.reply);
  });
  return {
    answers,
    stop: () =>
      new Promise<void>((resolve) => {
        worker.on('message', (m) => {
          if (m === 'stopped') void worker.terminate().then(() => resolve());
        });
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
      }),
  };
}

/** One session: the replies as they come, and whether the server closed. */
class Session {
  private buf = '';
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => this.wake());
  }

  static open(t: HostileSmtpPlan['target']): Promise<Session> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: t.host, port: t.port, localAddress: t.localAddress });
      s.once('connect', () => resolve(new Session(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get pending(): boolean {
    return this.buf === '';
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return '';
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /**
   * Writes chunk after chunk, with backpressure, until the server replies or closes or `stop()`. After each
   * chunk it lets the event loop poll for input (`setImmediate` runs after the poll phase): on loopback a write
   * completes at once and 'drain' comes on the next tick, so a loop that only awaited 'drain' never read the
   * server's reply. It wrote on (380 MB in 5 s) into a server that had answered `421` and half-closed, until
   * smtp-server's 5 s half-close deadline reset the connection and the unread reply was lost (EPIPE): the
   * session ended "" instead of "421 Error" (4 of 5 garbage sessions in one instrumented run; issue 11).
   */
  async stream(chunk: () => Buffer, stop: () => boolean): Promise<void> {
    while (!stop() && !this.closed && this.pending) {
      if (!this.socket.write(chunk()))
        await new Promise<void>((r) => {
          // Both listeners go when either fires: one left behind per wait was a leak (MaxListenersExceededWarning).
          const go = () => {
            this.socket.off('drain', go);
            this.socket.off('close', go);
            r();
          };
          this.socket.once('drain', go);
          this.socket.once('close', go);
        });
      await new Promise((r) => setImmediate(r));
    }
  }
}

class Refused extends Error {}

async function run(plan: HostileSmtpPlan): Promise<void> {
  // The lowest CPU priority for this thread only (Linux setpriority on a thread id): the attacker's own
  // work stands for another machine's, so on a busy test machine it yields to the servers under test.
  setPriority(19);
  let stop = false;
  const done = () => stop;
  const answered = new Set<string>();
  const note = (name: string, reply: string): void => {
    if (reply !== 'refused') answered.add(name);
    parentPort!.postMessage({ name, reply: reply.slice(0, 9) });
  };
  const open = new Set<Session>();
  const session = async () => {
    const s = await Session.open(plan.target);
    if (stop) s.socket.destroy();
    open.add(s);
    s.socket.once('close', () => open.delete(s));
    return s;
  };
  const expect = (reply: string, code: string) => {
    if (!reply.startsWith(code)) throw new Refused(reply);
  };
  /** Greeting, EHLO, AUTH at the MSA; MAIL, RCPT, DATA when `data`. */
  const begin = async (s: Session, data: boolean) => {
    expect(await s.reply(), '220');
    expect(await s.command('EHLO hostile.example'), '250');
    if (plan.authPlain) expect(await s.command(`AUTH PLAIN ${plan.authPlain}`), '235');
    if (!data) return;
    expect(await s.command(`MAIL FROM:<${plan.mailFrom}>`), '250');
    expect(await s.command(`RCPT TO:<${plan.rcpt}>`), '250');
    expect(await s.command('DATA'), '354');
  };
  const runs = (name: HostileBehaviour) => !plan.only || plan.only.includes(name);
  const loop = async (name: HostileBehaviour, round: (s: Session) => Promise<void>) => {
    while (!stop && runs(name)) {
      const s = await session().catch(() => undefined);
      if (!s) continue;
      try {
        await round(s);
        const reply = await s.reply();
        if (!stop) note(name, reply);
      } catch (e) {
        // Not a session that stop() cut short: its greeting or reply "failed" only because the client left.
        if (!stop) note(name, e instanceof Refused ? 'refused' : 'error');
        // A refused session comes back at once: keep the loop from spinning on the greeting delay alone.
        await new Promise((r) => setTimeout(r, 20));
      } finally {
        s.socket.destroy();
      }
    }
  };
  const lines = Buffer.from(`${'x'.repeat(998)}\r\n`.repeat(64));
  const endless = Buffer.alloc(64 * 1024, 0x61);
  const loops = [
    loop('garbage', async (s) => {
      expect(await s.reply(), '220');
      await s.stream(() => Buffer.from(randomBytes(8192).map((b) => (b === 10 || b === 13 ? 32 : b))), done);
    }),
    loop('endless-header', async (s) => {
      await begin(s, true);
      s.socket.write(`From: ${plan.mailFrom}\r\nX-Endless: `);
      await s.stream(() => endless, done);
    }),
    loop('huge-data', async (s) => {
      await begin(s, true);
      await s.stream(() => lines, done);
    }),
    loop('slowloris', async (s) => {
      await begin(s, false);
      for (const c of `MAIL FROM:<${plan.mailFrom}> `.repeat(1000)) {
        if (stop || s.closed) break;
        s.socket.write(c);
        await new Promise((r) => setTimeout(r, 300));
      }
    }),
    ...(plan.bomb
      ? [
          loop('zip-bomb', async (s) => {
            await begin(s, true);
            s.socket.write(`${plan.bomb}\r\n.\r\n`);
            // One bomb a second at most: each costs the MX a worker's inflating budget and a clamd scan.
            await new Promise((r) => setTimeout(r, 1000));
          }),
        ]
      : []),
  ];
  const hog = (async () => {
    if (!runs('hog')) return;
    const all: HostileBehaviour[] = ['garbage', 'endless-header', 'huge-data', ...(plan.bomb ? ['zip-bomb' as const] : [])];
    const others = all.filter(runs);
    for (let waited = 0; waited < 30_000 && !stop && others.some((n) => !answered.has(n)); waited += 100) await new Promise((r) => setTimeout(r, 100));
    const greetings: Promise<void>[] = [];
    for (let i = 0; i < plan.hogSessions && !stop; i++) {
      const s = await session().catch(() => undefined);
      if (s) greetings.push(s.reply().then((r) => note('hog', r)));
    }
    await Promise.all(greetings);
  })();
  parentPort!.once('message', () => {
    stop = true;
    for (const s of open) s.socket.destroy();
    void Promise.allSettled([...loops, hog]).then(() => parentPort!.postMessage('stopped'));
  });
}

const data = workerData as { hostileSmtp?: HostileSmtpPlan } | null;
if (!isMainThread && data?.hostileSmtp) void run(data.hostileSmtp);
