import * as http from 'node:http';
import type * as net from 'node:net';
import { issueCrl, parseSmime, verifySignedData, type Card } from '@ssmax/core';
import { verifyManifest } from './manifest.js';
import { classifyParts } from './org-hop.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentDesk, type IncidentNotice } from './incident-desk.js';
import { JourneyLog, type JourneyEvent } from './journey.js';
import { verifyUserMail, type UserMailContext } from './msa.js';
import { createUserSideWorld, type FixtureOrg, type UserSideWorld } from './testing/user-side-fixture.js';
import { UserAgent } from './user-agent.js';
import { CardUserDirectory, type RegisteredUser } from './user-registration.js';

/**
 * A stand-in for the registry's incident API (packages/sim-registry/README, routes in registry.ts): sim-org
 * may not import sim-registry, so this stub speaks the same HTTP + `{ cms }` contract and checks every
 * signature against the submitting org's KMS signing certificate, as the registry does.
 */
function startRegistryStub(
  orgCerts: Map<string, Uint8Array>,
): Promise<{ url: string; cases: Map<string, Record<string, unknown>>; outbox: Map<string, IncidentNotice[]>; close(): Promise<void> }> {
  const cases = new Map<string, Record<string, unknown>>();
  const outbox = new Map<string, IncidentNotice[]>();
  let n = 0;
  const verify = (body: string, orgId: string): Record<string, unknown> => {
    const der = new Uint8Array(Buffer.from((JSON.parse(body) as { cms: string }).cms, 'base64'));
    const v = verifySignedData(der);
    const cert = orgCerts.get(orgId);
    if (!v.allValid || !cert || Buffer.compare(Buffer.from(v.signers[0]!.certificate!), Buffer.from(cert)) !== 0) throw new Error(`bad signature for ${orgId}`);
    return JSON.parse(Buffer.from(v.content!).toString('utf8')) as Record<string, unknown>;
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      try {
        const url = req.url ?? '';
        let m: RegExpMatchArray | null;
        if (req.method === 'POST' && url === '/v1/incidents') {
          const peek = JSON.parse(
            Buffer.from(verifySignedData(new Uint8Array(Buffer.from((JSON.parse(body) as { cms: string }).cms, 'base64'))).content!).toString('utf8'),
          ) as Record<string, string>;
          const report = verify(body, peek['reporterOrgId']!);
          const caseId = `case-${++n}`;
          const c = { caseId, ...report, state: 'awaiting-response' };
          cases.set(caseId, c);
          const notice: IncidentNotice = {
            type: 'ssmax-incident-notice',
            caseId,
            senderOrgId: report['senderOrgId'] as string,
            reporterOrgId: report['reporterOrgId'] as string,
            messageId: report['messageId'] as string,
            senderCertificateSerial: report['senderCertificateSerial'] as string,
            evidence: report['evidence'] as IncidentNotice['evidence'],
            responseDue: '2099-01-01T00:00:00Z',
            responseUrl: `/v1/incidents/${caseId}/response`,
          };
          outbox.set(notice.senderOrgId, [...(outbox.get(notice.senderOrgId) ?? []), notice]);
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(c));
        } else if (req.method === 'GET' && (m = /^\/v1\/incidents\/([\w-]+)$/.exec(url))) {
          const c = cases.get(m[1]!);
          if (c) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(c));
          else res.writeHead(404).end('{}');
        } else if (req.method === 'GET' && (m = /^\/v1\/orgs\/([\w-]+)\/outbox$/.exec(url))) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(outbox.get(m[1]!) ?? []));
        } else if (req.method === 'POST' && (m = /^\/v1\/incidents\/([\w-]+)\/response$/.exec(url))) {
          const c = cases.get(m[1]!)!;
          const response = verify(body, c['senderOrgId'] as string);
          c['state'] = 'responded';
          c['response'] = response;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ case: c }));
        } else res.writeHead(404).end('{}');
      } catch (e) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as Error).message }));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        cases,
        outbox,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

let world: UserSideWorld;
let orgA: FixtureOrg;
let orgB: FixtureOrg;
let mallory: RegisteredUser;
let trent: RegisteredUser;
let victor: RegisteredUser;
const cards: Card[] = [];

async function user(local: string, employeeNumber: string, pin: string): Promise<{ user: RegisteredUser; agent: UserAgent }> {
  const u = await orgA.registration.register({
    address: `${local}@org-a.example`,
    employeeNumber,
    identityCheck: { method: 'employeeCardPin', proofedBy: 'org-a HR' },
    userPin: pin,
    mailPassword: 'mail-pw',
  });
  const card = await orgA.registration.openCard(u.cardLabel);
  cards.push(card);
  return { user: u, agent: new UserAgent({ address: u.address, card, mode: 'end-to-end', orgEncryptionCertificate: orgA.kmsEncryption.certificate.der }) };
}

let ua: UserAgent;
let trentUa: UserAgent;
let victorUa: UserAgent;

beforeAll(async () => {
  world = await createUserSideWorld();
  orgA = await world.org('org-a', 'org-a.example');
  orgB = await world.org('org-b', 'org-b.example');
  ({ user: mallory, agent: ua } = await user('mallory', 'EMP-666', '6666'));
  ({ user: trent, agent: trentUa } = await user('trent', 'EMP-777', '7777'));
  ({ user: victor, agent: victorUa } = await user('victor', 'EMP-888', '8888'));
});
afterAll(async () => {
  for (const c of cards) await c.close();
  await world?.[Symbol.asyncDispose]();
});

/** The MSA's own check (msa.ts verifyUserMail) over org A's real user directory. */
async function msaCheck(raw: Uint8Array, sender: string) {
  const registryCrl = await issueCrl({ issuer: { certificate: world.root, key: world.rootKey }, now: world.now, crlNumber: 1, revoked: [] });
  const ctx: UserMailContext = {
    kms: orgA.kms,
    users: new CardUserDirectory(orgA.registration, orgA.orgCa),
    registry: { crl: async () => registryCrl },
    clock: world.now,
    profile: {},
  };
  return verifyUserMail(ctx, raw, sender);
}

/** Runs the MSA's check and writes its (4) journal line as msa.ts does for an accepted submission. */
async function submitThroughMsa(journal: JourneyLog, raw: Uint8Array, sender: string): Promise<void> {
  const v = await msaCheck(raw, sender);
  expect(v.ok, v.detail).toBe(true);
  await journal.record({
    messageId: v.messageId,
    actor: 'org-a/msa',
    procedure: 4,
    checks: v.checks,
    files: 'ciphertext',
    outcome: 'accepted',
    reply: '250 2.0.0 queued',
  });
}

function desks(registryUrl: string, journalA: JourneyLog, journalB = new JourneyLog(undefined)) {
  const deskB = new IncidentDesk({
    registryUrl,
    orgId: 'org-b',
    signer: { key: orgB.kmsSigning.key, certificate: orgB.kmsSigning.certificate.der },
    journey: journalB,
  });
  const deskA = new IncidentDesk({
    registryUrl,
    orgId: 'org-a',
    signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der },
    journey: journalA,
  });
  deskA.attachBackOffice({ orgCa: orgA.orgCa, vault: orgA.vault, vaultKey: orgA.vaultKey, officer: 'org-a CSIRT' });
  return { deskA, deskB };
}

const deskEvents = (j: JourneyLog, id: string): JourneyEvent[] => j.events(id).filter((e) => e.actor === 'org-a/incident-desk');
const check = (e: JourneyEvent | undefined, name: string) => e?.checks.find((c) => c.name === name);

describe('IncidentDesk (12)', () => {
  it('(12) ends with the sender identified from the sealed vault, revoked, and a later mail from the card refused by the MSA when the MSA journal shows the card-signed submission', async () => {
    const registry = await startRegistryStub(
      new Map([
        ['org-a', orgA.kmsSigning.certificate.der],
        ['org-b', orgB.kmsSigning.certificate.der],
      ]),
    );
    try {
      const journalA = new JourneyLog(undefined);
      const journalB = new JourneyLog(undefined);
      const evil = await ua.compose({
        to: ['bob@org-b.example'],
        subject: 'invoice',
        text: 'open the file',
        files: [{ name: 'invoice.exe', content: new Uint8Array(Buffer.from('MZ evil')) }],
        pin: '6666',
      });
      await submitThroughMsa(journalA, evil.raw, mallory.address);

      const { deskA, deskB } = desks(registry.url, journalA, journalB);
      const reported = await deskB.report({
        messageId: evil.messageId,
        senderOrgId: 'org-a',
        senderCertificateSerial: mallory.signingCertificate.serialNumber,
        summary: 'executable disguised as invoice',
        pattern: 'B',
      });
      expect(reported.caseId).toBe('case-1');
      expect(journalB.events(evil.messageId).map((e) => [e.actor, e.procedure, e.outcome])).toEqual([['org-b/incident-desk', 12, 'reported']]);

      const [notice] = await deskA.notices();
      const finding = await deskA.handle(notice!);
      expect(finding).toMatchObject({
        cause: 'sender',
        identified: true,
        address: mallory.address,
        employeeNumber: 'EMP-666',
        traceId: mallory.traceId,
        rootCause: 'malicious-sender',
        msaSerial: mallory.signingCertificate.serialNumber.toLowerCase(),
      });
      expect([...finding.revokedSerials].sort()).toEqual([mallory.signingCertificate.serialNumber, mallory.encryptionCertificate.serialNumber].sort());
      const audit = await orgA.vault.auditLog();
      expect(audit.map((a) => a.caseId)).toEqual(['case-1']);
      // Every step is in org A's journal, in order, and none of it names the employee number.
      const ev = deskEvents(journalA, evil.messageId);
      expect(ev.map((e) => [e.procedure, e.outcome])).toEqual([
        [12, 'reviewed'],
        [12, 'traced'],
        [12, 'revoked'],
        [12, 'answered'],
      ]);
      expect(check(ev[0], 'msa-journal')?.result).toBe('pass');
      expect(ev[0]!.detail).toBe('cause: sender');
      expect(check(ev[1], 'trace-vault')).toMatchObject({ result: 'pass', detail: expect.stringContaining('case-1') });
      expect(check(ev[2], 'revocation')?.detail).toContain(mallory.signingCertificate.serialNumber);
      expect(check(ev[3], 'registry-response')?.detail).toMatch(/root cause malicious-sender; actions sender-identified-and-revoked; case responded/);
      expect(JSON.stringify(journalA.events())).not.toContain('EMP-666');
      // The registry learns the outcome, never the employee number.
      const c = registry.cases.get('case-1')!;
      expect(c['state']).toBe('responded');
      expect(c['response']).toMatchObject({ rootCause: 'malicious-sender', correctiveActions: ['sender-identified-and-revoked'] });
      expect(JSON.stringify(c)).not.toContain('EMP-666');
      // Answered cases are not pending any more.
      expect(await deskA.pending()).toEqual([]);

      // The card still signs (card + PIN), but the MSA refuses the revoked certificate.
      const later = await ua.compose({ to: ['bob@org-b.example'], subject: 'again', text: 'x', pin: '6666' });
      const verdict = await msaCheck(later.raw, mallory.address);
      expect(verdict.ok).toBe(false);
      expect(verdict.code).toBe('CERT_REVOKED');
      // A receiving org or end-to-end recipient checking the sender's manifest against the org CRL (stapled in the attestation) refuses it too.
      const p = parseSmime(later.raw);
      if (p.kind !== 'multipart-signed') throw new Error('unexpected');
      const m = verifyManifest(classifyParts(p.signedEntity).manifest!.body, {
        trustAnchors: [world.root.der],
        crls: [(await orgA.orgCa.currentCrl()).der],
        time: world.now(),
        expected: {
          messageId: later.messageId,
          from: mallory.address,
          to: ['bob@org-b.example'],
          cc: [],
          subject: 'again',
          date: later.manifest!.date,
          body: classifyParts(p.signedEntity).body!.body,
          files: [],
        },
      });
      expect(m.valid).toBe(false);
      expect(m.problems.join('\n')).toMatch(/CERT_REVOKED/);
    } finally {
      await registry.close();
    }
  });

  it('(12) finds "own hosts", opens no vault and revokes nobody when a card-signed mail never passed the MSA (4)', async () => {
    const registry = await startRegistryStub(
      new Map([
        ['org-a', orgA.kmsSigning.certificate.der],
        ['org-b', orgB.kmsSigning.certificate.der],
      ]),
    );
    try {
      const journalA = new JourneyLog(undefined);
      // A valid card signature by trent, but the mail went round the MSA (malware on org A's hosts sent it).
      const forged = await trentUa.compose({ to: ['bob@org-b.example'], subject: 'urgent', text: 'pay now', pin: '7777' });
      // Another mail did pass the MSA: its record must not be mistaken for this one.
      const honest = await trentUa.compose({ to: ['bob@org-b.example'], subject: 'minutes', text: 'see you', pin: '7777' });
      await submitThroughMsa(journalA, honest.raw, trent.address);
      const { deskA, deskB } = desks(registry.url, journalA);
      await deskB.report({
        messageId: forged.messageId,
        senderOrgId: 'org-a',
        senderCertificateSerial: trent.signingCertificate.serialNumber,
        summary: 'fraud',
      });
      const before = (await orgA.vault.auditLog()).length;
      expect((await deskA.pending()).map((n) => n.messageId)).toEqual([forged.messageId]);
      const [f] = await deskA.handlePending();
      expect(f).toMatchObject({ cause: 'own-hosts', identified: false, revokedSerials: [], rootCause: 'operation-fault' });
      expect(f!.employeeNumber).toBeUndefined();
      expect((await orgA.vault.auditLog()).length).toBe(before);
      expect(orgA.orgCa.isRevoked(trent.signingCertificate.serialNumber)).toBe(false);
      const ev = deskEvents(journalA, forged.messageId);
      expect(ev.map((e) => e.outcome)).toEqual(['reviewed', 'answered']);
      expect(check(ev[0], 'msa-journal')).toMatchObject({ result: 'fail', detail: expect.stringContaining('own hosts') });
      expect(ev[0]!.detail).toBe('cause: own-hosts');
      const c = registry.cases.get('case-1')!;
      expect(c['response']).toMatchObject({ rootCause: 'operation-fault', correctiveActions: ['none'] });
      expect((c['response'] as { summary: string }).summary).toMatch(/own hosts/);
      expect(await deskA.handlePending()).toEqual([]);
      // A report signed with another org's key is refused by the registry.
      const forger = new IncidentDesk({
        registryUrl: registry.url,
        orgId: 'org-b',
        signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der },
      });
      await expect(forger.report({ messageId: '<y@evil>', senderOrgId: 'org-a', senderCertificateSerial: 'ab', summary: 'x' })).rejects.toThrow(/answered 400/);
    } finally {
      await registry.close();
    }
  });

  it('(12) traces the signer its MSA verified, not the serial the notice names', async () => {
    const registry = await startRegistryStub(
      new Map([
        ['org-a', orgA.kmsSigning.certificate.der],
        ['org-b', orgB.kmsSigning.certificate.der],
      ]),
    );
    try {
      const journalA = new JourneyLog(undefined);
      const evil = await victorUa.compose({ to: ['bob@org-b.example'], subject: 'hello', text: 'click', pin: '8888' });
      await submitThroughMsa(journalA, evil.raw, victor.address);
      const { deskA, deskB } = desks(registry.url, journalA);
      // The reporter names trent's certificate (a wrong or forged identity notice).
      await deskB.report({ messageId: evil.messageId, senderOrgId: 'org-a', senderCertificateSerial: trent.signingCertificate.serialNumber, summary: 'phish' });
      const [f] = await deskA.handlePending();
      expect(f).toMatchObject({ cause: 'sender', identified: true, address: victor.address, employeeNumber: 'EMP-888' });
      expect(orgA.orgCa.isRevoked(victor.signingCertificate.serialNumber)).toBe(true);
      expect(orgA.orgCa.isRevoked(trent.signingCertificate.serialNumber)).toBe(false);
      const [reviewed] = deskEvents(journalA, evil.messageId);
      expect(check(reviewed, 'notice-serial')).toMatchObject({
        result: 'fail',
        detail: expect.stringContaining(victor.signingCertificate.serialNumber.toLowerCase()),
      });
    } finally {
      await registry.close();
    }
  });

  it('(12) refuses to handle a notice without a journal to review', async () => {
    const deskA = new IncidentDesk({
      registryUrl: 'http://127.0.0.1:9/',
      orgId: 'org-a',
      signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der },
      orgCa: orgA.orgCa,
      vault: orgA.vault,
      vaultKey: orgA.vaultKey,
    });
    const notice: IncidentNotice = {
      type: 'ssmax-incident-notice',
      caseId: 'c',
      senderOrgId: 'org-a',
      reporterOrgId: 'org-b',
      messageId: '<m@x>',
      senderCertificateSerial: 'ab',
      evidence: { summary: 's' },
      responseDue: '',
      responseUrl: '',
    };
    await expect(deskA.handle(notice)).rejects.toThrow(/journey log/);
  });

  it('(12) refuses a registry that is not on loopback', () => {
    expect(
      () =>
        new IncidentDesk({ registryUrl: 'http://192.0.2.1/', orgId: 'o', signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der } }),
    ).toThrow(/loopback/);
  });
});
