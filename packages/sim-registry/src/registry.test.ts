import { X509Certificate } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJsonBytes as canonicalBytes, encodePem, issueOrgKmsCertificate, SoftwareKey, validateChain, verifySignedData } from '@ssmax/core';
import { DnsZone } from '@ssmax/sim-net';
import { corePki } from './core-pki.js';
import { Registry } from './registry.js';
import {
  b64,
  FakeClock,
  goodEvaluation,
  makeApplication,
  makeOrgKeys,
  openssl,
  opensslSign,
  postJson,
  provedApplication,
  seededRandom,
  tempDir,
  type ApplicationFields,
  type OrgKeys,
} from './testing/fixtures.js';
import type { DirectoryDocument, EnrolmentResult, IncidentCase, StatusDocument } from './types.js';

const rootKey = SoftwareKey.generate('EC-P256');
/** The applicants' DNS: each publishes its domain-control TXT records here; the registry reads them. */
const zone = new DnsZone();

async function start(dataDir: string, clock: FakeClock, extra: { log?: (l: string) => void; bodyLimit?: number; adminToken?: string } = {}) {
  return Registry.start({
    dataDir,
    signer: rootKey,
    clock: clock.now,
    random: seededRandom(dataDir),
    log: extra.log ?? (() => {}),
    resolver: zone.resolver,
    ...extra,
  });
}

/** An application with its domains proved in {@link zone}. */
function proved(reg: Registry, keys: OrgKeys, fields: ApplicationFields) {
  return provedApplication(reg.url, zone, keys, fields);
}

type Enrolled = EnrolmentResult & { kmsSigning: Uint8Array; kmsEncryption: Uint8Array };

/** Applies, then issues the two KMS certificates under the new org CA (core) and registers them. */
async function enrol(reg: Registry, keys: OrgKeys, name: string, domain: string, clock: FakeClock): Promise<Enrolled> {
  const app = await proved(reg, keys, { name, domains: [domain], evaluation: goodEvaluation(clock.now()) });
  const r = await postJson(`${reg.url}/v1/enrolments`, app);
  expect(r.status).toBe(201);
  const res = r.json as EnrolmentResult;
  const issuer = { certificate: new Uint8Array(Buffer.from(res.certificates!.org, 'base64')), key: keys.orgCa };
  const kmsSigning = (await issueOrgKmsCertificate({ issuer, subjectSpki: keys.kmsSigning.spki, purpose: 'signing', now: clock.now })).der;
  const kmsEncryption = (await issueOrgKmsCertificate({ issuer, subjectSpki: keys.kmsEncryption.spki, purpose: 'encryption', now: clock.now })).der;
  const k = await postJson(`${reg.url}/v1/orgs/${res.orgId}/kms-certificates`, { signing: b64(kmsSigning), encryption: b64(kmsEncryption) });
  expect(k.status).toBe(200);
  return { ...res, kmsSigning, kmsEncryption };
}

function opensslVerifyCms(dir: string, rootDer: Uint8Array, cms: Uint8Array): { status: number; content: string } {
  const ca = join(dir, 'root.pem');
  writeFileSync(ca, encodePem(rootDer, 'CERTIFICATE'));
  const r = openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-CAfile', ca, '-purpose', 'any'], cms);
  return { status: r.status, content: r.stdout.toString('utf8') };
}

async function getBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

function rawHttp(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => sock.end(text));
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString('latin1')));
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
  });
}

describe('Registry', () => {
  it('admits a good org and issues certificates that chain to the registry root when the application passes every criterion', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(join(dir.path, 'data'), clock);
    const res = await enrol(reg, makeOrgKeys(), 'Alpha Corp', 'alpha.example', clock);
    expect(res.decision).toBe('admitted');
    expect(res.orgId).toMatch(/^org-/);
    expect(res.failedCriteria).toEqual([]);
    const root = new X509Certificate(Buffer.from(res.certificates!.root, 'base64'));
    writeFileSync(join(dir.path, 'root.pem'), root.toString());
    const org = new X509Certificate(Buffer.from(res.certificates!.org, 'base64'));
    expect(org.checkIssued(root)).toBe(true);
    expect(org.verify(root.publicKey)).toBe(true);
    expect(org.ca).toBe(true);
    const chain = validateChain({ leaf: new Uint8Array(org.raw), trustAnchors: [reg.rootCertificate], time: clock.now(), revocation: 'none' });
    expect(chain.reasons).toEqual([]);
    expect(chain.valid).toBe(true);
    writeFileSync(join(dir.path, 'org.pem'), org.toString());
    const v = openssl(['verify', '-CAfile', join(dir.path, 'root.pem'), join(dir.path, 'org.pem')]);
    expect(v.stdout.toString()).toMatch(/: OK/);
    expect(v.status).toBe(0);
    // The org-issued KMS certificates the registry accepted chain root → org → KMS (openssl as oracle).
    for (const [label, der, purpose] of [
      ['sig', res.kmsSigning, 'smimesign'],
      ['enc', res.kmsEncryption, 'smimeencrypt'],
    ] as const) {
      writeFileSync(join(dir.path, `${label}.pem`), encodePem(der, 'CERTIFICATE'));
      const kv = openssl([
        'verify',
        '-CAfile',
        join(dir.path, 'root.pem'),
        '-untrusted',
        join(dir.path, 'org.pem'),
        '-purpose',
        purpose,
        join(dir.path, `${label}.pem`),
      ]);
      expect(kv.stdout.toString() + kv.stderr).toMatch(/: OK/);
    }
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], Buffer.from(res.certificates!.org, 'base64')).stdout.toString();
    expect(text).toMatch(/pathlen:0/);
    expect(text).toMatch(/DNS:alpha\.example/);
  });

  it('refuses an org and names exactly the failing criteria when inspection, HSM, proofing and audit fall short', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(dir.path, clock);
    const ev = goodEvaluation(clock.now());
    const stale = new Date(clock.now().getTime() - 400 * 86_400_000).toISOString().slice(0, 10);
    const app = await proved(reg, makeOrgKeys(), {
      name: 'Bad Corp',
      domains: ['bad.example'],
      evaluation: { ...ev, inboundInspection: false, kmsOnHsm: false, identityProofing: 'email-only', lastAudit: { ...ev.lastAudit, date: stale } },
    });
    const r = await postJson(`${reg.url}/v1/enrolments`, app);
    expect(r.status).toBe(422);
    expect(r.json.decision).toBe('refused');
    expect(r.json.certificates).toBeUndefined();
    expect(r.json.failedCriteria.map((c: { id: string }) => c.id)).toEqual(['E3-inbound-inspection', 'E4-kms-hsm', 'E5-identity-proofing', 'E6-audit-current']);
    expect(reg.decisions().at(-1)?.kind).toBe('refuse');
  });

  it('admits an ESP without inspection servers but refuses an org without them', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(dir.path, clock);
    const ev = { ...goodEvaluation(clock.now()), outboundInspection: false, inboundInspection: false, identityProofing: 'my-number-card+pin' as const };
    const esp = await postJson(
      `${reg.url}/v1/enrolments`,
      await proved(reg, makeOrgKeys(), { name: 'Mail ESP', domains: ['esp.example'], mode: 'esp', evaluation: ev }),
    );
    expect(esp.status).toBe(201);
    const org = await postJson(
      `${reg.url}/v1/enrolments`,
      await proved(reg, makeOrgKeys(), { name: 'NoInspect', domains: ['noinspect.example'], evaluation: ev }),
    );
    expect(org.json.failedCriteria.map((c: { id: string }) => c.id)).toEqual(['E2-outbound-inspection', 'E3-inbound-inspection']);
  });

  it('refuses a second org claiming a domain already held (E9) and an open critical audit finding (E7)', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(dir.path, clock);
    await enrol(reg, makeOrgKeys(), 'Alpha', 'alpha.example', clock);
    const ev = goodEvaluation(clock.now());
    const app = await proved(reg, makeOrgKeys(), {
      name: 'Alpha Lookalike',
      domains: ['alpha.example'],
      evaluation: { ...ev, lastAudit: { ...ev.lastAudit, findings: [{ id: 'F-9', severity: 'critical', open: true, summary: 'KMS admin shared account' }] } },
    });
    const r = await postJson(`${reg.url}/v1/enrolments`, app);
    expect(r.json.failedCriteria.map((c: { id: string }) => c.id)).toEqual(['E7-no-open-critical-findings', 'E9-domains-unclaimed']);
  });

  it('rejects an application with 400 when the proof of possession was made by another key', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(dir.path, clock);
    const keys = makeOrgKeys();
    const app = await makeApplication(
      { ...keys, orgCa: SoftwareKey.generate('EC-P256') },
      { name: 'X', domains: ['x.example'], evaluation: goodEvaluation(clock.now()) },
    );
    const forged = { ...app, keys: { ...app.keys, orgCaSpki: b64(keys.orgCa.spki) } };
    const r = await postJson(`${reg.url}/v1/enrolments`, forged);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toMatch(/proofOfPossession/);
  });

  it('publishes a directory and status document that openssl verifies against the root and that fail when tampered', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(join(dir.path, 'data'), clock);
    const a = await enrol(reg, makeOrgKeys(), 'Alpha', 'alpha.example', clock);
    const dirCms = await getBytes(`${reg.url}/v1/directory`);
    const v = opensslVerifyCms(dir.path, reg.rootCertificate, dirCms);
    expect(v.status).toBe(0);
    const doc = JSON.parse(v.content) as DirectoryDocument;
    expect(doc.type).toBe('ssmax-directory');
    expect(doc.members).toHaveLength(1);
    expect(doc.members[0]).toMatchObject({
      orgId: a.orgId,
      name: 'Alpha',
      domains: ['alpha.example'],
      status: 'admitted',
      orgCertificate: a.certificates!.org,
    });
    expect(Date.parse(doc.nextUpdate) - Date.parse(doc.issuedAt)).toBe(3600_000);
    // The signed bytes are the canonical JSON of the document.
    expect(Buffer.from(canonicalBytes(doc)).toString()).toBe(v.content);

    const tampered = dirCms.slice();
    const at = Buffer.from(tampered).indexOf('Alpha');
    tampered[at] = 'B'.charCodeAt(0);
    expect(opensslVerifyCms(dir.path, reg.rootCertificate, tampered).status).not.toBe(0);
    expect(corePki.verifyData(tampered, [reg.rootCertificate]).ok).toBe(false);
    expect(verifySignedData(tampered).allValid).toBe(false);
    expect(corePki.verifyData(dirCms, [reg.rootCertificate]).ok).toBe(true);
    expect(doc.members[0]?.kmsSigningCertificate).toBe(b64(a.kmsSigning));

    const st = opensslVerifyCms(dir.path, reg.rootCertificate, await getBytes(`${reg.url}/v1/status`));
    expect(st.status).toBe(0);
    expect((JSON.parse(st.content) as StatusDocument).orgs.map((o) => [o.orgId, o.status])).toEqual([[a.orgId, 'admitted']]);
  });

  it('lists a revoked org certificate on the CRL and says revoked in the status document, and keeps it all after a restart', async () => {
    using dir = tempDir('ssmax-reg-');
    const data = join(dir.path, 'data');
    const clock = new FakeClock(Date.now());
    let orgId: string;
    let orgSerial: string;
    {
      await using reg = await start(data, clock);
      const a = await enrol(reg, makeOrgKeys(), 'Alpha', 'alpha.example', clock);
      orgId = a.orgId!;
      orgSerial = new X509Certificate(Buffer.from(a.certificates!.org, 'base64')).serialNumber;
      const before = openssl(['crl', '-inform', 'DER', '-noout', '-text'], await getBytes(`${reg.url}/v1/crl`)).stdout.toString();
      expect(before).toMatch(/No Revoked Certificates/);
      clock.advance(5_000);
      const d = reg.decide(orgId, 'revoke', 'Registry found forged audit report');
      expect(d.kind).toBe('revoke');
    }
    clock.advance(5_000);
    expect(existsSync(join(data, 'registry.sqlite'))).toBe(true);
    await using reg = await start(data, clock);
    expect(existsSync(join(data, 'registry.sqlite-wal'))).toBe(true);
    const crl = await getBytes(`${reg.url}/v1/crl`);
    writeFileSync(join(dir.path, 'root.pem'), encodePem(reg.rootCertificate, 'CERTIFICATE'));
    const text = openssl(['crl', '-inform', 'DER', '-noout', '-text', '-CAfile', join(dir.path, 'root.pem')], crl);
    expect(text.stderr).toMatch(/verify OK/);
    expect(text.stdout.toString()).toContain(`Serial Number: ${orgSerial}`);
    expect(text.stdout.toString()).toMatch(/Privilege Withdrawn/);
    // RFC 5280 §5.2.3: a small monotonically increasing integer (the second CRL this registry issued).
    expect(text.stdout.toString()).toMatch(/CRL Number: *\n *2\n/);
    const st = opensslVerifyCms(dir.path, reg.rootCertificate, await getBytes(`${reg.url}/v1/status`));
    const entry = (JSON.parse(st.content) as StatusDocument).orgs.find((o) => o.orgId === orgId);
    expect(entry?.status).toBe('revoked');
    expect(entry?.revokedAt).toBeDefined();
    expect(reg.decisions(orgId).map((x) => x.kind)).toEqual(['admit', 'revoke']);
    // A revoked org cannot be reinstated.
    expect(() => reg.decide(orgId, 'reinstate', 'try')).toThrow(/revocation is final/);
  });

  it('refuses KMS certificates issued by another org CA or for a key the application did not name', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(dir.path, clock);
    const aKeys = makeOrgKeys();
    const bKeys = makeOrgKeys();
    const a = await postJson(
      `${reg.url}/v1/enrolments`,
      await proved(reg, aKeys, { name: 'A', domains: ['a.example'], evaluation: goodEvaluation(clock.now()) }),
    );
    const b = await enrol(reg, bKeys, 'B', 'b.example', clock);
    // B's CA certifies A's KMS keys: chains to the root, but not through A's org certificate.
    const bIssuer = { certificate: new Uint8Array(Buffer.from(b.certificates!.org, 'base64')), key: bKeys.orgCa };
    const viaB = {
      signing: b64((await issueOrgKmsCertificate({ issuer: bIssuer, subjectSpki: aKeys.kmsSigning.spki, purpose: 'signing', now: clock.now })).der),
      encryption: b64((await issueOrgKmsCertificate({ issuer: bIssuer, subjectSpki: aKeys.kmsEncryption.spki, purpose: 'encryption', now: clock.now })).der),
    };
    const r1 = await postJson(`${reg.url}/v1/orgs/${a.json.orgId}/kms-certificates`, viaB);
    expect(r1.status).toBe(400);
    expect(r1.json.error.message).toMatch(/signing/);
    const aIssuer = { certificate: new Uint8Array(Buffer.from(a.json.certificates.org, 'base64')), key: aKeys.orgCa };
    const other = SoftwareKey.generate('EC-P256');
    const undeclared = {
      signing: b64((await issueOrgKmsCertificate({ issuer: aIssuer, subjectSpki: other.spki, purpose: 'signing', now: clock.now })).der),
      encryption: b64((await issueOrgKmsCertificate({ issuer: aIssuer, subjectSpki: aKeys.kmsEncryption.spki, purpose: 'encryption', now: clock.now })).der),
    };
    const r2 = await postJson(`${reg.url}/v1/orgs/${a.json.orgId}/kms-certificates`, undeclared);
    expect(r2.status).toBe(400);
    expect(r2.json.error.message).toMatch(/named in the application/);
    // Swapped purposes: the encryption certificate offered as the signing one lacks digitalSignature.
    const good = {
      signing: b64((await issueOrgKmsCertificate({ issuer: aIssuer, subjectSpki: aKeys.kmsSigning.spki, purpose: 'signing', now: clock.now })).der),
      encryption: b64((await issueOrgKmsCertificate({ issuer: aIssuer, subjectSpki: aKeys.kmsEncryption.spki, purpose: 'encryption', now: clock.now })).der),
    };
    expect((await postJson(`${reg.url}/v1/orgs/${a.json.orgId}/kms-certificates`, { signing: good.encryption, encryption: good.signing })).status).toBe(400);
    expect((await postJson(`${reg.url}/v1/orgs/${a.json.orgId}/kms-certificates`, good)).status).toBe(200);
  });

  it('publishes a member MTA TLS pin signed with its own KMS key in the signed directory, and refuses one signed by another member', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(dir.path, clock);
    const aKeys = makeOrgKeys();
    const bKeys = makeOrgKeys();
    const a = await enrol(reg, aKeys, 'A', 'a.example', clock);
    const b = await enrol(reg, bKeys, 'B', 'b.example', clock);
    const aId = a.orgId!;
    const pin = Buffer.alloc(32, 7).toString('base64');
    const doc = (orgId: string, pins: unknown) => canonicalBytes({ type: 'ssmax-mta-tls', orgId, spkiSha256: pins });
    const directory = async () =>
      JSON.parse(opensslVerifyCms(dir.path, reg.rootCertificate, await getBytes(`${reg.url}/v1/directory`)).content) as DirectoryDocument;
    // B signs a pin for A: the registry accepts only A's own KMS signature for A's pins.
    const forged = await postJson(`${reg.url}/v1/orgs/${aId}/mta-tls`, {
      cms: b64(opensslSign(dir.path, bKeys.kmsSigning, b.kmsSigning, doc(aId, [pin]))),
    });
    expect(forged.status).toBe(403);
    const notDigest = await postJson(`${reg.url}/v1/orgs/${aId}/mta-tls`, {
      cms: b64(opensslSign(dir.path, aKeys.kmsSigning, a.kmsSigning, doc(aId, ['abc']))),
    });
    expect(notDigest.status).toBe(400);
    expect((await directory()).members.find((m) => m.orgId === a.orgId)?.mtaTlsSpkiSha256).toBeUndefined();
    const ok = await postJson(`${reg.url}/v1/orgs/${aId}/mta-tls`, {
      cms: b64(opensslSign(dir.path, aKeys.kmsSigning, a.kmsSigning, doc(aId, [pin]))),
    });
    expect(ok.status).toBe(200);
    const members = (await directory()).members;
    expect(members.find((m) => m.orgId === a.orgId)?.mtaTlsSpkiSha256).toEqual([pin]);
    expect(members.find((m) => m.orgId === b.orgId)?.mtaTlsSpkiSha256).toBeUndefined();
  });

  it('refuses to start when the signer key does not match the root stored in dataDir', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await (await start(dir.path, clock)).close();
    await expect(Registry.start({ dataDir: dir.path, signer: SoftwareKey.generate('EC-P256'), clock: clock.now, log: () => {} })).rejects.toThrow(
      /does not match the root/,
    );
  });

  it('suspends the sending org after two attributable cases, then reinstates it after a clean audit', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    const lines: string[] = [];
    await using reg = await start(join(dir.path, 'data'), clock, { log: (l) => lines.push(l) });
    const aKeys = makeOrgKeys();
    const bKeys = makeOrgKeys();
    const a = await enrol(reg, aKeys, 'Sender A', 'a.example', clock);
    const b = await enrol(reg, bKeys, 'Receiver B', 'b.example', clock);
    const bSig = b.kmsSigning;
    const aSig = a.kmsSigning;

    const report = (messageId: string) =>
      opensslSign(
        dir.path,
        bKeys.kmsSigning,
        bSig,
        canonicalBytes({
          type: 'ssmax-incident-report',
          reporterOrgId: b.orgId,
          messageId,
          senderOrgId: a.orgId,
          senderCertificateSerial: new X509Certificate(aSig).serialNumber,
          evidence: { summary: 'Emotet-style ZIP from a.example', pattern: 'B' },
          reportedAt: clock.now().toISOString(),
        }),
      );
    const respond = async (c: IncidentCase) =>
      postJson(`${reg.url}/v1/incidents/${c.caseId}/response`, {
        cms: b64(
          opensslSign(
            dir.path,
            aKeys.kmsSigning,
            aSig,
            canonicalBytes({
              type: 'ssmax-incident-response',
              caseId: c.caseId,
              orgId: a.orgId,
              rootCause: 'operation-fault',
              correctiveActions: ['operation-fixed'],
              summary: 'Mail server compromised; rebuilt',
              respondedAt: clock.now().toISOString(),
            }),
          ),
        ),
      });

    const r1 = await postJson(`${reg.url}/v1/incidents`, { cms: b64(report('<m1@a.example>')) });
    expect(r1.status).toBe(201);
    expect(r1.json.state).toBe('awaiting-response');
    const again = await postJson(`${reg.url}/v1/incidents`, { cms: b64(report('<m1@a.example>')) });
    expect(again.status).toBe(200);
    expect(again.json.caseId).toBe(r1.json.caseId);
    const notices = (await (await fetch(`${reg.url}/v1/orgs/${a.orgId}/outbox`)).json()) as { caseId: string }[];
    expect(notices.map((n) => n.caseId)).toEqual([r1.json.caseId]);

    const resp1 = await respond(r1.json);
    expect(resp1.status).toBe(200);
    expect(resp1.json.case.outcome).toBe('confirmed-attributable');
    expect(resp1.json.decision.kind).toBe('no-change');
    expect((await respond(r1.json)).status).toBe(409);

    clock.advanceDays(1);
    const r2 = await postJson(`${reg.url}/v1/incidents`, { cms: b64(report('<m2@a.example>')) });
    const resp2 = await respond(r2.json);
    expect(resp2.json.decision.kind).toBe('suspend');
    expect(resp2.json.decision.reasons.find((x: { id: string }) => x.id === 'R2-incidents-suspend').passed).toBe(false);

    const case2 = await (await fetch(`${reg.url}/v1/incidents/${r2.json.caseId}`)).json();
    expect(case2).toMatchObject({ response: { rootCause: 'operation-fault' } });
    const st = opensslVerifyCms(dir.path, reg.rootCertificate, await getBytes(`${reg.url}/v1/status`));
    expect((JSON.parse(st.content) as StatusDocument).orgs.find((o) => o.orgId === a.orgId)?.status).toBe('suspended');
    const crl = openssl(['crl', '-inform', 'DER', '-noout', '-text'], await getBytes(`${reg.url}/v1/crl`)).stdout.toString();
    const aOrgSerial = new X509Certificate(Buffer.from(a.certificates!.org, 'base64')).serialNumber;
    expect(crl).toContain(aOrgSerial);
    expect(crl).toMatch(/Certificate Hold/);

    // A suspended org may still submit a (signed) audit; a clean audit after the suspension reinstates it.
    clock.advanceDays(2);
    const audit = { date: clock.now().toISOString().slice(0, 10), auditor: 'Audit Co.', findings: [] };
    const ar = await postJson(`${reg.url}/v1/orgs/${a.orgId}/audits`, {
      cms: b64(opensslSign(dir.path, aKeys.kmsSigning, aSig, canonicalBytes({ type: 'ssmax-audit-report', orgId: a.orgId, audit }))),
    });
    expect(ar.status).toBe(200);
    expect(ar.json.decision.kind).toBe('reinstate');
    const crl2 = openssl(['crl', '-inform', 'DER', '-noout', '-text'], await getBytes(`${reg.url}/v1/crl`)).stdout.toString();
    expect(crl2).not.toContain(aOrgSerial);
    expect(reg.decisions(a.orgId).map((d) => d.kind)).toEqual(['admit', 'no-change', 'suspend', 'reinstate']);
    expect(lines.some((l) => /^POST \/v1\/incidents 201 /.test(l))).toBe(true);
  });

  it('posts the incident notice to the sending org callback URL when one was enrolled', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    const received: unknown[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      await using reg = await start(join(dir.path, 'data'), clock);
      const aKeys = makeOrgKeys();
      const bKeys = makeOrgKeys();
      const callbackUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/ssmax/notices`;
      const aApp = await proved(reg, aKeys, { name: 'A', domains: ['a.example'], evaluation: goodEvaluation(clock.now()), callbackUrl });
      const a = (await postJson(`${reg.url}/v1/enrolments`, aApp)).json as EnrolmentResult;
      const b = await enrol(reg, bKeys, 'B', 'b.example', clock);
      const rep = await postJson(`${reg.url}/v1/incidents`, {
        cms: b64(
          opensslSign(
            dir.path,
            bKeys.kmsSigning,
            b.kmsSigning,
            canonicalBytes({
              type: 'ssmax-incident-report',
              reporterOrgId: b.orgId,
              messageId: '<cb@a.example>',
              senderOrgId: a.orgId,
              senderCertificateSerial: '0a',
              evidence: { summary: 'phish' },
              reportedAt: clock.now().toISOString(),
            }),
          ),
        ),
      });
      expect(rep.status).toBe(201);
      expect(received).toEqual([
        expect.objectContaining({ type: 'ssmax-incident-notice', caseId: rep.json.caseId, responseUrl: `${reg.url}/v1/incidents/${rep.json.caseId}/response` }),
      ]);
    } finally {
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });

  it('does not count a case against the sender when it traced and revoked the malicious sender', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(join(dir.path, 'data'), clock);
    const aKeys = makeOrgKeys();
    const bKeys = makeOrgKeys();
    const a = await enrol(reg, aKeys, 'Sender A', 'a.example', clock);
    const b = await enrol(reg, bKeys, 'Receiver B', 'b.example', clock);
    const bSig = b.kmsSigning;
    const aSig = a.kmsSigning;
    for (const id of ['<x1@a.example>', '<x2@a.example>', '<x3@a.example>']) {
      const rep = await postJson(`${reg.url}/v1/incidents`, {
        cms: b64(
          opensslSign(
            dir.path,
            bKeys.kmsSigning,
            bSig,
            canonicalBytes({
              type: 'ssmax-incident-report',
              reporterOrgId: b.orgId,
              messageId: id,
              senderOrgId: a.orgId,
              senderCertificateSerial: 'abcd',
              evidence: { summary: 'insider sent malware' },
              reportedAt: clock.now().toISOString(),
            }),
          ),
        ),
      });
      const resp = await postJson(`${reg.url}/v1/incidents/${rep.json.caseId}/response`, {
        cms: b64(
          opensslSign(
            dir.path,
            aKeys.kmsSigning,
            aSig,
            canonicalBytes({
              type: 'ssmax-incident-response',
              caseId: rep.json.caseId,
              orgId: a.orgId,
              rootCause: 'malicious-sender',
              correctiveActions: ['sender-identified-and-revoked', 'police-cooperation'],
              summary: 'Insider traced via trace vault',
              respondedAt: clock.now().toISOString(),
            }),
          ),
        ),
      });
      expect(resp.json.case.outcome).toBe('confirmed-not-attributable');
      expect(resp.json.decision.kind).toBe('no-change');
    }
  });

  it('answers 4xx with reasons for malformed, oversized, mistyped and badly signed requests and stays up', async () => {
    using dir = tempDir('ssmax-reg-');
    const clock = new FakeClock(Date.now());
    await using reg = await start(join(dir.path, 'data'), clock, { bodyLimit: 4096 });
    const aKeys = makeOrgKeys();
    const bKeys = makeOrgKeys();
    const a = await enrol(reg, aKeys, 'Sender A', 'a.example', clock);
    const b = await enrol(reg, bKeys, 'Receiver B', 'b.example', clock);

    const raw = await fetch(`${reg.url}/v1/enrolments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": ' });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('MALFORMED_REQUEST');

    const big = await fetch(`${reg.url}/v1/incidents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cms: 'A'.repeat(10_000) }),
    });
    expect(big.status).toBe(413);
    await big.arrayBuffer();

    const text = await fetch(`${reg.url}/v1/incidents`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    await text.arrayBuffer();

    const missing = await postJson(`${reg.url}/v1/enrolments`, { name: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toMatch(/Field "domains"/);

    const content = canonicalBytes({
      type: 'ssmax-incident-report',
      reporterOrgId: b.orgId,
      messageId: '<m@a>',
      senderOrgId: a.orgId,
      senderCertificateSerial: '01',
      evidence: { summary: 's' },
      reportedAt: clock.now().toISOString(),
    });
    // Signed by A's key while claiming to come from B.
    const aSig = a.kmsSigning;
    const impostor = await postJson(`${reg.url}/v1/incidents`, { cms: b64(opensslSign(dir.path, aKeys.kmsSigning, aSig, content)) });
    expect(impostor.status).toBe(403);
    expect(impostor.json.error.message).toMatch(/signed by/);
    // Signed by B, then the content altered in transit: the message digest no longer matches.
    const good = opensslSign(dir.path, bKeys.kmsSigning, b.kmsSigning, content);
    const altered = good.slice();
    const reportType = Buffer.from(altered).indexOf('ssmax-incident-report');
    expect(reportType).toBeGreaterThanOrEqual(0);
    altered[reportType] = altered[reportType]! ^ 0x01;
    const wrongKey = await postJson(`${reg.url}/v1/incidents`, { cms: b64(altered) });
    expect(wrongKey.status).toBe(403);
    expect(wrongKey.json.error.code).toBe('BAD_SIGNATURE');
    // Signed by a key the registry never certified (its own self-made certificate).
    const strangerKey = SoftwareKey.generate('EC-P256');
    const strangerCa = await corePki.issueRoot(strangerKey, {
      commonName: 'Stranger',
      organization: 'Stranger',
      now: clock.now(),
      validityDays: 30,
      random: seededRandom('s'),
    });
    const stranger = await postJson(`${reg.url}/v1/incidents`, { cms: b64(await corePki.signData(strangerKey, strangerCa, content, clock.now())) });
    expect(stranger.status).toBe(403);
    expect((await postJson(`${reg.url}/v1/incidents`, { cms: b64(good) })).status).toBe(201);
    const junk = await postJson(`${reg.url}/v1/incidents`, { cms: b64(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])) });
    expect(junk.status).toBeGreaterThanOrEqual(400);
    expect(junk.status).toBeLessThan(500);

    // Raw sockets: a garbage request line, and an oversized chunked body (no Content-Length to trust).
    const raw1 = await rawHttp(reg.url, 'HELLO THERE\r\n\r\n');
    expect(raw1).toMatch(/^HTTP\/1\.1 400/);
    const chunk = 'x'.repeat(3000);
    const raw2 = await rawHttp(
      reg.url,
      `POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(3000).toString(16)}\r\n${chunk}\r\n${(3000).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expect(raw2).toMatch(/^HTTP\/1\.1 413/);
    expect(raw2).toContain('BODY_TOO_LARGE');

    expect((await fetch(`${reg.url}/v1/nope`)).status).toBe(404);
    expect((await fetch(`${reg.url}/v1/directory`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${reg.url}/v1/incidents/case-0000`)).status).toBe(404);
    expect((await fetch(`${reg.url}/healthz`)).status).toBe(200);
  });
});
