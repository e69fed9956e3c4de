/**
 * OrgProfile.defences switched off change what the real services do (the switches `ssmax run --ablate`
 * uses): two orgs on the simulated network with the registry over HTTP, KMS and cards on SoftHSM2, MSA
 * and MTA-in over SMTP and a Dovecot mailbox. Org "dx-on" runs every defence; org "dx-off" runs with
 * the (4) signer check and the (7) org-signature check switched off.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import nodemailer from 'nodemailer';
import { SoftHsmNative, SoftwareKey, type Card } from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mailbox } from './mailbox.js';
import { OrgCa } from './org-ca.js';
import type { OrgDefences } from './org-context.js';
import { Organisation } from './organisation.js';
import { composeSignedMail } from './testing/signed-mail.js';
import { TraceVault } from './trace-vault.js';
import { UserAgent } from './user-agent.js';
import { CardObjects, CardUserDirectory, DeferredUserDirectory, UserRegistration, type RegisteredUser } from './user-registration.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-defences-'));
fs.chmodSync(dir, 0o711);
let hsm: SoftHsmNative;
let net: SimNet;
let registry: Registry;

interface TestOrg {
  readonly org: Organisation;
  readonly mailbox: Mailbox;
  readonly registration: UserRegistration;
}
interface TestUser {
  readonly user: RegisteredUser;
  readonly card: Card;
  readonly ua: UserAgent;
  readonly pin: string;
}

async function startOrg(id: string, defences: Partial<OrgDefences>): Promise<TestOrg> {
  const storage = path.join(dir, id);
  fs.mkdirSync(path.join(storage, 'mail'), { recursive: true, mode: 0o711 });
  fs.chmodSync(storage, 0o711);
  const mailbox = await Mailbox.start({ dir: path.join(storage, 'mail'), host: net.address(`${id}/imap`) });
  const users = new DeferredUserDirectory();
  const org = await Organisation.start({
    id, domain: `${id}.example`, mode: 'org', net, registryUrl: registry.url, registryRootCert: registry.rootCertificate, storageDir: storage, hsm, users,
    mailbox: { deliver: async (r, m) => void (await mailbox.deliver(r, m)) }, registryMaxAgeSeconds: 0, retryMs: 200,
    profile: { defences },
  });
  const orgCa = await OrgCa.open({ certificate: org.kms.certificates.org, key: org.kms.caKey, chain: [org.kms.certificates.root], storageDir: path.join(storage, 'ca') });
  const vault = new TraceVault({ storageDir: path.join(storage, 'vault'), sealingCertificate: org.kms.certificates.encryption });
  const registration = new UserRegistration({ reader: hsm, orgCa, vault, soPin: '13579111', storageDir: path.join(storage, 'registration'), registryRoot: org.kms.certificates.root });
  users.attach(new CardUserDirectory(registration, orgCa));
  return { org, mailbox, registration };
}

async function addUser(w: TestOrg, local: string, pin: string): Promise<TestUser> {
  const address = `${local}@${w.org.domain}`;
  const user = await w.registration.register({ address, employeeNumber: `EMP-${local}-${w.org.domain}`, identityCheck: { method: 'employeeCardPin', proofedBy: 'desk' }, userPin: pin, mailPassword: `pw-${local}` });
  await w.mailbox.addUser(address, `imap-${local}`);
  const card = await w.registration.openCard(user.cardLabel);
  const msa = net.connectOptions(net.address(`${address}/ua`), `msa.${w.org.domain}`, 587);
  const ua = new UserAgent({
    address, card, mode: 'end-to-end', orgEncryptionCertificate: w.org.kms.certificates.encryption,
    msa: { host: msa.host, port: msa.port, ...(msa.localAddress ? { localAddress: msa.localAddress } : {}), user: address, password: `pw-${local}` },
    imap: { host: w.mailbox.host, port: w.mailbox.imapPort, user: address, password: `imap-${local}` },
  });
  return { user, card, ua, pin };
}

/** A mail From `from`, signed on `signer`'s card (its certificate names the signer, chained to the signer's org CA). */
async function signedBy(signer: TestUser, signerOrg: TestOrg, from: string, submitOrg: TestOrg, to: string): Promise<{ raw: Uint8Array; messageId: string }> {
  await signer.card.login(signer.pin);
  try {
    return await composeSignedMail({
      from, to: [to], subject: 'Invoice 4711', text: 'Please pay today.',
      key: await signer.card.key(CardObjects.signingKey),
      signingCertificate: signer.user.signingCertificate.der,
      orgCertificate: signerOrg.org.kms.certificates.org,
      orgEncryptionCertificate: submitOrg.org.kms.certificates.encryption,
    });
  } finally {
    await signer.card.logout();
  }
}

/** The SMTP reply code a server gave (250 when accepted). */
async function replyCode(send: () => Promise<unknown>): Promise<number> {
  try {
    await send();
    return 250;
  } catch (e) {
    return (e as { responseCode?: number }).responseCode ?? 0;
  }
}

/** An unsigned mail handed straight to `org`'s MX from an outside host (pattern A, incident 2). */
async function toMx(org: TestOrg, from: string, to: string): Promise<number> {
  const c = net.connectOptions(net.address('outsider/mta'), org.org.ctx.mxHost, 25);
  const t = nodemailer.createTransport({ host: c.host, port: c.port, ...(c.localAddress ? { localAddress: c.localAddress } : {}), secure: false, ignoreTLS: true, name: 'mx.outsider.example' });
  try {
    return await replyCode(() => t.sendMail({ envelope: { from: 'x@outsider.example', to: [to] }, raw: `From: ${from}\r\nTo: ${to}\r\nSubject: urgent\r\nMessage-ID: <${Date.now()}@outsider.example>\r\n\r\nPay now.\r\n` }));
  } finally {
    t.close();
  }
}

describe('OrgProfile.defences switched off', () => {
  let on: TestOrg;
  let off: TestOrg;
  let aliceOn: TestUser;
  let bobOn: TestUser;
  let aliceOff: TestUser;
  let bobOff: TestUser;

  beforeAll(async () => {
    hsm = SoftHsmNative.open({ storageDir: path.join(dir, 'hsm') });
    net = await SimNet.create({ seed: 29 });
    registry = await Registry.start({ dataDir: path.join(dir, 'registry'), signer: SoftwareKey.generate('EC-P256'), log: () => {}, adminToken: 'admin' });
    on = await startOrg('dx-on', {});
    off = await startOrg('dx-off', { userSignature: false, orgSignature: false });
    aliceOn = await addUser(on, 'alice', '1111');
    bobOn = await addUser(on, 'bob', '2222');
    aliceOff = await addUser(off, 'alice', '3333');
    bobOff = await addUser(off, 'bob', '4444');
  }, 120_000);
  afterAll(async () => {
    for (const u of [aliceOn, bobOn, aliceOff, bobOff]) await u?.card.close();
    for (const w of [on, off]) {
      await w?.org.close();
      await w?.mailbox.stop();
    }
    await registry?.close();
    await net?.[Symbol.asyncDispose]();
    await hsm?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('(4) on: the MSA refuses a mail signed by a card whose certificate names someone of another org', async () => {
    const mail = await signedBy(bobOff, off, aliceOn.user.address, on, bobOn.user.address);
    expect(await replyCode(() => aliceOn.ua.submit(mail.raw, [bobOn.user.address]))).toBe(550);
    const ev = on.org.journey.events(mail.messageId).find((e) => e.actor === 'dx-on/msa');
    expect(ev).toMatchObject({ procedure: 4, outcome: 'rejected' });
    expect(ev!.checks).toContainEqual(expect.objectContaining({ name: 'certificate-chain', result: 'fail' }));
  });

  it('(4) off: the MSA accepts that mail, and the recipient is told no card and no proofing were checked', async () => {
    const mail = await signedBy(bobOn, on, aliceOff.user.address, off, bobOn.user.address);
    expect(await replyCode(() => aliceOff.ua.submit(mail.raw, [bobOn.user.address]))).toBe(250);
    const ev = off.org.journey.events(mail.messageId).find((e) => e.actor === 'dx-off/msa');
    expect(ev).toMatchObject({ procedure: 4, outcome: 'accepted' });
    expect(ev!.checks).toEqual([expect.objectContaining({ name: 'user-signature', result: 'skip' })]);
    await off.org.idle();
    await on.org.idle();
    const got = (await bobOn.ua.inbox(bobOn.pin)).find((m) => m.messageId === mail.messageId);
    expect(got, 'delivered to bob@dx-on').toBeDefined();
    expect(got!.senderAddress).toBe(aliceOff.user.address);
    expect(got!.identityNotice).toMatchObject({ proofing: 'none', cardAndPinUsed: false, sendingDomain: off.org.domain });
    // bob's agent still checks the manifest end to end: it was signed on bob's own card, not alice's.
    expect(got!.verified).toBe(false);
  });

  it('(7) on: the MX refuses unsigned mail that claims a member domain', async () => {
    expect(await toMx(on, aliceOff.user.address, bobOn.user.address)).toBe(550);
  });

  it('(7) off: the MX takes unsigned mail for a member domain as outside mail and delivers it marked unverified', async () => {
    expect(await toMx(off, aliceOn.user.address, bobOff.user.address)).toBe(250);
    const accepted = off.org.journey.events().find((e) => e.actor === 'dx-off/mta-in' && e.detail === 'non-member mail, marked unverified');
    expect(accepted?.checks).toEqual([expect.objectContaining({ name: 'registry-member', result: 'skip', detail: expect.stringContaining('(7) switched off') })]);
  });
});
