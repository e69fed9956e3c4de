/**
 * Issue 10 item 3: nested, overlapping ZIP bomb at the MX. Many central-directory records pointing at
 * one inner archive each got a fresh 128 MiB budget, and inspection ran synchronously in the DATA
 * handler: one 190 KB mail held the event loop for minutes. Now the reader refuses overlapping entries
 * (core zip tests, with Info-ZIP's unzip as oracle), one budget covers every archive of a mail,
 * inspection runs on a worker thread with a time limit, and the MX answers other sessions meanwhile.
 *
 * Real services for the MX part: an org on the simulated network with the registry over HTTP, its MTA-in
 * over SMTP and a Dovecot mailbox.
 */
import * as net from 'node:net';
import { createZip } from '@ssmax/core';
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect, type InspectedFile } from './inspection.js';
import { inspectOffThread, InspectionPool } from './inspection-pool.js';
import { createOrgWorld, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';

const MiB = 1024 * 1024;
const zipFile = (name: string, bytes: Uint8Array): InspectedFile => ({ name, contentType: 'application/zip', bytes });

/** The bomb: `copies` directory records share one stored inner archive of 4 x 32 MiB zeros; a macro follows. */
function overlappingBomb(copies: number): Uint8Array {
  const inner = createZip([0, 1, 2, 3].map((i) => ({ name: `z${i}.bin`, data: new Uint8Array(32 * MiB - 1) })));
  return createZip([
    { name: 'inner.zip', data: inner, method: 'store', raw: { centralCopies: copies } },
    { name: 'seikyu.docm', data: 'Sub AutoOpen()' },
  ]);
}

/** Legitimate but heavy: `n` separate inner archives of `mib` MiB of zeros each, nothing overlapping. */
function nestedArchives(n: number, mib: number): Uint8Array {
  const inner = createZip([{ name: 'zeros.bin', data: new Uint8Array(mib * MiB) }]);
  return createZip(Array.from({ length: n }, (_, i) => ({ name: `part${i}.zip`, data: inner, method: 'store' as const })));
}

describe('issue 10 item 3: nested, overlapping ZIP bomb (inspection)', () => {
  it('refuses the overlapping bomb at once, before inflating anything', () => {
    const bomb = overlappingBomb(1000);
    expect(bomb.length).toBeLessThan(250_000);
    const v = inspect('inbound', [zipFile('invoice.zip', bomb)], '');
    expect(v.action).toBe('block');
    expect(v.reasons).toEqual([
      expect.objectContaining({
        rule: 'uninspectable',
        code: 'UNINSPECTABLE',
        file: 'invoice.zip',
        detail: expect.stringMatching(/share one local header.*overlapping zip bomb/),
      }),
    ]);
  });

  it('spends one budget on every archive of a mail, however deep and in however many attachments', () => {
    // 6 inner archives of 1 MiB each: each alone is within a 4 MiB budget, together they are not.
    const limits = { zipLimits: { maxTotalBytes: 4 * MiB } };
    const v = inspect('inbound', [zipFile('parts.zip', nestedArchives(6, 1))], '', limits);
    expect(v.action).toBe('block');
    expect(v.reasons[0]).toMatchObject({
      rule: 'uninspectable',
      code: 'UNINSPECTABLE',
      detail: expect.stringMatching(/exceeds the limit|left of the inspection's budget/),
    });
    // Two attachments of 3 MiB each: the second one finds the budget spent by the first.
    const two = inspect('inbound', [zipFile('a.zip', nestedArchives(1, 3)), zipFile('b.zip', nestedArchives(1, 3))], '', limits);
    expect(two.reasons).toEqual([expect.objectContaining({ rule: 'uninspectable', file: 'b.zip/part0.zip/zeros.bin' })]);
    // Under the budget the same archive is inspected and allowed.
    expect(inspect('inbound', [zipFile('parts.zip', nestedArchives(3, 1))], '', limits)).toEqual({ action: 'allow', reasons: [] });
  });

  it('stops at the time limit between files and calls the mail uninspectable', () => {
    const v = inspect('inbound', [zipFile('parts.zip', nestedArchives(4, 16))], '', { timeLimitMs: 1 });
    expect(v.action).toBe('block');
    expect(v.reasons).toContainEqual(expect.objectContaining({ rule: 'uninspectable', detail: 'inspection did not finish within 1 ms' }));
  });

  it('terminates a worker that overruns the limit inside one step, while the event loop keeps running', async () => {
    const pool = new InspectionPool(1);
    try {
      // A DLP pattern with catastrophic backtracking never returns from one RegExp call: only killing
      // the thread stops it. On the main thread it would hang this test for good.
      const redos = { dlpRules: [{ id: 'redos', description: 'nested quantifier', kind: 'regex' as const, pattern: '^(a+)+$' }], timeLimitMs: 100 };
      let ticks = 0;
      const timer = setInterval(() => ticks++, 20);
      const v = await pool.run({ direction: 'outbound', files: [], body: `${'a'.repeat(40)}!`, policy: redos, destination: {} });
      clearInterval(timer);
      expect(v).toEqual({
        action: 'block',
        reasons: [
          expect.objectContaining({
            rule: 'uninspectable',
            code: 'UNINSPECTABLE',
            detail: expect.stringMatching(/did not finish within 2100 ms; the worker was stopped/),
          }),
        ],
      });
      expect(ticks).toBeGreaterThan(20);
      // The pool replaced the worker: the next mail is inspected normally.
      const next = await pool.run({ direction: 'outbound', files: [], body: 'CONFIDENTIAL', policy: {}, destination: {} });
      expect(next.reasons).toEqual([expect.objectContaining({ rule: 'confidential-marking', code: 'DLP_BLOCK' })]);
    } finally {
      await pool.close();
    }
  });

  it('gives the same verdict off the event loop as on it', async () => {
    const files = [
      zipFile('invoice.zip', overlappingBomb(3)),
      zipFile('parts.zip', nestedArchives(2, 1)),
      { name: 'a.docm', contentType: 'application/octet-stream', bytes: new TextEncoder().encode('x') },
    ];
    expect(await inspectOffThread('inbound', files, 'hello')).toEqual(inspect('inbound', files, 'hello'));
  });
});

/** One SMTP client session over a raw socket: send lines, read replies (multi-line replies joined). */
class RawSmtp {
  private buf = '';
  private waiters: (() => void)[] = [];
  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(o: { host: string; port: number; localAddress?: string }): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: o.host, port: o.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) }, () => resolve(new RawSmtp(s)));
      s.once('error', reject);
    });
  }

  /** The next complete reply (its last line has a space after the code). */
  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3} [^\n]*\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async command(line: string): Promise<string> {
    this.sock.write(`${line}\r\n`);
    return this.reply();
  }

  write(data: string): void {
    this.sock.write(data);
  }

  close(): void {
    this.sock.destroy();
  }
}

describe('issue 10 item 3: nested, overlapping ZIP bomb at the MX', () => {
  let world: OrgWorld;
  let b: WorldOrg;
  let bob: WorldUser;

  beforeAll(async () => {
    world = await createOrgWorld({ prefix: 'ssmax-item3-', seed: 41, startRegistry: (o) => Registry.start(o) });
    // A budget eight times the default, so one legitimate archive keeps the inspection busy for seconds.
    b = await world.startOrg('zb-b', { inspection: { zipLimits: { maxTotalBytes: 1024 * MiB }, timeLimitMs: 120_000 } });
    bob = await b.addUser('bob', '2222');
  }, 180_000);
  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
  });

  const mailWith = (name: string, zip: Uint8Array) =>
    [
      'From: sales@partner-z.example',
      `To: ${bob.user.address}`,
      'Subject: invoice',
      `Message-ID: <${name}.${Date.now()}@partner-z.example>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Please see the attached invoice.',
      '--b1',
      `Content-Type: application/zip; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      ...(Buffer.from(zip)
        .toString('base64')
        .match(/.{1,76}/g) ?? []),
      '--b1--',
      '',
    ].join('\r\n');

  const session = async () => {
    const s = await RawSmtp.open(world.net.connectOptions(world.net.address('outsider/mta'), b.org.ctx.mxHost, 25));
    expect(await s.reply()).toMatch(/^220 /);
    expect(await s.command('EHLO mx.partner-z.example')).toMatch(/^250 /m);
    return s;
  };

  /** Sends `mail` up to the end of DATA and returns the pending reply to it. */
  const sendUpToDot = async (s: RawSmtp, mail: string) => {
    expect(await s.command('MAIL FROM:<sales@partner-z.example>')).toMatch(/^250 /);
    expect(await s.command(`RCPT TO:<${bob.user.address}>`)).toMatch(/^250 /);
    expect(await s.command('DATA')).toMatch(/^354 /);
    s.write(`${mail}\r\n.\r\n`);
    return s.reply();
  };

  it('refuses the bomb in the session with an uninspectable reply and journals why', async () => {
    const s = await session();
    try {
      const reply = await sendUpToDot(s, mailWith('invoice.zip', overlappingBomb(1000)));
      expect(reply).toMatch(/^5\d\d /);
      const ev = b.org.journey
        .events()
        .filter((e) => e.actor === 'zb-b/inspection')
        .at(-1);
      expect(ev).toMatchObject({ procedure: 8, outcome: 'rejected' });
      expect(ev!.checks).toContainEqual(
        expect.objectContaining({ name: 'uninspectable', result: 'fail', detail: expect.stringMatching(/overlapping zip bomb/) }),
      );
    } finally {
      s.close();
    }
  });

  it('answers another session within a second while a heavy archive is being inspected', async () => {
    const heavy = await session();
    const other = await RawSmtp.open(world.net.connectOptions(world.net.address('outsider2/mta'), b.org.ctx.mxHost, 25));
    try {
      expect(await other.reply()).toMatch(/^220 /);
      expect(await other.command('EHLO mx.other.example')).toMatch(/^250 /m);
      // 32 inner archives of 30 MiB of zeros: ~1 GiB to inflate and checksum, seconds of CPU in the inspection worker.
      let answered = false;
      const data = sendUpToDot(heavy, mailWith('parts.zip', nestedArchives(32, 30))).then((r) => {
        answered = true;
        return r;
      });
      // The other session keeps asking until the heavy mail is answered; every NOOP is timed, so the
      // slowest reply shows whether the MX stopped answering at any point of the receipt or inspection.
      let slowest = 0;
      let noops = 0;
      while (!answered) {
        const t = Date.now();
        expect(await other.command('NOOP')).toMatch(/^250 /);
        slowest = Math.max(slowest, Date.now() - t);
        noops++;
        await new Promise((r) => setTimeout(r, 50));
      }
      // The bound: a second session gets its replies within 1 s while the first sends a bomb.
      expect(slowest).toBeLessThan(1000);
      expect(noops).toBeGreaterThan(5);
      expect(await data).toMatch(/^250 /);
    } finally {
      heavy.close();
      other.close();
    }
  }, 180_000);
});
