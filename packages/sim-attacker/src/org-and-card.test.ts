import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Crypto } from '@peculiar/webcrypto';
import { SMTPServer } from 'smtp-server';
import { describe, expect, it } from 'vitest';
import {
  Card,
  SoftwareKey,
  WebCryptoToken,
  issueOrgCertificate,
  issueOrgKmsCertificate,
  issueRootCertificate,
  issueUserCertificate,
  newTraceId,
  parseCertificate,
  parseSmime,
  verifySignedData,
} from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { useStolenCard, sendAsUserViaMalware, sendAsInsider } from './card-attacks.js';
import { attackerContext } from './footholds.js';
import { rawHeader } from './compose-mail.js';
import { sendViaTakenOverServer, spoofColleague } from './org-server.js';

interface Submitted {
  readonly user: string | undefined;
  readonly mailFrom: string;
  readonly raw: Buffer;
}

/** A stand-in org MSA: AUTH PLAIN against a fixed account list, published as `msa.org-a.example:587`. */
async function orgMsa(net: SimNet, accounts: Record<string, string>): Promise<AsyncDisposable & { submitted: Submitted[] }> {
  const submitted: Submitted[] = [];
  const smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _s, cb) {
      if (auth.username && accounts[auth.username] === auth.password) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Authentication failed'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        submitted.push({
          user: session.user as string | undefined,
          mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  const address = net.address('org-a.example/msa');
  // smtp-server emits a client's socket error (a reset from a killed or refusing peer) on the server: absorbed, as smtp-listener.ts does.
  smtp.on('error', () => undefined);
  await new Promise<void>((r) => smtp.listen(0, address, () => r()));
  const exposed = await net.expose({ host: 'msa.org-a.example', port: 587, target: { address, port: (smtp.server.address() as { port: number }).port } });
  return {
    submitted,
    async [Symbol.asyncDispose]() {
      await exposed.close();
      await new Promise<void>((r) => smtp.close(() => r()));
    },
  };
}

const now = (): Date => new Date();

/** Registry root → org A's CA (which records its mail domain, as KMS certificates need). */
async function orgPki() {
  const rootKey = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({ subject: { O: 'Registry', CN: 'Registry Root' }, key: rootKey, now });
  const caKey = SoftwareKey.generate('EC-P256');
  const ca = await issueOrgCertificate({
    issuer: { certificate: root, key: rootKey },
    subjectSpki: caKey.spki,
    organization: 'Org A',
    mailDomain: 'org-a.example',
    now,
  });
  return { ca, caKey };
}

/** A card (WebCrypto token + persisted PIN counter) holding alice's signing key and certificate. */
async function aliceCard(dir: string): Promise<Card> {
  const { ca, caKey } = await orgPki();
  const token = new WebCryptoToken({ crypto: new Crypto(), label: 'alice-card', userPin: '482913', soPin: '99999999' });
  await token.login('482913');
  const handle = await token.generateKeyPair('sign', 'EC-P256');
  const cert = await issueUserCertificate({
    issuer: { certificate: ca, key: caKey },
    subjectSpki: handle.spki,
    email: 'alice@org-a.example',
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt: new Date(Math.floor(Date.now() / 1000) * 1000) },
    traceId: newTraceId(),
    now,
  });
  await token.putCertificate('sign', cert.der);
  return Card.open({ token, stateDir: dir });
}

describe('sendViaTakenOverServer', () => {
  it('submits through the real org server as any address, and signs with the org KMS key when the takeover reached it', async () => {
    await using net = await SimNet.create();
    await using msa = await orgMsa(net, { 'relay-svc': 'svc-pass' });
    const ctx = attackerContext(net);
    const { ca, caKey } = await orgPki();
    const kmsKey = SoftwareKey.generate('EC-P256');
    const kmsCert = await issueOrgKmsCertificate({ issuer: { certificate: ca, key: caKey }, subjectSpki: kmsKey.spki, purpose: 'signing', now });
    const base = { kind: 'org-mail-server' as const, smtpSubmit: { host: 'msa.org-a.example', port: 587 }, auth: { user: 'relay-svc', pass: 'svc-pass' } };

    const noKms = await sendViaTakenOverServer(ctx, base, {
      from: 'cfo@org-a.example',
      to: 'bob@org-b.example',
      subject: 'pay',
      text: 'invoice attached',
      signWithKms: true,
    });
    expect(noKms.error?.code).toBe('KMS_UNAVAILABLE');
    expect(msa.submitted).toHaveLength(0);

    const plain = await sendViaTakenOverServer(ctx, base, {
      from: 'cfo@org-a.example',
      displayName: 'CFO',
      to: 'bob@org-b.example',
      subject: 'pay',
      text: 'invoice attached',
    });
    expect(plain.error).toBeUndefined();
    expect(rawHeader(msa.submitted[0]!.raw, 'From')).toBe('"CFO" <cfo@org-a.example>');

    {
      const signed = await sendViaTakenOverServer(
        ctx,
        { ...base, kmsSign: { key: kmsKey, certificate: kmsCert.der } },
        { from: 'cfo@org-a.example', to: 'bob@org-b.example', subject: 'pay', text: 'invoice attached', signWithKms: true },
      );
      expect(signed.error).toBeUndefined();
      const got = msa.submitted[1]!.raw;
      expect(rawHeader(got, 'From')).toBe('cfo@org-a.example');
      const smime = parseSmime(got);
      if (smime.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
      const v = verifySignedData(smime.signature, { detachedContent: smime.signedEntity });
      expect(v.allValid).toBe(true);
      expect(Buffer.from(v.signers[0]!.certificate!).equals(Buffer.from(kmsCert.der))).toBe(true);
    }
  });
});

describe('spoofColleague', () => {
  it('submits with a colleague’s From under the attacker’s own login', async () => {
    await using net = await SimNet.create();
    await using msa = await orgMsa(net, { 'mallory@org-a.example': 'm-pass' });
    const out = await spoofColleague(
      attackerContext(net),
      { kind: 'org-account', smtpSubmit: { host: 'msa.org-a.example', port: 587 }, user: 'mallory@org-a.example', password: 'm-pass' },
      { colleague: 'alice@org-a.example', displayName: 'Alice', to: 'bob@org-b.example', subject: 'hi', text: 'open this' },
    );
    expect(out.error).toBeUndefined();
    expect(msa.submitted[0]!.user).toBe('mallory@org-a.example');
    expect(msa.submitted[0]!.mailFrom).toBe('mallory@org-a.example');
    expect(rawHeader(msa.submitted[0]!.raw, 'From')).toBe('"Alice" <alice@org-a.example>');
  });

  it('reports AUTH_FAILED as data when the password is wrong', async () => {
    await using net = await SimNet.create();
    await using msa = await orgMsa(net, { 'mallory@org-a.example': 'm-pass' });
    const out = await spoofColleague(
      attackerContext(net),
      { kind: 'org-account', smtpSubmit: { host: 'msa.org-a.example', port: 587 }, user: 'mallory@org-a.example', password: 'nope' },
      { colleague: 'alice@org-a.example', to: 'bob@org-b.example', subject: 'hi', text: 'x' },
    );
    expect(out.error?.code).toBe('AUTH_FAILED');
    expect(msa.submitted).toHaveLength(0);
  });
});

describe('card attacks', () => {
  it('cannot sign with a stolen card, and locks it after three wrong PINs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssmax-attacker-'));
    try {
      await using card = await aliceCard(dir);
      const out = await useStolenCard({ kind: 'stolen-card', card, keyLabel: 'sign' }, { guesses: ['0000', '1234', '1111', '482913'] });
      expect(out.error?.code).toBe('PIN_LOCKED');
      expect(out.obtained).toEqual([]);
      expect(card.locked).toBe(true);
      // Even the right PIN (the fourth guess) was refused: the card locked at the third.
      expect(out.actions.some((a) => a.startsWith('PIN guess 482913') && /locked/.test(a))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('signs and submits as the user with the keylogged PIN (malware) and as an insider with their own PIN', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssmax-attacker-'));
    try {
      await using net = await SimNet.create();
      await using msa = await orgMsa(net, { 'alice@org-a.example': 'a-pass' });
      await using card = await aliceCard(dir);
      const submit = { host: 'msa.org-a.example', port: 587, auth: { user: 'alice@org-a.example', pass: 'a-pass' } };
      const ctx = attackerContext(net);
      const m = await sendAsUserViaMalware(
        ctx,
        { kind: 'sender-pc-malware', card, keyLabel: 'sign', keyloggedPin: '482913', submit },
        { to: 'bob@org-b.example', subject: 'invoice', text: 'macro inside', attachments: [{ filename: 'inv.docm', content: new Uint8Array([1, 2, 3]) }] },
      );
      expect(m.error).toBeUndefined();
      const i = await sendAsInsider(
        ctx,
        { kind: 'insider', card, keyLabel: 'sign', pin: '482913', submit },
        { to: 'bob@org-b.example', subject: 'x', text: 'y' },
      );
      expect(i.error).toBeUndefined();
      for (const s of msa.submitted) {
        const smime = parseSmime(s.raw);
        if (smime.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
        const v = verifySignedData(smime.signature, { detachedContent: smime.signedEntity });
        expect(v.allValid).toBe(true);
        expect(parseCertificate(v.signers[0]!.certificate!).emailAddresses).toEqual(['alice@org-a.example']);
        expect(rawHeader(s.raw, 'From')).toBe('alice@org-a.example');
      }
      expect(msa.submitted).toHaveLength(2);
      expect(card.loggedIn).toBe(false);
      const wrong = await sendAsInsider(
        ctx,
        { kind: 'insider', card, keyLabel: 'sign', pin: '000000', submit },
        { to: 'bob@org-b.example', subject: 'x', text: 'y' },
      );
      expect(wrong.error?.code).toBe('PIN_INCORRECT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
