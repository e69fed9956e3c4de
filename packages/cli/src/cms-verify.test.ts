/**
 * Issue 10 item 7: `ssmax cms verify` judges a SignedData the way a relying party must — at a time the
 * caller chooses (now, or --attime), with revocation data the caller brought (--crl), never the time or
 * the CRLs the signer put into the message, and only when every signer is valid; the JSON line reports
 * each signer. Runs the built binary, as cms-cli.test.ts does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SoftwareKey,
  encodePem,
  issueCrl,
  issueOrgCertificate,
  issueRootCertificate,
  issueUserCertificate,
  newTraceId,
  signSignedData,
  type CertificateInfo,
} from '@ssmax/core';
import { createOpensslPki, type OpensslPki } from '@ssmax/core/testing';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const DAY = 86_400_000;
const NOW = Date.now();
const ago = (days: number) => () => new Date(NOW - days * DAY);

function ssmax(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

let dir: string;
const p = (name: string) => join(dir, name);
const content = Buffer.from('Signed statement\r\n');

/** Writes a PEM file and returns its path. */
function pem(name: string, der: Uint8Array, label: string): string {
  writeFileSync(p(name), encodePem(der, label));
  return p(name);
}

/** Puts CRLs into the SignedData's crls field with pkijs (not covered by any signature). */
function embedCrls(der: Uint8Array, crls: readonly Uint8Array[]): Uint8Array {
  const ci = new pkijs.ContentInfo({ schema: asn1js.fromBER(der).result });
  const sd = new pkijs.SignedData({ schema: ci.content });
  sd.crls = crls.map((c) => new pkijs.CertificateRevocationList({ schema: asn1js.fromBER(c).result }));
  return new Uint8Array(new pkijs.ContentInfo({ contentType: ci.contentType, content: sd.toSchema(true) }).toSchema().toBER(false));
}

// Registry root R (trust anchor) → org CA I → users. Keys in software; certificates and CRLs by core.
let rootPath: string;
let rootCrlPath: string;
let orgCa: { certificate: CertificateInfo; key: SoftwareKey };

async function user(email: string, now: () => Date, validityDays: number) {
  const key = SoftwareKey.generate('EC-P256');
  const cert = await issueUserCertificate({
    issuer: orgCa,
    subjectSpki: key.spki,
    email,
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt: now(), proofedBy: 'desk' },
    traceId: newTraceId(),
    now,
    validityDays,
  });
  return { key, cert };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-cms-verify-'));
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
  const rootKey = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({ subject: { O: 'Verify Test Registry', CN: 'Verify Test Root' }, key: rootKey, now: ago(30), validityDays: 3650 });
  const orgKey = SoftwareKey.generate('EC-P256');
  const org = await issueOrgCertificate({
    issuer: { certificate: root, key: rootKey },
    subjectSpki: orgKey.spki,
    organization: 'Org V',
    mailDomain: 'org-v.example',
    now: ago(30),
    validityDays: 3000,
  });
  orgCa = { certificate: org, key: orgKey };
  rootPath = pem('root.pem', root.der, 'CERTIFICATE');
  rootCrlPath = pem('root.crl', (await issueCrl({ issuer: { certificate: root, key: rootKey }, now: ago(1), crlNumber: 1, revoked: [] })).der, 'X509 CRL');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ssmax cms verify (issue 10 item 7)', () => {
  it('validates at now, not at the signingTime the signer chose, and at --attime when asked', async () => {
    // Valid from 3 days ago for 2 days: expired yesterday. The signer dates the signature inside that window.
    const u = await user('olga@org-v.example', ago(3), 2);
    const sig = await signSignedData(content, { key: u.key, certificate: u.cert.der, chain: [orgCa.certificate.der], signingTime: ago(2)() });
    const sigPath = pem('expired.p7', sig, 'CMS');
    const out = p('expired.out');
    const r = ssmax(['cms', 'verify', '--in', sigPath, '--CAfile', rootPath, '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    const line = JSON.parse(r.stdout);
    expect(line).toMatchObject({ valid: false, code: 'CERT_EXPIRED' });
    expect(line.signers).toHaveLength(1);
    expect(line.signers[0]).toMatchObject({ valid: false, code: 'CERT_EXPIRED', email: 'olga@org-v.example' });
    expect(existsSync(out)).toBe(false);
    // The caller may ask for another time, and then owns that choice.
    const at = ssmax(['cms', 'verify', '--in', sigPath, '--CAfile', rootPath, '--attime', ago(2)().toISOString()]);
    expect(at.status, at.stdout + at.stderr).toBe(0);
    expect(JSON.parse(at.stdout)).toMatchObject({ valid: true, validatedAt: ago(2)().toISOString() });
    expect(ssmax(['cms', 'verify', '--in', sigPath, '--CAfile', rootPath, '--attime', 'yesterday']).status).toBe(2);
  });

  it('uses only the CRLs the caller gives, never a CRL the signer embedded', async () => {
    const u = await user('petra@org-v.example', ago(5), 365);
    // The org CA's CRL from before the revocation, still inside its nextUpdate: the signer embeds it.
    const stale = await issueCrl({ issuer: orgCa, now: ago(2), crlNumber: 1, revoked: [] });
    const current = await issueCrl({
      issuer: orgCa,
      now: ago(0.5),
      crlNumber: 2,
      revoked: [{ serialNumber: u.cert.serialNumber, revocationDate: ago(1)(), reason: 'keyCompromise' }],
    });
    const sig = embedCrls(await signSignedData(content, { key: u.key, certificate: u.cert.der, chain: [orgCa.certificate.der] }), [stale.der]);
    const sigPath = pem('revoked.p7', sig, 'CMS');
    // With only the root's CRL from the caller, nothing covers the user's certificate: not valid.
    const r = ssmax(['cms', 'verify', '--in', sigPath, '--CAfile', rootPath, '--crl', rootCrlPath]);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    // With the current CRL the caller fetched: revoked.
    const currentPath = pem('org-current.crl', current.der, 'X509 CRL');
    const revoked = ssmax(['cms', 'verify', '--in', sigPath, '--CAfile', rootPath, '--crl', rootCrlPath, '--crl', currentPath]);
    expect(revoked.status).toBe(1);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    // The stale CRL counts when the caller hands it over themselves (their choice, as with --attime).
    const stalePath = pem('org-stale.crl', stale.der, 'X509 CRL');
    expect(ssmax(['cms', 'verify', '--in', sigPath, '--CAfile', rootPath, '--crl', rootCrlPath, '--crl', stalePath]).status).toBe(0);
  });

  it('requires every signer to be valid and reports each one', () => {
    let other: OpensslPki | undefined;
    const pki = createOpensslPki();
    try {
      other = createOpensslPki();
      const inPath = p('two.in');
      writeFileSync(inPath, content);
      const sig = p('two.der');
      const s = pki.openssl([
        'cms',
        '-sign',
        '-binary',
        '-nodetach',
        '-md',
        'sha256',
        '-in',
        inPath,
        '-signer',
        pki.ec.certPath,
        '-inkey',
        pki.ec.keyPath,
        '-signer',
        other.rsa.certPath,
        '-inkey',
        other.rsa.keyPath,
        '-outform',
        'DER',
        '-out',
        sig,
      ]);
      expect(s.status, s.stderr).toBe(0);
      // Only the first signer chains to the CA the caller trusts.
      const out = p('two.out');
      const r = ssmax(['cms', 'verify', '--in', sig, '--CAfile', pki.caCertPath, '--out', out]);
      expect(r.status, r.stderr).toBe(1);
      const line = JSON.parse(r.stdout);
      expect(line).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
      expect(line.signers.map((x: { valid: boolean; email: string }) => [x.valid, x.email])).toEqual([
        [true, pki.ec.email],
        [false, other.rsa.email],
      ]);
      expect(line.signers[1].code).toBe('UNTRUSTED_CHAIN');
      expect(existsSync(out)).toBe(false);
      // Trusting both CAs, both signers are valid.
      const both = ssmax(['cms', 'verify', '--in', sig, '--CAfile', pki.caCertPath, '--CAfile', other.caCertPath, '--out', out]);
      expect(both.status, both.stdout + both.stderr).toBe(0);
      expect(JSON.parse(both.stdout).signers.map((x: { valid: boolean }) => x.valid)).toEqual([true, true]);
    } finally {
      other?.[Symbol.dispose]();
      pki[Symbol.dispose]();
    }
  });
});
