import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import {
  SoftwareKey,
  buildMimeEntity,
  buildPkcs7Mime,
  collectAttachments,
  createZip,
  decryptContent,
  encryptContent,
  findTextBody,
  issueRootCertificate,
  issueUserCertificate,
  newTraceId,
  parseMimeEntity,
  parseSmime,
  readZip,
} from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { attackerContext } from './footholds.js';
import { composeMail, messageIdOf, rawHeader } from './compose-mail.js';
import { OnPathMta, envelopedSmimeType } from './on-path-mta.js';
import { victimMx } from './test-support/victim-mx.js';

/** An honest sending MTA of org A: one SMTP connection per mail, as an MTA with an empty queue does. */
async function send(net: SimNet, raw: Uint8Array, to = 'bob@org-b.example'): Promise<string> {
  const t = nodemailer.createTransport({
    ...net.connectOptions(net.address('org-a.example/mta-out'), 'mx.org-b.example', 25),
    secure: false,
    name: 'mta.org-a.example',
  });
  try {
    const info = await t.sendMail({ envelope: { from: 'alice@org-a.example', to: [to] }, raw: Buffer.from(raw) });
    return String(info.response);
  } finally {
    t.close();
  }
}

const ORIGINAL = Buffer.from('CONFIDENTIAL merger plan 4711\n'.repeat(20));
const EVIL = Buffer.from('MZ attacker payload, not the plan\n'.repeat(5));
const PW = 'Xk7-pq2r';
const service = { kind: 'on-path' as const, service: 'mx.org-b.example:25' };

function ppapMail(text: string): Uint8Array {
  const zip = createZip([{ name: 'plan.txt', data: ORIGINAL }], { password: PW });
  return composeMail({
    from: 'alice@org-a.example',
    to: 'bob@org-b.example',
    subject: 'plan',
    text,
    attachments: [{ filename: 'plan.zip', contentType: 'application/zip', content: zip }],
  });
}

const passwordMail = (): Uint8Array =>
  composeMail({
    from: 'alice@org-a.example',
    to: 'bob@org-b.example',
    subject: 'Password: plan',
    text: `The password for the ZIP file in my previous mail is: ${PW}\n`,
  });

/** The archive a received mail carries, and what its only entry reads as with `password`. */
function zipOf(raw: Uint8Array, password: string): { filename: string; entries: string[]; first: Buffer } {
  const att = collectAttachments(parseMimeEntity(raw));
  expect(att).toHaveLength(1);
  const z = readZip(att[0]!.content);
  expect(z.entries.every((e) => e.encrypted && e.encryption === 'zipcrypto')).toBe(true);
  return { filename: att[0]!.filename, entries: z.entries.map((e) => e.name), first: Buffer.from(z.read(z.entries[0]!, { password })) };
}

describe('OnPathMta PPAP re-zip', () => {
  it('holds the archive mail, re-zips it under the password from the second mail, and delivers it first', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    using relay = OnPathMta.insert(attackerContext(net), service, {
      tamper: { kind: 'swap', replacement: { content: EVIL, filename: 'x.exe' }, rezip: { entries: [{ name: 'plan.doc', data: EVIL }] } },
    });
    const first = ppapMail('Please find the plan attached. The password follows in a separate mail.');
    expect(await send(net, first)).toMatch(/^250/);
    // Stored, not forwarded: the relay answered 250 itself.
    expect(mx.received).toHaveLength(0);
    let settled = false;
    const done = relay.settled().then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);

    expect(await send(net, passwordMail())).toMatch(/^250/);
    await done;
    expect(mx.received).toHaveLength(2);
    const [got1, got2] = mx.received;
    // Mail 1 first, then the password mail.
    expect(messageIdOf(got1!.raw)).toBe(messageIdOf(first));
    expect(rawHeader(got2!.raw, 'Subject')).toBe('Password: plan');
    const z = zipOf(got1!.raw, PW);
    expect(z.filename).toBe('plan.zip');
    expect(z.entries).toEqual(['plan.doc']);
    expect(z.first.equals(EVIL)).toBe(true);
    expect(
      Buffer.from(got1!.raw).includes(
        Buffer.from(collectAttachments(parseMimeEntity(first))[0]!.content)
          .toString('base64')
          .slice(0, 60),
      ),
    ).toBe(false);
    // The rest of mail 1 is as the sender wrote it.
    expect(rawHeader(got1!.raw, 'Subject')).toBe('plan');
    expect(findTextBody(parseMimeEntity(got1!.raw))).toContain('password follows');

    const out = relay.outcome();
    expect(out.actions.some((a) => a.startsWith(`held ${messageIdOf(first)} until the password mail`))).toBe(true);
    expect(out.actions.some((a) => a.startsWith('re-zipped plan.zip under the captured password'))).toBe(true);
    // The relay also read the original files with the captured password.
    expect(out.obtained.some((o) => o.kind === 'files' && o.filename === 'plan.txt' && Buffer.from(o.bytes!).equals(ORIGINAL))).toBe(true);
    await relay.settled();
  });

  it('re-zips at once, without holding, when the mail states its own password', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    using relay = OnPathMta.insert(attackerContext(net), service, {
      tamper: { kind: 'swap', replacement: { content: EVIL }, rezip: { entries: [{ name: 'plan.doc', data: EVIL }] } },
    });
    expect(await send(net, ppapMail(`The plan is attached. Password: ${PW}`))).toMatch(/^250/);
    // Forwarded within the session: the sender's 250 is the MX's.
    expect(mx.received).toHaveLength(1);
    await relay.settled();
    const z = zipOf(mx.received[0]!.raw, PW);
    expect(z.first.equals(EVIL)).toBe(true);
    expect(relay.outcome().actions.some((a) => a.startsWith('held'))).toBe(false);
  });

  it('ignores a stated password that does not open the archive, and relays the held mail unchanged when holdMs runs out', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    using relay = OnPathMta.insert(attackerContext(net), service, {
      tamper: { kind: 'swap', replacement: { content: EVIL }, rezip: { entries: [{ name: 'plan.doc', data: EVIL }], holdMs: 300 } },
    });
    const first = ppapMail('Password: WrongOne9 (just kidding, it comes separately)');
    expect(await send(net, first)).toMatch(/^250/);
    expect(mx.received).toHaveLength(0);
    await relay.settled();
    expect(mx.received).toHaveLength(1);
    expect(mx.received[0]!.raw.equals(Buffer.from(first))).toBe(true);
    expect(zipOf(mx.received[0]!.raw, PW).first.equals(ORIGINAL)).toBe(true);
    expect(relay.outcome().actions.some((a) => a.includes('within 300 ms') && a.includes('unchanged'))).toBe(true);
  });
});

async function bobPki(): Promise<{ key: SoftwareKey; cert: Uint8Array }> {
  const now = () => new Date();
  const caKey = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({ subject: { O: 'Org B', CN: 'Org B CA' }, key: caKey, now });
  const key = SoftwareKey.generate('EC-P256');
  const cert = await issueUserCertificate({
    issuer: { certificate: root, key: caKey },
    subjectSpki: key.spki,
    email: 'bob@org-b.example',
    usage: 'encryption',
    identityProofing: { method: 'employeeCardPin', proofedAt: new Date(Math.floor(Date.now() / 1000) * 1000) },
    traceId: newTraceId(),
    now,
  });
  return { key, cert: cert.der };
}

const HEADERS = {
  from: '"Alice" <alice@org-a.example>',
  to: 'bob@org-b.example',
  subject: 'merger plan',
  date: 'Tue, 3 Jun 2025 09:00:00 +0000',
  messageId: 'plan-1@org-a.example',
};

async function encryptedMail(cert: Uint8Array, cipher: 'aes-256-gcm' | 'aes-256-cbc' = 'aes-256-gcm'): Promise<Uint8Array> {
  const inner = buildMimeEntity({ text: 'The plan.', attachments: [{ filename: 'plan.txt', contentType: 'text/plain', content: ORIGINAL }] });
  const der = await encryptContent(inner, { recipients: [cert], cipher });
  return buildPkcs7Mime(der, cipher === 'aes-256-gcm' ? 'authEnveloped-data' : 'enveloped-data', { headers: HEADERS });
}

describe('OnPathMta S/MIME swap', () => {
  it('replaces an authEnveloped body with its own unsigned entity encrypted to the recipient, headers byte for byte', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    const bob = await bobPki();
    const asked: string[] = [];
    using relay = OnPathMta.insert(attackerContext(net), service, {
      tamper: {
        kind: 'swap',
        replacement: { content: EVIL, filename: 'plan.zip', contentType: 'application/zip' },
        smime: {
          recipientCertificate: async (a) => (asked.push(a), a === 'bob@org-b.example' ? bob.cert : undefined),
          text: 'Updated plan attached.',
          password: 'Zz9-abcd',
        },
      },
    });
    const original = await encryptedMail(bob.cert);
    expect(await send(net, original)).toMatch(/^250/);
    await relay.settled();
    expect(asked).toEqual(['bob@org-b.example']);
    const got = mx.received[0]!.raw;
    for (const h of ['From', 'To', 'Subject', 'Date', 'Message-ID']) expect(rawHeader(got, h)).toBe(rawHeader(original, h));
    // Header lines are byte-identical, not just equal in value.
    expect(got.toString('latin1')).toContain(
      'From: "Alice" <alice@org-a.example>\r\nTo: bob@org-b.example\r\nSubject: merger plan\r\nDate: Tue, 3 Jun 2025 09:00:00 +0000\r\nMessage-ID: <plan-1@org-a.example>\r\n',
    );
    const smime = parseSmime(got);
    expect(smime.kind).toBe('pkcs7-mime');
    if (smime.kind !== 'pkcs7-mime') return;
    expect(smime.smimeType).toBe('authEnveloped-data');
    expect(Buffer.from(smime.der).equals(Buffer.from((parseSmime(original) as { der: Uint8Array }).der))).toBe(false);
    const plain = await decryptContent(smime.der, { key: bob.key });
    const entity = parseMimeEntity(plain.content);
    // Unsigned: neither multipart/signed nor an opaque signed-data layer.
    expect(entity.contentType.mediaType).toBe('multipart/mixed');
    expect(parseSmime(plain.content).kind).toBe('plain');
    const att = collectAttachments(entity);
    expect(att.map((a) => a.filename)).toEqual(['plan.zip']);
    expect(Buffer.from(att[0]!.content).equals(EVIL)).toBe(true);
    expect(findTextBody(entity)).toContain('The password for the archive is: Zz9-abcd');
    expect(relay.outcome().actions).toContain(
      "replaced the S/MIME-encrypted body with its own, encrypted to bob@org-b.example's public certificate (unsigned: it cannot sign as alice@org-a.example)",
    );
  });

  it('recognises enveloped-data without the smime-type parameter by its ContentInfo', async () => {
    const bob = await bobPki();
    const cbc = Buffer.from(await encryptedMail(bob.cert, 'aes-256-cbc'))
      .toString('latin1')
      .replace('; smime-type=enveloped-data', '');
    expect(envelopedSmimeType(new Uint8Array(Buffer.from(cbc, 'latin1')))).toBe('enveloped-data');
    expect(envelopedSmimeType(await encryptedMail(bob.cert))).toBe('authEnveloped-data');
    expect(envelopedSmimeType(ppapMail('x'))).toBeUndefined();
  });

  it('forwards the message unchanged when it has no certificate of the recipient', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    const bob = await bobPki();
    using relay = OnPathMta.insert(attackerContext(net), service, {
      tamper: { kind: 'swap', replacement: { content: EVIL, filename: 'plan.zip' }, smime: { recipientCertificate: async () => undefined } },
    });
    const original = await encryptedMail(bob.cert);
    expect(await send(net, original)).toMatch(/^250/);
    await relay.settled();
    expect(mx.received[0]!.raw.equals(Buffer.from(original))).toBe(true);
    const plain = await decryptContent((parseSmime(mx.received[0]!.raw) as { der: Uint8Array }).der, { key: bob.key });
    expect(Buffer.from(collectAttachments(parseMimeEntity(plain.content))[0]!.content).equals(ORIGINAL)).toBe(true);
    expect(
      relay.outcome().actions.some((a) => a.startsWith('no public certificate of bob@org-b.example') && a.endsWith('forwarded plan-1@org-a.example unchanged')),
    ).toBe(true);
  });
});
