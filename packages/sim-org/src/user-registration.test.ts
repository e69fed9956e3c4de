import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SsmaxError, parseCertificate, parseCrl, signSignedData, validateChain } from '@ssmax/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardObjects, type RegisteredUser } from './user-registration.js';
import { SO_PIN, createUserSideWorld, type FixtureOrg, type UserSideWorld } from './testing/user-side-fixture.js';

let world: UserSideWorld;
let org: FixtureOrg;
let alice: RegisteredUser;
const EMPLOYEE = 'EMP-4711-0815';

beforeAll(async () => {
  world = await createUserSideWorld();
  org = await world.org('org-a', 'org-a.example');
  alice = await org.registration.register({
    address: 'alice@org-a.example',
    employeeNumber: EMPLOYEE,
    identityCheck: { method: 'employeeCardPin', proofedBy: 'org-a HR desk 3' },
    userPin: '1234',
  });
});
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

describe('(2) user registration', () => {
  it('(2) keeps the signing key on the card, sensitive and never extractable, when the user is registered', async () => {
    await using card = await org.registration.openCard(alice.cardLabel);
    await card.login('1234');
    const handle = await card.token.findKey(CardObjects.signingKey);
    expect(handle).toBeDefined();
    const audit = await card.token.auditPrivateKey!(handle!);
    expect(audit).toMatchObject({ sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, valueReadRefused: true });
    expect(Buffer.from(handle!.spki).equals(Buffer.from(alice.signingCertificate.spki))).toBe(true);
    const onCard = await card.getCertificate(CardObjects.orgCertificate);
    expect(Buffer.from(onCard!).equals(Buffer.from(org.orgCa.certificate.der))).toBe(true);
    expect(Buffer.from((await card.getCertificate(CardObjects.signingCertificate))!).equals(Buffer.from(alice.signingCertificate.der))).toBe(true);
  });

  it('(2) issues certificates with the proofing method and a 16-byte trace id that openssl chains to the registry root', () => {
    for (const c of [alice.signingCertificate, alice.encryptionCertificate]) {
      const parsed = parseCertificate(c.der);
      expect(parsed.identityProofing?.method).toBe('employeeCardPin');
      expect(parsed.identityProofing?.proofedBy).toBe('org-a HR desk 3');
      expect(Buffer.from(parsed.traceId!).toString('hex')).toBe(alice.traceId);
      expect(parsed.emailAddresses).toEqual(['alice@org-a.example']);
    }
    const tmp = fs.mkdtempSync(path.join(world.dir, 'openssl-'));
    const pem = (der: Uint8Array) =>
      `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    fs.writeFileSync(path.join(tmp, 'root.pem'), pem(world.root.der));
    fs.writeFileSync(path.join(tmp, 'org.pem'), pem(org.orgCa.certificate.der));
    fs.writeFileSync(path.join(tmp, 'user.pem'), pem(alice.signingCertificate.der));
    const out = execFileSync(
      'openssl',
      ['verify', '-purpose', 'smimesign', '-CAfile', path.join(tmp, 'root.pem'), '-untrusted', path.join(tmp, 'org.pem'), path.join(tmp, 'user.pem')],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(/user\.pem: OK/);
  });

  it('(2) records the identity check and keeps the employee number off disk in clear', async () => {
    const rec = (await org.registration.records()).find((r) => r.address === alice.address)!;
    expect(rec).toMatchObject({
      method: 'employeeCardPin',
      proofedBy: 'org-a HR desk 3',
      traceId: alice.traceId,
      signingSerial: alice.signingCertificate.serialNumber,
    });
    expect(await org.vault.traceIds()).toContain(alice.traceId);
    const needles = [Buffer.from(EMPLOYEE, 'utf8'), Buffer.from(EMPLOYEE, 'utf16le'), Buffer.from(Buffer.from(EMPLOYEE).toString('base64'))];
    const files = filesUnder(world.dir);
    expect(files.some((f) => f.endsWith('trace-table.sealed.jsonl'))).toBe(true);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      for (const n of needles) expect(bytes.includes(n), `${f} holds the employee number`).toBe(false);
    }
  });

  it('(2) opens the vault entry only with the HSM key and logs the case id before decrypting', async () => {
    const before = (await org.vault.auditLog()).length;
    const rec = await org.vault.open({ caseId: 'case-test-1', traceId: alice.traceId, requestedBy: 'org-a security desk', reason: 'test', key: org.vaultKey });
    expect(rec?.employeeNumber).toBe(EMPLOYEE);
    const log = await org.vault.auditLog();
    expect(log.length).toBe(before + 1);
    expect(log.at(-1)).toMatchObject({ caseId: 'case-test-1', traceId: alice.traceId });
    // The KMS encryption key is another org key: it cannot open the vault.
    await expect(
      org.vault.open({ caseId: 'case-test-2', traceId: alice.traceId, requestedBy: 'x', reason: 'y', key: org.kmsEncryption.key }),
    ).rejects.toBeInstanceOf(SsmaxError);
    expect((await org.vault.auditLog()).length).toBe(before + 2);
    await expect(org.vault.open({ caseId: '', traceId: alice.traceId, requestedBy: 'x', reason: 'y', key: org.vaultKey })).rejects.toThrow(/case id/);
  });

  it('(2) refuses to name anyone when two sealed lines of the vault are swapped on disk', async () => {
    const other = await org.registration.register({
      address: 'dave@org-a.example',
      employeeNumber: 'EMP-D',
      identityCheck: { method: 'none', proofedBy: 'desk' },
      userPin: '1234',
    });
    const file = org.vault.tableFile;
    const original = fs.readFileSync(file, 'utf8');
    const lines = original
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { traceId: string; sealed: string });
    const i = lines.findIndex((l) => l.traceId === alice.traceId);
    const j = lines.findIndex((l) => l.traceId === other.traceId);
    [lines[i]!.sealed, lines[j]!.sealed] = [lines[j]!.sealed, lines[i]!.sealed];
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    try {
      await expect(org.vault.open({ caseId: 'case-swap', traceId: alice.traceId, requestedBy: 'desk', reason: 'test', key: org.vaultKey })).rejects.toSatisfy(
        (e) => SsmaxError.is(e, 'CONTENT_MISMATCH'),
      );
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('(2) refuses an address outside the org domain and a second registration of the same address', async () => {
    await expect(
      org.registration.register({ address: 'eve@org-b.example', employeeNumber: '1', identityCheck: { method: 'none', proofedBy: 'desk' }, userPin: '1234' }),
    ).rejects.toThrow(/not in the org's domain/);
    await expect(
      org.registration.register({ address: alice.address, employeeNumber: '2', identityCheck: { method: 'none', proofedBy: 'desk' }, userPin: '1234' }),
    ).rejects.toThrow(/already registered/);
  });

  it('(2) locks a stolen card after 3 wrong PINs, so it cannot sign, until the org unlocks it', async () => {
    const bob = await org.registration.register({
      address: 'bob@org-a.example',
      employeeNumber: 'EMP-2',
      identityCheck: { method: 'myNumberCardPin', proofedBy: 'desk' },
      userPin: '5678',
      encryptionAlgorithm: 'EC-P256',
    });
    expect(bob.encryptionCertificate.keyUsage).toContain('keyAgreement');
    {
      await using card = await org.registration.openCard(bob.cardLabel);
      // Without a PIN, the card will not hand out a key.
      await expect(card.key(CardObjects.signingKey)).rejects.toSatisfy((e) => SsmaxError.is(e, 'PIN_REQUIRED'));
      for (const pin of ['0000', '1111', '2222']) await expect(card.login(pin)).rejects.toSatisfy((e) => SsmaxError.is(e, 'PIN_INCORRECT'));
      expect(card.locked).toBe(true);
      await expect(card.login('5678')).rejects.toSatisfy((e) => SsmaxError.is(e, 'PIN_LOCKED'));
    }
    {
      // The lock survives reopening the card.
      await using card = await org.registration.openCard(bob.cardLabel);
      await expect(card.login('5678')).rejects.toSatisfy((e) => SsmaxError.is(e, 'PIN_LOCKED'));
    }
    await org.registration.unlockCard(bob.cardLabel, '9999');
    await using card = await org.registration.openCard(bob.cardLabel);
    await card.login('9999');
    const key = await card.key(CardObjects.signingKey);
    const sd = await signSignedData(new Uint8Array([1, 2, 3]), { key, certificate: bob.signingCertificate.der });
    expect(sd.byteLength).toBeGreaterThan(100);
  });
});

describe('(2) card SO PINs (issue 10 item 5)', () => {
  it("gives each card its own SO PIN, so neither the org secret nor one card's SO PIN unlocks another card", async () => {
    const reg = (address: string, employeeNumber: string) =>
      org.registration.register({ address, employeeNumber, identityCheck: { method: 'employeeCardPin', proofedBy: 'desk' }, userPin: '2468' });
    const frank = await reg('frank@org-a.example', 'EMP-5');
    const grace = await reg('grace@org-a.example', 'EMP-6');
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (e instanceof SsmaxError ? e.code : String(e)),
      );
    {
      await using card = await org.registration.openCard(grace.cardLabel);
      // The org-wide secret the desk was configured with is not any card's SO PIN.
      expect(await codeOf(card.unlock(SO_PIN, '1357'))).toBe('PIN_INCORRECT');
      // Nor is frank's card's SO PIN.
      expect(await codeOf(card.unlock(await org.registration.soPinFor(frank.cardLabel), '1357'))).toBe('PIN_INCORRECT');
    }
    expect(await org.registration.soPinFor(frank.cardLabel)).not.toBe(await org.registration.soPinFor(grace.cardLabel));
    // The desk still unlocks both, each with its own.
    await org.registration.unlockCard(frank.cardLabel, '1111');
    await org.registration.unlockCard(grace.cardLabel, '2222');
    for (const [user, pin] of [
      [frank, '1111'],
      [grace, '2222'],
    ] as const) {
      await using card = await org.registration.openCard(user.cardLabel);
      await card.login(pin);
      await card.logout();
    }
  });
});

describe('(2) key purposes (issue 10 item 8)', () => {
  it('(2) generates the card encryption key and the KMS encryption key so the token refuses to sign with them', async () => {
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (e instanceof SsmaxError ? e.code : String(e)),
      );
    const data = new Uint8Array([1, 2, 3]);
    await using card = await org.registration.openCard(alice.cardLabel);
    await card.login('1234');
    const enc = await card.key(CardObjects.encryptionKey);
    expect(enc.signSchemes).toEqual([]);
    expect(await codeOf(enc.sign('RSASSA-PKCS1-v1_5-SHA256', data))).toBe('USAGE');
    const sig = await card.key(CardObjects.signingKey);
    expect(await codeOf(sig.sign('ECDSA-SHA256', data))).toBe('ok');
    await card.logout();
    expect(org.kms.encryptionKey.signSchemes).toEqual([]);
    expect(await codeOf(org.kms.encryptionKey.sign('RSASSA-PKCS1-v1_5-SHA256', data))).toBe('USAGE');
    expect(await codeOf(org.kms.signingKey.sign('ECDSA-SHA256', data))).toBe('ok');
    // The trace vault's sealing key only opens the vault.
    expect(await codeOf(org.vaultKey.sign('RSASSA-PKCS1-v1_5-SHA256', data))).toBe('USAGE');
  });
});

describe('OrgCa', () => {
  it('publishes a CRL naming a revoked user so chain validation reports CERT_REVOKED', async () => {
    const carol = await org.registration.register({
      address: 'carol@org-a.example',
      employeeNumber: 'EMP-3',
      identityCheck: { method: 'remoteVideo', proofedBy: 'desk' },
      userPin: '4321',
    });
    const before = await org.orgCa.currentCrl();
    const ok = validateChain({
      leaf: carol.signingCertificate,
      intermediates: [org.orgCa.certificate],
      trustAnchors: [world.root],
      crls: [before],
      time: new Date(),
      revocation: 'ifAvailable',
    });
    expect(ok.valid).toBe(true);
    const crl = await org.orgCa.revoke(carol.signingCertificate.serialNumber, 'keyCompromise', 'case-x');
    expect(crl.revoked.map((r) => r.serialNumber)).toContain(carol.signingCertificate.serialNumber);
    expect(BigInt(`0x${crl.crlNumber}`)).toBeGreaterThan(BigInt(`0x${before.crlNumber}`));
    const bad = validateChain({
      leaf: carol.signingCertificate,
      intermediates: [org.orgCa.certificate],
      trustAnchors: [world.root],
      crls: [crl],
      time: new Date(),
      revocation: 'ifAvailable',
    });
    expect(bad.code).toBe('CERT_REVOKED');
    expect(org.orgCa.isRevoked(carol.signingCertificate.serialNumber)).toBe(true);
    expect(org.orgCa.lookup('carol@ORG-A.example').find((e) => e.usage === 'signing')?.status).toBe('revoked');
    // The CRL on disk is the one published, and openssl reads it.
    const onDisk = fs.readFileSync(path.join(org.storageDir, 'ca', 'org.crl'));
    expect(parseCrl(new Uint8Array(onDisk)).crlNumber).toBe(crl.crlNumber);
    const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-noout', '-text'], { input: onDisk, encoding: 'utf8' });
    expect(text.toUpperCase()).toContain(carol.signingCertificate.serialNumber.toUpperCase().replace(/^0+/, ''));
    // The directory survives a restart.
    const again = await (
      await import('./org-ca.js')
    ).OrgCa.open({ certificate: org.orgCa.certificate.der, key: org.caKey, storageDir: path.join(org.storageDir, 'ca') });
    expect(again.isRevoked(carol.signingCertificate.serialNumber)).toBe(true);
  });
});
