/**
 * The smime-e2e baseline end to end: users enrolled at the public S/MIME CA, a signed-then-encrypted
 * mail through real MSAs, MTAs and Dovecot, read by the recipient's S/MIME client — and checked by
 * outside tools: `openssl cms` decrypts what crossed the wire with the recipient's key and verifies
 * the signature against the CA root, so our client is not only agreeing with itself.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SoftwareKey,
  buildMimeEntity,
  buildMultipartSigned,
  fetchPublicCaRoot,
  lookupSmimeCertificates,
  requestMailboxCertificate,
  signSignedData,
  encodePem,
} from '@ssmax/core';
import { World } from './world.js';
import { parseWorldConfig } from './world-config.js';
import { readSmimeMessage } from './smime-client.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-smime-'));
fs.chmodSync(root, 0o711);

const CONFIG = parseWorldConfig(`
version: 1
seed: 777
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, password: alice-pass }, { address: mallory, password: mallory-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, password: bob-pass } ] }
  - { id: esp-m, domain: esp-m.example, mode: esp, role: other, users: [ { address: hanako, password: hanako-pass } ] }
`);

const FILE = {
  name: 'plan.pdf',
  contentType: 'application/pdf',
  content: new Uint8Array(Buffer.from('%PDF-1.4\n% merger plan, strictly confidential\n%%EOF\n')),
};

let world: World;
beforeAll(async () => {
  world = await World.create(CONFIG, { storageDir: path.join(root, 'w'), profile: 'smime-e2e', retryMs: 100 });
}, 120_000);
afterAll(async () => {
  await world?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

async function bobReads(messageId: string) {
  await world.waitIdle();
  const bob = world.user('bob@org-b.example');
  const inbox = await bob.inbox({ password: bob.password, pin: '' });
  return inbox.find((m) => `<${m.messageId}>` === messageId || m.messageId === messageId);
}

describe('smime-e2e world', { timeout: 120_000 }, () => {
  it('enrols org staff sponsor-validated and ESP customers mailbox-validated, and publishes both in the directory', async () => {
    const alice = world.user('alice@org-a.example');
    expect(alice.hasCard).toBe(false);
    expect(alice.smime?.certificate.policies).toEqual(['2.23.140.1.5.3.2']);
    expect(alice.smime?.certificate.subjectAttributes.find((a) => a.type === 'O')?.value).toBe('org-a.example');
    expect(world.user('hanako@esp-m.example').smime?.certificate.policies).toEqual(['2.23.140.1.5.1.2']);
    const ep = world.publicCa.endpoint(world.net.address('test/client'));
    const found = await lookupSmimeCertificates(ep, 'alice@org-a.example');
    expect(found.map((d) => Buffer.from(d).toString('hex'))).toEqual([Buffer.from(alice.smime!.certificate.der).toString('hex')]);
    expect(await lookupSmimeCertificates(ep, 'nobody@org-b.example')).toEqual([]);
  });

  it('delivers a signed and encrypted mail that the recipient reads as valid, and that openssl cms decrypts and verifies', async () => {
    const alice = world.user('alice@org-a.example');
    const sent = await alice.send({ to: 'bob@org-b.example', subject: 'Plan', body: 'The plan is attached.', files: [FILE], pin: '' });
    expect(sent.response).toMatch(/^250/);
    const v = await bobReads(sent.messageId);
    expect(v?.verified).toBe(true);
    expect(v?.files[0]?.content && Buffer.from(v.files[0].content).equals(Buffer.from(FILE.content))).toBe(true);

    // What crossed org B's MTA-in, as stored: decrypt and verify with openssl, not with our code.
    const bob = world.user('bob@org-b.example');
    const dir = fs.mkdtempSync(path.join(root, 'ossl-'));
    const { fetchInbox } = await import('./imap-fetch.js');
    const raws = await fetchInbox({ host: bob.org.mailbox.host, port: bob.org.mailbox.imapPort, user: bob.address, pass: bob.password });
    const raw = raws.find((r) => Buffer.from(r.source).toString('latin1').includes(sent.messageId.replace(/[<>]/g, '')))!.source;
    expect(Buffer.from(raw).toString('latin1')).not.toContain('merger plan');
    fs.writeFileSync(path.join(dir, 'mail.eml'), raw);
    fs.writeFileSync(path.join(dir, 'bob.key'), (bob.smime!.key as SoftwareKey).exportPkcs8Pem());
    fs.writeFileSync(path.join(dir, 'bob.pem'), encodePem(bob.smime!.certificate.der, 'CERTIFICATE'));
    fs.writeFileSync(path.join(dir, 'root.pem'), encodePem(world.publicCa.root.der, 'CERTIFICATE'));
    const dec = spawnSync('openssl', ['cms', '-decrypt', '-in', 'mail.eml', '-recip', 'bob.pem', '-inkey', 'bob.key', '-out', 'signed.eml'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(dec.status, dec.stderr).toBe(0);
    const ver = spawnSync('openssl', ['cms', '-verify', '-in', 'signed.eml', '-CAfile', 'root.pem', '-purpose', 'smimesign', '-out', 'content.eml'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(ver.status, ver.stderr).toBe(0);
    expect(ver.stderr).toContain('Verification successful');
    expect(fs.readFileSync(path.join(dir, 'content.eml'), 'latin1')).toContain(Buffer.from(FILE.content).toString('base64').slice(0, 40));
  });

  it('refuses to send to an address with no certificate instead of sending it in clear', async () => {
    const alice = world.user('alice@org-a.example');
    await expect(alice.send({ to: 'nobody@org-b.example', subject: 'x', body: 'y', files: [FILE], pin: '' })).rejects.toMatchObject({
      code: 'NO_MATCHING_RECIPIENT',
    });
  });

  it('flags a valid signature whose signer is not the From address (RFC 8550 §3), and names the signer', async () => {
    const mallory = world.user('mallory@org-a.example');
    const inner = buildMimeEntity({ text: 'Please pay today.' });
    const sig = await signSignedData(inner, { key: mallory.smime!.key, certificate: mallory.smime!.certificate.der, detached: true });
    const raw = buildMultipartSigned(inner, sig, {
      headers: { from: 'alice@org-a.example', to: ['bob@org-b.example'], subject: 'Pay', messageId: '<m1@org-a.example>' },
    });
    const r = await readSmimeMessage(raw, { trustAnchors: [world.publicCa.root.der], now: new Date() });
    expect(r.signature).toBe('invalid');
    expect(r.trustedSigner?.emailAddresses).toEqual(['mallory@org-a.example']);
    expect(r.reasons.join(' ')).toMatch(/not by the From address alice@org-a\.example/);
  });

  it('does not treat a signed part inside an unsigned multipart as a signed message (signature wrapping)', async () => {
    const alice = world.user('alice@org-a.example');
    const inner = buildMimeEntity({ text: 'genuine' });
    const sig = await signSignedData(inner, { key: alice.smime!.key, certificate: alice.smime!.certificate.der, detached: true });
    const signedEntity = Buffer.from(buildMultipartSigned(inner, sig));
    const raw = Buffer.concat([
      Buffer.from(
        'From: alice@org-a.example\r\nTo: bob@org-b.example\r\nSubject: x\r\nMessage-ID: <w@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nPay the attacker.\r\n--b1\r\n',
        'latin1',
      ),
      signedEntity,
      Buffer.from('\r\n--b1--\r\n', 'latin1'),
    ]);
    const r = await readSmimeMessage(new Uint8Array(raw), { trustAnchors: [world.publicCa.root.der], now: new Date() });
    expect(r.signature).toBe('partial');
    expect(r.trustedSigner).toBeUndefined();
  });

  it('issues a mailbox-validated certificate to anyone who publishes the DNS challenge, and refuses one who does not', async () => {
    const ep = world.publicCa.endpoint(world.net.address('outsider/client'));
    expect(Buffer.from(await fetchPublicCaRoot(ep)).equals(Buffer.from(world.publicCa.root.der))).toBe(true);
    const key = SoftwareKey.generate('EC-P256');
    const got = await requestMailboxCertificate(ep, {
      email: 'eve@look-alike.example',
      spki: key.spki,
      publishTxt: (n, v) => void world.net.zone.addTxt(n, v),
    });
    expect(got.challenge.txtName).toBe('_smime-challenge.look-alike.example');
    const verified = await readSmimeMessage(
      buildMultipartSigned(
        buildMimeEntity({ text: 'hi' }),
        await signSignedData(buildMimeEntity({ text: 'hi' }), { key, certificate: got.certificate, detached: true }),
        { headers: { from: 'eve@look-alike.example', to: ['bob@org-b.example'], subject: 's' } },
      ),
      { trustAnchors: [world.publicCa.root.der], now: new Date() },
    );
    expect(verified.signature).toBe('valid');
    await expect(requestMailboxCertificate(ep, { email: 'ceo@org-a.example', spki: key.spki, publishTxt: () => undefined })).rejects.toThrow(
      /does not carry the order's token/,
    );
  });

  it('answers malformed, oversized and unknown requests with 4xx and a reason, and keeps serving', async () => {
    const http = await import('node:http');
    const ask = (method: string, p: string, body?: string | Buffer) =>
      new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
        const req = http.request(
          new URL(p, world.publicCa.url),
          { method, localAddress: world.net.address('fuzz/client'), headers: body ? { 'content-type': 'application/json' } : {} },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const cases: [string, string, (string | Buffer)?][] = [
      ['POST', '/v1/orders', '{not json'],
      ['POST', '/v1/orders', '[1,2]'],
      ['POST', '/v1/orders', JSON.stringify({ email: 'no-at-sign', spki: 'AAAA' })],
      ['POST', '/v1/orders', JSON.stringify({ email: 'a@b.example', spki: '' })],
      ['POST', '/v1/orders', Buffer.alloc(70 * 1024, 0x20)],
      ['POST', '/v1/orders/000000000000000000000000/finalize', '{}'],
      ['GET', '/v1/certificates?email=%00', undefined],
      ['DELETE', '/v1/root', undefined],
    ];
    for (const [m, p, b] of cases) {
      const r = await ask(m, p, b);
      expect(r.status, `${m} ${p}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${m} ${p}`).toBeLessThan(500);
      expect(String(r.json['error'] ?? ''), `${m} ${p}`).not.toBe('');
    }
    expect((await ask('GET', '/v1/root')).status).toBe(200);
  });
});
