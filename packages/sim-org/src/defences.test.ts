/**
 * OrgProfile.defences switched off change what the real services do (the switches `ssmax run --ablate`
 * uses): two orgs on the simulated network with the registry over HTTP, KMS and cards on SoftHSM2, MSA
 * and MTA-in over SMTP and a Dovecot mailbox. Org "dx-on" runs every defence; org "dx-off" runs with
 * the (4) signer check and the (7) org-signature check switched off.
 */
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrgWorld, replyCode, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';
import { composeSignedMail } from './testing/signed-mail.js';
import { CardObjects } from './user-registration.js';

let world: OrgWorld;

/** A mail From `from`, signed on `signer`'s card (its certificate names the signer, chained to the signer's org CA). */
async function signedBy(
  signer: WorldUser,
  signerOrg: WorldOrg,
  from: string,
  submitOrg: WorldOrg,
  to: string,
): Promise<{ raw: Uint8Array; messageId: string }> {
  await signer.card.login(signer.pin);
  try {
    return await composeSignedMail({
      from,
      to: [to],
      subject: 'Invoice 4711',
      text: 'Please pay today.',
      key: await signer.card.key(CardObjects.signingKey),
      signingCertificate: signer.user.signingCertificate.der,
      orgCertificate: signerOrg.org.kms.certificates.org,
      orgEncryptionCertificate: submitOrg.org.kms.certificates.encryption,
    });
  } finally {
    await signer.card.logout();
  }
}

/** An unsigned mail handed straight to `org`'s MX from an outside host (pattern A, incident 2). */
function toMx(org: WorldOrg, from: string, to: string): Promise<number> {
  const raw = `From: ${from}\r\nTo: ${to}\r\nSubject: urgent\r\nMessage-ID: <${Date.now()}@outsider.example>\r\n\r\nPay now.\r\n`;
  return world.toMx(org, { client: 'outsider/mta', helo: 'mx.outsider.example', mailFrom: 'x@outsider.example', rcpt: to, raw });
}

describe('OrgProfile.defences switched off', () => {
  let on: WorldOrg;
  let off: WorldOrg;
  let aliceOn: WorldUser;
  let bobOn: WorldUser;
  let aliceOff: WorldUser;
  let bobOff: WorldUser;

  beforeAll(async () => {
    world = await createOrgWorld({ prefix: 'ssmax-defences-', seed: 29, startRegistry: (o) => Registry.start(o) });
    on = await world.startOrg('dx-on', { defences: {} });
    off = await world.startOrg('dx-off', { defences: { userSignature: false, orgSignature: false } });
    aliceOn = await on.addUser('alice', '1111');
    bobOn = await on.addUser('bob', '2222');
    aliceOff = await off.addUser('alice', '3333');
    bobOff = await off.addUser('bob', '4444');
  }, 120_000);
  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
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
    expect(accepted?.checks).toEqual([
      expect.objectContaining({ name: 'registry-member', result: 'skip', detail: expect.stringContaining('(7) switched off') }),
    ]);
  });
});
