/**
 * Issue 17: every stored message had `Return-Path: <>` (the LMTP hand-over dropped the envelope sender)
 * and ssmax-org stored no `Received`. Now the final delivery writes Return-Path from the MAIL FROM the
 * MTA-in accepted, every hop prepends its Received (RFC 5321 §4.4) through one writer (trace-fields.ts),
 * and the org hops that rebuild a message keep the earlier hops' lines on top, outside the signed entity.
 *
 * Real services: two SSMAX orgs on the simulated network with the registry over HTTP, KMS and cards on
 * SoftHSM2, MSA / MTA-out / MTA-in over SMTP, Dovecot mailboxes read back over IMAP; and two
 * best-practice conventional orgs on the same network with their own Dovecot mailboxes.
 */
import * as path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { parseSmime, type MimeHeader } from '@ssmax/core';
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conventionalProfile, PasswordUserDirectory } from './conventional.js';
import { Mailbox } from './mailbox.js';
import { Organisation } from './organisation.js';
import { createOrgWorld, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';
import { receivedField, receivedFieldsOf } from './trace-fields.js';

let world: OrgWorld;

/** Every message in `user`'s INBOX, raw, as IMAP returns it. */
async function fetchRaw(mailbox: Mailbox, user: string, pass: string): Promise<Buffer[]> {
  const c = new ImapFlow({ host: mailbox.host, port: mailbox.imapPort, secure: false, auth: { user, pass }, logger: false });
  await c.connect();
  try {
    const lock = await c.getMailboxLock('INBOX');
    try {
      const out: Buffer[] = [];
      if (typeof c.mailbox === 'object' && c.mailbox.exists > 0) for await (const m of c.fetch('1:*', { source: true })) out.push(m.source!);
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
}

/** The stored copy whose Message-ID is `messageId`, and its top-level header fields in order (unfolded). */
async function stored(mailbox: Mailbox, user: string, pass: string, messageId: string): Promise<{ raw: Buffer; headers: readonly MimeHeader[] }> {
  for (const raw of await fetchRaw(mailbox, user, pass)) {
    const headers = parseSmime(raw).headers;
    if (headers.some((h) => h.name.toLowerCase() === 'message-id' && h.value === messageId)) return { raw, headers };
  }
  throw new Error(`no stored message ${messageId} for ${user}`);
}

const valuesOf = (headers: readonly MimeHeader[], name: string): string[] =>
  headers.filter((h) => h.name.toLowerCase() === name.toLowerCase()).map((h) => h.value.replace(/\s+/g, ' '));
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The trace block on top of a stored message: Return-Path, then Received fields and nothing between them. */
function traceBlock(headers: readonly MimeHeader[]): { returnPath: string; received: string[] } {
  expect(headers[0]?.name, 'the first field is the Return-Path the final delivery wrote').toBe('Return-Path');
  const received: string[] = [];
  for (const h of headers.slice(1)) {
    if (h.name.toLowerCase() !== 'received') break;
    received.push(h.value.replace(/\s+/g, ' '));
  }
  return { returnPath: headers[0]!.value, received };
}

describe('issue 17: envelope kept (Return-Path) and Received at every hop', () => {
  beforeAll(async () => {
    world = await createOrgWorld({ prefix: 'ssmax-issue17-', seed: 43, startRegistry: (o) => Registry.start(o) });
  }, 120_000);
  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
  });

  describe('receivedField and receivedFieldsOf', () => {
    const date = new Date('2026-03-04T05:06:07Z');
    it('writes one RFC 5321 §4.4 time-stamp line naming the client, its address, the server, the protocol and the transaction', () => {
      expect(receivedField({ helo: 'mx.org-a.example', ip: '::ffff:127.0.3.4', by: 'mx.org-b.example', tls: true, id: 'abc123', date })).toBe(
        'Received: from mx.org-a.example ([127.0.3.4])\r\n\tby mx.org-b.example with ESMTPS\r\n\tid abc123;\r\n\tWed, 4 Mar 2026 05:06:07 +0000\r\n',
      );
      expect(receivedField({ helo: 'ua', ip: '127.0.0.9', by: 'msa.org-a.example', tls: false, authenticated: true, date })).toMatch(
        /^Received: from ua \(\[127\.0\.0\.9\]\)\r\n\tby msa\.org-a\.example with ESMTPA;\r\n/,
      );
      expect(receivedField({ helo: 'ua', ip: '127.0.0.9', by: 'msa.org-a.example', tls: true, authenticated: true, date })).toContain('with ESMTPSA;');
    });

    it('keeps a hostile HELO name inside a comment of the one field', () => {
      const line = receivedField({
        helo: 'x) by mx.org-b.example; dmarc=pass\r\nFrom: ceo@org-b.example',
        ip: '127.0.0.5',
        by: 'mx.org-b.example',
        tls: false,
        id: 'bad id;',
        date,
      });
      expect(line.match(/\r\n(?![\t ])/g), 'exactly one field: every line break but the last is a fold').toHaveLength(1);
      expect(line).toMatch(/^Received: from unknown \(\[127\.0\.0\.5\]\) \(helo=x\?[^()\\]*\)\r\n\tby mx\.org-b\.example with ESMTP;\r\n/);
    });

    it('takes every Received field of the header section byte for byte, with its folds, and nothing of the body', () => {
      const raw = Buffer.from(
        'Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: x@y.example\r\nreceived : from c by d; Mon, 1 Jan 2024 00:00:01 +0000\r\nSubject: s\r\n\r\nReceived: in the body\r\n',
      );
      expect(Buffer.from(receivedFieldsOf(raw)).toString('latin1')).toBe(
        'Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\nreceived : from c by d; Mon, 1 Jan 2024 00:00:01 +0000\r\n',
      );
      expect(receivedFieldsOf(Buffer.from('From: x@y.example\r\n\r\nbody\r\n'))).toHaveLength(0);
    });
  });

  describe('ssmax-org', () => {
    let a: WorldOrg;
    let b: WorldOrg;
    let alice: WorldUser;
    let bob: WorldUser;

    beforeAll(async () => {
      a = await world.startOrg('tf-a');
      b = await world.startOrg('tf-b');
      alice = await a.addUser('alice', '1111');
      bob = await b.addUser('bob', '2222');
    }, 180_000);

    it('stores member mail with Return-Path from the envelope and Received lines of delivery, MX and MSA, newest first; the agent still verifies it', async () => {
      const m = await alice.ua.send({ to: [bob.user.address], subject: 'quarterly figures', text: 'see you monday', pin: alice.pin });
      await a.org.idle();
      await b.org.idle();
      const { headers } = await stored(b.mailbox, bob.user.address, 'imap-bob', m.messageId);
      const { returnPath, received } = traceBlock(headers);
      expect(returnPath).toBe(`<${alice.user.address}>`);
      const net = world.net;
      expect(received).toHaveLength(3);
      // Newest first: Dovecot's LMTP delivery, org B's MX taking it from org A's MTA-out, org A's MSA taking it from alice's agent.
      expect(received[0]).toMatch(new RegExp(`^from \\S+ by mailbox\\.tf-b\\.example with LMTP id \\S+ \\(envelope-from <${esc(alice.user.address)}>\\); `));
      expect(received[1]).toMatch(
        new RegExp(`^from ${esc(a.org.ctx.mxHost)} \\(\\[${esc(a.org.ctx.addresses.mtaOut)}\\]\\) by ${esc(b.org.ctx.mxHost)} with ESMTPS id \\S+; `),
      );
      expect(received[2]).toMatch(
        new RegExp(`^from \\S+ \\(\\[${esc(net.address(`${alice.user.address}/ua`))}\\]\\) by msa\\.tf-a\\.example with ESMTPA id \\S+; `),
      );
      // The trace fields sit outside the signed entity: the recipient's agent verifies the mail as before.
      const v = (await bob.ua.inbox(bob.pin)).find((x) => x.messageId === m.messageId);
      expect(v?.verified, v?.problems.join('; ')).toBe(true);
      expect(v?.senderAddress).toBe(alice.user.address);
    });

    it("stores outside mail with the MAIL FROM the MX accepted and the MX's Received above its unverified mark", async () => {
      const messageId = '<outside-17@news.example>';
      const raw = `From: Newsletter <letters@news.example>\r\nTo: ${bob.user.address}\r\nSubject: offers\r\nMessage-ID: ${messageId}\r\n\r\nThis week only.\r\n`;
      expect(await world.toMx(b, { client: 'outsider/mta', helo: 'mta.news.example', mailFrom: 'bounces+17@news.example', rcpt: bob.user.address, raw })).toBe(
        250,
      );
      await b.org.idle();
      const { raw: got, headers } = await stored(b.mailbox, bob.user.address, 'imap-bob', messageId);
      const { returnPath, received } = traceBlock(headers);
      expect(returnPath).toBe('<bounces+17@news.example>');
      expect(received).toHaveLength(2);
      expect(received[0]).toMatch(/^from \S+ by mailbox\.tf-b\.example with LMTP id \S+ \(envelope-from <bounces\+17@news\.example>\); /);
      expect(received[1]).toMatch(
        new RegExp(`^from mta\\.news\\.example \\(\\[${esc(world.net.address('outsider/mta'))}\\]\\) by ${esc(b.org.ctx.mxHost)} with ESMTP id \\S+; `),
      );
      expect(headers[3]).toEqual({ name: 'X-SSMAX-Verdict', value: 'unverified' });
      // Below the trace fields and the mark, the message is stored as it was sent.
      expect(got.toString('latin1').endsWith(raw)).toBe(true);
      const v = (await bob.ua.inbox(bob.pin)).find((x) => x.messageId === messageId);
      expect(v).toMatchObject({ verified: false, outside: true, senderAddress: 'letters@news.example' });
    });

    it('stores a DSN with the null reverse-path (RFC 5321 §4.5.5)', async () => {
      const before = (await fetchRaw(a.mailbox, alice.user.address, 'imap-alice')).length;
      // org B's MX refuses the unknown recipient: org A's MTA-out bounces to alice.
      await alice.ua.send({ to: [`nobody@${b.org.domain}`], subject: 'to nobody', text: 'hello?', pin: alice.pin });
      await a.org.idle();
      const after = await fetchRaw(a.mailbox, alice.user.address, 'imap-alice');
      expect(after).toHaveLength(before + 1);
      const headers = parseSmime(after.at(-1)!).headers;
      expect(headers[0]).toEqual({ name: 'Return-Path', value: '<>' });
      expect(valuesOf(headers, 'Received')[0]).toMatch(/^from \S+ by mailbox\.tf-a\.example with LMTP id \S+(?: \(envelope-from <>\))?; /);
    });
  });

  describe('best-practice (conventional mode)', () => {
    const orgs: Organisation[] = [];
    const boxes: Mailbox[] = [];

    afterAll(async () => {
      for (const o of orgs) await o.close().catch(() => undefined);
      for (const m of boxes) await m.stop().catch(() => undefined);
    });

    async function start(id: string, partner: string): Promise<{ org: Organisation; mailbox: Mailbox; users: PasswordUserDirectory }> {
      const domain = `${id}.example`;
      const dir = path.join(world.dir, id);
      const mailbox = await Mailbox.start({ dir: path.join(dir, 'mail'), host: world.net.address(`${id}/imap`), localDomains: [domain] });
      boxes.push(mailbox);
      const users = new PasswordUserDirectory();
      // The partners know each other, registered long ago; no hold window, so the test need not wait a minute.
      const reputation = { knownDomains: [domain, partner], domainRegistry: { [domain]: '2001-04-01', [partner]: '2003-10-01' } };
      const org = await Organisation.start({
        id,
        domain,
        mode: 'org',
        net: world.net,
        storageDir: path.join(dir, 'org'),
        users,
        retryMs: 100,
        mailbox: { deliver: async (r, m, e) => void (await mailbox.deliver(r, m, e)) },
        profile: conventionalProfile('best-practice', { reputation, holdSeconds: 0 }),
      });
      orgs.push(org);
      return { org, mailbox, users };
    }

    it('stores mail with Return-Path from the envelope and Received lines of delivery, MX (with its Authentication-Results) and MSA, newest first', async () => {
      const a = await start('tc-a', 'tc-b.example');
      const b = await start('tc-b', 'tc-a.example');
      const alice = 'alice@tc-a.example';
      const bob = 'bob@tc-b.example';
      a.users.add(alice, 'pw-alice');
      b.users.add(bob, 'pw-bob');
      await b.mailbox.addUser(bob, 'imap-bob');
      const messageId = '<conv-17@tc-a.example>';
      const raw = `From: ${alice}\r\nTo: ${bob}\r\nSubject: minutes\r\nMessage-ID: ${messageId}\r\nDate: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAs agreed.\r\n`;
      const msa = world.net.connectOptions(world.net.address(`${alice}/ua`), 'msa.tc-a.example', 587);
      const t = nodemailer.createTransport({ ...msa, secure: false, ignoreTLS: true, name: 'laptop.tc-a.example', auth: { user: alice, pass: 'pw-alice' } });
      try {
        await t.sendMail({ envelope: { from: alice, to: [bob] }, raw });
      } finally {
        t.close();
      }
      for (let i = 0; i < 2; i++) for (const o of [a.org, b.org]) await o.idle(20_000);
      const { raw: got, headers } = await stored(b.mailbox, bob, 'imap-bob', messageId);
      const { returnPath, received } = traceBlock(headers);
      expect(returnPath).toBe(`<${alice}>`);
      expect(received).toHaveLength(2);
      expect(received[0]).toMatch(/^from \S+ by mailbox\.tc-b\.example with LMTP id \S+ \(envelope-from <alice@tc-a\.example>\); /);
      expect(received[1]).toMatch(
        new RegExp(`^from ${esc(a.org.ctx.mxHost)} \\(\\[${esc(a.org.ctx.addresses.mtaOut)}\\]\\) by ${esc(b.org.ctx.mxHost)} with ESMTPS id \\S+; `),
      );
      // Below the MX's Received: its Authentication-Results, then the DKIM signature org A's MTA-out
      // added, then the MSA's Received of alice's submission and her message as she wrote it.
      const text = got.toString('latin1');
      const mx = text.indexOf(`by ${b.org.ctx.mxHost}`);
      const ar = text.search(/^Authentication-Results: /m);
      const dkim = text.search(/^DKIM-Signature: /m);
      const msaLine = text.search(/^Received: from laptop\.tc-a\.example \(\[[\d.]+\]\)\r\n\tby msa\.tc-a\.example with ESMTPA\r\n\tid \S+;\r\n/m);
      expect(mx).toBeGreaterThan(0);
      expect(ar).toBeGreaterThan(mx);
      expect(text.slice(ar, ar + 300)).toMatch(/dkim=pass/);
      expect(dkim).toBeGreaterThan(ar);
      expect(msaLine).toBeGreaterThan(dkim);
      expect(text.endsWith(raw)).toBe(true);
    }, 120_000);
  });
});
