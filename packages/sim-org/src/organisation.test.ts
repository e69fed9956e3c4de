import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SoftHsmNative,
  SoftwareKey,
  bindTokenKey,
  buildMultipartSigned,
  decryptContent,
  encryptContent,
  parseMimeEntity,
  parseSmime,
  signSignedData,
  verifySignedData,
  type PrivateKeyOps,
} from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';
import { receivedIdOf } from './delivery.js';
import { verifyAttestation } from './attestation.js';
import type { MailboxDelivery } from './org-context.js';
import { startLmtpMailbox, type LmtpMailbox } from './testing/lmtp-mailbox.js';
import { assembleMixed, buildFilePart, classifyParts, MANIFEST_FILENAME, orgHop } from './org-hop.js';
import { verifyUserMail } from './msa.js';
import { sendToDomain } from './mta-out.js';
import { Organisation, SimpleUserDirectory } from './organisation.js';
import { EICAR } from './malware-scan.js';
import { canonicalJson } from './attestation.js';

// One SoftHSM2 reader per process (SoftHSM reads its config once): every org KMS and every user card lives in it.
const dir = mkdtempSync(join(tmpdir(), 'ssmax-org-'));
let hsm: SoftHsmNative;
let net: SimNet;
let registry: Registry;
const inboxes = new Map<string, Buffer[]>();
let lmtp: LmtpMailbox;
let mailbox: MailboxDelivery;

beforeAll(async () => {
  hsm = SoftHsmNative.open({ storageDir: join(dir, 'hsm') });
  net = await SimNet.create({ seed: 7 });
  registry = await Registry.start({
    dataDir: join(dir, 'registry'),
    signer: SoftwareKey.generate('EC-P256'),
    log: () => {},
    adminToken: 'admin',
    resolver: net.resolver,
  });
  lmtp = await startLmtpMailbox(inboxes);
  mailbox = lmtp.mailbox;
});

afterAll(async () => {
  await registry?.close();
  await net?.[Symbol.asyncDispose]();
  await lmtp?.close();
  await hsm?.close();
  rmSync(dir, { recursive: true, force: true });
});

let cardCount = 0;
async function card(): Promise<PrivateKeyOps> {
  const label = `card-${++cardCount}`;
  hsm.initToken({ label, soPin: '87654321', userPin: '1234' });
  const t = hsm.openToken(label);
  await t.login('1234');
  return bindTokenKey(t, await t.generateKeyPair('user', 'EC-P256'));
}

async function startOrg(id: string, mode: 'org' | 'esp', extra: Partial<Parameters<typeof Organisation.start>[0]> = {}): Promise<Organisation> {
  return Organisation.start({
    id,
    domain: `${id}.example`,
    mode,
    net,
    registryUrl: registry.url,
    registryRootCert: registry.rootCertificate,
    storageDir: join(dir, id),
    hsm,
    mailbox,
    registryMaxAgeSeconds: 0,
    retryMs: 200,
    ...extra,
  });
}

interface User {
  address: string;
  key: PrivateKeyOps;
  org: Organisation;
}

async function addUser(org: Organisation, local: string): Promise<User> {
  const key = await card();
  const address = `${local}@${org.domain}`;
  await (org.users as SimpleUserDirectory).register({ address, password: 'pw-' + local, signingSpki: key.spki });
  return { address, key, org };
}

/** Procedure (3) as docs/PROTOCOL.md §4 describes it (the user agent is the other engineer's; this is the test's own composer). */
async function compose(
  from: User,
  to: string[],
  subject: string,
  text: string,
  files: { name: string; type: string; content: Buffer }[],
): Promise<{ raw: Uint8Array; messageId: string }> {
  const messageId = `<${createHash('sha256')
    .update(subject + Math.random())
    .digest('hex')
    .slice(0, 16)}@${from.org.domain}>`;
  const orgEnc = from.org.kms.certificates.encryption;
  const parts: Uint8Array[] = [Buffer.from(`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n`)];
  let n = 0;
  for (const f of files) {
    const entity = Buffer.from(
      `Content-Type: ${f.type}\r\nContent-Disposition: attachment; filename="${f.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${f.content.toString('base64')}\r\n`,
    );
    parts.push(buildFilePart(++n, await encryptContent(entity, { recipients: [orgEnc] })));
  }
  const user = (from.org.users as SimpleUserDirectory).get(from.address)!;
  const manifest = {
    v: 1,
    type: 'ssmax-manifest',
    messageId,
    from: from.address,
    to,
    cc: [],
    subject,
    files: files.map((f, i) => ({
      n: i + 1,
      name: f.name,
      contentType: f.type,
      size: f.content.length,
      sha256: createHash('sha256').update(f.content).digest('hex'),
    })),
  };
  const mDer = await signSignedData(Buffer.from(canonicalJson(manifest)), { key: from.key, certificate: user.signing.der });
  parts.push(
    Buffer.from(
      `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="${MANIFEST_FILENAME}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${MANIFEST_FILENAME}"\r\n\r\n${Buffer.from(mDer).toString('base64')}`,
    ),
  );
  const entity = assembleMixed(parts);
  const sig = await signSignedData(entity, { key: from.key, certificate: user.signing.der, chain: [from.org.kms.certificates.org], detached: true });
  const raw = buildMultipartSigned(entity, sig, { headers: { from: from.address, to, subject, messageId, date: new Date() } });
  return { raw, messageId };
}

async function submit(
  from: User,
  raw: Uint8Array,
  to: string[],
  password = 'pw-' + from.address.split('@')[0],
): Promise<{ ok: boolean; code?: number; response: string }> {
  const o = net.connectOptions(net.address(`${from.address}/ua`), `msa.${from.org.domain}`, 587);
  const t = nodemailer.createTransport({ ...o, secure: false, ignoreTLS: true, auth: { user: from.address, pass: password } });
  try {
    const info = await t.sendMail({ envelope: { from: from.address, to }, raw: Buffer.from(raw) });
    return { ok: true, response: info.response };
  } catch (e) {
    const err = e as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: err.responseCode, response: err.response ?? err.message };
  } finally {
    t.close();
  }
}

const REPORT = Buffer.from('Quarterly figures: revenue up 4%.\n');

for (const mode of ['org', 'esp'] as const) {
  describe(`Organisation (${mode} mode)`, () => {
    let a: Organisation;
    let b: Organisation;
    let alice: User;
    let bob: User;
    let bobCard: PrivateKeyOps;
    beforeAll(async () => {
      a = await startOrg(`${mode}-a`, mode);
      b = await startOrg(`${mode}-b`, mode);
      alice = await addUser(a, 'alice');
      bob = await addUser(b, 'bob');
      bobCard = bob.key;
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it(`(4)(5)(6)(7)(8)(9) delivers org-to-org with files re-encrypted to the recipient when everything verifies (${mode})`, async () => {
      net.tap.clear();
      const { raw, messageId } = await compose(alice, [bob.address], 'numbers', 'One file: report.txt', [
        { name: 'report.txt', type: 'text/plain', content: REPORT },
      ]);
      const r = await submit(alice, raw, [bob.address]);
      expect(r.ok, r.response).toBe(true);
      await a.idle();
      await b.idle();
      const got = inboxes.get(bob.address)?.at(-1);
      expect(got).toBeDefined();
      const p = parseSmime(new Uint8Array(got!));
      expect(p.kind).toBe('multipart-signed');
      if (p.kind !== 'multipart-signed') return;
      // (10)'s first check: the receiving org's KMS signature over the delivered entity.
      const v = verifySignedData(p.signature, { detachedContent: p.signedEntity });
      expect(v.allValid).toBe(true);
      expect(Buffer.from(v.signers[0]!.certificate!).equals(Buffer.from(b.kms.certificates.signing))).toBe(true);
      const parts = classifyParts(p.signedEntity);
      expect(parts.files).toHaveLength(1);
      // The file is now encrypted to Bob's card and nobody else: Bob's card opens it, the org keys do not.
      const plain = await decryptContent(parts.files[0]!.der, { key: bobCard });
      expect(parseMimeEntity(plain.content).body).toEqual(new Uint8Array(REPORT));
      await expect(decryptContent(parts.files[0]!.der, { key: a.kms.encryptionKey })).rejects.toThrow();
      // Manifest kept byte for byte; two attestations, both with the file's SHA-256 and the identity notice.
      expect(parts.manifest).toBeDefined();
      expect(parts.attestations.map((x) => x.k)).toEqual([1, 2]);
      const sha = createHash('sha256').update(REPORT).digest('hex');
      for (const at of parts.attestations) {
        const av = verifyAttestation(at.part.body);
        expect(av.valid).toBe(true);
        if (!av.valid) continue;
        expect(av.attestation.files).toEqual([{ n: 1, sha256: sha, action: 're-encrypted' }]);
        expect(av.attestation.identityNotice.sender).toBe(alice.address);
        expect(av.attestation.identityNotice.proofing).toBe('employeeCardPin');
        expect(av.attestation.inspection.performed).toBe(mode === 'org');
      }
      // Journey: one event per procedure, files plaintext only inside the orgs' KMS/inspection.
      const events = [...a.journey.events(messageId), ...b.journey.events(messageId)];
      const procs = events.map((e) => e.procedure);
      for (const n of [4, 5, 6, 7, 8, 9]) expect(procs, `procedure ${n}`).toContain(n);
      expect(events.find((e) => e.procedure === 6)!.files).toBe('ciphertext');
      expect(events.find((e) => e.procedure === 8)!.files).toBe(mode === 'org' ? 'plaintext' : 'ciphertext');
      // The wire tap: the file's plaintext never crossed any connection; the org-to-org hop ran over TLS.
      expect(net.tap.search('Quarterly figures')).toEqual([]);
      expect(net.tap.search('numbers').filter((m) => m.connection.service.startsWith('mx.'))).toEqual([]);
    });

    it(`(5) ${mode === 'org' ? 'bounces a CONFIDENTIAL file to the sender with a DSN naming the rule' : 'does not inspect (ESP) and delivers a CONFIDENTIAL file'} (${mode})`, async () => {
      const before = inboxes.get(alice.address)?.length ?? 0;
      const beforeBob = inboxes.get(bob.address)?.length ?? 0;
      const { raw, messageId } = await compose(alice, [bob.address], 'plans', 'see file', [
        { name: 'plan.txt', type: 'text/plain', content: Buffer.from('CONFIDENTIAL merger plan') },
      ]);
      expect((await submit(alice, raw, [bob.address])).ok).toBe(true);
      await a.idle();
      await b.idle();
      if (mode === 'org') {
        const dsn = inboxes.get(alice.address)?.[before]?.toString('utf8') ?? '';
        expect(dsn).toMatch(/multipart\/report; report-type=delivery-status/);
        expect(dsn).toContain('confidential-marking');
        expect(dsn).toContain('Status: 5.7.1');
        expect(dsn).not.toContain('merger plan');
        expect(inboxes.get(bob.address)?.length ?? 0).toBe(beforeBob);
        expect(a.journey.events(messageId).find((e) => e.procedure === 5)?.outcome).toBe('bounced');
      } else {
        expect(inboxes.get(bob.address)?.length ?? 0).toBe(beforeBob + 1);
        expect(a.journey.events(messageId).find((e) => e.procedure === 5)?.detail).toMatch(/ESP/);
      }
    });

    it(`(8) ${mode === 'org' ? 'refuses an EICAR file in the SMTP session with 550 5.7.1 and the sender gets a DSN' : 'does not inspect (ESP) and delivers an EICAR file still encrypted'} (${mode})`, async () => {
      const beforeBob = inboxes.get(bob.address)?.length ?? 0;
      const { raw, messageId } = await compose(alice, [bob.address], 'tool', 'see file', [
        { name: 'tool.com', type: 'application/octet-stream', content: Buffer.from(EICAR) },
      ]);
      expect((await submit(alice, raw, [bob.address])).ok).toBe(true);
      await a.idle();
      await b.idle();
      const inB = b.journey.events(messageId).find((e) => e.procedure === 8);
      if (mode === 'org') {
        expect(inB?.outcome).toBe('rejected');
        expect(inB?.reply).toMatch(/^550 5\.7\.1 /);
        expect(inboxes.get(bob.address)?.length ?? 0).toBe(beforeBob);
        expect(a.journey.events(messageId).find((e) => e.procedure === 6)?.reply).toMatch(/^550 /);
      } else {
        expect(inB?.outcome).toBe('accepted');
        expect(inboxes.get(bob.address)?.length ?? 0).toBe(beforeBob + 1);
      }
      expect(net.tap.search('EICAR-STANDARD')).toEqual([]);
    });

    it(`(7) delivers plain mail from a non-member marked X-SSMAX-Verdict: unverified, and refuses unsigned mail claiming a member domain (${mode})`, async () => {
      const from = net.address(`outsider-${mode}/mta`);
      const send = async (sender: string) => {
        const t = nodemailer.createTransport({ ...net.connectOptions(from, `mx.${b.domain}`, 25), secure: false, ignoreTLS: true });
        try {
          await t.sendMail({ from: sender, to: bob.address, subject: 'hello', text: 'plain text', messageId: `<p${Math.random()}@x>` });
          return { ok: true, code: 250, response: '' };
        } catch (e) {
          return { ok: false, code: (e as { responseCode?: number }).responseCode, response: String((e as { response?: string }).response) };
        } finally {
          t.close();
        }
      };
      const before = inboxes.get(bob.address)?.length ?? 0;
      expect((await send('carol@outside.example')).ok).toBe(true);
      await b.idle();
      const got = inboxes.get(bob.address)?.[before]?.toString('utf8') ?? '';
      // The MX's own trace field on top (RFC 5321 §4.4), its mark right below it, above anything the sender wrote.
      expect(topFields(got).slice(0, 2)).toEqual([
        expect.stringMatching(new RegExp(`^Received: from .*\\sby mx\\.${b.domain.replace(/\./g, '\\.')} with ESMTP`, 's')),
        'X-SSMAX-Verdict: unverified',
      ]);
      const forged = await send(alice.address);
      expect(forged.code).toBe(550);
      expect(forged.response).toMatch(/5\.7\.7/);
    });

    it(`(8) ${mode === 'org' ? 'refuses EICAR attached to non-member mail in the session' : 'does not inspect (ESP) and delivers non-member mail with EICAR marked unverified'} (${mode})`, async () => {
      const from = net.address(`outsider2-${mode}/mta`);
      const t = nodemailer.createTransport({ ...net.connectOptions(from, `mx.${b.domain}`, 25), secure: false, ignoreTLS: true });
      const before = inboxes.get(bob.address)?.length ?? 0;
      let reply: { code?: number; response?: string } = { code: 250 };
      try {
        await t.sendMail({
          from: 'dave@outside.example',
          to: bob.address,
          subject: 'tool',
          text: 'see file',
          attachments: [{ filename: 'tool.com', content: Buffer.from(EICAR) }],
          messageId: `<e${Math.random()}@x>`,
        });
      } catch (e) {
        reply = { code: (e as { responseCode?: number }).responseCode, response: String((e as { response?: string }).response) };
      } finally {
        t.close();
      }
      await b.idle();
      if (mode === 'org') {
        expect(reply.code).toBe(550);
        expect(reply.response).toMatch(/5\.7\.1/);
        expect(inboxes.get(bob.address)?.length ?? 0).toBe(before);
      } else {
        expect(reply.code).toBe(250);
        expect(topFields(inboxes.get(bob.address)?.[before]?.toString('utf8') ?? '')[1]).toBe('X-SSMAX-Verdict: unverified');
      }
    });

    it(`(6) refuses files for a non-member domain with a notice to the sender (${mode})`, async () => {
      const before = inboxes.get(alice.address)?.length ?? 0;
      const { raw } = await compose(alice, ['dave@nonmember.example'], 'f', 'file', [{ name: 'a.txt', type: 'text/plain', content: Buffer.from('hello') }]);
      expect((await submit(alice, raw, ['dave@nonmember.example'])).ok).toBe(true);
      await a.idle();
      const dsn = inboxes.get(alice.address)?.[before]?.toString('utf8') ?? '';
      expect(dsn).toContain('non-member-files');
      expect(dsn).toContain('not an SSMAX registry member');
    });

    it(`(7) answers malformed, oversized and fuzzed input with a 5xx reply and keeps serving (${mode})`, async () => {
      const from = net.address(`fuzzer-${mode}/mta`);
      const send = async (raw: Uint8Array) => {
        const t = nodemailer.createTransport({ ...net.connectOptions(from, `mx.${b.domain}`, 25), secure: false, ignoreTLS: true });
        try {
          await t.sendMail({ envelope: { from: 'x@fuzz.example', to: [bob.address] }, raw: Buffer.from(raw) });
          return 250;
        } catch (e) {
          return (e as { responseCode?: number }).responseCode ?? 0;
        } finally {
          t.close();
        }
      };
      const { raw } = await compose(alice, [bob.address], 'fz', 'fuzz base', []);
      const orgSigned = Buffer.from(Buffer.from(raw).toString('latin1').replace('MIME-Version: 1.0', 'MIME-Version: 1.0\r\nX-SSMAX-Hop: 1'), 'latin1');
      // Broken multipart/signed with an SSMAX hop header: MIME error.
      expect(
        await send(
          Buffer.from('From: a@org-x.example\r\nX-SSMAX-Hop: 1\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"\r\n\r\nbody'),
        ),
      ).toBe(554);
      // An org-signed-looking mail whose signature is not CMS.
      const badCms = Buffer.from(orgSigned.toString('latin1').replace(/(smime\.p7s\r\n\r\n)[A-Za-z0-9+/=\r\n]+/, '$1AAAA\r\n'), 'latin1');
      expect([550, 554]).toContain(await send(badCms));
      // Over the size limit (10 MiB default).
      expect(await send(Buffer.concat([Buffer.from('From: x@fuzz.example\r\nSubject: big\r\n\r\n'), Buffer.alloc(11 * 1024 * 1024, 0x61)]))).toBe(552);
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: orgSigned.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), async (at, junk) => {
          const mutated = Buffer.concat([orgSigned.subarray(0, at), Buffer.from(junk), orgSigned.subarray(at + junk.length)]);
          const code = await send(mutated);
          // Never accepted as verified org mail, never a crash (0 = connection error) or a transient fault.
          expect(code === 250 || (code >= 500 && code < 600), `reply ${code}`).toBe(true);
        }),
        { numRuns: 25 },
      );
      // Still serving after the storm.
      expect(await send(Buffer.from('From: carol@outside.example\r\nSubject: after\r\n\r\nstill up\r\n'))).toBe(250);
    });

    it(`(4) refuses a mail whose From is not the signer with 550 5.7.1 (${mode})`, async () => {
      const mallory = await addUser(a, 'mallory');
      const { raw } = await compose(mallory, [bob.address], 'x', 'x', []);
      const forged = Buffer.from(Buffer.from(raw).toString('latin1').replace(`From: ${mallory.address}`, `From: ${alice.address}`), 'latin1');
      const r = await submit(mallory, forged, [bob.address]);
      expect(r.ok).toBe(false);
      expect(r.code).toBe(550);
      expect(r.response).toMatch(/5\.7\.1/);
    });

    it(`(4) refuses a revoked user certificate with 550 5.7.1 (${mode})`, async () => {
      const eve = await addUser(a, 'eve');
      await (a.users as SimpleUserDirectory).revoke(eve.address);
      const { raw } = await compose(eve, [bob.address], 'x', 'x', []);
      const r = await submit(eve, raw, [bob.address]);
      expect(r.code).toBe(550);
      expect(r.response).toMatch(/revoked/i);
    });
  });
}

/** The header fields of a stored message, top first, each unfolded onto one line. */
function topFields(raw: string): string[] {
  return raw
    .slice(0, raw.indexOf('\r\n\r\n'))
    .split(/\r\n(?![ \t])/)
    .map((f) => f.replace(/\r\n[ \t]+/g, ' '));
}

describe('MtaIn (7) registry status', () => {
  let b: Organisation;
  let bob: User;
  beforeAll(async () => {
    b = await startOrg('status-b', 'org');
    bob = await addUser(b, 'bob');
  });
  afterAll(async () => {
    await b?.close();
  });

  /** Org-signs a user's mail with the sender org's real KMS (6) and sends it to B's MX from the sender's MTA-out address. */
  async function submitted(from: User) {
    const { raw } = await compose(from, [bob.address], 'status', 'text', [{ name: 'a.txt', type: 'text/plain', content: Buffer.from('hello') }]);
    const verified = await verifyUserMail(from.org.ctx, raw, undefined);
    expect(verified.ok, verified.detail).toBe(true);
    return { raw, verified };
  }

  async function relay(from: User, mail: Awaited<ReturnType<typeof submitted>>, opts: { orgCrl?: Uint8Array; envid?: string } = {}) {
    const { raw, verified: v } = mail;
    const p = parseSmime(raw);
    if (p.kind !== 'multipart-signed') throw new Error('unsigned');
    const member = await from.org.registry.memberByDomain(b.domain);
    const hop = await orgHop({
      kms: from.org.kms,
      mode: 'org',
      direction: 'outbound',
      entity: p.signedEntity,
      headers: p.headers,
      recipients: [Buffer.from(member!.kmsEncryptionCertificate!, 'base64')],
      org: from.org.registryOrgId,
      domain: from.org.domain,
      hop: 1,
      messageId: v.messageId,
      checks: v.checks,
      identityNotice: v.identityNotice!,
      clock: () => new Date(),
      ...(opts.orgCrl ? { orgCrl: opts.orgCrl } : {}),
    });
    if (hop.blocked) throw new Error('blocked');
    return sendToDomain(from.org.ctx, b.domain, from.address, [bob.address], hop.message, undefined, opts.envid);
  }

  it('(7) stores a retransmission with the same ENVID from the same MTA once (a lost 250), and mail without one each time', async () => {
    const c = await startOrg('envid-c', 'org');
    try {
      const carol = await addUser(c, 'carol');
      const mail = await submitted(carol);
      const copies = () => (inboxes.get(bob.address) ?? []).filter((m) => m.includes(mail.verified.messageId)).length;
      // Each relay re-encrypts (other bytes); the ENVID names the transmission.
      const first = await relay(carol, mail, { envid: 'spool-1' });
      expect(first.response).toMatch(/^250 2\.0\.0 queued as /);
      const again = await relay(carol, mail, { envid: 'spool-1' });
      expect(again.accepted).toBe(true);
      expect(again.response).toMatch(/already queued as .*ENVID spool-1 seen/);
      expect(again.response).toContain(first.response.replace(/^250 2\.0\.0 queued as (\S+).*$/s, '$1'));
      await b.idle();
      expect(copies()).toBe(1);
      // Another ENVID is another transmission; no ENVID (a replay, an ordinary client) is stored every time.
      expect((await relay(carol, mail, { envid: 'spool-2' })).response).toMatch(/^250 2\.0\.0 queued as /);
      expect((await relay(carol, mail)).response).toMatch(/^250 2\.0\.0 queued as /);
      await b.idle();
      expect(copies()).toBe(3);
      // Each stored copy names its own transaction on top (our MX's Received id), what a retried delivery asks the mailbox for.
      const ids = inboxes
        .get(bob.address)!
        .filter((x) => x.includes(mail.verified.messageId))
        .map((m) => receivedIdOf(m));
      expect(ids.every((id) => id !== undefined && /^\w{8,}/.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(3);
    } finally {
      await c.close();
    }
  });

  it('(7) accepts an admitted org, then refuses it with 550 5.7.1 once suspended and once revoked', async () => {
    const c = await startOrg('status-c', 'org');
    try {
      const carol = await addUser(c, 'carol');
      // Submitted (4) while the org was admitted; relayed after each registry decision.
      const mail = await submitted(carol);
      expect((await relay(carol, mail)).accepted).toBe(true);
      registry.decide(c.registryOrgId, 'suspend', 'audit overdue');
      const suspended = await relay(carol, mail);
      expect(suspended.code).toBe(550);
      expect(suspended.response).toMatch(/5\.7\.1 Sending organisation is suspended/);
      registry.decide(c.registryOrgId, 'revoke', 'incident history');
      const revoked = await relay(carol, mail);
      expect(revoked.code).toBe(550);
      expect(revoked.response).toMatch(/5\.7\.1 Sending organisation is revoked/);
    } finally {
      await c.close();
    }
  });

  it('(7) refuses an org enrolled only with another registry as unknown (550 5.7.1), through its own MSA and MTA-out', async () => {
    await using rogueRegistry = await Registry.start({
      dataDir: join(dir, 'rogue-registry'),
      signer: SoftwareKey.generate('EC-P256'),
      log: () => {},
      resolver: net.resolver,
    });
    const rogue = await Organisation.start({
      id: 'rogue',
      domain: 'rogue.example',
      mode: 'org',
      net,
      registryUrl: rogueRegistry.url,
      registryRootCert: rogueRegistry.rootCertificate,
      storageDir: join(dir, 'rogue'),
      hsm,
      mailbox,
      registryMaxAgeSeconds: 0,
      retryMs: 200,
    });
    try {
      // The rogue registry's directory does not list B, so mail without files is sent as org-signed mail.
      const mal = await addUser(rogue, 'mal');
      const { raw, messageId } = await compose(mal, [bob.address], 'hi', 'no files', []);
      expect((await submit(mal, raw, [bob.address])).ok).toBe(true);
      await rogue.idle();
      expect(b.journey.events(messageId).find((e) => e.procedure === 7)?.reply).toMatch(/^550 5\.7\.1 Sending organisation is not certified/);
      expect(rogue.journey.events(messageId).find((e) => e.procedure === 6)?.outcome).toBe('bounced');
    } finally {
      await rogue.close();
    }
  });

  it('(7) refuses a mail whose sender certificate the stapled org CRL lists as revoked (550 5.7.1)', async () => {
    const d = await startOrg('status-d', 'org');
    try {
      const dan = await addUser(d, 'dan');
      const mail = await submitted(dan);
      expect((await relay(dan, mail, { orgCrl: (await d.users.crl())! })).accepted).toBe(true);
      await (d.users as SimpleUserDirectory).revoke(dan.address);
      const r = await relay(dan, mail, { orgCrl: (await d.users.crl())! });
      expect(r.code).toBe(550);
      expect(r.response).toMatch(/5\.7\.1 Signer certificate is revoked/);
    } finally {
      await d.close();
    }
  });
});

describe('spool workers', () => {
  it('delivers every mail exactly once with several workers per spool, which do overlap', async () => {
    const a = await startOrg('workers-a', 'org', { spoolWorkers: 3 });
    const b = await startOrg('workers-b', 'org', { spoolWorkers: 3 });
    try {
      const alice = await addUser(a, 'alice');
      const bob = await addUser(b, 'bob');
      // Overlap, observed from outside: several of B's deliveries in flight at the same time.
      let inFlight = 0;
      let most = 0;
      const deliver = mailbox.deliver.bind(mailbox);
      mailbox.deliver = async (r, m, e) => {
        most = Math.max(most, ++inFlight);
        try {
          await new Promise((res) => setTimeout(res, 50));
          await deliver(r, m, e);
        } finally {
          inFlight--;
        }
      };
      const ids: string[] = [];
      try {
        for (let i = 0; i < 9; i++) {
          const { raw, messageId } = await compose(alice, [bob.address], `w${i}`, `mail ${i}`, [
            { name: `f${i}.txt`, type: 'text/plain', content: Buffer.from(`f${i}`) },
          ]);
          expect((await submit(alice, raw, [bob.address])).ok).toBe(true);
          ids.push(messageId);
        }
        await a.idle(60_000);
        await b.idle(60_000);
      } finally {
        mailbox.deliver = deliver;
      }
      const got = ids.map((id) => (inboxes.get(bob.address) ?? []).filter((m) => m.includes(id)).length);
      expect(got).toEqual(ids.map(() => 1));
      expect(most).toBeGreaterThan(1);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);
});
