/**
 * Issue 14 item 3: org-b run on Debian's Postfix 3.7 (`ssmax org postfix`), started by the world through the
 * contract, beside a built-in org-a. Real SMTP (Postfix's smtpd and smtp client, STARTTLS under the sim-net CA),
 * real SoftHSM2 cards and KMS, real Dovecot (SMTP AUTH and LMTP through Postfix), the SSMAX work in the content
 * filter (`ssmax org filter`). Bounded to about a minute after the world is up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { World } from '../world.js';
import { SSMAX_BIN, startOutsideWorld, twoOrgWorldConfig, type OutsideWorld } from '../testing/outside-world.js';
import { instancePids } from './postfix-instance.js';

let running: OutsideWorld | undefined;
let world: World;
beforeAll(async () => {
  running = await startOutsideWorld(
    twoOrgWorldConfig({ seed: 4343, orgB: { kind: 'process', name: 'postfix', command: [process.execPath, SSMAX_BIN, 'org', 'postfix'] } }),
    'ssmax-postfix-',
  );
  world = running.world;
}, 180_000);
afterAll(async () => {
  await running?.close();
});

const text = (s: string) => new TextEncoder().encode(s);

describe('an SSMAX org on Postfix (ssmax org postfix)', () => {
  it('receives a member mail through its MX, filter (7)+(8)+(9) and LMTP: the recipient verifies it and decrypts the file', async () => {
    expect(world.org('org-b').outside?.ready.implementation).toMatch(/^postfix 3\.\d+\.\d+ \+ ssmax org filter$/);
    const alice = world.user('alice@org-a.example');
    const sent = await alice.send({
      to: 'bob@org-b.example',
      subject: 'figures via postfix',
      body: 'see the file',
      files: [{ name: 'q3.txt', content: text('revenue 42') }],
      pin: alice.pin,
    });
    await world.waitIdle();
    const bob = world.user('bob@org-b.example');
    const got = (await bob.inbox({ password: bob.password, pin: bob.pin })).find((m) => m.messageId === sent.messageId);
    expect(got?.verified).toBe(true);
    expect(got?.problems).toEqual([]);
    expect(new TextDecoder().decode(got?.files[0]?.content)).toBe('revenue 42');
    // (9) happened at org-b's filter (journey over HTTP), and the MX hop was STARTTLS through the tapped relay.
    expect(
      world
        .journey(sent.messageId)
        .filter((e) => e.actor.startsWith('org-b/'))
        .map((e) => e.procedure),
    ).toEqual(expect.arrayContaining([7, 8, 9]));
    const toB = world.net.tap.connections().filter((c) => c.service === 'mx.org-b.example:25');
    expect(toB.some((c) => c.captured('client-to-server').includes('STARTTLS'))).toBe(true);
    expect(toB.some((c) => c.captured('client-to-server').includes('figures via postfix'))).toBe(false);
  }, 90_000);

  it('sends a member mail through its MSA (AUTH via Dovecot), filter (4)+(5)+(6) and its smtp client with STARTTLS', async () => {
    const bob = world.user('bob@org-b.example');
    const sent = await bob.send({
      to: 'alice@org-a.example',
      subject: 'reply via postfix',
      body: 'answer attached',
      files: [{ name: 'a.txt', content: text('answer 7') }],
      pin: bob.pin,
    });
    expect(sent.response).toMatch(/^250 /);
    await world.waitIdle();
    const alice = world.user('alice@org-a.example');
    const got = (await alice.inbox({ password: alice.password, pin: alice.pin })).find((m) => m.messageId === sent.messageId);
    expect(got?.verified).toBe(true);
    expect(got?.identityNotice?.cardAndPinUsed).toBe(true);
    expect(new TextDecoder().decode(got?.files[0]?.content)).toBe('answer 7');
  }, 90_000);

  it('bounces a mail its filter refuses after the queue (files for a non-member) with a DSN to the sender, and refuses an unsigned submission and a wrong password in the session', async () => {
    const bob = world.user('bob@org-b.example');
    const sent = await bob.send({
      to: 'someone@outside-postfix.example',
      subject: 'files to a stranger',
      body: 'x',
      files: [{ name: 'x.txt', content: text('secret') }],
      pin: bob.pin,
    });
    expect(sent.response).toMatch(/^250 /);
    // The DSN comes from Postfix's bounce daemon into Bob's own mailbox.
    let dsn;
    for (let i = 0; i < 100 && !dsn; i++) {
      await new Promise((r) => setTimeout(r, 300));
      dsn = (await bob.inbox({ password: bob.password, pin: bob.pin })).find(
        (m) => /Returned to Sender/i.test(m.subject) && m.text.includes('outside-postfix.example'),
      );
    }
    expect(dsn?.senderAddress).toMatch(/^MAILER-DAEMON@/i);
    expect(dsn?.text).toMatch(/550 5\.7\.1 outside-postfix\.example is not an SSMAX registry member/);
    // (4) runs before the queue (smtpd_proxy_filter): an unsigned submission is refused to the user's face, never queued.
    const msa = world.org('org-b').outside!.ready.msa;
    const t = nodemailer.createTransport({
      host: msa.address,
      port: msa.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: bob.address, pass: bob.password },
    });
    try {
      await expect(t.sendMail({ from: bob.address, to: 'alice@org-a.example', subject: 'unsigned', text: 'no card' })).rejects.toMatchObject({
        responseCode: 550,
        response: expect.stringMatching(/^550 5\.7\.\d .*not signed/),
      });
    } finally {
      t.close();
    }
    // SMTP AUTH is Dovecot's (Postfix smtpd_sasl_type=dovecot): a wrong password is 535.
    const wrong = nodemailer.createTransport({ host: msa.address, port: msa.port, secure: false, ignoreTLS: true, auth: { user: bob.address, pass: 'wrong' } });
    try {
      await expect(wrong.sendMail({ from: bob.address, to: 'alice@org-a.example', subject: 'x', text: 'y' })).rejects.toMatchObject({ responseCode: 535 });
    } finally {
      wrong.close();
    }
  }, 90_000);

  it('takes its Postfix instance down when its process is SIGKILLed (the filter sees its parent gone), and starts again on the same storage', async () => {
    const conf = path.join(world.storageDir, 'orgs', 'org-b', 'impl', 'postfix', 'conf');
    expect((await instancePids(conf)).length).toBeGreaterThan(0);
    // The org process is this process's child running `ssmax org postfix`.
    const orgPids = fs.readdirSync('/proc').filter((n) => {
      try {
        return (
          fs.readFileSync(`/proc/${n}/cmdline`, 'latin1').includes('org\0postfix\0') &&
          fs.readFileSync(`/proc/${n}/stat`, 'latin1').split(' ')[3] === String(process.pid)
        );
      } catch {
        return false;
      }
    });
    expect(orgPids.length).toBe(1);
    process.kill(Number(orgPids[0]), 'SIGKILL');
    let left = await instancePids(conf);
    for (let i = 0; i < 100 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await instancePids(conf);
    }
    expect(left).toEqual([]);
    await world.org('org-b').outside!.crashAndRestart();
    expect((await instancePids(conf)).length).toBeGreaterThan(0);
  }, 90_000);

  it('delivers a mail its MX answered 250 for exactly once after the org process is SIGKILLed and started again', async () => {
    const alice = world.user('alice@org-a.example');
    const sent = await alice.send({
      to: 'bob@org-b.example',
      subject: 'kept across a crash',
      body: 'x',
      files: [{ name: 'k.txt', content: text('kept') }],
      pin: alice.pin,
    });
    // org-a's MTA-out records `relayed` on org-b's 250: the mail is then in Postfix's queue, not yet through (9).
    const until = Date.now() + 20_000;
    const relayed = () => world.journey(sent.messageId).some((e) => e.actor === 'org-a/mta-out' && e.outcome === 'relayed');
    while (!relayed() && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
    expect(relayed()).toBe(true);
    await world.org('org-b').outside!.crashAndRestart();
    await world.waitIdle(60_000);
    const bob = world.user('bob@org-b.example');
    const copies = (await bob.inbox({ password: bob.password, pin: bob.pin })).filter((m) => m.messageId === sent.messageId);
    expect(copies.map((m) => m.verified)).toEqual([true]);
  }, 120_000);

  it('leaves nothing of the Postfix instance running once the world is closed', async () => {
    const confs = fs
      .readdirSync(world.storageDir, { recursive: true, encoding: 'utf8' })
      .filter((p) => p.endsWith(path.join('postfix', 'conf', 'main.cf')))
      .map((p) => path.dirname(path.join(world.storageDir, p)));
    expect(confs.length).toBe(1);
    expect((await instancePids(confs[0]!)).length).toBeGreaterThan(0);
    await world.close();
    expect(await instancePids(confs[0]!)).toEqual([]);
  }, 60_000);
});
