/**
 * `ssmax conformance`: the checklist an organisation implementation is held to (docs/IMPLEMENTING.md §8).
 * Each row is one duty of an org, checked by scenarios of the matrix (under ssmax-org, in the world given)
 * or by a probe that talks to the implementation's MX and MSA directly. A row is pass, fail,
 * not-observable (a cell needed what only an in-process org gives) or not-applicable (the row is about the
 * other side: the scenarios send from the world's `sender` org to its `recipient` org).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createServer, type Socket } from 'node:net';
import { SsmaxError } from '@ssmax/core';
import { World } from '../world.js';
import { implementationName, type WorldConfig } from '../world-config.js';
import { createMatrixExecutor } from '../executor/matrix-executor.js';
import { BUNDLED_SCENARIOS, loadScenarios } from '../runner/load-scenarios.js';
import { runMatrix } from '../runner/run-matrix.js';
import type { Matrix, MatrixMeta, MatrixResult } from '../runner/types.js';

/** The profile every conformance cell runs under. */
export const CONFORMANCE_PROFILE = 'ssmax-org' as const;

/** Which side of the scenarios' mail a row checks: the sending org, the receiving org, or whichever is under test. */
export type ConformanceRole = 'sending' | 'receiving' | 'any';

/** A check that talks to the implementation itself instead of running scenarios. */
export type ConformanceProbe = 'mx-bad-input' | 'msa-bad-input' | 'durability-250';

export interface ConformanceRow {
  /** Stable id (junit testcase name). */
  readonly id: string;
  /** The paper's procedure, or the service the row is about. */
  readonly procedure: string;
  readonly title: string;
  readonly role: ConformanceRole;
  /** Scenario ids (scenarios/<id>.yaml) whose ssmax-org cells decide the row. */
  readonly scenarios?: readonly string[];
  readonly probe?: ConformanceProbe;
}

/** The checklist, as data: procedure → what checks it. */
export const CONFORMANCE_ROWS: readonly ConformanceRow[] = [
  {
    id: 'p4-user-signature',
    procedure: '(4)',
    title: 'the MSA verifies the card signature and refuses a signer who is not the From',
    role: 'sending',
    scenarios: ['b-insider-signs-as-colleague'],
  },
  {
    id: 'p5-outbound-inspection',
    procedure: '(5)',
    title: 'outbound DLP keeps a confidential file from a non-member',
    role: 'sending',
    scenarios: ['b-insider-exfiltrates-to-non-member'],
  },
  {
    id: 'p6-reencrypt-send',
    procedure: '(6)',
    title: 're-encrypts the files to the receiving org, org-signs and sends',
    role: 'sending',
    scenarios: ['baseline-member-confidential-file'],
  },
  {
    id: 'p7-org-signature',
    procedure: '(7)',
    title: "refuses a member's domain without a valid org signature, and a wrapped signature",
    role: 'receiving',
    scenarios: ['i2-direct-to-mx-spoof-encrypted-zip', 'johnny-signature-wrapping'],
  },
  {
    id: 'p8-inbound-inspection',
    procedure: '(8)',
    title: 'inbound inspection blocks a macro document from a member',
    role: 'receiving',
    scenarios: ['c-esp-user-sends-macro-document'],
  },
  {
    id: 'p9-reencrypt-deliver',
    procedure: '(9)',
    title: 're-encrypts to the recipient, signs and delivers over LMTP; the agent shows the proofed identity',
    role: 'receiving',
    scenarios: ['baseline-member-confidential-file'],
  },
  {
    id: 'p12-report',
    procedure: '(12)',
    title: 'files the registry case for a mail its user reports (receiving org)',
    role: 'receiving',
    scenarios: ['b-insider-with-card-and-pin'],
  },
  {
    id: 'p12-trace-revoke',
    procedure: '(12)',
    title: 'traces the reported sender and revokes the card (sending org)',
    role: 'sending',
    scenarios: ['b-insider-with-card-and-pin'],
  },
  {
    id: 'mx-bad-input',
    procedure: 'MX',
    title: 'refuses ambiguous From fields, bad SMTP, unknown users and relaying with 5xx; keeps serving',
    role: 'any',
    scenarios: ['a-from-ambiguity-two-from-fields'],
    probe: 'mx-bad-input',
  },
  {
    id: 'msa-bad-input',
    procedure: 'MSA',
    title: 'refuses submission without AUTH, a wrong password and an unsigned mail',
    role: 'any',
    probe: 'msa-bad-input',
  },
  {
    id: 'durability-250',
    procedure: '250',
    title: 'a mail it answered 250 for is delivered once after it is killed and restarted',
    role: 'any',
    probe: 'durability-250',
  },
];

export type ConformanceStatus = 'pass' | 'fail' | 'not-observable' | 'not-applicable';

export interface ConformanceRowResult {
  readonly row: ConformanceRow;
  readonly status: ConformanceStatus;
  /** The org the row checked (world org id), when applicable. */
  readonly org?: string;
  /** Why, in one line per cell or probe step. */
  readonly detail: readonly string[];
  readonly durationMs: number;
}

export interface ConformanceReport {
  readonly world: string;
  /** Org id → implementation name. */
  readonly implementations: Readonly<Record<string, string>>;
  /** The orgs under test: the outside implementations (all orgs when every org is builtin). */
  readonly underTest: readonly string[];
  readonly rows: readonly ConformanceRowResult[];
  /** The scenario cells the rows rest on. */
  readonly matrix: Matrix;
  readonly durationMs: number;
}

export interface RunConformanceOptions {
  readonly world: WorldConfig;
  /** The world file's name, for the report. */
  readonly worldFile: string;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  readonly meta: Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles'>;
  /** Only these rows (ids); default all. */
  readonly rows?: readonly string[];
}

/** The orgs the scenarios send from and to: the world's `sender` and `recipient` orgs. */
function sides(world: WorldConfig): { sending: string; receiving: string } {
  const by = (role: 'sender' | 'recipient') => world.orgs.find((o) => o.role === role)?.id;
  const sending = by('sender');
  const receiving = by('recipient');
  if (!sending || !receiving)
    throw new SsmaxError(
      'USAGE',
      "Cannot run the conformance rows. The world needs an org with role: sender and one with role: recipient (the scenarios' org-a and org-b).",
    );
  return { sending, receiving };
}

/** Runs the checklist against the outside implementations of `o.world`. */
export async function runConformance(o: RunConformanceOptions): Promise<ConformanceReport> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const implementations = Object.fromEntries(o.world.orgs.map((x) => [x.id, implementationName(x.implementation)]));
  const outside = o.world.orgs.filter((x) => (x.implementation?.kind ?? 'builtin') !== 'builtin').map((x) => x.id);
  const { sending, receiving } = sides(o.world);
  const underTest = outside.length > 0 ? outside : [sending, receiving];
  const rows = CONFORMANCE_ROWS.filter((r) => !o.rows || o.rows.includes(r.id));
  const orgOf = (r: ConformanceRow): string | undefined =>
    r.role === 'sending'
      ? underTest.includes(sending)
        ? sending
        : undefined
      : r.role === 'receiving'
        ? underTest.includes(receiving)
          ? receiving
          : undefined
        : underTest.includes(receiving)
          ? receiving
          : underTest[0];
  const applicable = rows.filter((r) => orgOf(r) !== undefined);
  const ids = [...new Set(applicable.flatMap((r) => r.scenarios ?? []))];
  const seed = o.seed ?? 20261207;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-conformance-'));
  // Dovecot's unprivileged mail processes must traverse to the mail directories.
  fs.chmodSync(root, 0o711);
  try {
    let matrix: Matrix;
    // Rows decided by probes alone (`--row msa-bad-input --row durability-250`) need no cells.
    const started = new Date();
    if (ids.length === 0)
      matrix = {
        meta: {
          ...o.meta,
          worlds: [{ file: o.worldFile, implementations }],
          startedAt: started.toISOString(),
          seed,
          clockStart: started.toISOString(),
          profiles: [CONFORMANCE_PROFILE],
          durationMs: 0,
        },
        results: [],
      };
    else {
      const executor = createMatrixExecutor({ world: o.world, seed, storageDir: path.join(root, 'cells'), log });
      try {
        matrix = await runMatrix({
          scenarios: loadScenarios(ids.map((id) => path.join(BUNDLED_SCENARIOS, `${id}.yaml`))),
          profiles: [CONFORMANCE_PROFILE],
          executor,
          seed,
          clockStart: new Date(),
          meta: { ...o.meta, worlds: [{ file: o.worldFile, implementations }] },
          log,
          onCell: (r) =>
            log(
              `cell ${r.scenarioId}: ${r.notObservable ? 'not observable' : r.actual === null ? 'error' : r.pass ? 'as expected' : 'differs'} (${r.durationMs} ms)`,
            ),
        });
      } finally {
        await executor.close?.();
      }
    }
    const probes = applicable.filter((r) => r.probe !== undefined);
    const probed = new Map<string, { ok: boolean; detail: string[]; ms: number }>();
    if (probes.length > 0) {
      fs.mkdirSync(path.join(root, 'probes'), { recursive: true });
      fs.chmodSync(path.join(root, 'probes'), 0o711);
      const world = await World.create(o.world, { storageDir: path.join(root, 'probes'), profile: CONFORMANCE_PROFILE, seed, retryMs: 100 });
      try {
        for (const r of probes) {
          const p0 = Date.now();
          const detail: string[] = [];
          let ok: boolean;
          try {
            ok = await PROBES[r.probe!](world, orgOf(r)!, sending, receiving, detail);
          } catch (e) {
            ok = false;
            detail.push(`probe failed: ${(e as Error).message}`);
          }
          log(`probe ${r.id} on ${orgOf(r)}: ${ok ? 'pass' : 'fail'}`);
          probed.set(r.id, { ok, detail, ms: Date.now() - p0 });
        }
      } finally {
        await world.close();
      }
    }
    const results = rows.map((row): ConformanceRowResult => {
      const org = orgOf(row);
      if (org === undefined)
        return {
          row,
          status: 'not-applicable',
          detail: [`checks the ${row.role} org (${row.role === 'sending' ? sending : receiving}), which is builtin, not under test`],
          durationMs: 0,
        };
      const cells = (row.scenarios ?? []).map((id) => matrix.results.find((x) => x.scenarioId === id)).filter((x): x is MatrixResult => x !== undefined);
      const probe = probed.get(row.id);
      const detail = [...cells.map(cellLine), ...(probe ? probe.detail.map((d) => `probe: ${d}`) : [])];
      const failed = cells.some((c) => !c.pass && c.notObservable === undefined) || (probe !== undefined && !probe.ok);
      const unobserved = cells.some((c) => c.notObservable !== undefined);
      return {
        row,
        org,
        status: failed ? 'fail' : unobserved ? 'not-observable' : 'pass',
        detail,
        durationMs: cells.reduce((t, c) => t + c.durationMs, 0) + (probe?.ms ?? 0),
      };
    });
    return { world: o.worldFile, implementations, underTest, rows: results, matrix, durationMs: Date.now() - t0 };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function cellLine(c: MatrixResult): string {
  if (c.notObservable !== undefined) return `${c.scenarioId}: not observable: ${c.notObservable}`;
  if (c.actual === null) return `${c.scenarioId}: error: ${(c.error ?? '').split('\n')[0]}`;
  if (c.pass) return `${c.scenarioId}: as expected (${c.actual.verdict}, traced ${c.actual.traced})`;
  return `${c.scenarioId}: ${c.mismatches.map((f) => `${f} expected ${String(c.expected[f])}, got ${String(c.actual![f])}`).join('; ')}`;
}

// ---- probes: SMTP straight at the implementation's MX and MSA, as any client on the network could ----

/** A line-based SMTP dialogue over one connection: `send` writes a line and resolves with the reply (all lines), '' when the server closed. */
class SmtpDialogue {
  #buf = '';
  #waiting: ((reply: string) => void) | undefined;
  #closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.#buf += d;
      this.#flush();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#waiting?.('');
      this.#waiting = undefined;
    });
    socket.on('error', () => undefined);
  }

  static async open(world: World, host: string, port: number): Promise<{ dialogue: SmtpDialogue; greeting: string }> {
    const socket = await world.net.connect(world.net.address('conformance/prober'), host, port);
    const dialogue = new SmtpDialogue(socket);
    return { dialogue, greeting: await dialogue.#next() };
  }

  #flush(): void {
    // A reply is complete at a line "NNN " (RFC 5321 §4.2: the last line of a multiline reply has a space).
    const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.#buf);
    if (!m || !this.#waiting) return;
    const end = m.index + m[0].length;
    const reply = this.#buf.slice(0, end).trim();
    this.#buf = this.#buf.slice(end);
    const w = this.#waiting;
    this.#waiting = undefined;
    w(reply);
  }

  #next(timeoutMs = 15_000): Promise<string> {
    if (this.#closed && this.#buf === '') return Promise.resolve('');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        resolve('(no reply)');
      }, timeoutMs);
      this.#waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.#flush();
    });
  }

  send(line: string): Promise<string> {
    if (!this.#closed) this.socket.write(line + '\r\n');
    return this.#next();
  }

  close(): void {
    this.socket.destroy();
  }
}

const code = (reply: string): string => reply.slice(0, 3);
const isPermanent = (reply: string): boolean => /^5\d\d/.test(reply);

/** Expects `reply` to satisfy `ok`; records the step either way. */
function step(detail: string[], what: string, reply: string, ok: boolean): boolean {
  detail.push(`${what}: ${reply.split('\r\n').at(-1)?.slice(0, 120) || '(closed)'}${ok ? '' : ' ✗'}`);
  return ok;
}

/** Polls `ok` every 5 ms for up to `ms`; resolves with its last answer. */
async function within(ms: number, ok: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  return ok();
}

/** A delivery side the durability probe holds: every connection to it is answered 421 until {@link release}. */
interface Hold {
  readonly what: string;
  /** Connections it answered 421. */
  readonly attempts: number;
  /** Restores the real service (idempotent). */
  release(): Promise<void>;
}

/** Holds the peer's MX (`host`:25) with an on-path handler that greets every client with 421 (RFC 5321 §3.8). */
function holdMx(world: World, host: string): Hold {
  let attempts = 0;
  const hook = world.net.insertOnPath({ host, port: 25 }, (socket) => {
    attempts++;
    socket.on('error', () => undefined);
    socket.end(`421 4.3.2 ${host} held by the conformance probe\r\n`);
  });
  return {
    what: host,
    get attempts() {
      return attempts;
    },
    release: () => {
      hook.remove();
      return Promise.resolve();
    },
  };
}

/**
 * Holds the org's mailbox: Dovecot's LMTP socket is moved aside and a listener at its path greets every
 * client with 421 (RFC 2033 §4.1, RFC 5321 §3.8); release puts Dovecot's socket back (its listener never stopped).
 */
async function holdLmtp(socketPath: string): Promise<Hold> {
  const aside = `${socketPath}.held-by-conformance`;
  fs.renameSync(socketPath, aside);
  let attempts = 0;
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    attempts++;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    socket.end('421 4.3.2 mailbox held by the conformance probe\r\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    fs.chmodSync(socketPath, 0o666);
  } catch (e) {
    fs.renameSync(aside, socketPath);
    throw e;
  }
  let released: Promise<void> | undefined;
  return {
    what: `its mailbox's LMTP socket`,
    get attempts() {
      return attempts;
    },
    release: () =>
      (released ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const x of open) x.destroy();
        await closed;
        fs.rmSync(socketPath, { force: true });
        fs.renameSync(aside, socketPath);
      })()),
  };
}

const PROBES: Record<ConformanceProbe, (world: World, org: string, sending: string, receiving: string, detail: string[]) => Promise<boolean>> = {
  /**
   * Out-of-order and unknown commands, a recipient it has no mailbox for, relaying and DATA without a
   * recipient get 5xx (RFC 5321 §4.1.4, §3.6.2, §4.2.4, §7.1); a new session is served afterwards.
   */
  async 'mx-bad-input'(world, org, _s, _r, detail) {
    const domain = world.org(org).domain;
    const rcpt = world.org(org).users[0]?.address ?? `postmaster@${domain}`;
    const first = await SmtpDialogue.open(world, `mx.${domain}`, 25);
    let ok = step(detail, 'greeting', first.greeting, code(first.greeting) === '220');
    try {
      const d = first.dialogue;
      const ehlo = await d.send('EHLO prober.example');
      ok = step(detail, 'EHLO', ehlo, code(ehlo) === '250') && ok;
      const early = await d.send(`RCPT TO:<${rcpt}>`);
      ok = step(detail, 'RCPT before MAIL', early, code(early) === '503') && ok;
      const junk = await d.send('XYZZY plugh');
      ok = step(detail, 'unknown command', junk, isPermanent(junk)) && ok;
      const from = await d.send('MAIL FROM:<prober@prober.example>');
      ok = step(detail, 'MAIL FROM', from, code(from) === '250') && ok;
      const unknown = await d.send(`RCPT TO:<no-such-user-${Date.now()}@${domain}>`);
      ok = step(detail, 'RCPT to no user of its domain', unknown, isPermanent(unknown)) && ok;
      const relay = await d.send('RCPT TO:<someone@elsewhere.example>');
      ok = step(detail, 'RCPT to a domain it does not serve (relaying)', relay, isPermanent(relay)) && ok;
      const data = await d.send('DATA');
      ok = step(detail, 'DATA without a recipient', data, isPermanent(data)) && ok;
    } finally {
      first.dialogue.close();
    }
    const again = await SmtpDialogue.open(world, `mx.${domain}`, 25);
    try {
      ok = step(detail, 'a new session: greeting', again.greeting, code(again.greeting) === '220') && ok;
      const ehlo = await again.dialogue.send('EHLO prober.example');
      ok = step(detail, 'a new session: EHLO', ehlo, code(ehlo) === '250') && ok;
      await again.dialogue.send('QUIT');
    } finally {
      again.dialogue.close();
    }
    return ok;
  },

  /** Submission without AUTH, with a wrong password, and an unsigned mail after a good AUTH: each refused with 5xx ((4), RFC 4954 §6). */
  async 'msa-bad-input'(world, org, _s, _r, detail) {
    const o = world.org(org);
    const u = o.users[0];
    if (!u) throw new SsmaxError('USAGE', `Cannot probe the MSA of ${org}. The world gives it no user.`);
    const plain = (pass: string) => Buffer.from(`\0${u.address}\0${pass}`).toString('base64');
    const { dialogue: d, greeting } = await SmtpDialogue.open(world, `msa.${o.domain}`, 587);
    let ok = step(detail, 'greeting', greeting, code(greeting) === '220');
    try {
      const ehlo = await d.send('EHLO prober.example');
      ok = step(detail, 'EHLO', ehlo, code(ehlo) === '250') && ok;
      const anon = await d.send(`MAIL FROM:<${u.address}>`);
      ok = step(detail, 'MAIL without AUTH', anon, isPermanent(anon)) && ok;
      if (code(anon) === '250') await d.send('RSET');
      const wrong = await d.send(`AUTH PLAIN ${plain(`${u.password}-wrong`)}`);
      ok = step(detail, 'AUTH with a wrong password', wrong, code(wrong) === '535') && ok;
      const good = await d.send(`AUTH PLAIN ${plain(u.password)}`);
      ok = step(detail, 'AUTH with the right password', good, code(good) === '235') && ok;
      const from = await d.send(`MAIL FROM:<${u.address}>`);
      const to = await d.send(`RCPT TO:<${u.address}>`);
      const data = await d.send('DATA');
      ok = step(detail, 'MAIL, RCPT, DATA', `${code(from)} ${code(to)} ${data}`, code(from) === '250' && code(to) === '250' && code(data) === '354') && ok;
      const end = await d.send(
        [
          `From: <${u.address}>`,
          `To: <${u.address}>`,
          'Subject: unsigned',
          `Message-ID: <unsigned-${Date.now()}@prober.example>`,
          `Date: ${new Date().toUTCString()}`,
          '',
          'This mail carries no card signature.',
          '.',
        ].join('\r\n'),
      );
      ok = step(detail, 'an unsigned mail', end, isPermanent(end)) && ok;
      await d.send('QUIT');
    } finally {
      d.close();
    }
    return ok;
  },

  /**
   * A mail the org under test answered 250 for (its MX's reply, or its MSA's) survives SIGKILL and restart:
   * delivered exactly once. The side it delivers to is held first (its Dovecot's LMTP socket answers 421 as
   * the receiving org; the peer's MX answers 421 as the sending org), so at the kill the mail cannot have
   * left its queue: a fast implementation cannot pass by delivering before the kill. The held side is
   * restored while it is down (the mailbox is read first: no copy yet), then it must deliver it once.
   */
  async 'durability-250'(world, org, sending, receiving, detail) {
    const outside = world.org(org).outside;
    if (!outside) {
      detail.push(`${org} is builtin: it runs in the world's process and cannot be killed alone`);
      return true;
    }
    const asReceiver = org === receiving;
    const from = world.org(asReceiver ? sending : org).users[0];
    const to = world.org(asReceiver ? org : receiving).users[0];
    if (!from || !to) throw new SsmaxError('USAGE', 'Cannot probe durability. The sending and receiving orgs need a user each.');
    const hold = asReceiver ? await holdLmtp(world.org(org).mailbox.lmtpSocket) : holdMx(world, `mx.${world.org(receiving).domain}`);
    try {
      const sent = await from.send({
        to: to.address,
        subject: 'durability of 250',
        body: 'kept across a crash',
        files: [{ name: 'kept.txt', contentType: 'text/plain', content: new TextEncoder().encode('kept across a crash') }],
        pin: from.pin,
      });
      if (asReceiver) {
        // The MX's 250 is what the sending MTA-out's `relayed` records.
        const relayed = () => world.journey(sent.messageId).some((e) => e.actor === `${sending}/mta-out` && e.outcome === 'relayed');
        if (!(await within(20_000, relayed))) {
          detail.push(`${sending}'s MTA-out never relayed ${sent.messageId} to ${org}`);
          return false;
        }
        detail.push(`its MX answered 250 for ${sent.messageId} while ${hold.what} was held`);
      } else detail.push(`its MSA answered ${code(sent.response)} for ${sent.messageId} while ${hold.what} was held`);
      // Once it has tried the held side it is retrying from its queue; an implementation slower than that is killed anyway.
      const tried = await within(20_000, () => hold.attempts > 0);
      detail.push(tried ? `${hold.what} answered 421 to its delivery (${hold.attempts} attempt(s))` : `it had not tried ${hold.what} within 20 s`);
      let early = 0;
      await outside.crashAndRestart(async () => {
        early = (await to.inbox({ password: to.password, pin: to.pin })).filter((m) => m.messageId === sent.messageId).length;
        await hold.release();
      });
      if (!step(detail, `copies in ${to.address}'s INBOX when ${org} was SIGKILLed`, String(early), early === 0)) return false;
      detail.push(`${org} started again with ${hold.what} restored`);
      await world.waitIdle(60_000);
      const copies = (await to.inbox({ password: to.password, pin: to.pin })).filter((m) => m.messageId === sent.messageId);
      return step(
        detail,
        `copies in ${to.address}'s INBOX after the restart`,
        `${copies.length}, ${copies.every((c) => c.verified) ? 'verified' : 'not verified'}`,
        copies.length === 1 && copies[0]!.verified,
      );
    } finally {
      await hold.release();
    }
  },
};

const MARK: Record<ConformanceStatus, string> = { pass: 'pass', fail: 'FAIL', 'not-observable': 'n/o', 'not-applicable': 'n/a' };

/** The checklist as a table: one row per duty, its status and why. */
export function formatConformance(r: ConformanceReport): string {
  const lines = [
    `conformance of ${r.underTest.map((id) => `${id} (${r.implementations[id]})`).join(', ')} in ${r.world}, profile ${CONFORMANCE_PROFILE}`,
    '',
    `${'row'.padEnd(24)} ${'proc.'.padEnd(5)} ${'org'.padEnd(8)} ${'result'.padEnd(6)} what`,
    `${'─'.repeat(24)} ${'─'.repeat(5)} ${'─'.repeat(8)} ${'─'.repeat(6)} ${'─'.repeat(40)}`,
  ];
  for (const x of r.rows) {
    lines.push(`${x.row.id.padEnd(24)} ${x.row.procedure.padEnd(5)} ${(x.org ?? '-').padEnd(8)} ${MARK[x.status].padEnd(6)} ${x.row.title}`);
    if (x.status !== 'pass') for (const d of x.detail) lines.push(`${' '.repeat(47)}${d}`);
  }
  const n = (s: ConformanceStatus) => r.rows.filter((x) => x.status === s).length;
  lines.push(
    '',
    `${n('pass')} pass · ${n('fail')} fail · ${n('not-observable')} not observable · ${n('not-applicable')} not applicable · ${(r.durationMs / 1000).toFixed(1)} s`,
  );
  return lines.join('\n') + '\n';
}

function xml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** JUnit XML: one testcase per row (fail: failure; not observable or not applicable: skipped). */
export function formatConformanceJunit(r: ConformanceReport): string {
  const cases = r.rows.map((x) => {
    const head = `    <testcase classname="conformance" name="${xml(`${x.row.procedure} ${x.row.id}: ${x.row.title}`)}" time="${(x.durationMs / 1000).toFixed(3)}"`;
    const detail = xml(x.detail.join('\n'));
    if (x.status === 'pass') return `${head}>\n      <system-out>${detail}</system-out>\n    </testcase>`;
    if (x.status === 'fail')
      return `${head}>\n      <failure message="${xml(x.detail[0] ?? 'failed')}" type="conformance">${detail}</failure>\n    </testcase>`;
    return `${head}>\n      <skipped message="${xml(`${x.status}: ${x.detail[0] ?? ''}`)}"/>\n    </testcase>`;
  });
  const count = (s: ConformanceStatus) => r.rows.filter((x) => x.status === s).length;
  const name = `ssmax conformance ${r.underTest.map((id) => `${id}=${r.implementations[id]}`).join(', ')}`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${xml(name)}" tests="${r.rows.length}" failures="${count('fail')}" errors="0" time="${(r.durationMs / 1000).toFixed(3)}">\n  <testsuite name="${xml(name)}" tests="${r.rows.length}" failures="${count('fail')}" errors="0" skipped="${count('not-observable') + count('not-applicable')}" time="${(r.durationMs / 1000).toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

/** Exit code: 1 when a row fails, else 0 (not-observable and not-applicable rows are listed, not counted). */
export function conformanceExitCode(r: ConformanceReport): 0 | 1 {
  return r.rows.some((x) => x.status === 'fail') ? 1 : 0;
}
