/**
 * Issue 10 item 2: MIME parts outside the SSMAX roles skipped inspection. classifyParts put a second text,
 * a plain attachment or a nested multipart into `other`; outbound DLP (5) saw only the first body, the
 * non-member rule only X-SSMAX-File parts, inbound inspection (8) only the decrypted files, and the parts
 * left signed by the org. Now (4), (7) and (10) refuse any signed entity that is not exactly body, files,
 * manifest and attestations, and (5)/(8) inspect every leaf where (4)/(7) are switched off.
 *
 * Real services: three orgs on the simulated network with the registry over HTTP, KMS and cards on
 * SoftHSM2, MSA and MTA-in over SMTP, Dovecot mailboxes. Org "pr-x" runs with (4) and (7) switched off.
 */
import { buildMultipartSigned, parseMimeEntity, parseSmime, signSignedData } from '@ssmax/core';
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityNotice } from './attestation.js';
import { assembleMixed, orgHop } from './org-hop.js';
import { createOrgWorld, replyCode, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';
import { UserAgent } from './user-agent.js';
import { CardObjects } from './user-registration.js';

let world: OrgWorld;

const b64 = (s: string | Uint8Array): string =>
  (
    Buffer.from(s)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
/** A leaf part as a mail client writes it. */
const leaf = (type: string, name: string | undefined, content: string | Uint8Array): Uint8Array =>
  Buffer.from(
    `Content-Type: ${type}${name ? `; name="${name}"` : ''}\r\nContent-Transfer-Encoding: base64\r\n${name ? `Content-Disposition: attachment; filename="${name}"\r\n` : ''}\r\n${b64(content)}`,
    'latin1',
  );
const CUSTOMERS = 'customer,iban\r\nCONFIDENTIAL customer list,DE00 1234\r\n';
const MACRO_NAME = 'invoice.docm';

/** The outer header fields a hop carries (the rest describe the MIME structure). */
const outer = (headers: readonly { name: string; value: string }[]) =>
  headers.filter((h) => !/^(mime-version|content-type|content-transfer-encoding)$/i.test(h.name));

/** `raw` (multipart/signed by `u`'s card) with `extra` parts added to its signed entity, signed again on the card. */
async function withParts(u: WorldUser, raw: Uint8Array, extra: readonly Uint8Array[]): Promise<Uint8Array> {
  const p = parseSmime(raw);
  if (p.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
  const entity = assembleMixed([...parseMimeEntity(p.signedEntity).parts.map((x) => x.raw), ...extra]);
  await u.card.login(u.pin);
  try {
    const sig = await signSignedData(entity, {
      key: await u.card.key(CardObjects.signingKey),
      certificate: u.user.signingCertificate.der,
      chain: [u.org.org.kms.certificates.org],
      detached: true,
    });
    return buildMultipartSigned(entity, sig, { headers: { extra: outer(p.headers) } });
  } finally {
    await u.card.logout();
  }
}

/** The identity notice the sending org's MSA would have made for `u`. */
function noticeOf(u: WorldUser): IdentityNotice {
  const c = u.user.signingCertificate;
  return {
    sender: u.user.address,
    certSerial: c.serialNumber,
    traceId: '',
    proofing: 'employeeCardPin',
    proofedAt: new Date().toISOString(),
    cardAndPinUsed: true,
    certificate: Buffer.from(c.der).toString('base64'),
  };
}

/**
 * Hop 1 as the sending org's KMS makes it ((6): re-encrypt to the receiving org, attest, sign), for an
 * entity that skipped (4) and (5): what a sending org with (4) switched off, or a taken-over host, sends.
 */
async function orgSigned(from: WorldUser, entityOf: Uint8Array, to: WorldOrg): Promise<{ message: Uint8Array; messageId: string }> {
  const p = parseSmime(entityOf);
  if (p.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
  const messageId = p.headers.find((h) => h.name.toLowerCase() === 'message-id')!.value;
  const hop = await orgHop({
    kms: from.org.org.kms,
    mode: 'org',
    direction: 'outbound',
    entity: p.signedEntity,
    headers: p.headers,
    recipients: [to.org.kms.certificates.encryption],
    org: from.org.org.registryOrgId,
    domain: from.org.org.domain,
    hop: 1,
    messageId,
    checks: [],
    identityNotice: noticeOf(from),
    inspect: false,
    clock: () => new Date(),
  });
  if (hop.blocked) throw new Error('orgHop blocked without inspection');
  return { message: hop.message, messageId };
}

/** Hands `raw` to `to`'s MX from outside, as an MTA-out does. */
function toMx(to: WorldOrg, rcpt: string, raw: Uint8Array): Promise<number> {
  return world.toMx(to, { client: 'relay/mta', helo: 'relay.example', mailFrom: 'mailer@relay.example', rcpt, raw });
}

describe('issue 10 item 2: MIME parts outside the SSMAX roles', () => {
  let a: WorldOrg;
  let b: WorldOrg;
  let x: WorldOrg;
  let alice: WorldUser;
  let bob: WorldUser;
  let xavier: WorldUser;
  const outsider = 'mallory.private@freemail.example';

  beforeAll(async () => {
    world = await createOrgWorld({ prefix: 'ssmax-item2-', seed: 31, startRegistry: (o) => Registry.start(o) });
    a = await world.startOrg('pr-a', { defences: {} });
    b = await world.startOrg('pr-b', { defences: {} });
    x = await world.startOrg('pr-x', { defences: { userSignature: false, orgSignature: false } });
    alice = await a.addUser('alice', '1111');
    bob = await b.addUser('bob', '2222');
    xavier = await x.addUser('xavier', '3333');
  }, 180_000);
  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
  });

  it('(4) refuses a card-signed mail with a plain customers.csv beside the body, and its journal names the card', async () => {
    const m = await alice.ua.compose({ to: [outsider], subject: 'notes', text: 'see you', pin: alice.pin });
    const raw = await withParts(alice, m.raw, [leaf('text/csv', 'customers.csv', CUSTOMERS)]);
    expect(await replyCode(() => alice.ua.submit(raw, [outsider]))).toBe(554);
    const ev = a.org.journey.events(m.messageId).find((e) => e.actor === 'pr-a/msa');
    expect(ev).toMatchObject({ procedure: 4, outcome: 'rejected' });
    expect(ev!.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'user-signature', result: 'pass' }),
        expect.objectContaining({ name: 'certificate-chain', result: 'pass' }),
        expect.objectContaining({ name: 'ssmax-structure', result: 'fail', detail: expect.stringContaining('customers.csv') }),
      ]),
    );
    expect(a.org.journey.events(m.messageId).some((e) => e.actor === 'pr-a/mta-out')).toBe(false);
  });

  it("(4) refuses a second text part, a nested multipart, a message/rfc822, a user attestation and a manifest that is not the signer's", async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'quarterly', text: 'figures attached', pin: alice.pin });
    const variants: Record<string, Uint8Array> = {
      'second text': leaf('text/plain; charset=utf-8', undefined, CUSTOMERS),
      nested: assembleMixed([leaf('text/plain', undefined, 'cover'), leaf('application/vnd.ms-excel', 'customers.xls', CUSTOMERS)]),
      rfc822: Buffer.from(`Content-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\nSubject: fwd\r\n\r\n${CUSTOMERS}`, 'latin1'),
      attestation: leaf('application/pkcs7-mime; smime-type=signed-data', 'ssmax-attestation-9.p7m', CUSTOMERS),
    };
    for (const [what, part] of Object.entries(variants)) {
      const raw = await withParts(alice, m.raw, [part]);
      expect(await replyCode(() => alice.ua.submit(raw, [bob.user.address])), what).toBe(554);
    }
    // The manifest's role taken by other bytes: compose in paper style (no manifest), add a fake one.
    const paper = new UserAgent({ address: alice.user.address, card: alice.card, mode: 'paper', orgEncryptionCertificate: a.org.kms.certificates.encryption });
    const p = await paper.compose({ to: [bob.user.address], subject: 'quarterly', text: 'figures attached', pin: alice.pin });
    const fake = await withParts(alice, p.raw, [leaf('application/pkcs7-mime; smime-type=signed-data', 'ssmax-manifest.p7m', CUSTOMERS)]);
    expect(await replyCode(() => alice.ua.submit(fake, [bob.user.address])), 'fake manifest').toBe(554);
    // The honest mail itself still passes (4).
    expect(await replyCode(() => alice.ua.submit(m.raw, [bob.user.address]))).toBe(250);
    await a.org.idle();
    await b.org.idle();
  });

  it('(7) refuses an org-signed entity that carries a plain macro document beside the body', async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'invoice', text: 'please open', pin: alice.pin });
    const hop1 = await orgSigned(alice, await withParts(alice, m.raw, [leaf('application/vnd.ms-word.document.macroEnabled.12', MACRO_NAME, 'PK macro')]), b);
    expect(await toMx(b, bob.user.address, hop1.message)).toBe(554);
    const ev = b.org.journey.events(hop1.messageId).find((e) => e.actor === 'pr-b/mta-in');
    expect(ev).toMatchObject({ procedure: 7, outcome: 'rejected' });
    expect(ev!.checks).toContainEqual(expect.objectContaining({ name: 'ssmax-structure', result: 'fail', detail: expect.stringContaining(MACRO_NAME) }));
  });

  it('(5) with (4) switched off sees every leaf: the plain part is a file to the non-member rule and to DLP', async () => {
    const toOutsider = await xavier.ua.compose({ to: [outsider], subject: 'notes', text: 'see you', pin: xavier.pin });
    const leaking = await withParts(xavier, toOutsider.raw, [leaf('text/csv', 'customers.csv', CUSTOMERS)]);
    expect(await replyCode(() => xavier.ua.submit(leaking, [outsider]))).toBe(250);
    const toMember = await xavier.ua.compose({ to: [bob.user.address], subject: 'notes', text: 'see you', pin: xavier.pin });
    const nested = assembleMixed([leaf('text/plain', undefined, 'cover'), leaf('text/csv', 'customers.csv', CUSTOMERS)]);
    const nestedMail = await withParts(xavier, toMember.raw, [nested]);
    expect(await replyCode(() => xavier.ua.submit(nestedMail, [bob.user.address]))).toBe(250);
    await x.org.idle();
    expect(x.org.journey.events(toOutsider.messageId)).toContainEqual(
      expect.objectContaining({ actor: 'pr-x/mta-out', outcome: 'bounced', detail: 'files refused for a non-member domain' }),
    );
    const dlp = x.org.journey.events(toMember.messageId).find((e) => e.actor === 'pr-x/inspection');
    expect(dlp).toMatchObject({ procedure: 5, outcome: 'bounced' });
    expect(dlp!.checks).toContainEqual(expect.objectContaining({ name: 'dlp', result: 'fail', detail: expect.stringContaining('confidential-marking') }));
  });

  it('(8) with (7) switched off scans every leaf: a plain macro document is refused as malware', async () => {
    const xv = await x.addUser('yann', '4444');
    try {
      const m = await alice.ua.compose({ to: [xv.user.address], subject: 'invoice', text: 'please open', pin: alice.pin });
      const hop1 = await orgSigned(
        alice,
        await withParts(alice, m.raw, [assembleMixed([leaf('application/vnd.ms-word.document.macroEnabled.12', MACRO_NAME, 'PK macro')])]),
        x,
      );
      expect(await toMx(x, xv.user.address, hop1.message)).toBe(550);
      const ev = x.org.journey.events(hop1.messageId).find((e) => e.actor === 'pr-x/inspection');
      expect(ev).toMatchObject({ procedure: 8, outcome: 'rejected' });
      expect(ev!.checks).toContainEqual(expect.objectContaining({ name: 'office-macro', result: 'fail' }));
    } finally {
      await xv.close();
    }
  });

  it('(10) does not verify a mail whose signed content has a part in no role, though every signature is valid', async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'minutes', text: 'as agreed', pin: alice.pin });
    const hop1 = await orgSigned(alice, m.raw, b);
    const p1 = parseSmime(hop1.message);
    if (p1.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
    const hop2 = await orgHop({
      kms: b.org.kms,
      mode: 'org',
      direction: 'inbound',
      entity: p1.signedEntity,
      headers: p1.headers,
      recipients: [bob.user.encryptionCertificate.der],
      org: b.org.registryOrgId,
      domain: b.org.domain,
      hop: 2,
      messageId: hop1.messageId,
      checks: [],
      identityNotice: noticeOf(alice),
      inspect: false,
      clock: () => new Date(),
    });
    if (hop2.blocked) throw new Error('orgHop blocked without inspection');
    expect((await bob.ua.read(hop2.message, bob.pin)).verified, 'the honest hop-2 mail verifies').toBe(true);
    // The receiving org's own key signs an entity with one more part (what a receiving org without (7) would deliver).
    const p2 = parseSmime(hop2.message);
    if (p2.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
    const entity = assembleMixed([
      ...parseMimeEntity(p2.signedEntity).parts.map((q) => q.raw),
      leaf('application/vnd.ms-word.document.macroEnabled.12', MACRO_NAME, 'PK macro'),
    ]);
    const tampered = buildMultipartSigned(entity, await b.org.kms.signDetached(entity, new Date()), { headers: { extra: outer(p2.headers) } });
    const v = await bob.ua.read(tampered, bob.pin);
    expect(v.verified).toBe(false);
    expect(v.problems).toContainEqual(expect.stringContaining(MACRO_NAME));
  });
});
