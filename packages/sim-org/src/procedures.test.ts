/**
 * Procedures (1)→(13) end to end through real services: the registry over HTTP (SQLite), two orgs (or
 * two ESPs) with KMS on SoftHSM2, MSA / MTA-out / MTA-in over SMTP on the simulated network, Dovecot
 * mailboxes read over IMAP, users with SoftHSM2 cards from user-registration.ts and the user agent.
 * The registry is imported here only to run it (as organisation.test.ts does); the org code talks to it
 * over HTTP alone.
 */
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentDesk } from './incident-desk.js';
import { createOrgWorld, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';

let world: OrgWorld;

beforeAll(async () => {
  world = await createOrgWorld({ prefix: 'ssmax-procedures-', seed: 11, startRegistry: (o) => Registry.start(o) });
});
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

/** (2)'s back office keeps the trace vault's sealing key on an HSM token of its own. */
function startOrg(id: string, mode: 'org' | 'esp'): Promise<WorldOrg> {
  return world.startOrg(id, { mode, vault: 'own-token' });
}

function addUser(w: WorldOrg, local: string, method: 'employeeCardPin' | 'myNumberCardPin', pin: string): Promise<WorldUser> {
  return w.addUser(local, pin, { method, proofedBy: `${w.org.domain} desk` });
}

const FILES = [
  { name: 'report.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('Quarterly figures: revenue up 4%.\n')) },
  { name: 'plan.csv', contentType: 'text/csv', content: new Uint8Array(Buffer.from('q,plan\n4,launch\n')) },
];

for (const mode of ['org', 'esp'] as const) {
  describe(`Procedures (1)-(13) in ${mode} mode`, () => {
    let a: WorldOrg;
    let b: WorldOrg;
    let alice: WorldUser;
    let bob: WorldUser;
    let carol: WorldUser;
    let firstMessageId = '';

    beforeAll(async () => {
      a = await startOrg(`p${mode}-a`, mode);
      b = await startOrg(`p${mode}-b`, mode);
    });
    afterAll(async () => {
      for (const u of [alice, bob, carol]) await u?.close();
      for (const w of [a, b]) await w?.close();
    });

    it(`(1) enrols both ${mode === 'esp' ? 'ESPs' : 'orgs'} with the registry, which lists them admitted`, async () => {
      const dirDoc = await a.org.registry.directory();
      const ids = dirDoc.members.map((m) => m.orgId);
      expect(ids).toEqual(expect.arrayContaining([a.org.registryOrgId, b.org.registryOrgId]));
      expect(await a.org.registry.statusOf(b.org.registryOrgId)).toBe('admitted');
    });

    it('(2) registers users on SoftHSM2 cards with the proofing method and a sealed trace entry', async () => {
      alice = await addUser(a, 'alice', 'employeeCardPin', '1111');
      bob = await addUser(b, 'bob', 'myNumberCardPin', '2222');
      carol = await addUser(b, 'carol', 'employeeCardPin', '3333');
      expect(alice.user.signingCertificate.identityProofing?.method).toBe('employeeCardPin');
      expect(await a.vault.traceIds()).toContain(alice.user.traceId);
    });

    it(`(3)(4)(5)(6)(7)(8)(9)(10) delivers a card-signed mail whose files the recipient verifies and decrypts (${mode})`, async () => {
      world.net.tap.clear();
      const sent = await alice.ua.send({ to: [bob.user.address], subject: 'Q3 numbers', text: 'Two files for you.', files: FILES, pin: '1111' });
      expect(sent.response).toMatch(/^250/);
      firstMessageId = sent.messageId;
      await a.org.idle();
      await b.org.idle();
      const inbox = await bob.ua.inbox('2222');
      const v = inbox.find((m) => m.messageId === sent.messageId);
      expect(v, 'delivered').toBeDefined();
      expect(v!.problems).toEqual([]);
      expect(v!.verified).toBe(true);
      expect(v!.identityNotice).toMatchObject({ proofing: 'employeeCardPin', cardAndPinUsed: true, sendingDomain: a.org.domain });
      expect(v!.files.map((f) => [f.name, f.ok])).toEqual([
        ['report.txt', true],
        ['plan.csv', true],
      ]);
      const procs = [...a.org.journey.events(sent.messageId), ...b.org.journey.events(sent.messageId)].map((e) => e.procedure);
      for (const n of [4, 5, 6, 7, 8, 9]) expect(procs, `procedure ${n}`).toContain(n);
      // The files crossed every tapped connection (UA→MSA, MTA→MTA) as ciphertext only.
      // Positive control: the tap does see the clear headers (the paper leaves Subject in the clear).
      expect(world.net.tap.search('Q3 numbers').length).toBeGreaterThan(0);
      expect(world.net.tap.search('revenue up 4%')).toEqual([]);
      expect(world.net.tap.search('4,launch')).toEqual([]);
    });

    it(`(11) forwards one of the two files to a colleague as a new verified mail (${mode})`, async () => {
      const inbox = await bob.ua.inbox('2222');
      const v = inbox.find((m) => m.messageId === firstMessageId)!;
      const fwd = await bob.ua.forward(v, { to: [carol.user.address], keepFiles: ['plan.csv'], text: 'FYI', pin: '2222', send: true });
      await b.org.idle();
      const got = (await carol.ua.inbox('3333')).find((m) => m.messageId === fwd.messageId);
      expect(got?.verified).toBe(true);
      expect(got?.senderAddress).toBe(bob.user.address);
      expect(got?.files.map((f) => f.name)).toEqual(['plan.csv']);
    });

    it(`(12)(13) traces and revokes the sender after a report, and the MSA refuses the card's next mail (${mode})`, async () => {
      const deskB = new IncidentDesk({
        registryUrl: world.registry.url,
        orgId: b.org.registryOrgId,
        signer: { key: b.org.kms.signingKey, certificate: b.org.kms.certificates.signing },
      });
      const c = await deskB.report({
        messageId: firstMessageId,
        senderOrgId: a.org.registryOrgId,
        senderCertificateSerial: alice.user.signingCertificate.serialNumber,
        summary: 'lure with files',
        pattern: 'B',
      });
      // The sending org's desk reviews its own MSA journal (its journey log) before it traces anyone.
      const deskA = new IncidentDesk({
        registryUrl: world.registry.url,
        orgId: a.org.registryOrgId,
        signer: { key: a.org.kms.signingKey, certificate: a.org.kms.certificates.signing },
        orgCa: a.orgCa,
        vault: a.vault,
        vaultKey: a.vaultKey,
        journey: a.org.journey,
        actorOrg: a.org.id,
      });
      const notice = (await deskA.notices()).find((n) => n.caseId === c.caseId)!;
      const finding = await deskA.handle(notice);
      expect(finding).toMatchObject({ cause: 'sender', identified: true, employeeNumber: `EMP-alice-${a.org.domain}` });
      const answer = finding.registryAnswer as { case: { outcome: string }; decision: { status?: string } };
      expect(answer.case.outcome).toBe('confirmed-not-attributable');
      // (13): the re-evaluation after a traced, corrected incident keeps the org admitted.
      expect(await a.org.registry.statusOf(a.org.registryOrgId)).toBe('admitted');
      await expect(alice.ua.send({ to: [bob.user.address], subject: 'again', text: 'x', pin: '1111' })).rejects.toThrow(/5\d\d/);
    });
  });
}
