import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import { dkimSign } from 'mailauth';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createZip } from '@ssmax/core';
import { createOpensslPki, type OpensslPki } from '@ssmax/core/testing';
import { SimNet, type OnPathHook } from '@ssmax/sim-net';
import { conventionalProfile, PasswordUserDirectory, type ConventionalOptions, type ConventionalProfileName } from './conventional.js';
import type { MailboxDelivery } from './org-context.js';
import { startLmtpMailbox, type LmtpMailbox } from './testing/lmtp-mailbox.js';
import { Organisation } from './organisation.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-conv-'));
let net: SimNet;
let pki: OpensslPki;
const inboxes = new Map<string, Buffer[]>();
let lmtp: LmtpMailbox;
let mailbox: MailboxDelivery;
const orgs: Organisation[] = [];
let now = Date.parse('2025-11-25T09:00:00Z');
const clock = (): Date => new Date(now);

beforeAll(async () => {
  net = await SimNet.create({ seed: 11 });
  pki = createOpensslPki();
  lmtp = await startLmtpMailbox(inboxes);
  mailbox = lmtp.mailbox;
});

afterAll(async () => {
  await Promise.allSettled(orgs.map((o) => o.close()));
  await net?.[Symbol.asyncDispose]();
  await lmtp?.close();
  pki?.[Symbol.dispose]();
  rmSync(dir, { recursive: true, force: true });
});

interface Pair {
  a: Organisation;
  b: Organisation;
  alice: string;
  bob: string;
}

async function pair(prefix: string, profile: ConventionalProfileName, overrides: Partial<ConventionalOptions> = {}): Promise<Pair> {
  const start = async (id: string) => {
    const users = new PasswordUserDirectory();
    // The partners know each other (reputation scores look-alikes of these and of the own domain).
    const reputation =
      profile === 'best-practice'
        ? {
            reputation: {
              knownDomains: [`${prefix}-a.example`, `${prefix}-b.example`],
              domainRegistry: { [`${prefix}-a.example`]: '2001-04-01', [`${prefix}-b.example`]: '2003-10-01' },
            },
          }
        : {};
    const org = await Organisation.start({
      id,
      domain: `${id}.example`,
      mode: 'org',
      net,
      storageDir: join(dir, id),
      mailbox,
      users,
      clock,
      retryMs: 100,
      profile: conventionalProfile(profile, { ...reputation, ...overrides }),
    });
    orgs.push(org);
    return { org, users };
  };
  const a = await start(`${prefix}-a`);
  const b = await start(`${prefix}-b`);
  const alice = `alice@${a.org.domain}`;
  const bob = `bob@${b.org.domain}`;
  a.users.add(alice, 'pw-alice');
  b.users.add(bob, 'pw-bob');
  return { a: a.org, b: b.org, alice, bob };
}

/** A plain RFC 5322 message with optional attachments (base64, 76-column lines). */
function mail(o: { from: string; to: string; subject: string; text: string; files?: { name: string; type: string; bytes: Uint8Array }[] }): {
  raw: Buffer;
  messageId: string;
} {
  const messageId = `<${randomBytes(8).toString('hex')}@${o.from.split('@')[1]}>`;
  const head = [
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Subject: ${o.subject}`,
    `Message-ID: ${messageId}`,
    `Date: ${new Date(now).toUTCString()}`,
    'MIME-Version: 1.0',
  ];
  if (!o.files?.length) return { raw: Buffer.from([...head, 'Content-Type: text/plain; charset=utf-8', '', o.text, ''].join('\r\n')), messageId };
  const b = `b-${randomBytes(6).toString('hex')}`;
  const parts = [`--${b}`, 'Content-Type: text/plain; charset=utf-8', '', o.text];
  for (const f of o.files)
    parts.push(
      `--${b}`,
      `Content-Type: ${f.type}; name="${f.name}"`,
      `Content-Disposition: attachment; filename="${f.name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      ...b64lines(f.bytes),
    );
  return { raw: Buffer.from([...head, `Content-Type: multipart/mixed; boundary="${b}"`, '', ...parts, `--${b}--`, ''].join('\r\n')), messageId };
}

const b64lines = (u: Uint8Array): string[] =>
  Buffer.from(u)
    .toString('base64')
    .match(/.{1,76}/g) ?? [];

async function submit(org: Organisation, user: string, password: string, raw: Buffer, to: string[]): Promise<{ ok: boolean; code?: number; response: string }> {
  const o = net.connectOptions(net.address(`${user}/ua`), `msa.${org.domain}`, 587);
  const t = nodemailer.createTransport({ ...o, secure: false, ignoreTLS: true, auth: { user, pass: password } });
  try {
    const info = await t.sendMail({ envelope: { from: user, to }, raw });
    return { ok: true, response: info.response };
  } catch (e) {
    const err = e as { responseCode?: number; response?: string; message: string };
    return { ok: false, ...(err.responseCode ? { code: err.responseCode } : {}), response: err.response ?? err.message };
  } finally {
    t.close();
  }
}

/** An outside sender talking straight to a receiving MX (issue 4's attacker does the same). */
async function direct(
  fromActor: string,
  mx: string,
  helo: string,
  mailFrom: string,
  to: string,
  raw: Buffer,
): Promise<{ ok: boolean; code?: number; response: string }> {
  const o = net.connectOptions(net.address(fromActor), mx, 25);
  const t = nodemailer.createTransport({ ...o, secure: false, ignoreTLS: true, name: helo });
  try {
    const info = await t.sendMail({ envelope: { from: mailFrom, to: [to] }, raw });
    return { ok: true, response: info.response };
  } catch (e) {
    const err = e as { responseCode?: number; response?: string; message: string };
    return { ok: false, ...(err.responseCode ? { code: err.responseCode } : {}), response: err.response ?? err.message };
  } finally {
    t.close();
  }
}

async function settle(...os: Organisation[]): Promise<void> {
  for (let i = 0; i < 2; i++) for (const o of os) await o.idle(10_000);
}

const inbox = (addr: string): Buffer[] => inboxes.get(addr) ?? [];

/** An on-path MTA that removes STARTTLS from the EHLO answer and refuses the command itself (incident 4). */
function stripStarttls(service: string): { hook: OnPathHook; stripped: () => number } {
  let stripped = 0;
  const hook = net.insertOnPath(service, async (client, { connectUpstream }) => {
    const up = await connectUpstream();
    up.on('data', (d: Buffer) => {
      let t = d.toString('latin1');
      if (/^250[- ]/m.test(t) && /STARTTLS/i.test(t)) {
        stripped++;
        const lines = t.split('\r\n').filter((l) => l !== '' && !/^250[- ]STARTTLS$/i.test(l));
        t = lines.map((l, i) => l.replace(/^250[- ]/, i === lines.length - 1 ? '250 ' : '250-')).join('\r\n') + '\r\n';
      }
      client.write(Buffer.from(t, 'latin1'));
    });
    client.on('data', (d: Buffer) => {
      if (/^STARTTLS\r\n$/i.test(d.toString('latin1'))) client.write('502 5.5.1 STARTTLS not available\r\n');
      else up.write(d);
    });
    client.on('end', () => up.end());
    up.on('end', () => client.end());
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  return { hook, stripped: () => stripped };
}

const checksOf = (org: Organisation, messageId: string, actorSuffix: string) =>
  org.journey.events(messageId).filter((e) => e.actor === `${org.id}/${actorSuffix}`);

describe('Organisation (conventional, best-practice)', { timeout: 60_000 }, () => {
  it('delivers the authentic mail with SPF, DKIM and DMARC pass and refuses a spoofed From in the session (550 5.7.1 DMARC)', async () => {
    const p = await pair('bp1', 'best-practice', { holdSeconds: 0 });
    const m = mail({ from: p.alice, to: p.bob, subject: 'quarterly figures', text: 'see the numbers' });
    expect((await submit(p.a, p.alice, 'pw-alice', m.raw, [p.bob])).ok).toBe(true);
    await settle(p.a, p.b);
    const got = inbox(p.bob).find((x) => x.includes(m.messageId));
    expect(got).toBeDefined();
    expect(got!.toString()).toMatch(/DKIM-Signature: .*d=bp1-a\.example/s);
    const ar = /^Authentication-Results: [^\r\n]*(\r\n[ \t][^\r\n]*)*/m.exec(got!.toString())![0];
    expect(ar).toMatch(/\bspf=pass/);
    expect(ar).toMatch(/\bdkim=pass header\.i=@bp1-a\.example/);
    expect(ar).toMatch(/\bdmarc=pass/);
    expect(got!.toString()).not.toContain('X-SSMAX-Reputation');
    const inEv = checksOf(p.b, m.messageId, 'mta-in').at(-1)!;
    expect(inEv).toMatchObject({ procedure: 0, outcome: 'accepted' });
    expect(Object.fromEntries(inEv.checks.map((c) => [c.name, c.result]))).toMatchObject({ spf: 'pass', dkim: 'pass', dmarc: 'pass', starttls: 'pass' });

    const forged = mail({ from: p.alice, to: p.bob, subject: 'urgent invoice', text: 'pay now' });
    const r = await direct('attacker/mta', `mx.${p.b.domain}`, 'evil.example', p.alice, p.bob, forged.raw);
    expect(r.ok).toBe(false);
    expect(r.code).toBe(550);
    expect(r.response).toMatch(/5\.7\.1 .*DMARC/);
    expect(inbox(p.bob).some((x) => x.includes(forged.messageId))).toBe(false);
    expect(checksOf(p.b, forged.messageId, 'mta-in').at(-1)).toMatchObject({
      outcome: 'rejected',
      checks: expect.arrayContaining([{ name: 'dmarc', result: 'fail', detail: expect.stringContaining('p=reject') }]),
    });
  });

  it('delivers a look-alike domain with valid SPF/DKIM/DMARC but flags it by reputation (homograph, new domain)', async () => {
    const lookalike = domainToASCII('bр2-a.example'); // Cyrillic "р"
    expect(lookalike.startsWith('xn--')).toBe(true);
    const p = await pair('bp2', 'best-practice', {
      holdSeconds: 0,
      reputation: {
        knownDomains: ['bp2-a.example', 'bp2-b.example'],
        domainRegistry: { 'bp2-a.example': '2001-04-01', 'bp2-b.example': '2001-04-01', [lookalike]: new Date(now - 3 * 86_400_000).toISOString() },
      },
    });
    // The attacker runs its own domain properly: SPF for its MTA, DKIM key, DMARC p=reject.
    const attackerIp = net.address('attacker2/mta');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    net.zone.publishSpf(lookalike, { ip4: [attackerIp] });
    net.zone.publishDkim(lookalike, 'k1', { publicKey });
    net.zone.publishDmarc(lookalike, { p: 'reject' });
    const m = mail({ from: `alice@${lookalike}`, to: p.bob, subject: 'new bank details', text: 'please update' });
    const signed = await dkimSign(m.raw, {
      signatureData: [{ signingDomain: lookalike, selector: 'k1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }],
    } as never);
    const r = await direct(
      'attacker2/mta',
      `mx.${p.b.domain}`,
      `mx.${lookalike}`,
      `alice@${lookalike}`,
      p.bob,
      Buffer.concat([Buffer.from(signed.signatures), m.raw]),
    );
    expect(r.ok).toBe(true);
    await settle(p.b);
    const got = inbox(p.bob)
      .find((x) => x.includes(m.messageId))!
      .toString();
    expect(got).toMatch(/^X-SSMAX-Reputation: suspicious; domain=xn--.*score=110; reasons=.*new-domain.*homograph\(looks like bp2-a\.example\)/m);
    expect(got).toMatch(/dmarc=pass/);
    const ev = checksOf(p.b, m.messageId, 'mta-in').at(-1)!;
    expect(Object.fromEntries(ev.checks.map((c) => [c.name, c.result]))).toMatchObject({ spf: 'pass', dkim: 'pass', dmarc: 'pass', reputation: 'fail' });

    // The partner itself is not flagged.
    const ok = mail({ from: p.alice, to: p.bob, subject: 'hello', text: 'hi' });
    expect((await submit(p.a, p.alice, 'pw-alice', ok.raw, [p.bob])).ok).toBe(true);
    await settle(p.a, p.b);
    expect(
      inbox(p.bob)
        .find((x) => x.includes(ok.messageId))!
        .toString(),
    ).not.toContain('X-SSMAX-Reputation');
  });

  it('refuses an encrypted ZIP at the MSA and at the receiving MTA-in (550 5.7.1), while plain-ppap delivers it', async () => {
    const zip = createZip([{ name: 'invoice.doc', data: 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' }], { password: 'pa55' });
    const p = await pair('bp3', 'best-practice', { holdSeconds: 0 });
    const m = mail({
      from: p.alice,
      to: p.bob,
      subject: 'files',
      text: 'password follows',
      files: [{ name: 'files.zip', type: 'application/zip', bytes: zip }],
    });
    const atMsa = await submit(p.a, p.alice, 'pw-alice', m.raw, [p.bob]);
    expect(atMsa).toMatchObject({ ok: false, code: 550 });
    expect(atMsa.response).toMatch(/5\.7\.1 .*encrypted archive/);
    expect(checksOf(p.a, m.messageId, 'msa').at(-1)).toMatchObject({ outcome: 'rejected', files: 'ciphertext' });
    // An outside sender without DMARC (so DMARC does not decide) hits the MX's own rule.
    const outsider = mail({
      from: 'sales@bp3-vendor.example',
      to: p.bob,
      subject: 'files',
      text: 'pw follows',
      files: [{ name: 'files.zip', type: 'application/zip', bytes: zip }],
    });
    const atMx = await direct('vendor3/mta', `mx.${p.b.domain}`, 'mx.bp3-vendor.example', 'sales@bp3-vendor.example', p.bob, outsider.raw);
    expect(atMx).toMatchObject({ ok: false, code: 550 });
    expect(atMx.response).toMatch(/5\.7\.1 .*encrypted archive/);
    expect(inbox(p.bob).some((x) => x.includes(outsider.messageId))).toBe(false);

    const q = await pair('pp3', 'plain-ppap');
    const m2 = mail({
      from: q.alice,
      to: q.bob,
      subject: 'files',
      text: 'password follows',
      files: [{ name: 'files.zip', type: 'application/zip', bytes: zip }],
    });
    expect((await submit(q.a, q.alice, 'pw-alice', m2.raw, [q.bob])).ok).toBe(true);
    await settle(q.a, q.b);
    expect(inbox(q.bob).some((x) => x.includes(m2.messageId))).toBe(true);
    for (const [org, actor] of [
      [q.a, 'msa'],
      [q.a, 'mta-out'],
      [q.b, 'mta-in'],
      [q.b, 'delivery'],
    ] as const) {
      const ev = checksOf(org, m2.messageId, actor).at(-1)!;
      expect(ev, actor).toMatchObject({ procedure: 0, files: 'ciphertext' });
      if (actor !== 'delivery')
        expect(ev.checks, actor).toContainEqual(
          expect.objectContaining({ name: 'zip-encryption', detail: expect.stringContaining('zipcrypto (password sent separately)') }),
        );
    }
  });

  it('refuses to send through an on-path relay that strips STARTTLS under MTA-STS (not sent, DSN, TLS report), while plain-ppap sends in clear and the tap sees the file', async () => {
    const secret = Buffer.from(`CONFIDENTIAL merger plan ${randomBytes(6).toString('hex')}\n`);
    const p = await pair('bp4', 'best-practice', { holdSeconds: 0 });
    const relay = stripStarttls(`mx.${p.b.domain}:25`);
    try {
      const m = mail({ from: p.alice, to: p.bob, subject: 'plan', text: 'attached', files: [{ name: 'plan.txt', type: 'text/plain', bytes: secret }] });
      expect((await submit(p.a, p.alice, 'pw-alice', m.raw, [p.bob])).ok).toBe(true);
      await settle(p.a, p.b);
      expect(relay.stripped()).toBeGreaterThan(0);
      expect(inbox(p.bob).some((x) => x.includes(m.messageId))).toBe(false);
      expect(checksOf(p.a, m.messageId, 'mta-out').at(-1)).toMatchObject({
        outcome: 'rejected',
        checks: expect.arrayContaining([{ name: 'starttls', result: 'fail', detail: 'starttls-not-supported' }]),
      });
      const dsn = inbox(p.alice).find((x) => x.includes('X-SSMAX-DSN-Rule: mta-sts'));
      expect(dsn?.toString()).toMatch(/Status: 5\.7\.10/);
      expect(p.a.tlsReports).toContainEqual(
        expect.objectContaining({ policyDomain: p.b.domain, policyMode: 'enforce', result: 'starttls-not-supported', rua: [`mailto:tlsrpt@${p.b.domain}`] }),
      );
      expect(net.tap.search(b64lines(secret)[0]!).filter((x) => x.connection.service === `mx.${p.b.domain}:25`)).toEqual([]);
    } finally {
      relay.hook.remove();
    }

    const q = await pair('pp4', 'plain-ppap');
    const zip = createZip([{ name: 'plan.txt', data: secret }], { password: 'Tr0ub4dor' });
    const relay2 = stripStarttls(`mx.${q.b.domain}:25`);
    try {
      const m = mail({ from: q.alice, to: q.bob, subject: 'plan', text: 'attached', files: [{ name: 'plan.zip', type: 'application/zip', bytes: zip }] });
      const pw = mail({ from: q.alice, to: q.bob, subject: 'password', text: 'The password is Tr0ub4dor' });
      expect((await submit(q.a, q.alice, 'pw-alice', m.raw, [q.bob])).ok).toBe(true);
      expect((await submit(q.a, q.alice, 'pw-alice', pw.raw, [q.bob])).ok).toBe(true);
      await settle(q.a, q.b);
      expect(inbox(q.bob).some((x) => x.includes(m.messageId))).toBe(true);
      const onPath = (needle: string) =>
        net.tap.search(needle).filter((x) => x.connection.service === `mx.${q.b.domain}:25` && x.connection.leg === 'client-side');
      expect(onPath(b64lines(zip)[0]!).length).toBeGreaterThan(0);
      expect(onPath('The password is Tr0ub4dor').length).toBeGreaterThan(0);
      expect(checksOf(q.a, m.messageId, 'mta-out').at(-1)).toMatchObject({
        outcome: 'relayed',
        checks: expect.arrayContaining([{ name: 'starttls', result: 'skip', detail: 'clear text' }]),
      });
    } finally {
      relay2.hook.remove();
    }
  });

  it('never sends a mail the sender cancelled within the hold window, and sends an uncancelled one only after it', async () => {
    const p = await pair('bp5', 'best-practice', { holdSeconds: 120 });
    const wrong = mail({ from: p.alice, to: p.bob, subject: 'to the wrong Bob', text: 'oops' });
    const right = mail({ from: p.alice, to: p.bob, subject: 'to the right Bob', text: 'fine' });
    const r = await submit(p.a, p.alice, 'pw-alice', wrong.raw, [p.bob]);
    expect(r.response).toMatch(/held 120 s/);
    expect((await submit(p.a, p.alice, 'pw-alice', right.raw, [p.bob])).ok).toBe(true);
    await settle(p.a);
    expect(await p.a.cancelSubmission(wrong.messageId, 'mallory@bp5-a.example')).toBe('not-found');
    expect(await p.a.cancelSubmission(wrong.messageId, p.alice)).toBe('cancelled');
    await new Promise((res) => setTimeout(res, 300));
    expect(inbox(p.bob)).toEqual([]);
    now += 121_000;
    p.a.kick('outbound');
    await settle(p.a, p.b);
    await new Promise((res) => setTimeout(res, 300));
    await settle(p.a, p.b);
    expect(inbox(p.bob).some((x) => x.includes(right.messageId))).toBe(true);
    expect(inbox(p.bob).some((x) => x.includes(wrong.messageId))).toBe(false);
    expect(await p.a.cancelSubmission(right.messageId, p.alice)).toBe('too-late');
    expect(checksOf(p.a, wrong.messageId, 'mta-out')).toEqual([]);
    expect(checksOf(p.a, wrong.messageId, 'msa').at(-1)).toMatchObject({
      outcome: 'rejected',
      checks: [expect.objectContaining({ name: 'hold-cancel', result: 'pass' })],
    });
    expect(net.tap.search('to the wrong Bob').filter((x) => x.connection.service === `mx.${p.b.domain}:25`)).toEqual([]);
  });
});

describe('Organisation (conventional, smime-e2e)', { timeout: 60_000 }, () => {
  it('relays an end-to-end encrypted S/MIME mail across both orgs unchanged; the tap and the orgs never see the plaintext', async () => {
    const p = await pair('se1', 'smime-e2e');
    const plaintext = `Content-Type: text/plain\r\n\r\nTOP SECRET drawing no. ${randomBytes(6).toString('hex')}\r\n`;
    const enc = pki.openssl(['smime', '-encrypt', '-aes256', '-from', p.alice, '-to', p.bob, '-subject', 'drawing', pki.rsa.certPath], Buffer.from(plaintext));
    expect(enc.status, enc.stderr).toBe(0);
    const messageId = `<${randomBytes(8).toString('hex')}@se1-a.example>`;
    const raw = Buffer.from(`Message-ID: ${messageId}\r\n${enc.stdout.toString('latin1').replace(/\r?\n/g, '\r\n')}`, 'latin1');
    expect((await submit(p.a, p.alice, 'pw-alice', raw, [p.bob])).ok).toBe(true);
    await settle(p.a, p.b);
    const got = inbox(p.bob).find((x) => x.includes(messageId));
    expect(got).toBeDefined();
    // Only trace headers were prepended: the user's message is byte-for-byte what she sent.
    expect(got!.subarray(got!.length - raw.length).equals(raw)).toBe(true);
    const secretLine = plaintext.split('\r\n')[2]!;
    expect(net.tap.search(secretLine)).toEqual([]);
    writeFileSync(join(pki.dir, 'delivered.eml'), got!);
    const dec = pki.openssl(['smime', '-decrypt', '-in', join(pki.dir, 'delivered.eml'), '-recip', pki.rsa.certPath, '-inkey', pki.rsa.keyPath]);
    expect(dec.status, dec.stderr).toBe(0);
    expect(dec.stdout.toString()).toContain(secretLine);
    for (const [org, actor] of [
      [p.a, 'msa'],
      [p.a, 'mta-out'],
      [p.b, 'mta-in'],
      [p.b, 'delivery'],
    ] as const) {
      expect(checksOf(org, messageId, actor).at(-1), actor).toMatchObject({ procedure: 0, files: 'ciphertext' });
    }
    expect(checksOf(p.b, messageId, 'inspection').at(-1)!.checks).toContainEqual(expect.objectContaining({ name: 'uninspectable', result: 'skip' }));
    expect(checksOf(p.a, messageId, 'mta-out').at(-1)!.checks).toContainEqual({ name: 'starttls', result: 'pass', detail: 'TLS' });
  });
});
