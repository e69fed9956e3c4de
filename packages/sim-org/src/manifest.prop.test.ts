import fc from 'fast-check';
import { SoftwareKey, issueOrgCertificate, issueRootCertificate, issueUserCertificate, type CertificateInfo } from '@ssmax/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeManifest, sha256Hex, signManifest, verifyManifest, type Manifest } from './manifest.js';

const now = () => new Date('2026-01-01T00:00:00Z');
let root: CertificateInfo;
let org: CertificateInfo;
let user: CertificateInfo;
let userKey: SoftwareKey;
let der: Uint8Array;
const body = new Uint8Array(Buffer.from('hello\r\n'));
const manifest: Manifest = {
  v: 1,
  type: 'ssmax-manifest',
  messageId: '<m1@org-a.example>',
  from: 'alice@org-a.example',
  to: ['Bob@ORG-B.example', 'carol@org-b.example'],
  cc: [],
  subject: 'figures',
  date: 'Thu, 1 Jan 2026 00:00:00 +0000',
  bodySha256: sha256Hex(body),
  files: [{ n: 1, name: 'a.txt', contentType: 'text/plain', size: 3, sha256: sha256Hex(new Uint8Array([1, 2, 3])) }],
};
const expected = {
  messageId: manifest.messageId,
  from: 'alice@org-a.example',
  to: ['carol@org-b.example', 'Bob@org-b.example'],
  cc: [],
  subject: 'figures',
  date: manifest.date,
  body,
  files: [{ n: 1, name: 'a.txt', sha256: sha256Hex(new Uint8Array([1, 2, 3])) }],
};

beforeAll(async () => {
  const rootKey = SoftwareKey.generate('EC-P256');
  const orgKey = SoftwareKey.generate('EC-P256');
  userKey = SoftwareKey.generate('EC-P256');
  root = await issueRootCertificate({ subject: { CN: 'Root' }, key: rootKey, now });
  org = await issueOrgCertificate({
    issuer: { certificate: root, key: rootKey },
    subjectSpki: orgKey.spki,
    organization: 'A',
    mailDomain: 'org-a.example',
    now,
  });
  user = await issueUserCertificate({
    issuer: { certificate: org, key: orgKey },
    subjectSpki: userKey.spki,
    email: 'alice@org-a.example',
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt: now() },
    traceId: new Uint8Array(16),
    now,
  });
  der = await signManifest(manifest, { key: userKey, certificate: user.der, chain: [org.der] }, now());
});

describe('manifest', () => {
  it('verifies when headers, body and files match, with address order and domain case normalised', () => {
    const v = verifyManifest(der, { trustAnchors: [root.der], time: now(), expected });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(new TextDecoder().decode(encodeManifest(manifest))).toContain('"to":["Bob@org-b.example","carol@org-b.example"]');
  });

  it('never throws, and verifies a changed SignedData only when the signed manifest is unchanged', () => {
    fc.assert(
      fc.property(fc.nat({ max: der.byteLength - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bad = new Uint8Array(der);
        bad[i] = bad[i]! ^ x;
        const v = verifyManifest(bad, { trustAnchors: [root.der], time: now(), expected });
        // Unsigned fields (e.g. the digestAlgorithms SET, RFC 5652 §5.1) may change without harm; the signed content may not.
        if (v.valid) expect(encodeManifest(v.manifest!)).toEqual(encodeManifest(manifest));
        const inContent =
          i >= Buffer.from(der).indexOf(Buffer.from(encodeManifest(manifest)).subarray(0, 20)) &&
          i < Buffer.from(der).indexOf(Buffer.from(encodeManifest(manifest)).subarray(0, 20)) + encodeManifest(manifest).byteLength;
        if (inContent) expect(v.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('reports each changed field of what arrived', () => {
    fc.assert(
      fc.property(fc.constantFrom('subject', 'date', 'messageId', 'to', 'body', 'file', 'from'), (field) => {
        const e = {
          ...expected,
          ...(field === 'subject' ? { subject: 'other' } : {}),
          ...(field === 'date' ? { date: 'Fri, 2 Jan 2026 00:00:00 +0000' } : {}),
          ...(field === 'messageId' ? { messageId: '<m2@org-a.example>' } : {}),
          ...(field === 'to' ? { to: ['bob@org-b.example'] } : {}),
          ...(field === 'body' ? { body: new Uint8Array(Buffer.from('hello!\r\n')) } : {}),
          ...(field === 'file' ? { files: [{ n: 1, name: 'a.txt', sha256: sha256Hex(new Uint8Array([9])) }] } : {}),
          ...(field === 'from' ? { from: 'mallory@org-a.example' } : {}),
        };
        const v = verifyManifest(der, { trustAnchors: [root.der], time: now(), expected: e });
        expect(v.valid).toBe(false);
        expect(v.problems.length).toBeGreaterThan(0);
      }),
    );
  });
});
