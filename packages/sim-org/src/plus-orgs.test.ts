/**
 * ssmax-plus additions 1, 3 and 4 through two orgs with real services (registry over HTTP, KMS and cards
 * on SoftHSM2, SMTP with STARTTLS on the simulated network, Dovecot): the MTA-out sends to a member only
 * over TLS with the key the signed directory pins and bounces after the retry window otherwise; the MTA-in
 * refuses a copy seen before or for a recipient the attestation does not bind; a held mail the sender
 * cancels never leaves.
 */
import { Registry } from '@ssmax/sim-registry';
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAttestation } from './attestation.js';
import type { OrgPlus } from './org-context.js';
import { classifyParts } from './org-hop.js';
import { parseSmime } from '@ssmax/core';
import { createOrgWorld, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';

const PLUS: OrgPlus = { pinnedTls: true, headerProtection: false, freshness: { windowSeconds: 600, cacheSize: 100 }, holdSeconds: 1, retryWindowSeconds: 2 };

let world: OrgWorld;
let a: WorldOrg;
let b: WorldOrg;
let alice: WorldUser;
let bob: WorldUser;

beforeAll(async () => {
  world = await createOrgWorld({ prefix: 'ssmax-plus-', seed: 16, startRegistry: (o) => Registry.start(o) });
  a = await world.startOrg('pla', { plus: PLUS });
  b = await world.startOrg('plb', { plus: PLUS });
  alice = await a.addUser('alice', '1111');
  bob = await b.addUser('bob', '2222');
});
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

const FILES = [{ name: 'report.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('Quarterly figures: revenue up 4%.\n')) }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pred` holds (the hold and the retry window run on the wall clock here). */
async function until(pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(100);
  }
}

const inboxIds = async (u: WorldUser) => (await u.ua.inbox(u.pin)).map((m) => m.messageId);

describe('ssmax-plus between two orgs', () => {
  it('publishes each org MX key in the signed directory and delivers over TLS with the pinned key, after the hold', async () => {
    const dir = await a.org.registry.directory();
    for (const o of [a, b]) expect(dir.members.find((m) => m.orgId === o.org.registryOrgId)?.mtaTlsSpkiSha256).toHaveLength(1);
    const t0 = Date.now();
    const sent = await alice.ua.send({ to: [bob.user.address], subject: 'pinned', text: 'over pinned TLS', files: FILES, pin: alice.pin });
    expect(sent.response).toMatch(/held 1 s, cancel by Message-ID/);
    await until(async () => (await inboxIds(bob)).includes(sent.messageId));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    const relayed = a.org.journey.events(sent.messageId).find((e) => e.actor.endsWith('/mta-out') && e.outcome === 'relayed');
    expect(relayed?.checks).toContainEqual(expect.objectContaining({ name: 'tls-pin', result: 'pass' }));
  });

  it('never sends a held mail the sender cancelled', async () => {
    const sent = await alice.ua.send({ to: [bob.user.address], subject: 'oops', text: 'wrong recipient', files: FILES, pin: alice.pin });
    expect(await a.org.cancelSubmission(sent.messageId, alice.user.address)).toBe('cancelled');
    await sleep(2000);
    await a.org.idle();
    expect(await inboxIds(bob)).not.toContain(sent.messageId);
    expect(a.org.journey.events(sent.messageId).some((e) => e.outcome === 'relayed')).toBe(false);
    expect(await a.org.cancelSubmission(sent.messageId, alice.user.address)).toBe('cancelled');
  });

  it('refuses a copy of an accepted mail again (replay) and for a recipient the attestation does not bind, at (7)', async () => {
    const sent = await alice.ua.send({ to: [bob.user.address], subject: 'pay', text: 'please pay invoice 7', files: FILES, pin: alice.pin });
    await until(async () => (await inboxIds(bob)).includes(sent.messageId));
    // The copy as b's MX took it in (past TLS): a signed hop-1 mail with a's attestation.
    let copy: Uint8Array | undefined;
    for (const id of await b.org.ctx.inbound.list('delivered')) {
      const e = await b.org.ctx.inbound.read(id, 'delivered');
      if (Buffer.from(e.bytes).includes(sent.messageId.replace(/^<|>$/g, ''))) copy = e.bytes;
    }
    expect(copy).toBeDefined();
    const p = parseSmime(copy!);
    const att = verifyAttestation(classifyParts(p.kind === 'multipart-signed' ? p.signedEntity : new Uint8Array()).attestations[0]!.part.body);
    expect(att.valid && att.attestation.freshness?.rcptTo).toEqual([bob.user.address]);
    const again = await world.toMx(b, { client: 'attacker/x', helo: 'x.example', mailFrom: alice.user.address, rcpt: bob.user.address, raw: copy! });
    expect(again).toBe(550);
    expect(
      b.org.journey.events(sent.messageId).some((e) => e.checks.some((c) => c.name === 'freshness' && c.result === 'fail' && /^replay/.test(c.detail ?? ''))),
    ).toBe(true);
    await b.addUser('beth', '3333');
    const other = await world.toMx(b, { client: 'attacker/x', helo: 'x.example', mailFrom: alice.user.address, rcpt: 'beth@plb.example', raw: copy! });
    expect(other).toBe(550);
    expect((await inboxIds(bob)).filter((id) => id === sent.messageId)).toHaveLength(1);
  });

  it('defers rather than talk to a relay with a CA-valid certificate for the MX name but another key, then bounces to the sender', async () => {
    const mx = 'mx.plb.example';
    const id = await (await world.net.ca()).issueServerCertificate([mx]);
    let received = 0;
    const relay = new SMTPServer({
      key: id.privateKeyPem,
      cert: id.chainPem,
      authOptional: true,
      disabledCommands: ['AUTH'],
      logger: false,
      onData(stream, _s, cb) {
        received++;
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    // The MTA-out drops the TLS session when the pin does not match: the reset reaches the server as an error event.
    relay.on('error', () => undefined);
    // Its sessions end with the test: one the MTA-out left after the failed pin would otherwise hold mx.plb's
    // relay (and the world's teardown) open until smtp-server's 60 s idle timeout.
    const sockets = new Set<Socket>();
    const hook = world.net.insertOnPath(`${mx}:25`, (socket) => {
      sockets.add(socket);
      relay.server.emit('connection', socket);
    });
    try {
      const sent = await alice.ua.send({ to: [bob.user.address], subject: 'secret', text: 'not for the relay', files: FILES, pin: alice.pin });
      await until(() => a.org.journey.events(sent.messageId).some((e) => e.outcome === 'bounced' && e.actor.endsWith('/dsn')), 20_000);
      const tries = a.org.journey.events(sent.messageId).filter((e) => e.actor.endsWith('/mta-out') && e.procedure === 6);
      expect(tries.some((e) => e.outcome === 'deferred' && e.checks.some((c) => c.name === 'tls-pin' && c.result === 'fail'))).toBe(true);
      expect(tries.at(-1)?.outcome).toBe('bounced');
      expect(received).toBe(0);
      expect((await alice.ua.inbox(alice.pin)).some((m) => m.text.includes('retry') || m.subject.toLowerCase().includes('deliver'))).toBe(true);
    } finally {
      hook.remove();
      relay.close();
      for (const s of sockets) s.destroy();
    }
  });
});
