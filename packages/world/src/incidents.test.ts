/**
 * Procedure (12) run by the organisations themselves, in a whole world with real services (registry,
 * MSA/MTA over SMTP, KMS and cards on SoftHSM2, Dovecot): the recipient reports a mail to its org, the
 * org files the case from its own (7) record, the sending org's desk reviews its MSA journal, traces and
 * revokes by itself, and the revocation is observed from outside: the CRL fetched over HTTP on the
 * simulated network and a new submission refused at (4).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityNotice, JourneyEvent } from '@ssmax/sim-org';
import { World, type WorldUser } from './world.js';
import { parseWorldConfig } from './world-config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-incidents-'));
fs.chmodSync(root, 0o711);

const PAIR = parseWorldConfig(`
version: 1
seed: 1212
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

let world: World;
let alice: WorldUser;
let bob: WorldUser;

beforeAll(async () => {
  world = await World.create(PAIR, { storageDir: path.join(root, 'w') });
  alice = world.user('alice@org-a.example');
  bob = world.user('bob@org-b.example');
}, 120_000);

afterAll(async () => {
  await world?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const desk = (id: string, org: string): JourneyEvent[] => world.journey(id).filter((e) => e.actor === `${org}/incident-desk`);
const check = (e: JourneyEvent | undefined, name: string) => e?.checks.find((c) => c.name === name);

describe('procedure (12) between organisations', () => {
  it('reports nothing for a mail the org has no (7) record of', async () => {
    const r = await bob.reportMalicious('<never-received@org-a.example>');
    expect(r).toMatchObject({ status: 'not-reported', reason: expect.stringContaining('no (7) acceptance') });
    expect(desk('<never-received@org-a.example>', 'org-b').map((e) => e.outcome)).toEqual(['reviewed']);
  });

  it('ends in "own hosts" with nobody traced or revoked when a card-signed mail left org A without passing its MSA (4)', async () => {
    // Malware on org A's mail host replays a mail alice's card signed into the outbound spool, round the MSA.
    const mail = await alice.agent().compose({ to: ['bob@org-b.example'], subject: 'pay this now', text: 'Wire the money today.', pin: '1111' });
    const cert = alice.registered.signingCertificate;
    const notice: IdentityNotice = {
      sender: alice.address,
      certSerial: cert.serialNumber,
      traceId: alice.registered.traceId,
      proofing: 'employeeCardPin',
      proofedAt: alice.registered.identityProofing.proofedAt.toISOString(),
      cardAndPinUsed: true,
      certificate: Buffer.from(cert.der).toString('base64'),
    };
    const orgA = world.org('org-a').organisation;
    await orgA.ctx.outbound.enqueue(
      { mailFrom: alice.address, rcptTo: [bob.address], meta: { kind: 'submission', messageId: mail.messageId, identityNotice: notice, checks: [] } },
      mail.raw,
    );
    orgA.kick('outbound');
    await world.waitIdle();
    expect(world.journey(mail.messageId).some((e) => e.actor === 'org-b/mta-in' && e.procedure === 7 && e.outcome === 'accepted')).toBe(true);

    const r = await bob.reportMalicious(mail.messageId, { summary: 'payment fraud' });
    if (r.status !== 'reported') throw new Error(`not reported: ${r.reason}`);
    // Org B named the sender from its own (7) record.
    expect(r).toMatchObject({ senderDomain: 'org-a.example', senderOrgId: orgA.registryOrgId, senderCertificateSerial: cert.serialNumber.toLowerCase() });
    const settled = await world.settleIncidents();
    expect(settled).toEqual([
      expect.objectContaining({ org: 'org-a', caseId: r.caseId, cause: 'own-hosts', identified: false, revokedSerials: [], rootCause: 'operation-fault' }),
    ]);
    // Reporting the same mail again gets the same case; nothing is handled twice.
    expect(await bob.reportMalicious(mail.messageId)).toMatchObject({ status: 'reported', caseId: r.caseId });
    expect((await world.settleIncidents()).map((f) => f.caseId)).toEqual([r.caseId]);

    const [reported] = desk(mail.messageId, 'org-b');
    expect(reported).toMatchObject({ procedure: 12, outcome: 'reported' });
    expect(check(reported, 'mta-in-record')).toMatchObject({ result: 'pass', detail: expect.stringContaining(`serial ${cert.serialNumber.toLowerCase()}`) });
    expect(check(reported, 'registry-case')?.detail).toContain(r.caseId);
    const a = desk(mail.messageId, 'org-a');
    expect(a.map((e) => [e.procedure, e.outcome])).toEqual([
      [12, 'reviewed'],
      [12, 'answered'],
    ]);
    expect(check(a[0], 'msa-journal')?.result).toBe('fail');
    expect(a[0]!.detail).toBe('cause: own-hosts');
    expect(await world.org('org-a').vault.auditLog()).toEqual([]);

    // Observed from outside: the registry's case and the CRL over HTTP.
    const c = await world.incidentCase(r.caseId);
    expect(c).toMatchObject({ state: 'responded', response: { rootCause: 'operation-fault', correctiveActions: ['none'] } });
    expect((c['response'] as { summary: string }).summary).toMatch(/own hosts/);
    const crl = await world.fetchCrl('org-a.example');
    expect(crl.url).toBe('http://crl.org-a.example/org.crl');
    expect(crl.orgId).toBe(orgA.registryOrgId);
    expect(crl.lists(cert.serialNumber)).toBe(false);
  });

  it('traces and revokes the sender of a card-signed mail that passed (4); the CRL fetched over HTTP lists the card and the MSA refuses it with a 5xx', async () => {
    const sent = await alice.send({
      to: 'bob@org-b.example',
      subject: 'invoice',
      body: 'Please open the invoice.',
      files: [{ name: 'invoice.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('pay to account 123\n')) }],
      pin: '1111',
    });
    expect(sent.response).toMatch(/^250/);
    await world.waitIdle();
    const r = await bob.reportMalicious(sent.messageId, { summary: 'phishing invoice', pattern: 'B' });
    if (r.status !== 'reported') throw new Error(`not reported: ${r.reason}`);
    const signing = alice.registered.signingCertificate.serialNumber;
    const encryption = alice.registered.encryptionCertificate.serialNumber;
    expect(r.senderCertificateSerial).toBe(signing.toLowerCase());

    const settled = (await world.settleIncidents()).find((f) => f.caseId === r.caseId);
    expect(settled).toMatchObject({ org: 'org-a', cause: 'sender', identified: true, rootCause: 'malicious-sender' });
    expect([...settled!.revokedSerials].sort()).toEqual([signing, encryption].sort());
    expect((await world.org('org-a').vault.auditLog()).map((x) => x.caseId)).toEqual([r.caseId]);

    const a = desk(sent.messageId, 'org-a');
    expect(a.map((e) => e.outcome)).toEqual(['reviewed', 'traced', 'revoked', 'answered']);
    expect(check(a[0], 'msa-journal')).toMatchObject({ result: 'pass', detail: expect.stringContaining(`serial ${signing.toLowerCase()}`) });
    expect(check(a[1], 'trace-vault')?.result).toBe('pass');
    expect(check(a[2], 'revocation')?.detail).toContain(signing);
    expect(check(a[3], 'registry-response')?.detail).toMatch(/actions sender-identified-and-revoked; case responded/);
    // The employee number stays inside org A.
    expect(JSON.stringify(await world.incidentCase(r.caseId))).not.toMatch(/EMP-/);
    expect(JSON.stringify(world.journey(sent.messageId))).not.toMatch(/EMP-/);

    const crl = await world.fetchCrl('org-a.example', 'org-b/mta-in');
    expect(crl.lists(signing)).toBe(true);
    expect(crl.lists(encryption)).toBe(true);
    expect(crl.crl.revoked.find((e) => e.serialNumber.replace(/^0+/, '') === signing.replace(/^0+/, ''))?.reason).toBe('privilegeWithdrawn');

    // The card still signs after its PIN, but the MSA (4) refuses the revoked certificate.
    const again = alice.send({ to: 'bob@org-b.example', subject: 'again', body: 'x', pin: '1111' });
    await expect(again).rejects.toMatchObject({ responseCode: 550 });
    await expect(again).rejects.toThrow(/revoked/i);
    const refused = world
      .org('org-a')
      .organisation.journey.events()
      .filter((e) => e.actor === 'org-a/msa' && e.procedure === 4 && e.outcome === 'rejected');
    expect(refused.at(-1)?.reply).toMatch(/^550 5\.7\.1/);
  });
});
