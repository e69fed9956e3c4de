/**
 * Issue 3, "Reliability and bad input": a mail answered with 250 is on disk (fsync'd) first, and a
 * killed org process resumes its queue on restart and loses nothing. The org under test runs in a child
 * process (testing/org-process.ts, compiled by `tsc -b` here) with its own SoftHSM2 store; this process
 * holds the registry (reached over HTTP by both), the other org, its own SoftHSM2 store for the
 * sender's card, and the mailbox stand-in (an LMTP server, RFC 2033) where deliveries are counted.
 * STARTTLS between the orgs is off: each process has its own sim-net test CA.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftHsmNative, SoftwareKey, bindTokenKey, parseSmime, type PrivateKeyOps } from '@ssmax/core';
import { buildCompiled } from '@ssmax/core/testing';
import { SimNet } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';
import { verifyUserMail } from './msa.js';
import { orgHop } from './org-hop.js';
import { Organisation, SimpleUserDirectory } from './organisation.js';
import { OrgProcess } from './testing/org-process-client.js';
import type { OrgProcessConfig } from './testing/org-process.js';
import { startLmtpMailbox, type LmtpMailbox } from './testing/lmtp-mailbox.js';
import { composeSignedMail } from './testing/signed-mail.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const ENTRY = join(ROOT, 'packages/sim-org/dist/testing/org-process.js');
const dir = mkdtempSync(join(tmpdir(), 'ssmax-reliability-'));
const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

let hsm: SoftHsmNative;
let net: SimNet;
let registry: Registry;
/** The mailbox stand-in: one filed message per recipient per LMTP transaction. */
let lmtp: LmtpMailbox;
const children: OrgProcess[] = [];

function childPrefix(k: number): string {
  const [, x, y] = net.plan.prefix.split('.').map(Number) as [number, number, number];
  return `127.${x}.${(y + 97 + k) % 256}`;
}

function messageIdOfRaw(raw: Buffer): string {
  return /^Message-ID:[ \t]*(<[^>\r\n]*>)/im.exec(raw.subarray(0, 16_384).toString('latin1'))?.[1] ?? '';
}

beforeAll(async () => {
  // The child runs compiled JavaScript (no tsx here); -b rebuilds only what changed.
  await buildCompiled('packages/sim-org');
  hsm = SoftHsmNative.open({ storageDir: join(dir, 'hsm-parent') });
  net = await SimNet.create({ seed: 4242 + (process.pid % 1000) });
  registry = await Registry.start({
    dataDir: join(dir, 'registry'),
    signer: SoftwareKey.generate('EC-P256'),
    log: () => {},
    adminToken: 'admin',
    resolver: net.resolver,
  });
  // The org under test is SIGKILLed mid-LMTP on purpose; the stand-in absorbs the reset (lmtp-mailbox.test.ts).
  lmtp = await startLmtpMailbox();
}, 240_000);

afterAll(async () => {
  for (const c of children) await c.kill().catch(() => undefined);
  await registry?.close();
  await net?.[Symbol.asyncDispose]();
  await lmtp?.close();
  await hsm?.close();
  rmSync(dir, { recursive: true, force: true });
});

function childConfig(id: string, k: number, extra: Partial<OrgProcessConfig> = {}): OrgProcessConfig {
  return {
    id,
    domain: `${id}.example`,
    mode: 'org',
    storageDir: join(dir, id),
    hsmDir: join(dir, `hsm-${id}`),
    registryUrl: registry.url,
    registryRootCert: b64(registry.rootCertificate),
    netPrefix: childPrefix(k),
    lmtp: { host: '127.0.0.1', port: lmtp.port },
    retryMs: 150,
    ...extra,
  };
}

async function startChild(config: OrgProcessConfig): Promise<OrgProcess> {
  // The child's domain lives in this process's zone, which the registry reads for domain control (1).
  const p = await OrgProcess.start(ENTRY, config, {
    publishTxt: (name, value) => void net.zone.addTxt(name, value),
    withdrawTxt: (name, value) => void net.zone.remove(name, 'TXT', (v) => (v as string[]).join('') === value),
  });
  children.push(p);
  return p;
}

let cardN = 0;
async function card(): Promise<PrivateKeyOps> {
  const label = `rel-card-${++cardN}`;
  hsm.initToken({ label, soPin: '87654321', userPin: '1234' });
  const t = hsm.openToken(label);
  await t.login('1234');
  return bindTokenKey(t, await t.generateKeyPair('user', 'EC-P256'));
}

/** The Message-ID of every message the mailbox stand-in filed so far, one per recipient per transaction. */
const delivered = (): string[] => [...lmtp.inboxes.values()].flat().map(messageIdOfRaw);
const count = (id: string) => delivered().filter((d) => d === id).length;

describe('Reliability: a killed receiving org (MTA-in + delivery) resumes its spool', () => {
  it('delivers every mail it answered 250 when killed mid-flow and restarted: none lost, at most the one the delivery worker held twice', async () => {
    const N = 30;
    const K = 10;
    const CONCURRENCY = 3;
    // Receiving org B in its own process; its recipient has a card on B's own SoftHSM2 store.
    const bConfig = childConfig('rel-b', 0, { cardUsers: [{ local: 'bob', pin: '2222', password: 'pw-bob' }], deliveryDelayMs: 120 });
    let b = await startChild(bConfig);
    const bob = `bob@${bConfig.domain}`;
    // Sending org A here: N org-signed mails (procedures (3)(4)(5)(6)) prepared up front, so the kill is timed by B alone.
    const a = await Organisation.start({
      id: 'rel-a',
      domain: 'rel-a.example',
      mode: 'org',
      net,
      registryUrl: registry.url,
      registryRootCert: registry.rootCertificate,
      storageDir: join(dir, 'rel-a'),
      hsm,
      mailbox: { deliver: async () => undefined },
      profile: { starttls: false },
      registryMaxAgeSeconds: 0,
      retryMs: 200,
    });
    try {
      const key = await card();
      const alice = await (a.users as SimpleUserDirectory).register({ address: 'alice@rel-a.example', password: 'pw', signingSpki: key.spki });
      const member = await a.registry.memberByDomain(bConfig.domain);
      expect(member?.orgId).toBe(b.ready.registryOrgId);
      const mails: { messageId: string; bytes: Uint8Array }[] = [];
      for (let i = 0; i < N; i++) {
        const { raw } = await composeSignedMail({
          from: alice.address,
          to: [bob],
          subject: `reliability ${i}`,
          text: `mail ${i}`,
          key,
          signingCertificate: alice.signing.der,
          orgCertificate: a.kms.certificates.org,
          orgEncryptionCertificate: a.kms.certificates.encryption,
          files: [{ name: `f${i}.txt`, type: 'text/plain', content: Buffer.from(`file ${i}\n`) }],
        });
        const v = await verifyUserMail(a.ctx, raw, undefined);
        expect(v.ok, v.detail).toBe(true);
        const p = parseSmime(raw);
        if (p.kind !== 'multipart-signed') throw new Error('unsigned');
        const hop = await orgHop({
          kms: a.kms,
          mode: 'org',
          direction: 'outbound',
          entity: p.signedEntity,
          headers: p.headers,
          recipients: [Buffer.from(member!.kmsEncryptionCertificate!, 'base64')],
          org: a.registryOrgId,
          domain: a.domain,
          hop: 1,
          messageId: v.messageId,
          checks: v.checks,
          identityNotice: v.identityNotice!,
          clock: () => new Date(),
        });
        if (hop.blocked) throw new Error('blocked');
        mails.push({ messageId: v.messageId, bytes: hop.message });
      }

      const send = async (mx: { address: string; port: number }, bytes: Uint8Array): Promise<number> => {
        const t = nodemailer.createTransport({
          host: mx.address,
          port: mx.port,
          localAddress: a.ctx.addresses.mtaOut,
          secure: false,
          ignoreTLS: true,
          connectionTimeout: 5000,
          socketTimeout: 20_000,
        });
        try {
          await t.sendMail({ envelope: { from: alice.address, to: [bob] }, raw: Buffer.from(bytes) });
          return 250;
        } catch (e) {
          return (e as { responseCode?: number }).responseCode ?? 0;
        } finally {
          t.close();
        }
      };

      // Phase 1: CONCURRENCY connections in parallel; SIGKILL the moment the K-th 250 arrives.
      const outcome = new Map<string, 'acked' | 'failed' | 'unsent'>(mails.map((m) => [m.messageId, 'unsent']));
      let acked = 0;
      let killed = false;
      let deliveredAtKill = 0;
      let next = 0;
      const mx1 = b.ready.mx;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (!killed && next < N) {
            const m = mails[next++]!;
            const code = await send(mx1, m.bytes);
            outcome.set(m.messageId, code === 250 ? 'acked' : 'failed');
            if (code === 250 && ++acked === K && !killed) {
              killed = true;
              b.child.kill('SIGKILL');
              deliveredAtKill = delivered().length;
            }
          }
        }),
      );
      const exit = await b.exited;
      expect(exit.signal).toBe('SIGKILL');
      const deliveredBeforeExit = new Set(delivered());
      const ackedIds = mails.filter((m) => outcome.get(m.messageId) === 'acked').map((m) => m.messageId);
      const failedIds = mails.filter((m) => outcome.get(m.messageId) === 'failed').map((m) => m.messageId);
      // Every reply before the kill was a 250 (nothing refused), and the kill left acknowledged mail undelivered.
      expect(ackedIds.length).toBeGreaterThanOrEqual(K);
      expect(ackedIds.length).toBeLessThanOrEqual(K + CONCURRENCY - 1);
      expect(deliveredAtKill, 'mail was still queued when the process died').toBeLessThan(ackedIds.length);

      // Restart on the same storage and SoftHSM2 store: the spool resumes.
      b = await startChild(bConfig);
      const q = b.ready.queuedAtStart.inbound;
      await b.idle();
      const afterRestart = ackedIds.map((id) => count(id));
      // None lost: every acknowledged Message-ID is in Bob's mailbox.
      expect(
        afterRestart.filter((n) => n === 0),
        'lost',
      ).toEqual([]);
      // Duplicates: Spool.once marks a recipient done only after the LMTP 250 (delivery.ts), so a kill between
      // the mailbox's 250 and that fsync'd marker delivers the one message in the worker's hands again
      // (at-least-once; the worker is sequential and Bob the only recipient, so at most one, and it must be
      // a message the mailbox had already received when the process died).
      const dupIds = ackedIds.filter((id) => count(id) > 1);
      expect(afterRestart.every((n) => n <= 2)).toBe(true);
      expect(dupIds.length, `duplicated ${dupIds.join(' ')}`).toBeLessThanOrEqual(1);
      for (const id of dupIds) expect(deliveredBeforeExit.has(id), `${id} was in the mailbox before the kill`).toBe(true);
      // Mail the sender saw fail was never acknowledged: at most one copy (stored, but the 250 was lost with the process).
      for (const id of failedIds) expect(count(id)).toBeLessThanOrEqual(1);
      const storedUnacked = failedIds.filter((id) => count(id) === 1).length;

      // Phase 2: the sender retries what got no 250 (RFC 5321 §4.5.4.1), and sends the rest.
      const retry = mails.filter((m) => outcome.get(m.messageId) !== 'acked');
      for (const m of retry) expect(await send(b.ready.mx, m.bytes)).toBe(250);
      await b.idle();
      const final = mails.map((m) => count(m.messageId));
      expect(
        final.every((n) => n >= 1),
        'every mail delivered',
      ).toBe(true);
      // At-least-once towards a sender whose 250 was lost: the only duplicates are mails stored before the kill but never acknowledged.
      expect(final.filter((n) => n > 1).length).toBe(storedUnacked + dupIds.length);
      expect(storedUnacked).toBeLessThanOrEqual(CONCURRENCY);
      expect(final.every((n) => n <= 2)).toBe(true);
      console.info(
        `[reliability] receiving org: sent ${N}, acknowledged before SIGKILL ${ackedIds.length} (K=${K}), failed in flight ${failedIds.length}, ` +
          `delivered at kill ${deliveredAtKill}, queued on disk at restart ${q.incoming}+${q.processing} processing, ` +
          `acknowledged delivered after restart ${afterRestart.filter((n) => n >= 1).length}/${ackedIds.length} (twice: ${dupIds.length}), stored-but-unacknowledged ${storedUnacked}, ` +
          `after resending ${retry.length}: delivered ${final.filter((n) => n >= 1).length}/${N}, duplicates ${final.filter((n) => n > 1).length}`,
      );
      await b.stop();
    } finally {
      await a.close();
    }
  }, 180_000);
});

describe('Reliability: a killed sending org (MSA + outbound spool) resumes its spool', () => {
  it('relays every mail its MSA answered 250 after SIGKILL and restart', async () => {
    const M = 8;
    // The receiving org from the previous test (its store and users are on disk) is started again here.
    const bConfig = childConfig('rel-b', 0, { cardUsers: [{ local: 'bob', pin: '2222', password: 'pw-bob' }] });
    const b = await startChild(bConfig);
    const bob = `bob@${bConfig.domain}`;
    const key = await card();
    // No route to B's MX yet: submissions stay in the outbound spool (deferred, retried), deterministically.
    const sConfig = childConfig('rel-s', 1, { externalUsers: [{ address: 'dave@rel-s.example', password: 'pw-dave', signingSpki: b64(key.spki) }] });
    let s = await startChild(sConfig);
    const dave = s.ready.users[0]!;
    const ids: string[] = [];
    for (let i = 0; i < M; i++) {
      const { raw, messageId } = await composeSignedMail({
        from: dave.address,
        to: [bob],
        subject: `outbound ${i}`,
        text: `mail ${i}`,
        key,
        signingCertificate: Buffer.from(dave.signingCertificate, 'base64'),
        orgCertificate: Buffer.from(s.ready.orgCertificate, 'base64'),
        orgEncryptionCertificate: Buffer.from(s.ready.kmsEncryptionCertificate, 'base64'),
        files: [{ name: 'o.txt', type: 'text/plain', content: Buffer.from(`outbound file ${i}\n`) }],
      });
      const t = nodemailer.createTransport({
        host: s.ready.msa.address,
        port: s.ready.msa.port,
        secure: false,
        ignoreTLS: true,
        auth: { user: dave.address, pass: 'pw-dave' },
      });
      const info = await t.sendMail({ envelope: { from: dave.address, to: [bob] }, raw: Buffer.from(raw) });
      t.close();
      expect(info.response).toMatch(/^250 /);
      ids.push(messageId);
    }
    await s.kill();
    expect(ids.map(count)).toEqual(ids.map(() => 0));
    // Restart with the route to B: the recovered spool is relayed.
    s = await startChild({
      ...sConfig,
      peers: [{ domain: bConfig.domain, mxHost: `mx.${bConfig.domain}`, address: b.ready.mx.address, port: b.ready.mx.port }],
    });
    const q = s.ready.queuedAtStart.outbound;
    expect(q.incoming + q.processing).toBe(M);
    await s.idle();
    await b.idle();
    const got = ids.map(count);
    expect(got).toEqual(ids.map(() => 1));
    console.info(
      `[reliability] sending org: MSA acknowledged ${M}, queued on disk at restart ${q.incoming}+${q.processing} processing, delivered after restart ${got.filter((n) => n === 1).length}/${M}, duplicates ${got.filter((n) => n > 1).length}`,
    );
    await s.stop();
    await b.stop();
  }, 180_000);
});
