import * as http from 'node:http';
import type * as net from 'node:net';
import { issueCrl, parseSmime, verifySignedData, type Card } from '@ssmax/core';
import { verifyManifest } from './manifest.js';
import { classifyParts } from './org-hop.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentDesk, type IncidentNotice } from './incident-desk.js';
import { verifyUserMail } from './msa.js';
import type { OrgContext } from './org-context.js';
import { createUserSideWorld, type FixtureOrg, type UserSideWorld } from './testing/user-side-fixture.js';
import { UserAgent } from './user-agent.js';
import { CardUserDirectory, type RegisteredUser } from './user-registration.js';

/**
 * A stand-in for the registry's incident API (packages/sim-registry/README, routes in registry.ts): sim-org
 * may not import sim-registry, so this stub speaks the same HTTP + `{ cms }` contract and checks every
 * signature against the submitting org's KMS signing certificate, as the registry does.
 */
function startRegistryStub(orgCerts: Map<string, Uint8Array>): Promise<{ url: string; cases: Map<string, Record<string, unknown>>; outbox: Map<string, IncidentNotice[]>; close(): Promise<void> }> {
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
          const peek = JSON.parse(Buffer.from(verifySignedData(new Uint8Array(Buffer.from((JSON.parse(body) as { cms: string }).cms, 'base64'))).content!).toString('utf8')) as Record<string, string>;
          const report = verify(body, peek['reporterOrgId']!);
          const caseId = `case-${++n}`;
          const c = { caseId, ...report, state: 'awaiting-response' };
          cases.set(caseId, c);
          const notice: IncidentNotice = {
            type: 'ssmax-incident-notice', caseId, senderOrgId: report['senderOrgId'] as string, reporterOrgId: report['reporterOrgId'] as string, messageId: report['messageId'] as string,
            senderCertificateSerial: report['senderCertificateSerial'] as string, evidence: report['evidence'] as IncidentNotice['evidence'], responseDue: '2099-01-01T00:00:00Z', responseUrl: `/v1/incidents/${caseId}/response`,
          };
          outbox.set(notice.senderOrgId, [...(outbox.get(notice.senderOrgId) ?? []), notice]);
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(c));
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
      resolve({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, cases, outbox, close: () => new Promise((r) => server.close(() => r())) }),
    ),
  );
}

let world: UserSideWorld;
let orgA: FixtureOrg;
let orgB: FixtureOrg;
let mallory: RegisteredUser;
let card: Card;

beforeAll(async () => {
  world = await createUserSideWorld();
  orgA = await world.org('org-a', 'org-a.example');
  orgB = await world.org('org-b', 'org-b.example');
  mallory = await orgA.registration.register({ address: 'mallory@org-a.example', employeeNumber: 'EMP-666', identityCheck: { method: 'employeeCardPin', proofedBy: 'org-a HR' }, userPin: '6666', mailPassword: 'mail-pw' });
  card = await orgA.registration.openCard(mallory.cardLabel);
});
afterAll(async () => {
  await card?.close();
  await world?.[Symbol.asyncDispose]();
});

/** The MSA's own check (msa.ts verifyUserMail) over org A's real user directory. */
async function msaCheck(raw: Uint8Array) {
  const registryCrl = await issueCrl({ issuer: { certificate: world.root, key: world.rootKey }, now: world.now, crlNumber: 1, revoked: [] });
  const ctx = { kms: orgA.kms, users: new CardUserDirectory(orgA.registration, orgA.orgCa), registry: { crl: async () => registryCrl }, clock: world.now } as unknown as OrgContext;
  return verifyUserMail(ctx, raw, mallory.address);
}

describe('(12) malicious-mail handling', () => {
  it('(12) ends with the sender identified from the sealed vault, revoked, and a later mail from the card refused by the MSA', async () => {
    const registry = await startRegistryStub(new Map([['org-a', orgA.kmsSigning.certificate.der], ['org-b', orgB.kmsSigning.certificate.der]]));
    try {
      const ua = new UserAgent({ address: mallory.address, card, mode: 'end-to-end', orgEncryptionCertificate: orgA.kmsEncryption.certificate.der });
      const evil = await ua.compose({ to: ['bob@org-b.example'], subject: 'invoice', text: 'open the file', files: [{ name: 'invoice.exe', content: new Uint8Array(Buffer.from('MZ evil')) }], pin: '6666' });
      expect((await msaCheck(evil.raw)).ok).toBe(true);

      const deskB = new IncidentDesk({ registryUrl: registry.url, orgId: 'org-b', signer: { key: orgB.kmsSigning.key, certificate: orgB.kmsSigning.certificate.der } });
      const reported = await deskB.report({ messageId: evil.messageId, senderOrgId: 'org-a', senderCertificateSerial: mallory.signingCertificate.serialNumber, summary: 'executable disguised as invoice', pattern: 'B' });
      expect(reported.caseId).toBe('case-1');

      const deskA = new IncidentDesk({ registryUrl: registry.url, orgId: 'org-a', signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der }, orgCa: orgA.orgCa, vault: orgA.vault, vaultKey: orgA.vaultKey, officer: 'org-a CSIRT' });
      const [notice] = await deskA.notices();
      const finding = await deskA.handle(notice!);
      expect(finding).toMatchObject({ identified: true, address: mallory.address, employeeNumber: 'EMP-666', traceId: mallory.traceId, rootCause: 'malicious-sender' });
      expect([...finding.revokedSerials].sort()).toEqual([mallory.signingCertificate.serialNumber, mallory.encryptionCertificate.serialNumber].sort());
      const audit = await orgA.vault.auditLog();
      expect(audit.map((a) => a.caseId)).toEqual(['case-1']);
      // The registry learns the outcome, never the employee number.
      const c = registry.cases.get('case-1')!;
      expect(c['state']).toBe('responded');
      expect(c['response']).toMatchObject({ rootCause: 'malicious-sender', correctiveActions: ['sender-identified-and-revoked'] });
      expect(JSON.stringify(c)).not.toContain('EMP-666');

      // The card still signs (card + PIN), but the MSA refuses the revoked certificate.
      const later = await ua.compose({ to: ['bob@org-b.example'], subject: 'again', text: 'x', pin: '6666' });
      const verdict = await msaCheck(later.raw);
      expect(verdict.ok).toBe(false);
      expect(verdict.code).toBe('CERT_REVOKED');
      // A receiving org or end-to-end recipient checking the sender's manifest against the org CRL (stapled in the attestation) refuses it too.
      const p = parseSmime(later.raw);
      if (p.kind !== 'multipart-signed') throw new Error('unexpected');
      const m = verifyManifest(classifyParts(p.signedEntity).manifest!.body, {
        trustAnchors: [world.root.der], crls: [(await orgA.orgCa.currentCrl()).der], time: world.now(),
        expected: { messageId: later.messageId, from: mallory.address, to: ['bob@org-b.example'], cc: [], subject: 'again', date: later.manifest!.date, body: classifyParts(p.signedEntity).body!.body, files: [] },
      });
      expect(m.valid).toBe(false);
      expect(m.problems.join('\n')).toMatch(/CERT_REVOKED/);
    } finally {
      await registry.close();
    }
  });

  it('(12) answers "not ours" without opening the vault when the serial was not issued by the org', async () => {
    const registry = await startRegistryStub(new Map([['org-a', orgA.kmsSigning.certificate.der], ['org-b', orgB.kmsSigning.certificate.der]]));
    try {
      const deskB = new IncidentDesk({ registryUrl: registry.url, orgId: 'org-b', signer: { key: orgB.kmsSigning.key, certificate: orgB.kmsSigning.certificate.der } });
      await deskB.report({ messageId: '<x@evil>', senderOrgId: 'org-a', senderCertificateSerial: 'abcdef01', summary: 'forged' });
      const deskA = new IncidentDesk({ registryUrl: registry.url, orgId: 'org-a', signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der }, orgCa: orgA.orgCa, vault: orgA.vault, vaultKey: orgA.vaultKey });
      const before = (await orgA.vault.auditLog()).length;
      const [notice] = await deskA.notices();
      const f = await deskA.handle(notice!);
      expect(f).toMatchObject({ identified: false, revokedSerials: [] });
      expect((await orgA.vault.auditLog()).length).toBe(before);
      // A report signed with another org's key is refused by the registry.
      const forger = new IncidentDesk({ registryUrl: registry.url, orgId: 'org-b', signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der } });
      await expect(forger.report({ messageId: '<y@evil>', senderOrgId: 'org-a', senderCertificateSerial: 'ab', summary: 'x' })).rejects.toThrow(/answered 400/);
    } finally {
      await registry.close();
    }
  });

  it('(12) refuses a registry that is not on loopback', () => {
    expect(() => new IncidentDesk({ registryUrl: 'http://192.0.2.1/', orgId: 'o', signer: { key: orgA.kmsSigning.key, certificate: orgA.kmsSigning.certificate.der } })).toThrow(/loopback/);
  });
});
