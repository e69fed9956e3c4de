import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import nodemailer from 'nodemailer';
import { authenticate } from 'mailauth';
import { SMTPServer } from 'smtp-server';
import { assert, describe, expect, it } from 'vitest';
import {
  SoftwareKey,
  buildMimeEntity,
  buildMultipartSigned,
  createZip,
  issueRootCertificate,
  issueUserCertificate,
  newTraceId,
  parseCertificate,
  parseMimeEntity,
  collectAttachments,
  parseSmime,
  signSignedData,
  verifySignedData,
} from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { attackerContext } from './footholds.js';
import { composeMail, rawHeader } from './compose-mail.js';
import { LookAlikeDomain, lookAlikeDomains } from './look-alike.js';
import { OnPathMta } from './on-path-mta.js';
import { capturePassively } from './passive-capture.js';
import { leakLevel } from './outcome.js';
import { replayCapturedMail } from './replay.js';
import { rewrapSignedMail, type RewrapTechnique } from './rewrap.js';
import { sendSpoofedDirect } from './spoof-direct.js';
import { victimMx } from './test-support/victim-mx.js';

const FILE = Buffer.from('CONFIDENTIAL quarterly figures 4711\n'.repeat(20));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** An honest sending MTA (org A) sending to org B's MX by name, with the TLS stance given. */
async function honestSend(net: SimNet, tls: 'opportunistic' | 'require', raw: Uint8Array): Promise<{ ok: boolean; error?: string }> {
  const from = net.address('org-a.example/mta-out');
  const ca = await net.ca();
  const t = nodemailer.createTransport({
    ...net.connectOptions(from, 'mx.org-b.example', 25),
    secure: false,
    name: 'mta.org-a.example',
    requireTLS: tls === 'require',
    tls: { ca: ca.certificatePem },
  });
  try {
    await t.sendMail({ envelope: { from: 'alice@org-a.example', to: ['bob@org-b.example'] }, raw: Buffer.from(raw) });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    t.close();
  }
}

function mailWithFile(): Uint8Array {
  return composeMail({
    from: 'alice@org-a.example',
    to: 'bob@org-b.example',
    subject: 'Q3 figures',
    text: 'Please find the figures attached.',
    attachments: [{ filename: 'q3.txt', contentType: 'text/plain', content: FILE }],
  });
}

describe('sendSpoofedDirect', () => {
  it('delivers a mail whose From header carries the forged name and address when the MX does not check', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    const ctx = attackerContext(net);
    const out = await sendSpoofedDirect(ctx, {
      spoofedFrom: 'ceo@org-a.example',
      displayName: 'The CEO',
      to: 'bob@org-b.example',
      subject: 'urgent',
      text: 'pay now',
    });
    expect(out.error).toBeUndefined();
    expect(out.sent?.smtpReply).toMatch(/^250/);
    expect(mx.received).toHaveLength(1);
    expect(rawHeader(mx.received[0]!.raw, 'From')).toBe('"The CEO" <ceo@org-a.example>');
    expect(mx.received[0]!.peer).toBe(ctx.address);
    expect(mx.received[0]!.mailFrom).toBe('ceo@org-a.example');
    expect(mx.received[0]!.raw.equals(Buffer.from(out.sent!.raw))).toBe(true);
  });

  it('reports a 5xx reply as data when the MX refuses the forged sender', async () => {
    await using net = await SimNet.create();
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onMailFrom(_a, _s, cb) {
        cb(Object.assign(new Error('DMARC policy of org-a.example says reject'), { responseCode: 550 }));
      },
    });
    const address = net.address('org-b.example/mx');
    // smtp-server emits a client's socket error (a reset from a killed or refusing peer) on the server: absorbed, as smtp-listener.ts does.
    smtp.on('error', () => undefined);
    await new Promise<void>((r) => smtp.listen(0, address, () => r()));
    try {
      await using _e = await net.expose({ host: 'mx.org-b.example', port: 25, target: { address, port: (smtp.server.address() as { port: number }).port } });
      net.zone.addMx('org-b.example', 'mx.org-b.example');
      const out = await sendSpoofedDirect(attackerContext(net), { spoofedFrom: 'ceo@org-a.example', to: 'bob@org-b.example', subject: 's', text: 't' });
      expect(out.sent).toBeUndefined();
      expect(out.error).toMatchObject({ code: 'SMTP_REJECTED', smtpReply: expect.stringMatching(/^550 .*DMARC/) });
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  });
});

describe('LookAlikeDomain', () => {
  it('lists homograph and near-miss names that differ from the original and are valid A-labels', () => {
    const names = lookAlikeDomains('org-a.example');
    const homograph = names.find((n) => n.technique === 'homograph');
    expect(homograph?.ascii).toMatch(/^xn--/);
    expect(homograph?.unicode).not.toBe('org-a.example');
    expect(homograph?.unicode.normalize('NFKC').length).toBe('org-a.example'.length);
    expect(names.map((n) => n.ascii)).not.toContain('org-a.example');
    expect(new Set(names.map((n) => n.ascii)).size).toBe(names.length);
    expect(names.some((n) => n.technique === 'substitution' && n.ascii === '0rg-a.example')).toBe(true);
  });

  it('passes mailauth SPF, DKIM and DMARC at the receiver, with an S/MIME signature from its own root', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    const ctx = attackerContext(net);
    const homograph = lookAlikeDomains('org-a.example').find((n) => n.technique === 'homograph')!;
    const la = await LookAlikeDomain.register(ctx, { domain: homograph.unicode, smimeLocalPart: 'ceo' });
    expect(la.domain).toBe(homograph.ascii);
    const out = await la.send({
      displayName: 'The CEO',
      to: 'bob@org-b.example',
      subject: 'invoice',
      text: 'see attached',
      attachments: [{ filename: 'inv.txt', content: FILE }],
      smime: true,
    });
    expect(out.error).toBeUndefined();
    const got = mx.received[0]!;
    // smtp-server hands over MAIL FROM with the domain as a U-label; SPF works on the A-label the client sent.
    expect(got.mailFrom).toBe(`ceo@${homograph.unicode}`);
    const auth = await authenticate(got.raw, {
      ip: got.peer,
      sender: `ceo@${domainToASCII(homograph.unicode)}`,
      helo: got.helo,
      mta: 'mx.org-b.example',
      resolver: net.resolver,
      disableArc: true,
      disableBimi: true,
    });
    expect(auth.spf && auth.spf.status.result).toBe('pass');
    expect(auth.dkim.results[0]?.status.result).toBe('pass');
    expect(auth.dmarc && auth.dmarc.status.result).toBe('pass');
    // The S/MIME signature verifies; its chain ends at the attacker's own root, not a registry.
    const smime = parseSmime(got.raw);
    expect(smime.kind).toBe('multipart-signed');
    if (smime.kind !== 'multipart-signed') return;
    const v = verifySignedData(smime.signature, { detachedContent: smime.signedEntity });
    expect(v.allValid).toBe(true);
    const signer = parseCertificate(v.signers[0]!.certificate!);
    expect(signer.emailAddresses).toEqual([`ceo@${homograph.ascii}`]);
    // Registered without a public CA, the look-alike made its own root.
    expect(la.pki?.source).toBe('own-ca');
    const ownRoot = la.pki?.root;
    assert.isDefined(ownRoot);
    expect(ownRoot.subject).toContain(homograph.unicode);
    expect(v.certificates.map((c) => parseCertificate(c).subject)).toContain(ownRoot.subject);

    // The honest comparison: a plain forgery of the real domain does not pass.
    net.zone.publishSpf('org-a.example', { ip4: [net.address('org-a.example/mta-out')] });
    net.zone.publishDmarc('org-a.example', { p: 'reject' });
    await sendSpoofedDirect(ctx, { spoofedFrom: 'ceo@org-a.example', to: 'bob@org-b.example', subject: 's', text: 't' });
    const forged = mx.received[1]!;
    const fa = await authenticate(forged.raw, {
      ip: forged.peer,
      sender: forged.mailFrom,
      helo: forged.helo,
      mta: 'mx.org-b.example',
      resolver: net.resolver,
      disableArc: true,
      disableBimi: true,
    });
    expect(fa.dmarc && fa.dmarc.status.result).toBe('fail');
  });
});

describe('OnPathMta', () => {
  it('strips STARTTLS so an opportunistic sender falls back to clear text, and reads the attached file', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example', { tls: true });
    // Control: without the relay the honest sender uses TLS and the tap sees no plaintext.
    expect(await honestSend(net, 'opportunistic', mailWithFile())).toEqual({ ok: true });
    expect(mx.received[0]!.secure).toBe(true);
    expect(net.tap.search('CONFIDENTIAL quarterly')).toEqual([]);

    using relay = OnPathMta.insert(attackerContext(net), { kind: 'on-path', service: 'mx.org-b.example:25' });
    expect(await honestSend(net, 'opportunistic', mailWithFile())).toEqual({ ok: true });
    const out = relay.outcome();
    expect(out.error).toBeUndefined();
    const files = out.obtained.filter((o) => o.kind === 'files');
    expect(files.map((f) => f.filename)).toEqual(['q3.txt']);
    expect(Buffer.from(files[0]!.bytes!).equals(FILE)).toBe(true);
    expect(leakLevel(out)).toBe('files');
    // The mail still reached the real MX, unchanged.
    expect(mx.received).toHaveLength(2);
    const att = collectAttachments(parseMimeEntity(mx.received[1]!.raw));
    expect(sha(att[0]!.content)).toBe(sha(FILE));
    // The sender → relay leg was in clear: the file's text is on the wire.
    expect(net.tap.search('Q3 figures').some((m) => m.connection.leg === 'client-side')).toBe(true);
  });

  it('obtains nothing and nothing is sent when the sender requires TLS', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example', { tls: true });
    using relay = OnPathMta.insert(attackerContext(net), { kind: 'on-path', service: 'mx.org-b.example:25' });
    const r = await honestSend(net, 'require', mailWithFile());
    expect(r.ok).toBe(false);
    // The relay learns that the client left when its side of the session closes, a moment after the
    // client gave up (on a loaded machine more than 50 ms: the fixed wait here once read it too early).
    for (let i = 0; i < 100 && relay.sessions()[0]?.leftWithoutMail !== true; i++) await new Promise((res) => setTimeout(res, 50));
    expect(mx.received).toHaveLength(0);
    const out = relay.outcome();
    expect(out.obtained).toEqual([]);
    expect(out.error?.code).toBe('NOTHING_CAPTURED');
    expect(relay.sessions()).toHaveLength(1);
    expect(relay.sessions()[0]!.leftWithoutMail).toBe(true);
  });

  it('swaps the attached file so the MX receives the attacker’s bytes', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    const evil = Buffer.from('MZ this is the attacker payload');
    using relay = OnPathMta.insert(
      attackerContext(net),
      { kind: 'on-path', service: 'mx.org-b.example:25' },
      { tamper: { kind: 'swap', filename: 'q3.txt', replacement: { content: evil, filename: 'q3.exe', contentType: 'application/octet-stream' } } },
    );
    expect(await honestSend(net, 'opportunistic', mailWithFile())).toEqual({ ok: true });
    const att = collectAttachments(parseMimeEntity(mx.received[0]!.raw));
    expect(att).toHaveLength(1);
    expect(att[0]!.filename).toBe('q3.exe');
    expect(Buffer.from(att[0]!.content).equals(evil)).toBe(true);
    expect(rawHeader(mx.received[0]!.raw, 'Subject')).toBe('Q3 figures');
    expect(relay.outcome().actions.some((a) => a.startsWith('swapped attachment q3.exe'))).toBe(true);
  });

  it('alters the attached file in place when asked to', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    using _relay = OnPathMta.insert(
      attackerContext(net),
      { kind: 'on-path', service: 'mx.org-b.example:25' },
      {
        tamper: { kind: 'alter', transform: (c) => new Uint8Array(Buffer.from(Buffer.from(c).toString('latin1').replaceAll('4711', '9999'), 'latin1')) },
      },
    );
    expect(await honestSend(net, 'opportunistic', mailWithFile())).toEqual({ ok: true });
    const att = collectAttachments(parseMimeEntity(mx.received[0]!.raw));
    expect(att[0]!.filename).toBe('q3.txt');
    expect(Buffer.from(att[0]!.content).toString()).toContain('figures 9999');
    expect(Buffer.from(att[0]!.content).toString()).not.toContain('4711');
  });
});

describe('capturePassively', () => {
  it('reads the attachment on a link without TLS, and opens a PPAP ZIP with the password from the second mail', async () => {
    await using net = await SimNet.create();
    await using _mx = await victimMx(net, 'org-b.example');
    const zip = createZip([{ name: 'plan.txt', data: FILE }], { password: 'Xk7-pq2r' });
    const first = composeMail({
      from: 'alice@org-a.example',
      to: 'bob@org-b.example',
      subject: 'plan',
      text: 'the file',
      attachments: [{ filename: 'plan.zip', contentType: 'application/zip', content: zip }],
    });
    const second = composeMail({ from: 'alice@org-a.example', to: 'bob@org-b.example', subject: 'password', text: 'パスワード: Xk7-pq2r' });
    expect(await honestSend(net, 'opportunistic', first)).toEqual({ ok: true });
    expect(await honestSend(net, 'opportunistic', second)).toEqual({ ok: true });
    const out = capturePassively(net.tap, { service: 'mx.org-b.example:25' });
    expect(out.error).toBeUndefined();
    expect(out.obtained.filter((o) => o.kind === 'credentials').map((o) => Buffer.from(o.bytes!).toString())).toEqual(['Xk7-pq2r']);
    const plan = out.obtained.find((o) => o.kind === 'files' && o.filename === 'plan.txt');
    expect(plan && Buffer.from(plan.bytes!).equals(FILE)).toBe(true);
  });

  it('finds nothing readable on a TLS link', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example', { tls: true });
    expect(await honestSend(net, 'require', mailWithFile())).toEqual({ ok: true });
    expect(mx.received[0]!.secure).toBe(true);
    const out = capturePassively(net.tap, { service: 'mx.org-b.example:25' });
    expect(out.obtained.some((o) => o.kind === 'body' || o.kind === 'files')).toBe(false);
    expect(out.obtained.some((o) => o.note.includes('TLS ciphertext'))).toBe(true);
    expect(leakLevel(out)).toBe('metadata');
    expect(out.error?.code).toBe('NOTHING_CAPTURED');
  });
});

async function signedMailFromAlice(): Promise<{ raw: Uint8Array; signerEmail: string }> {
  const now = () => new Date();
  const caKey = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({ subject: { O: 'Org A', CN: 'Org A CA' }, key: caKey, now });
  const aliceKey = SoftwareKey.generate('EC-P256');
  const alice = await issueUserCertificate({
    issuer: { certificate: root, key: caKey },
    subjectSpki: aliceKey.spki,
    email: 'alice@org-a.example',
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt: new Date(Math.floor(Date.now() / 1000) * 1000) },
    traceId: newTraceId(),
    now,
  });
  const inner = buildMimeEntity({ text: 'Lunch at noon?' });
  const sig = await signSignedData(inner, { key: aliceKey, certificate: alice.der, detached: true });
  const raw = buildMultipartSigned(inner, sig, {
    headers: { from: 'alice@org-a.example', to: 'bob@org-b.example', subject: 'lunch', date: new Date(), messageId: 'lunch-1@org-a.example' },
  });
  return { raw, signerEmail: 'alice@org-a.example' };
}

/** Finds the first multipart/signed entity anywhere in a message (what a lenient client would show). */
function findSignedEntity(raw: Uint8Array): Uint8Array | undefined {
  const root = parseMimeEntity(raw);
  const walk = (p: ReturnType<typeof parseMimeEntity>): Uint8Array | undefined => {
    if (p.contentType.mediaType === 'multipart/signed') return p.raw;
    if (p.contentType.mediaType === 'message/rfc822') return findSignedEntity(p.body);
    for (const c of p.parts) {
      const f = walk(c);
      if (f) return f;
    }
    return undefined;
  };
  return walk(root);
}

describe('rewrapSignedMail', () => {
  it.each<RewrapTechnique>(['from-swap', 'wrap-mixed', 'attach-rfc822'])(
    'keeps a signature that verifies while From names someone else (%s)',
    async (technique) => {
      const { raw, signerEmail } = await signedMailFromAlice();
      const wrapped = rewrapSignedMail(raw, { technique, from: '"The CEO" <ceo@org-a.example>', attackerText: 'You are fired.' });
      expect(rawHeader(wrapped, 'From')).toBe('"The CEO" <ceo@org-a.example>');
      const entity = findSignedEntity(wrapped);
      expect(entity).toBeDefined();
      const smime = parseSmime(entity!);
      expect(smime.kind).toBe('multipart-signed');
      if (smime.kind !== 'multipart-signed') return;
      const v = verifySignedData(smime.signature, { detachedContent: smime.signedEntity });
      expect(v.allValid).toBe(true);
      expect(parseCertificate(v.signers[0]!.certificate!).emailAddresses).toEqual([signerEmail]);
      expect(signerEmail).not.toBe('ceo@org-a.example');
      if (technique !== 'from-swap') expect(Buffer.from(wrapped).toString('utf8')).toContain('You are fired.');
    },
  );

  it('breaks the signature when the signed part itself is touched (the wrapping must keep it intact)', async () => {
    const { raw } = await signedMailFromAlice();
    const tampered = Buffer.from(rewrapSignedMail(raw, { technique: 'from-swap', from: 'ceo@org-a.example' }))
      .toString('latin1')
      .replace('Lunch at noon?', 'Lunch at one?');
    const smime = parseSmime(new Uint8Array(Buffer.from(tampered, 'latin1')));
    if (smime.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
    expect(verifySignedData(smime.signature, { detachedContent: smime.signedEntity }).allValid).toBe(false);
  });
});

describe('replayCapturedMail', () => {
  it('re-sends the captured mail byte for byte to another recipient', async () => {
    await using net = await SimNet.create();
    await using mx = await victimMx(net, 'org-b.example');
    const { raw } = await signedMailFromAlice();
    const out = await replayCapturedMail(attackerContext(net), { raw, to: 'carol@org-b.example' });
    expect(out.error).toBeUndefined();
    expect(mx.received[0]!.rcptTo).toEqual(['carol@org-b.example']);
    expect(mx.received[0]!.mailFrom).toBe('alice@org-a.example');
    expect(mx.received[0]!.raw.equals(Buffer.from(raw))).toBe(true);
  });
});
