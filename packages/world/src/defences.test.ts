import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SoftwareKey,
  SsmaxError,
  buildMimeEntity,
  buildMultipartSigned,
  issueRootCertificate,
  issueSmimeCertificate,
  parseCertificate,
  signSignedData,
} from '@ssmax/core';
import { DEFENCES, DEFENCE_IDS, getDefence, switchesFor } from './defences.js';
import { PROFILE_IDS } from './profiles.js';
import { composeSmime, readSmimeMessage, type SmimeIdentity } from './smime-client.js';
import { World } from './world.js';
import { MATRIX_WORLD } from './executor/matrix-world.js';
import { parseWorldConfig } from './world-config.js';

describe('DEFENCES', () => {
  it('has unique kebab-case ids, known profiles, a description and a switch in every row', () => {
    expect(new Set(DEFENCE_IDS).size).toBe(DEFENCES.length);
    for (const d of DEFENCES) {
      expect(d.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(d.profiles.length).toBeGreaterThan(0);
      for (const p of d.profiles) expect(PROFILE_IDS).toContain(p);
      expect(d.description.length).toBeGreaterThan(20);
      // A row switches something off itself, or is a layer of other rows.
      const layers = (d as { layers?: readonly string[] }).layers ?? [];
      expect(Object.keys(d.off).length + layers.length).toBeGreaterThan(0);
      for (const l of layers) expect(DEFENCE_IDS).toContain(l);
    }
    for (const id of [
      'msa-signer-check',
      'outbound-inspection',
      'org-signature-check',
      'inbound-inspection',
      'manifest-check',
      'from-signer-binding',
      'card-pin-lockout',
      'mta-starttls',
      'dmarc-enforcement',
      'mta-sts',
      'ppap-zip-block',
      'reputation',
    ]) {
      expect(DEFENCE_IDS).toContain(id);
    }
  });
});

describe('switchesFor', () => {
  it('switches nothing off when no defence is named', () => {
    expect(switchesFor([])).toEqual({ org: {}, conventional: {}, inspection: {}, mailbox: {}, card: {}, userAgent: {}, smime: {}, registry: {}, plus: {} });
  });

  it('merges the options of several defences, each into the service it belongs to', () => {
    const s = switchesFor(['ppap-zip-block', 'mta-sts', 'from-signer-binding', 'mta-starttls', 'card-pin-lockout']);
    expect(s.conventional).toEqual({ msaEncryptedZip: 'allow', mxEncryptedZip: 'allow', mtaSts: 'off' });
    expect(s.inspection).toEqual({ encryptedZip: 'allow' });
    expect(s.org).toEqual({ fromSignerBinding: false });
    expect(s.userAgent).toEqual({ fromSignerBinding: false });
    expect(s.smime).toEqual({ fromSignerBinding: false });
    expect(s.starttls).toBe(false);
    expect(s.card).toEqual({ pinLockout: false });
    expect(s.registry).toEqual({});
    expect(switchesFor(['registry-domain-control']).registry).toEqual({ domainControl: false });
    expect('reputation' in switchesFor(['reputation']).conventional).toBe(true);
    expect(switchesFor(['reputation']).conventional.reputation).toBeUndefined();
  });

  it('switches off every layer of a layered row, and nothing else', () => {
    expect(switchesFor(['receiving-side-checks'])).toEqual(
      switchesFor(['org-signature-check', 'inbound-inspection', 'manifest-check', 'header-section-integrity', 'freshness']),
    );
    expect(switchesFor(['receiving-side-checks']).plus).toEqual(switchesFor(['freshness']).plus);
    expect(switchesFor(['sending-side-checks'])).toEqual(switchesFor(['msa-signer-check', 'outbound-inspection']));
    expect(switchesFor(['sending-side-checks']).org).toEqual({ userSignature: false, outboundInspection: false });
    expect(switchesFor(['receiving-side-checks']).org).toEqual({ orgSignature: false, inboundInspection: false, headerSection: false });
    expect(switchesFor(['receiving-side-checks']).userAgent).toEqual({ mode: 'paper' });
    expect(switchesFor(['dmarc-and-zip-block']).conventional).toEqual({ mailAuth: 'record', msaEncryptedZip: 'allow', mxEncryptedZip: 'allow' });
  });

  it('is a usage error naming the known ids when an id is unknown', () => {
    expect(() => switchesFor(['msa-signer-check', 'dkim'])).toThrow(/Cannot switch off defence "dkim"\. Known defences: msa-signer-check, /);
    expect(() => getDefence('x')).toThrow(SsmaxError);
  });
});

describe('World.create with ablate', () => {
  it('rejects an unknown defence id with USAGE before it starts anything', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'ssmax-ablate-world-'));
    const storageDir = join(parent, 'w');
    try {
      const err = await World.create(MATRIX_WORLD, { storageDir, profile: 'ssmax-org', ablate: ['no-such-defence'] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SsmaxError);
      expect((err as SsmaxError).code).toBe('USAGE');
      expect((err as Error).message).toContain('no-such-defence');
      expect(existsSync(storageDir)).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('World.create with ablate threads the switches into the services', () => {
  it('issues cards that do not lock and user agents that skip the manifest when those defences are switched off', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'ssmax-ablate-world-'));
    chmodSync(parent, 0o711);
    const config = parseWorldConfig(`
version: 1
seed: 99
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);
    const world = await World.create(config, { storageDir: join(parent, 'w'), profile: 'ssmax-org', ablate: ['card-pin-lockout', 'manifest-check'] });
    try {
      expect(world.ablated).toEqual(['card-pin-lockout', 'manifest-check']);
      const alice = world.user('alice@org-a.example');
      for (const wrong of ['0000', '1234', '9999', '2580']) await expect(alice.card.login(wrong)).rejects.toMatchObject({ code: 'PIN_INCORRECT' });
      expect(alice.card.locked).toBe(false);
      const sent = await alice.send({ to: 'bob@org-b.example', subject: 'after four wrong PINs', body: 'hello', pin: '1111' });
      expect(sent.response).toMatch(/^250/);
      await world.waitIdle();
      const bob = world.user('bob@org-b.example');
      const got = (await bob.inbox({ password: bob.password, pin: '2222' })).find((m) => m.messageId === sent.messageId);
      expect(got?.verified).toBe(true);
      // ssmax-org's agents verify end to end; with the manifest check off they run the paper's verification.
      expect(got?.mode).toBe('paper');
    } finally {
      await world.close();
      rmSync(parent, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('S/MIME client policy switches (smime-client.ts)', () => {
  const now = new Date();
  // Issued an hour ago, so notBefore is not in the reader's future.
  const issuedAt = () => new Date(now.getTime() - 3_600_000);
  async function ca(cn: string) {
    const key = SoftwareKey.generate('EC-P256');
    return { key, root: await issueRootCertificate({ subject: { CN: cn }, key, now: issuedAt }) };
  }
  async function identity(issuer: Awaited<ReturnType<typeof ca>>, email: string): Promise<SmimeIdentity> {
    const key = SoftwareKey.generate('EC-P256');
    const certificate = await issueSmimeCertificate({
      issuer: { certificate: issuer.root, key: issuer.key },
      subjectSpki: key.spki,
      email,
      validation: 'mailbox',
      usage: 'combined',
      now: issuedAt,
    });
    return { key, certificate: parseCertificate(certificate.der) };
  }
  const input = (from: string, to: string) => ({
    from,
    to: [to],
    subject: 'Invoice',
    text: 'Pay today.',
    files: [{ name: 'inv.pdf', content: new TextEncoder().encode('%PDF secret-figures') }],
    date: now,
    domain: from.split('@')[1]!,
  });

  it('shows a signature naming another address as valid only with the From-signer binding switched off (RFC 8550 §3)', async () => {
    const pub = await ca('Public CA');
    const alice = await identity(pub, 'alice@a.example');
    const bob = await identity(pub, 'bob@b.example');
    const { raw } = await composeSmime(alice, input('ceo@a.example', 'bob@b.example'), async () => bob.certificate.der);
    const on = await readSmimeMessage(raw, { identity: bob, trustAnchors: [pub.root.der], now });
    expect(on.signature).toBe('invalid');
    expect(on.reasons.join(' ')).toContain('not by the From address ceo@a.example');
    const off = await readSmimeMessage(raw, { identity: bob, trustAnchors: [pub.root.der], now, policy: { fromSignerBinding: false } });
    expect(off.signature).toBe('valid');
  });

  it('trusts a signer from an unknown CA only with the signer-trust check switched off', async () => {
    const pub = await ca('Public CA');
    const rogue = await ca('Rogue CA');
    const mallory = await identity(rogue, 'alice@a-corp.example');
    const bob = await identity(pub, 'bob@b.example');
    const { raw } = await composeSmime(mallory, input('alice@a-corp.example', 'bob@b.example'), async () => bob.certificate.der);
    expect((await readSmimeMessage(raw, { identity: bob, trustAnchors: [pub.root.der], now })).signature).toBe('invalid');
    expect((await readSmimeMessage(raw, { identity: bob, trustAnchors: [pub.root.der], now, policy: { signerTrust: false } })).signature).toBe('valid');
  });

  it('takes a signed part wrapped in an unsigned message as the signature only with the whole-message rule switched off', async () => {
    const pub = await ca('Public CA');
    const alice = await identity(pub, 'alice@a.example');
    const inner = buildMimeEntity({ text: 'Original text.' });
    const signed = buildMultipartSigned(inner, await signSignedData(inner, { key: alice.key, certificate: alice.certificate.der, detached: true }));
    const wrapped = new TextEncoder().encode(
      `From: alice@a.example\r\nTo: bob@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="w1"\r\n\r\n--w1\r\nContent-Type: text/plain\r\n\r\nPay the attacker.\r\n--w1\r\n${Buffer.from(signed).toString('latin1')}\r\n--w1--\r\n`,
    );
    expect((await readSmimeMessage(wrapped, { trustAnchors: [pub.root.der], now })).signature).toBe('partial');
    expect((await readSmimeMessage(wrapped, { trustAnchors: [pub.root.der], now, policy: { wholeMessage: false } })).signature).toBe('valid');
  });

  it('refuses a recipient without a certificate, but sends in the clear with encryption switched off', async () => {
    const pub = await ca('Public CA');
    const alice = await identity(pub, 'alice@a.example');
    const err = await composeSmime(alice, input('alice@a.example', 'carol@typo.example'), async () => undefined).catch((e: unknown) => e);
    expect((err as SsmaxError).code).toBe('NO_MATCHING_RECIPIENT');
    const { raw } = await composeSmime(alice, input('alice@a.example', 'carol@typo.example'), async () => undefined, { encrypt: false });
    const got = await readSmimeMessage(raw, { trustAnchors: [pub.root.der], now });
    expect(got.encrypted).toBe(false);
    expect(got.signature).toBe('valid');
    expect(new TextDecoder().decode(got.attachments[0]!.content)).toBe('%PDF secret-figures');
  });

  it('sends encrypted but unsigned with signing switched off', async () => {
    const pub = await ca('Public CA');
    const alice = await identity(pub, 'alice@a.example');
    const bob = await identity(pub, 'bob@b.example');
    const { raw } = await composeSmime(alice, input('alice@a.example', 'bob@b.example'), async () => bob.certificate.der, { sign: false });
    const got = await readSmimeMessage(raw, { identity: bob, trustAnchors: [pub.root.der], now });
    expect(got.encrypted).toBe(true);
    expect(got.signature).toBe('unsigned');
    expect(got.trustedSigner).toBeUndefined();
  });
});
