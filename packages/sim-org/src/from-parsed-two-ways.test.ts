/**
 * Issue 10 item 4: From parsed two ways. The MTA-in took the first <…> anywhere in From, the MSA too, the
 * user agent split on commas: `From: alice@member, <m@outsider>` was an outsider to (7) and alice to (10).
 * Now one RFC 5322 parser (core `originatorOf`) serves all three: exactly one From field with exactly one
 * mailbox, a Sender held to the same rule as From, addresses compared with the local part as written and
 * the domain lower-case; (4) and (7) refuse what binds no single author, (10) shows it unverified and
 * binds a verified mail to its Message-ID and its recipients.
 *
 * Real services: two orgs on the simulated network with the registry over HTTP, KMS and cards on
 * SoftHSM2, MSA and MTA-in over SMTP, Dovecot mailboxes.
 */
import { parseSmime } from '@ssmax/core';
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityNotice } from './attestation.js';
import { orgHop } from './org-hop.js';
import { createOrgWorld, replyCode, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';
import { UserAgent } from './user-agent.js';

let world: OrgWorld;

/** `raw` with its From field replaced by `from` and `extra` header lines added after it (outer headers are not signed). */
function rewriteFrom(raw: Uint8Array, from: string, extra: readonly string[] = []): Uint8Array {
  return new Uint8Array(
    Buffer.from(
      Buffer.from(raw)
        .toString('latin1')
        .replace(/^From:.*$/im, [`From: ${from}`, ...extra].join('\r\n')),
      'latin1',
    ),
  );
}

/** Hands `raw` to `to`'s MX from an outside host. */
function toMx(to: WorldOrg, rcpt: string, raw: string | Uint8Array): Promise<number> {
  return world.toMx(to, { client: 'outsider/mta', helo: 'mx.evil.example', mailFrom: 'm@evil.example', rcpt, raw });
}

const noticeOf = (u: WorldUser): IdentityNotice => ({
  sender: u.user.address,
  certSerial: u.user.signingCertificate.serialNumber,
  traceId: '',
  proofing: 'employeeCardPin',
  proofedAt: new Date().toISOString(),
  cardAndPinUsed: true,
  certificate: Buffer.from(u.user.signingCertificate.der).toString('base64'),
});

/**
 * The copy `to` finds in its mailbox for a mail `from` composed: hop 1 by the sending org's KMS, hop 2 by
 * the receiving org's (what (6) and (9) do), built directly so a test can set what the services would refuse.
 */
async function delivered(from: WorldUser, raw: Uint8Array, to: WorldUser, o: { messageIdAttested?: string } = {}): Promise<Uint8Array> {
  const p0 = parseSmime(raw);
  if (p0.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
  const messageId = o.messageIdAttested ?? p0.headers.find((h) => h.name.toLowerCase() === 'message-id')!.value;
  const common = { mode: 'org' as const, checks: [], identityNotice: noticeOf(from), inspect: false, clock: () => new Date(), messageId };
  const h1 = await orgHop({
    ...common,
    kms: from.org.org.kms,
    direction: 'outbound',
    entity: p0.signedEntity,
    headers: p0.headers,
    recipients: [to.org.org.kms.certificates.encryption],
    org: from.org.org.registryOrgId,
    domain: from.org.org.domain,
    hop: 1,
  });
  if (h1.blocked) throw new Error('blocked');
  const p1 = parseSmime(h1.message);
  if (p1.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
  const h2 = await orgHop({
    ...common,
    kms: to.org.org.kms,
    direction: 'inbound',
    entity: p1.signedEntity,
    headers: p1.headers,
    recipients: [to.user.encryptionCertificate.der],
    org: to.org.org.registryOrgId,
    domain: to.org.org.domain,
    hop: 2,
  });
  if (h2.blocked) throw new Error('blocked');
  return h2.message;
}

describe('issue 10 item 4: From parsed two ways', () => {
  let a: WorldOrg;
  let b: WorldOrg;
  let alice: WorldUser;
  let bob: WorldUser;
  const ceo = () => `ceo@${a.org.domain}`;

  beforeAll(async () => {
    world = await createOrgWorld({ prefix: 'ssmax-item4-', seed: 37, startRegistry: (o) => Registry.start(o) });
    a = await world.startOrg('fp-a');
    b = await world.startOrg('fp-b');
    alice = await a.addUser('alice', '1111');
    bob = await b.addUser('bob', '2222');
  }, 180_000);
  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
  });

  it('(7) refuses unsigned mail whose From is a member to one reader and an outsider to another', async () => {
    const mail = (from: string, extra = '') =>
      `From: ${from}\r\n${extra}To: ${bob.user.address}\r\nSubject: new bank details\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@evil.example>\r\n\r\nPlease pay today.\r\n`;
    expect(await toMx(b, bob.user.address, mail(`${alice.user.address}, <m@evil.example>`))).toBe(550);
    const ev = b.org.journey
      .events()
      .filter((e) => e.actor === 'fp-b/mta-in')
      .at(-1);
    expect(ev).toMatchObject({ procedure: 7, outcome: 'rejected', reply: expect.stringMatching(/^550 5\.7\.1 From must name exactly one mailbox/) });
    expect(ev!.checks).toContainEqual(expect.objectContaining({ name: 'originator', result: 'fail' }));
    // A Sender in a member domain claims the member transmitted it: held to the rule From is held to.
    expect(await toMx(b, bob.user.address, mail('m@evil.example', `Sender: ${alice.user.address}\r\n`))).toBe(550);
    expect(await toMx(b, bob.user.address, mail('m@evil.example', 'From: other@evil.example\r\n'))).toBe(550);
    // Outside mail with one mailbox still arrives, marked unverified.
    expect(await toMx(b, bob.user.address, mail('"Alice" <m@evil.example>'))).toBe(250);
  });

  it('(4) refuses a card-signed mail whose From names more than the signer, a second From, or another Sender', async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'minutes', text: 'as agreed', pin: alice.pin });
    for (const [what, raw] of [
      ['two mailboxes, the signer in angle brackets', rewriteFrom(m.raw, `<${alice.user.address}>, ${ceo()}`)],
      ['two mailboxes, the signer last', rewriteFrom(m.raw, `${ceo()}, <${alice.user.address}>`)],
      ['two From fields', rewriteFrom(m.raw, alice.user.address, [`From: ${ceo()}`])],
      ['a Sender other than From', rewriteFrom(m.raw, alice.user.address, [`Sender: ${ceo()}`])],
      ['the local part in other letters than the certificate', rewriteFrom(m.raw, `Alice@${a.org.domain}`)],
    ] as const) {
      expect(await replyCode(() => alice.ua.submit(raw, [bob.user.address])), what).toBe(550);
    }
    // The domain compares case-insensitively, and a display name is no second mailbox.
    const fine = rewriteFrom(m.raw, `"Alice (accounts)" <alice@${a.org.domain.toUpperCase()}>`, [`Sender: ${alice.user.address}`]);
    expect(await replyCode(() => alice.ua.submit(fine, [bob.user.address]))).toBe(250);
    await a.org.idle();
    await b.org.idle();
  });

  it('(10) shows a mail whose From names two mailboxes unverified, with both', async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'minutes', text: 'as agreed', pin: alice.pin });
    expect((await bob.ua.read(await delivered(alice, m.raw, bob), bob.pin)).verified, 'the honest copy verifies').toBe(true);
    const v = await bob.ua.read(await delivered(alice, rewriteFrom(m.raw, `<${alice.user.address}>, ${ceo()}`), bob), bob.pin);
    expect(v.verified).toBe(false);
    expect(v.senderAddress).toBe(`${alice.user.address}, ${ceo()}`);
    expect(v.problems).toContainEqual(expect.stringContaining('the sender cannot be told'));
  });

  it('(10) never shows the signatures of a stored copy re-sent as outside mail as valid', async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'minutes', text: 'as agreed', pin: alice.pin });
    const copy = Buffer.from(await delivered(alice, m.raw, bob)).toString('latin1');
    // What the MX stores for mail it took as outside mail: its mark on top, here of a copy without its hop field.
    const outside = new Uint8Array(Buffer.from(`X-SSMAX-Verdict: unverified\r\n${copy.replace(/^X-SSMAX-Hop:.*\r\n/im, '')}`, 'latin1'));
    const v = await bob.ua.read(outside, bob.pin);
    expect(v).toMatchObject({ verified: false, outside: true, senderAddress: alice.user.address });
    expect(v.identityNotice).toBeUndefined();
    expect(v.manifestSigner).toBeUndefined();
    expect(v.files.some((f) => f.ok)).toBe(false);
  });

  it('(10) binds a verified mail to its recipients and to the Message-ID its organisation attested', async () => {
    // Signed by alice for carol; bob's org re-encrypted it for bob: every signature holds, but not for bob.
    const forCarol = await alice.ua.compose({ to: [`carol@${b.org.domain}`], subject: 'salary review', text: 'confidential', pin: alice.pin });
    const v = await bob.ua.read(await delivered(alice, forCarol.raw, bob), bob.pin);
    expect(v.verified).toBe(false);
    expect(v.problems).toContainEqual(expect.stringContaining(`not to you (${bob.user.address})`));
    // Paper mode checks no manifest: the attested Message-ID is what ties the org signature to this mail.
    const paper = new UserAgent({ address: bob.user.address, card: bob.card, mode: 'paper', orgEncryptionCertificate: b.org.kms.certificates.encryption });
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'minutes', text: 'as agreed', pin: alice.pin });
    expect((await paper.read(await delivered(alice, m.raw, bob), bob.pin)).verified, 'the honest copy verifies in paper mode').toBe(true);
    const other = await paper.read(await delivered(alice, m.raw, bob, { messageIdAttested: '<another@fp-a.example>' }), bob.pin);
    expect(other.verified).toBe(false);
    expect(other.problems).toContainEqual(expect.stringContaining('attested message <another@fp-a.example>'));
  });
});
