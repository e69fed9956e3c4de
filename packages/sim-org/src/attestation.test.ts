/**
 * Issue 10 item 6: verifyAttestation checks the attestation JSON against its schema, so a signed document
 * of the wrong shape (anyone can sign one with a self-made key) is an invalid attestation, never a value
 * that throws a TypeError further down in the user agent or the MTA-in.
 */
import { SoftwareKey, issueRootCertificate, signSignedData } from '@ssmax/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { signAttestation, verifyAttestation, type OrgAttestation } from './attestation.js';

let signer: { key: SoftwareKey; certificate: Uint8Array };
beforeAll(async () => {
  const key = SoftwareKey.generate('EC-P256');
  signer = { key, certificate: (await issueRootCertificate({ subject: { CN: 'any signer' }, key, now: () => new Date() })).der };
});

const good: OrgAttestation = {
  v: 1,
  type: 'ssmax-attestation',
  hop: 1,
  org: 'org-a',
  domain: 'org-a.example',
  role: 'sending-org',
  messageId: '<m1@org-a.example>',
  at: '2026-12-01T09:00:00.000Z',
  checks: [{ name: 'user-signature', result: 'pass' }],
  inspection: { performed: true, kind: 'dlp', verdict: 'allow', reasons: [] },
  identityNotice: {
    sender: 'alice@org-a.example',
    certSerial: '0a1b',
    traceId: 'ff00',
    proofing: 'employeeCardPin',
    proofedAt: '2026-01-01T00:00:00.000Z',
    cardAndPinUsed: true,
  },
  files: [{ n: 1, sha256: 'a'.repeat(64), action: 're-encrypted' }],
};

/** Signs arbitrary JSON the way signAttestation does (signAttestation itself takes only the typed shape). */
const signJson = (doc: unknown) => signSignedData(new TextEncoder().encode(JSON.stringify(doc)), signer);

describe('verifyAttestation schema (issue 10 item 6)', () => {
  it('accepts a well-formed attestation (control)', async () => {
    const v = verifyAttestation(await signAttestation(good, signer));
    expect(v.valid).toBe(true);
  });

  const bad: Array<[string, unknown]> = [
    ['a number as the identity notice sender', { ...good, identityNotice: { ...good.identityNotice, sender: 42 } }],
    ['a certSerial that is an object', { ...good, identityNotice: { ...good.identityNotice, certSerial: { toLowerCase: 1 } } }],
    ['a file entry without sha256', { ...good, files: [{ n: 1, action: 're-encrypted' }] }],
    ['a file action outside the enum', { ...good, files: [{ n: 1, sha256: 'a'.repeat(64), action: 'exfiltrated' }] }],
    ['a hop that is a string', { ...good, hop: '1' }],
    ['checks that are not an array', { ...good, checks: 'pass' }],
    ['an inspection without a verdict', { ...good, inspection: { performed: true, kind: 'dlp', reasons: [] } }],
    ['a messageId that is a number', { ...good, messageId: 7 }],
    ['an orgCrl that is not base64', { ...good, orgCrl: 'not base64!' }],
    ['an extra top-level property', { ...good, admin: true }],
    ['a JSON array', [good]],
  ];
  for (const [what, doc] of bad) {
    it(`reports MALFORMED_CMS, not a value that throws later, for ${what}`, async () => {
      const v = verifyAttestation(await signJson(doc));
      expect(v).toMatchObject({ valid: false, code: 'MALFORMED_CMS' });
      if (!v.valid) expect(v.reason).toMatch(/^The attestation JSON does not match its schema/);
    });
  }
});
