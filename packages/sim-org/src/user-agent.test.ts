import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SMTPServer } from 'smtp-server';
import {
  SoftwareKey,
  SsmaxOids,
  buildMultipartSigned,
  getHeader,
  issueRootCertificate,
  parseCertificate,
  parseSmime,
  signSignedData,
  type Card,
} from '@ssmax/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAttestation, verifyAttestation, type IdentityNotice, type OrgAttestation } from './attestation.js';
import { MANIFEST_FILENAME, buildAttestationPart } from './org-hop.js';
import { Mailbox } from './mailbox.js';
import { assembleMixed, buildFilePart, classifyParts, orgHop } from './org-hop.js';
import { createUserSideWorld, type FixtureOrg, type UserSideWorld } from './testing/user-side-fixture.js';
import { UserAgent, type MailVerdict } from './user-agent.js';
import type { RegisteredUser } from './user-registration.js';
import { encryptContent } from '@ssmax/core';

let world: UserSideWorld;
let orgA: FixtureOrg;
let orgB: FixtureOrg;
let alice: RegisteredUser;
let bob: RegisteredUser;
let aliceCard: Card;
let bobCard: Card;
let aliceUa: UserAgent;
let bobUa: UserAgent;
let bobPaperUa: UserAgent;

const FILES = [
  { name: 'report.pdf', contentType: 'application/pdf', content: new Uint8Array(Buffer.from('%PDF-1.4 quarterly figures: secret-plaintext-marker-0001')) },
  { name: '見積書.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('estimate secret-plaintext-marker-0002')) },
];

function pem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}

function noticeFor(user: RegisteredUser): IdentityNotice {
  const c = user.signingCertificate;
  return {
    sender: user.address,
    certSerial: c.serialNumber,
    traceId: user.traceId,
    proofing: c.identityProofing!.method,
    proofedAt: c.identityProofing!.proofedAt.toISOString(),
    cardAndPinUsed: true,
  };
}

/** (4)–(9) the way the orgs do it: sending org hop 1, receiving org hop 2, with an optional tamper between them. */
async function throughOrgs(raw: Uint8Array, tamper?: (entity: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
  const p1 = parseSmime(raw);
  if (p1.kind !== 'multipart-signed') throw new Error('not signed');
  const messageId = getHeader(p1.headers, 'Message-ID')!.trim();
  const crl = await orgA.orgCa.currentCrl();
  const hop1 = await orgHop({
    kms: orgA.kms,
    mode: 'org',
    direction: 'outbound',
    entity: p1.signedEntity,
    headers: p1.headers,
    recipients: [orgB.kmsEncryption.certificate.der],
    org: orgA.orgId,
    domain: orgA.domain,
    hop: 1,
    messageId,
    checks: [{ name: 'user-signature', result: 'pass' }],
    identityNotice: noticeFor(alice),
    orgCrl: crl.der,
    clock: world.now,
  });
  if (hop1.blocked) throw new Error('blocked at hop 1');
  const p2 = parseSmime(hop1.message);
  if (p2.kind !== 'multipart-signed') throw new Error('not signed');
  const entity = tamper ? await tamper(p2.signedEntity) : p2.signedEntity;
  const hop2 = await orgHop({
    kms: orgB.kms,
    mode: 'org',
    direction: 'inbound',
    entity,
    headers: p2.headers,
    recipients: [bob.encryptionCertificate.der],
    org: orgB.orgId,
    domain: orgB.domain,
    hop: 2,
    messageId,
    checks: [{ name: 'org-signature', result: 'pass' }],
    identityNotice: hop1.attestation.identityNotice,
    clock: world.now,
  });
  if (hop2.blocked) throw new Error('blocked at hop 2');
  return hop2.message;
}

beforeAll(async () => {
  world = await createUserSideWorld();
  orgA = await world.org('org-a', 'org-a.example');
  orgB = await world.org('org-b', 'org-b.example');
  alice = await orgA.registration.register({
    address: 'alice@org-a.example',
    employeeNumber: 'A-1',
    identityCheck: { method: 'employeeCardPin', proofedBy: 'org-a HR' },
    userPin: '1111',
  });
  bob = await orgB.registration.register({
    address: 'bob@org-b.example',
    employeeNumber: 'B-1',
    identityCheck: { method: 'myNumberCardPin', proofedBy: 'org-b HR' },
    userPin: '2222',
  });
  aliceCard = await orgA.registration.openCard(alice.cardLabel);
  bobCard = await orgB.registration.openCard(bob.cardLabel);
  aliceUa = new UserAgent({ address: alice.address, card: aliceCard, mode: 'end-to-end', orgEncryptionCertificate: orgA.kmsEncryption.certificate.der });
  bobUa = new UserAgent({ address: bob.address, card: bobCard, mode: 'end-to-end', orgEncryptionCertificate: orgB.kmsEncryption.certificate.der });
  bobPaperUa = new UserAgent({ address: bob.address, card: bobCard, mode: 'paper', orgEncryptionCertificate: orgB.kmsEncryption.certificate.der });
});
afterAll(async () => {
  await aliceCard?.close();
  await bobCard?.close();
  await world?.[Symbol.asyncDispose]();
});

describe('(3) user send', () => {
  it('(3) signs the whole mail on the card so openssl cms -verify accepts it against the registry root', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'Q3 figures', text: 'Please find the figures.', files: FILES, pin: '1111' });
    const parsed = parseSmime(mail.raw);
    expect(parsed.kind).toBe('multipart-signed');
    const dir = fs.mkdtempSync(path.join(world.dir, 'ossl-'));
    fs.writeFileSync(path.join(dir, 'root.pem'), pem(world.root.der));
    fs.writeFileSync(path.join(dir, 'mail.eml'), mail.raw);
    const out = execFileSync(
      'openssl',
      [
        'cms',
        '-verify',
        '-in',
        path.join(dir, 'mail.eml'),
        '-CAfile',
        path.join(dir, 'root.pem'),
        '-purpose',
        'smimesign',
        '-out',
        path.join(dir, 'content.txt'),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(out).toBe('');
    // openssl wrote the signed content: the body describes each file with its SHA-256.
    const content = fs.readFileSync(path.join(dir, 'content.txt'));
    expect(content.includes('X-SSMAX-File: 1')).toBe(true);
    // A flipped byte in the signed content makes openssl refuse.
    const bad = Buffer.from(mail.raw);
    const i = bad.indexOf('X-SSMAX-File: 2');
    bad[i + 14] = '3'.charCodeAt(0);
    fs.writeFileSync(path.join(dir, 'bad.eml'), bad);
    expect(() =>
      execFileSync('openssl', ['cms', '-verify', '-in', path.join(dir, 'bad.eml'), '-CAfile', path.join(dir, 'root.pem'), '-out', '/dev/null'], {
        stdio: 'pipe',
      }),
    ).toThrow();
  });

  it('(3) encrypts each file to the own org so only the org KMS key opens it and the mail carries no plaintext', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'files', text: 'two files', files: FILES, pin: '1111' });
    expect(Buffer.from(mail.raw).includes('secret-plaintext-marker')).toBe(false);
    expect(Buffer.from(mail.raw).includes('report.pdf')).toBe(false);
    const parsed = parseSmime(mail.raw);
    if (parsed.kind !== 'multipart-signed') throw new Error('unexpected');
    const parts = classifyParts(parsed.signedEntity);
    expect(parts.files.map((f) => f.n)).toEqual([1, 2]);
    const text = Buffer.from(parts.body!.body).toString('utf8');
    expect(text).toContain('report.pdf');
    expect(text).toContain(mail.manifest!.files[0]!.sha256);
    const opened = await orgA.kms.decrypt(parts.files[0]!.der);
    expect(Buffer.from(opened.content).toString('latin1')).toContain('filename="report.pdf"');
    await expect(orgB.kms.decrypt(parts.files[0]!.der)).rejects.toThrow();
    expect(parts.manifest).toBeDefined();
  });

  it('(3) refuses to sign with a wrong PIN and counts it toward the lock', async () => {
    await expect(aliceUa.compose({ to: [bob.address], subject: 'x', text: 'y', pin: '0000' })).rejects.toThrow(/PIN is incorrect/);
    expect(aliceCard.remainingPinTries).toBe(2);
    await aliceUa.compose({ to: [bob.address], subject: 'x', text: 'y', pin: '1111' });
    expect(aliceCard.remainingPinTries).toBe(3);
    expect(aliceCard.loggedIn).toBe(false);
  });

  it('(3) submits over SMTP AUTH from the user loopback address', async () => {
    const got: { user?: string; remote?: string; data?: Buffer } = {};
    const server = new SMTPServer({
      authOptional: false,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth(auth, _s, cb) {
        got.user = auth.username;
        cb(null, auth.password === 'pw' ? { user: auth.username } : undefined);
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          got.data = Buffer.concat(chunks);
          got.remote = session.remoteAddress;
          cb();
        });
      },
    });
    // smtp-server emits a client's socket error (a reset from a killed or refusing peer) on the server: absorbed, as smtp-listener.ts does.
    server.on('error', () => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.server.address() as net.AddressInfo).port;
      const ua = new UserAgent({
        address: alice.address,
        card: aliceCard,
        mode: 'end-to-end',
        orgEncryptionCertificate: orgA.kmsEncryption.certificate.der,
        msa: { host: '127.0.0.1', port, localAddress: '127.0.0.77', user: alice.address, password: 'pw' },
      });
      const sent = await ua.send({ to: [bob.address], subject: 'via smtp', text: 'hi', files: [FILES[0]!], pin: '1111' });
      expect(sent.response).toMatch(/^250/);
      expect(got.user).toBe(alice.address);
      expect(got.remote).toBe('127.0.0.77');
      expect(parseSmime(new Uint8Array(got.data!)).kind).toBe('multipart-signed');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('(10) recipient verifies and decrypts', () => {
  let delivered: Uint8Array;
  beforeAll(async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'Q3 figures', text: 'Please find the figures.', files: FILES, pin: '1111' });
    delivered = await throughOrgs(mail.raw);
  });

  it('(10) reports verified with the identity notice and decrypts every file on the card', async () => {
    const v = await bobUa.read(delivered, '2222');
    expect(v.problems).toEqual([]);
    expect(v.verified).toBe(true);
    expect(v.senderAddress).toBe(alice.address);
    expect(v.identityNotice).toMatchObject({
      proofing: 'employeeCardPin',
      cardAndPinUsed: true,
      sendingOrg: 'org-a',
      sendingDomain: 'org-a.example',
      certSerial: alice.signingCertificate.serialNumber,
    });
    expect(v.files.map((f) => [f.name, f.ok])).toEqual([
      ['report.pdf', true],
      ['見積書.txt', true],
    ]);
    expect(Buffer.from(v.files[0]!.content!).equals(Buffer.from(FILES[0]!.content))).toBe(true);
    // Before the receiving org's hop the recipient's card cannot open the files.
    expect(Buffer.from(delivered).includes('secret-plaintext-marker')).toBe(false);
  });

  it('(10) detects a file altered by a hijacked receiving org in end-to-end mode, which paper mode cannot see', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'altered', text: 'x', files: FILES, pin: '1111' });
    const tampered = await throughOrgs(mail.raw, async (entity) => {
      const parts = classifyParts(entity);
      const evil = Buffer.from(
        'Content-Type: application/pdf; name="report.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
          Buffer.from('%PDF evil payload').toString('base64'),
      );
      const swapped = buildFilePart(1, await encryptContent(evil, { recipients: [orgB.kmsEncryption.certificate.der] }));
      return assembleMixed([
        parts.body!.raw,
        swapped,
        ...parts.files.slice(1).map((f) => f.part.raw),
        parts.manifest!.raw,
        ...parts.attestations.map((a) => a.part.raw),
      ]);
    });
    const paper = await bobPaperUa.read(tampered, '2222');
    expect(paper.verified).toBe(true);
    const e2e = await bobUa.read(tampered, '2222');
    expect(e2e.verified).toBe(false);
    // The receiving org attested what it re-encrypted: its attestation contradicts the manifest before any decryption.
    expect(e2e.files.map((f) => [f.n, f.ok, f.withheld])).toEqual([
      [1, false, 'differs-from-manifest'],
      [2, false, 'mail-not-verified'],
    ]);
    expect(e2e.problems.join('\n')).toMatch(/hop 2 \(org-b\.example\) attested file 1 with another content than the sender signed/);
  });

  it('(10) detects two files swapped between hops in end-to-end mode', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'swapped', text: 'x', files: FILES, pin: '1111' });
    const tampered = await throughOrgs(mail.raw, async (entity) => {
      const parts = classifyParts(entity);
      const [f1, f2] = parts.files;
      return assembleMixed([
        parts.body!.raw,
        buildFilePart(1, f2!.der),
        buildFilePart(2, f1!.der),
        parts.manifest!.raw,
        ...parts.attestations.map((a) => a.part.raw),
      ]);
    });
    const e2e = await bobUa.read(tampered, '2222');
    expect(e2e.verified).toBe(false);
    expect(e2e.files.every((f) => !f.ok)).toBe(true);
  });

  it('(10) detects a changed subject in end-to-end mode', async () => {
    const text = Buffer.from(delivered).toString('latin1').replace('Subject: Q3 figures', 'Subject: Q4 figures');
    const v = await bobUa.read(new Uint8Array(Buffer.from(text, 'latin1')), '2222');
    expect(v.verified).toBe(false);
    expect(v.problems).toContain('the Subject differs from the manifest');
  });

  it('(10) shows plain mail from a non-member as unverified', async () => {
    const plain = Buffer.from(
      'X-SSMAX-Verdict: unverified\r\nFrom: mallory@evil.example\r\nTo: bob@org-b.example\r\nSubject: invoice\r\nMessage-ID: <1@evil.example>\r\n\r\nPay now.\r\n',
    );
    const v = await bobUa.read(new Uint8Array(plain), '2222');
    expect(v).toMatchObject({ verified: false, outside: true, senderAddress: 'mallory@evil.example', subject: 'invoice', files: [] });
    expect(v.identityNotice).toBeUndefined();
    expect(v.problems[0]).toMatch(/not from an SSMAX member/);
  });

  it('(10) returns an unverified verdict, not an exception, for corrupted signatures and parts', async () => {
    const p = parseSmime(delivered);
    if (p.kind !== 'multipart-signed') throw new Error('unexpected');
    const garbageSig = buildMultipartSigned(p.signedEntity, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), { headers: { from: alice.address, subject: 'x' } });
    const v1 = await bobUa.read(garbageSig, '2222');
    expect(v1.verified).toBe(false);
    const text = Buffer.from(delivered).toString('latin1');
    const cut = text.indexOf('X-SSMAX-File: 1');
    const broken = text.slice(0, cut + 40) + '!!!!' + text.slice(cut + 44);
    const v2 = await bobUa.read(new Uint8Array(Buffer.from(broken, 'latin1')), '2222');
    expect(v2.verified).toBe(false);
    expect(v2.problems.length).toBeGreaterThan(0);
  });

  it('(10) rejects a mail signed by the sender org directly instead of the recipient org', async () => {
    const p = parseSmime(delivered);
    if (p.kind !== 'multipart-signed') throw new Error('unexpected');
    const sig = await orgA.kms.signDetached(p.signedEntity);
    const forged = buildMultipartSigned(p.signedEntity, sig, {
      headers: { extra: p.headers.filter((h) => ['from', 'to', 'subject', 'date', 'message-id'].includes(h.name.toLowerCase())) },
    });
    const v = await bobPaperUa.read(forged, '2222');
    expect(v.verified).toBe(false);
    expect(v.problems.join('\n')).toMatch(/not your organisation/);
  });

  it('(10) reads the mailbox over IMAP with a TOTP second factor', async () => {
    const { totp, base32Encode } = await import('./totp.js');
    const secret = new Uint8Array(20).fill(9);
    const mbDir = path.join(world.dir, 'org-b-mailbox');
    fs.mkdirSync(mbDir, { mode: 0o711 });
    await using mb = await Mailbox.start({
      dir: mbDir,
      host: '127.0.0.1',
      users: [{ address: bob.address, password: 'imap-pw', totpSecret: base32Encode(secret) }],
      secondFactor: true,
    });
    await mb.deliver(bob.address, delivered);
    const ua = new UserAgent({
      address: bob.address,
      card: bobCard,
      mode: 'end-to-end',
      orgEncryptionCertificate: orgB.kmsEncryption.certificate.der,
      imap: { host: mb.host, port: mb.imapPort, user: bob.address, password: 'imap-pw', totp: () => totp(secret, Math.floor(Date.now() / 1000)) },
    });
    const inbox: MailVerdict[] = await ua.inbox('2222');
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatchObject({ verified: true, senderAddress: alice.address });
    const noTotp = new UserAgent({
      address: bob.address,
      card: bobCard,
      mode: 'paper',
      orgEncryptionCertificate: orgB.kmsEncryption.certificate.der,
      imap: { host: mb.host, port: mb.imapPort, user: bob.address, password: 'imap-pw' },
    });
    await expect(noTotp.inbox('2222')).rejects.toThrow();
  });
});

describe('(10) releases files only of a verified mail', () => {
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const outsideMail = (marked: boolean, extraHeaders = ''): Uint8Array =>
    new Uint8Array(
      Buffer.from(
        `${marked ? 'X-SSMAX-Verdict: unverified\r\n' : ''}${extraHeaders}From: carol@outside.example\r\nTo: bob@org-b.example\r\nSubject: invoice\r\nMessage-ID: <o${Math.random()}@outside.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n` +
          `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the invoice.\r\n` +
          `--b1\r\nContent-Type: application/pdf; name="invoice.pdf"\r\nContent-Disposition: attachment; filename="invoice.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(FILES[0]!.content).toString('base64')}\r\n--b1--\r\n`,
        'latin1',
      ),
    );
  /** The delivered mail with its signed entity and signature changed by `change`, headers kept. */
  const rewrap = async (
    delivered: Uint8Array,
    change: (entity: Uint8Array, signature: Uint8Array) => Promise<{ entity: Uint8Array; signature: Uint8Array }>,
  ): Promise<Uint8Array> => {
    const p = parseSmime(delivered);
    if (p.kind !== 'multipart-signed') throw new Error('unexpected');
    const c = await change(p.signedEntity, p.signature);
    const keep = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'x-ssmax-hop'];
    return buildMultipartSigned(c.entity, c.signature, { headers: { extra: p.headers.filter((h) => keep.includes(h.name.toLowerCase())) } });
  };
  // The last byte of the SignedData is the last byte of the signature value (no unsigned attributes).
  const flipSignature = async (entity: Uint8Array, sig: Uint8Array) => {
    const s = new Uint8Array(sig);
    s[s.length - 1] = s[s.length - 1]! ^ 0x01;
    return { entity, signature: s };
  };
  const expectNothingReleased = (v: MailVerdict, reasons: readonly string[]): void => {
    expect(v.verified).toBe(false);
    expect(v.files.map((f) => [f.ok, f.content, f.unverified, f.withheld])).toEqual(reasons.map((r) => [false, undefined, undefined, r]));
  };

  it('(10) releases every file of a verified mail byte-exact, with its SHA-256 and no withheld reason', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'release', text: 'x', files: FILES, pin: '1111' });
    for (const ua of [bobUa, bobPaperUa]) {
      const v = await ua.read(await throughOrgs(mail.raw), '2222');
      expect(v.verified).toBe(true);
      expect(v.files.map((f) => [f.name, f.ok, f.withheld, f.unverified, f.sha256, Buffer.from(f.content!).toString('hex')])).toEqual(
        FILES.map((f) => [f.name, true, undefined, undefined, sha(f.content), Buffer.from(f.content).toString('hex')]),
      );
    }
  });

  it('(10) withholds every file, never decrypted, when the sender manifest was removed between hops', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'no manifest', text: 'x', files: FILES, pin: '1111' });
    const stripped = await throughOrgs(mail.raw, async (entity) => {
      const parts = classifyParts(entity);
      return assembleMixed([parts.body!.raw, ...parts.files.map((f) => f.part.raw), ...parts.attestations.map((a) => a.part.raw)]);
    });
    const v = await bobUa.read(stripped, '2222');
    expect(v.problems).toContain('the mail carries no sender manifest');
    expectNothingReleased(v, ['mail-not-verified', 'mail-not-verified']);
    expect(v.files.map((f) => f.sha256)).toEqual([undefined, undefined]);
  });

  it('(10) withholds every file, the swapped one and its intact sibling, when a file was swapped between hops', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'swap', text: 'x', files: FILES, pin: '1111' });
    const evilBytes = Buffer.from('%PDF evil payload secret-plaintext-marker-evil');
    const tampered = await throughOrgs(mail.raw, async (entity) => {
      const parts = classifyParts(entity);
      const evil = Buffer.from(
        `Content-Type: application/pdf; name="report.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${evilBytes.toString('base64')}`,
      );
      const swapped = buildFilePart(1, await encryptContent(evil, { recipients: [orgB.kmsEncryption.certificate.der] }));
      return assembleMixed([
        parts.body!.raw,
        swapped,
        ...parts.files.slice(1).map((f) => f.part.raw),
        parts.manifest!.raw,
        ...parts.attestations.map((a) => a.part.raw),
      ]);
    });
    for (const ua of [bobUa, bobPaperUa]) {
      const v = await ua.read(tampered, '2222');
      if (ua === bobPaperUa) {
        // Paper mode trusts the receiving org, which attested the swapped file: it cannot see the swap.
        expect(v.verified).toBe(true);
        continue;
      }
      // The hop-2 attestation names the swapped file's SHA-256, not the manifest's: refused before decryption.
      expect(v.problems.join('\n')).toMatch(/hop 2 \(org-b\.example\) attested file 1 with another content than the sender signed/);
      expectNothingReleased(v, ['differs-from-manifest', 'mail-not-verified']);
      expect(v.files.map((f) => f.sha256)).toEqual([undefined, undefined]);
      expect(v.files.map((f) => f.name)).toEqual(['1', '2']);
    }
  });

  it('(10) withholds every file, decrypted for the hash check only, when a delivered file differs from what the orgs attested (paper and end-to-end)', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'after hop 2', text: 'x', files: FILES, pin: '1111' });
    const evilBytes = Buffer.from('%PDF swapped after hop 2');
    // The receiving org's key signs a mailbox copy whose file 1 is not the one its attestation names.
    const tampered = await rewrap(await throughOrgs(mail.raw), async (entity) => {
      const parts = classifyParts(entity);
      const evil = Buffer.from(
        `Content-Type: application/pdf; name="report.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${evilBytes.toString('base64')}`,
      );
      const swapped = buildFilePart(1, await encryptContent(evil, { recipients: [bob.encryptionCertificate.der] }));
      const next = assembleMixed([
        parts.body!.raw,
        swapped,
        ...parts.files.slice(1).map((f) => f.part.raw),
        parts.manifest!.raw,
        ...parts.attestations.map((a) => a.part.raw),
      ]);
      return { entity: next, signature: await orgB.kms.signDetached(next) };
    });
    for (const ua of [bobUa, bobPaperUa]) {
      const v = await ua.read(tampered, '2222');
      expect(v.problems.join('\n')).toMatch(/file 1 differs from what your organisation attested/);
      expectNothingReleased(v, ['differs-from-attestation', 'mail-not-verified']);
      // Both were decrypted for the hash checks: their SHA-256s and real names are shown, the plaintext is not.
      expect(v.files.map((f) => [f.name, f.sha256])).toEqual([
        ['report.pdf', sha(evilBytes)],
        [FILES[1]!.name, sha(FILES[1]!.content)],
      ]);
    }
  });

  it('(10) withholds every file when a file the sender never signed was added between hops', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'extra', text: 'x', files: [FILES[0]!], pin: '1111' });
    const tampered = await throughOrgs(mail.raw, async (entity) => {
      const parts = classifyParts(entity);
      const extra = Buffer.from(
        `Content-Type: text/plain; name="extra.txt"\r\nContent-Disposition: attachment; filename="extra.txt"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('an extra file').toString('base64')}`,
      );
      const added = buildFilePart(2, await encryptContent(extra, { recipients: [orgB.kmsEncryption.certificate.der] }));
      return assembleMixed([parts.body!.raw, ...parts.files.map((f) => f.part.raw), added, parts.manifest!.raw, ...parts.attestations.map((a) => a.part.raw)]);
    });
    const v = await bobUa.read(tampered, '2222');
    expect(v.problems.join('\n')).toMatch(/file 2 \(extra\.txt\) is not in the sender's manifest/);
    expectNothingReleased(v, ['mail-not-verified', 'not-in-manifest']);
  });

  it('(10) withholds every file, never decrypted, when the organisation signature is broken (paper and end-to-end)', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'broken sig', text: 'x', files: FILES, pin: '1111' });
    const broken = await rewrap(await throughOrgs(mail.raw), flipSignature);
    for (const ua of [bobUa, bobPaperUa]) {
      const v = await ua.read(broken, '2222');
      expect(v.problems.join('\n')).toMatch(/organisation signature does not verify/);
      expectNothingReleased(v, ['mail-not-verified', 'mail-not-verified']);
      expect(v.files.map((f) => f.sha256)).toEqual([undefined, undefined]);
    }
  });

  it('(10) releases nothing of a mail with a failing SSMAX signature even when it carries an outside-mail mark', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'marked', text: 'x', files: FILES, pin: '1111' });
    const broken = await rewrap(await throughOrgs(mail.raw), flipSignature);
    const marked = new Uint8Array(Buffer.concat([Buffer.from('X-SSMAX-Verdict: unverified\r\n'), Buffer.from(broken)]));
    const v = await bobPaperUa.read(marked, '2222');
    expectNothingReleased(v, ['mail-not-verified', 'mail-not-verified']);
  });

  it('(10) releases the attachments of outside mail the MX marked unverified, each flagged unverified, read over IMAP from Dovecot', async () => {
    const mbDir = path.join(world.dir, 'org-b-mailbox-outside');
    fs.mkdirSync(mbDir, { mode: 0o711 });
    await using mb = await Mailbox.start({ dir: mbDir, host: '127.0.0.1', users: [{ address: bob.address, password: 'imap-pw' }] });
    await mb.deliver(bob.address, outsideMail(true, 'Received: from mx.outside.example by mx.org-b.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n'));
    await mb.deliver(bob.address, outsideMail(false));
    const ua = new UserAgent({
      address: bob.address,
      card: bobCard,
      mode: 'end-to-end',
      orgEncryptionCertificate: orgB.kmsEncryption.certificate.der,
      imap: { host: mb.host, port: mb.imapPort, user: bob.address, password: 'imap-pw' },
    });
    const [marked, unmarked] = await ua.inbox('2222');
    expect(marked).toMatchObject({ verified: false, outside: true, senderAddress: 'carol@outside.example', text: 'See the invoice.' });
    expect(marked!.problems).toEqual(['the mail carries no organisation signature: it is not from an SSMAX member (unverified)']);
    expect(marked!.files.map((f) => [f.name, f.contentType, f.ok, f.unverified, f.withheld, f.sha256, Buffer.from(f.content ?? []).toString('hex')])).toEqual([
      ['invoice.pdf', 'application/pdf', false, true, undefined, sha(FILES[0]!.content), Buffer.from(FILES[0]!.content).toString('hex')],
    ]);
    // Not marked by the MX: it did not come in as outside mail, so nothing is released.
    expect(unmarked!.verified).toBe(false);
    expect(unmarked!.outside).toBeUndefined();
    expect(unmarked!.files.map((f) => [f.name, f.ok, f.content, f.unverified, f.withheld])).toEqual([
      ['invoice.pdf', false, undefined, undefined, 'mail-not-verified'],
    ]);
  });
});

describe('(11) forwarding', () => {
  it('(11) drops the files not chosen and re-encrypts the rest to the own org as a new signed mail', async () => {
    const mail = await aliceUa.compose({ to: [bob.address], subject: 'two files', text: 'x', files: FILES, pin: '1111' });
    const v = await bobUa.read(await throughOrgs(mail.raw), '2222');
    expect(v.verified).toBe(true);
    const fwd = await bobUa.forward(v, { to: ['carol@org-b.example'], keepFiles: ['見積書.txt'], text: 'FYI', pin: '2222' });
    expect(fwd.messageId).not.toBe(v.messageId);
    expect(fwd.manifest?.files.map((f) => f.name)).toEqual(['見積書.txt']);
    const p = parseSmime(fwd.raw);
    if (p.kind !== 'multipart-signed') throw new Error('unexpected');
    expect(getHeader(p.headers, 'From')).toBe(bob.address);
    const parts = classifyParts(p.signedEntity);
    expect(parts.files).toHaveLength(1);
    const opened = await orgB.kms.decrypt(parts.files[0]!.der);
    expect(Buffer.from(opened.content).toString('latin1')).toContain('ZXN0aW1hdGUgc2VjcmV0');
    expect(Buffer.from(fwd.raw).includes('secret-plaintext-marker')).toBe(false);
    await expect(bobUa.forward(v, { to: ['carol@org-b.example'], keepFiles: ['nope.bin'], pin: '2222' })).rejects.toThrow(/no such file/);
    expect(parseCertificate(bob.signingCertificate.der).emailAddresses).toEqual([bob.address]);
  });
});

/** The manifest part as the user agent builds it (user-agent.ts signedDataPart). */
function signedManifestPart(der: Uint8Array): Uint8Array {
  const b64 = (
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
  return Buffer.from(
    `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="${MANIFEST_FILENAME}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${MANIFEST_FILENAME}"\r\n\r\n${b64}`,
    'latin1',
  );
}

describe('(10) poison mails (issue 10 item 6)', () => {
  /** A key with a self-signed certificate: anyone can make one, no org or registry involved. */
  const mallory = async () => {
    const key = SoftwareKey.generate('EC-P256');
    const certificate = await issueRootCertificate({ subject: { O: 'Mallory', CN: 'mallory' }, key, now: world.now });
    return { key, certificate: certificate.der };
  };
  /** The delivered mail with its signed entity rebuilt from changed parts (the outer signature no longer fits). */
  const withParts = (delivered: Uint8Array, change: (parts: ReturnType<typeof classifyParts>) => Promise<Uint8Array[]>): Promise<Uint8Array> =>
    (async () => {
      const p = parseSmime(delivered);
      if (p.kind !== 'multipart-signed') throw new Error('unexpected');
      const keep = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'x-ssmax-hop'];
      return buildMultipartSigned(assembleMixed(await change(classifyParts(p.signedEntity))), p.signature, {
        headers: { extra: p.headers.filter((h) => keep.includes(h.name.toLowerCase())) },
      });
    })();

  it('(10) verifies the other mails of an IMAP inbox (Dovecot) when one carries an attestation or a manifest of the wrong shape', async () => {
    const m = await mallory();
    const good = async (subject: string) => throughOrgs((await aliceUa.compose({ to: [bob.address], subject, text: 'x', files: FILES, pin: '1111' })).raw);
    const base = await good('base');
    const last = verifyAttestation(classifyParts((parseSmime(base) as { signedEntity: Uint8Array }).signedEntity).attestations.at(-1)!.part.body);
    if (!last.valid) throw new Error('fixture attestation does not verify');
    // A number where the identity notice names the sender: a signed, well-formed CMS around JSON of the wrong shape.
    // eslint-disable-next-line no-restricted-syntax -- the wrong shape is the point: signAttestation signs whatever JSON it is given.
    const badNotice = { ...last.attestation, hop: 3, identityNotice: { ...last.attestation.identityNotice, sender: 42 } } as unknown as OrgAttestation;
    const poisonAttestation = await withParts(base, async (parts) => [
      parts.body!.raw,
      ...parts.files.map((f) => f.part.raw),
      parts.manifest!.raw,
      ...parts.attestations.map((a) => a.part.raw),
      buildAttestationPart(3, await signAttestation(badNotice, m)),
    ]);
    // A manifest whose To list holds a number.
    const badManifest = {
      v: 1,
      type: 'ssmax-manifest',
      messageId: '<x@org-a.example>',
      from: alice.address,
      to: [42],
      cc: [],
      subject: 's',
      date: 'd',
      bodySha256: '00',
      files: [],
    };
    const poisonManifest = await withParts(base, async (parts) => [
      parts.body!.raw,
      ...parts.files.map((f) => f.part.raw),
      // signManifest would choke on it too; sign the JSON as it would (eContentType id-ssmax-ct-manifest).
      signedManifestPart(await signSignedData(new TextEncoder().encode(JSON.stringify(badManifest)), { ...m, contentType: SsmaxOids.ctManifest })),
      ...parts.attestations.map((a) => a.part.raw),
    ]);

    const mbDir = path.join(world.dir, 'org-b-mailbox-poison');
    fs.mkdirSync(mbDir, { mode: 0o711 });
    await using mb = await Mailbox.start({ dir: mbDir, host: '127.0.0.1', users: [{ address: bob.address, password: 'imap-pw' }] });
    await mb.deliver(bob.address, await good('before'));
    await mb.deliver(bob.address, poisonAttestation);
    await mb.deliver(bob.address, poisonManifest);
    await mb.deliver(bob.address, await good('after'));
    const ua = new UserAgent({
      address: bob.address,
      card: bobCard,
      mode: 'end-to-end',
      orgEncryptionCertificate: orgB.kmsEncryption.certificate.der,
      imap: { host: mb.host, port: mb.imapPort, user: bob.address, password: 'imap-pw' },
    });
    const inbox = await ua.inbox('2222');
    expect(inbox.map((v) => [v.subject, v.verified])).toEqual([
      ['before', true],
      ['base', false],
      ['base', false],
      ['after', true],
    ]);
    expect(inbox[1]!.problems.join('\n')).toMatch(/an organisation attestation does not verify \(MALFORMED_CMS\)/);
    expect(inbox[2]!.problems.join('\n')).toMatch(/manifest/);
    for (const v of inbox.slice(1, 3)) expect(v.files.every((f) => f.content === undefined)).toBe(true);
  });
});

describe('(10) the organisation signer in paper mode (issue 10 item 8)', () => {
  /**
   * The delivered mail re-signed by `signer`: its last attestation (same JSON, re-signed) and the outer
   * signature, as whoever holds that key and a certificate from the receiving org's CA could do.
   */
  const resignedBy = async (
    delivered: Uint8Array,
    signer: { key: SoftwareKey | FixtureOrg['kmsSigning']['key']; certificate: Uint8Array },
  ): Promise<Uint8Array> => {
    const p = parseSmime(delivered);
    if (p.kind !== 'multipart-signed') throw new Error('unexpected');
    const parts = classifyParts(p.signedEntity);
    const last = parts.attestations.at(-1)!;
    const att = verifyAttestation(last.part.body);
    if (!att.valid) throw new Error('fixture attestation does not verify');
    const chain = [orgB.orgCa.certificate.der];
    const entity = assembleMixed([
      parts.body!.raw,
      ...parts.files.map((f) => f.part.raw),
      parts.manifest!.raw,
      ...parts.attestations.slice(0, -1).map((a) => a.part.raw),
      buildAttestationPart(last.k, await signAttestation(att.attestation, { key: signer.key, certificate: signer.certificate, chain })),
    ]);
    const signature = await signSignedData(entity, { key: signer.key, certificate: signer.certificate, chain, detached: true });
    const keep = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'x-ssmax-hop'];
    return buildMultipartSigned(entity, signature, { headers: { extra: p.headers.filter((h) => keep.includes(h.name.toLowerCase())) } });
  };

  it('(10) accepts only the org KMS signing certificate, not another certificate the org CA issued', async () => {
    const delivered = await throughOrgs((await aliceUa.compose({ to: [bob.address], subject: 'who signs', text: 'x', files: FILES, pin: '1111' })).raw);
    const pinned = new UserAgent({
      address: bob.address,
      card: bobCard,
      mode: 'paper',
      orgEncryptionCertificate: orgB.kmsEncryption.certificate.der,
      orgSigningCertificate: orgB.kmsSigning.certificate.der,
    });
    // Control: re-signed with the org's own KMS signing key, the construction verifies.
    expect((await pinned.read(await resignedBy(delivered, { key: orgB.kmsSigning.key, certificate: orgB.kmsSigning.certificate.der }), '2222')).verified).toBe(
      true,
    );
    // A key certified by the org CA for encryption (as the KMS encryption and trace-vault keys are).
    const encKey = SoftwareKey.generate('RSA-2048');
    const encCert = await orgB.orgCa.issueService(encKey.spki, 'encryption', 'org-b.example trace vault');
    expect(encCert.keyUsage).toEqual(['keyEncipherment']);
    const byEncryptionCert = await resignedBy(delivered, { key: encKey, certificate: encCert.der });
    // A signing certificate of the org CA that is not the KMS signing certificate.
    const otherKey = SoftwareKey.generate('EC-P256');
    const otherCert = await orgB.orgCa.issueService(otherKey.spki, 'signing', 'org-b.example other service');
    const byOtherSigner = await resignedBy(delivered, { key: otherKey, certificate: otherCert.der });
    for (const ua of [pinned, bobPaperUa]) {
      const v = await ua.read(byEncryptionCert, '2222');
      expect(v.verified).toBe(false);
      expect(v.problems.join('\n')).toMatch(/the signer is not your organisation \(CERT_USAGE/);
      expect(v.files.every((f) => f.content === undefined)).toBe(true);
    }
    const v = await pinned.read(byOtherSigner, '2222');
    expect(v.verified).toBe(false);
    expect(v.problems.join('\n')).toMatch(/not your organisation's KMS signing certificate/);
  });
});
