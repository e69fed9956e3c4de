import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { SoftwareKey } from '../software-key.js';
import { issueCrl, parseCertificate } from './index.js';
import { issueOrgKmsCertificate, issueRootCertificate, issueSmimeCertificate, issueUserCertificate } from './issue.js';
import { cachedKey, createSsmaxTestPki, opensslWorkspace, T0 } from './test-fixtures.js';

/** openssl verify at T0 + 1 day (the fixture clock), not at the wall clock. */
const AT = String(Math.floor(T0.getTime() / 1000) + 86_400);

describe('issueUserCertificate', () => {
  it('yields a root → org → user chain that openssl verify accepts for smimesign when CRLs are checked', async () => {
    const pki = await createSsmaxTestPki();
    const alice = await pki.user('alice');
    const rootCrl = await issueCrl({ issuer: { certificate: pki.root, key: pki.rootKey }, now: pki.now, crlNumber: 1, revoked: [] });
    const orgCrl = await issueCrl({ issuer: { certificate: pki.org, key: pki.orgKey }, now: pki.now, crlNumber: 1, revoked: [] });
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writeCerts('org.pem', [pki.org.der]);
    ws.writeCerts('leaf.pem', [alice.cert.der]);
    const crls = ws.writePem('r.crl', rootCrl.der, 'X509 CRL');
    const crls2 = ws.writePem('o.crl', orgCrl.der, 'X509 CRL');
    const r = ws.run([
      'verify',
      '-attime',
      AT,
      '-CAfile',
      'root.pem',
      '-untrusted',
      'org.pem',
      '-purpose',
      'smimesign',
      '-crl_check_all',
      '-CRLfile',
      crls,
      '-CRLfile',
      crls2,
      'leaf.pem',
    ]);
    expect(r.out).toContain('leaf.pem: OK');
    expect(r.status).toBe(0);
  });

  it('yields a leaf that openssl verify rejects as revoked when the org CRL lists it', async () => {
    const pki = await createSsmaxTestPki();
    const alice = await pki.user('alice');
    const rootCrl = await issueCrl({ issuer: { certificate: pki.root, key: pki.rootKey }, now: pki.now, crlNumber: 1, revoked: [] });
    const orgCrl = await issueCrl({
      issuer: { certificate: pki.org, key: pki.orgKey },
      now: pki.now,
      crlNumber: 2,
      revoked: [{ serialNumber: alice.cert.serialNumber, revocationDate: T0, reason: 'keyCompromise' }],
    });
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writeCerts('org.pem', [pki.org.der]);
    ws.writeCerts('leaf.pem', [alice.cert.der]);
    ws.writePem('r.crl', rootCrl.der, 'X509 CRL');
    ws.writePem('o.crl', orgCrl.der, 'X509 CRL');
    const r = ws.run([
      'verify',
      '-attime',
      AT,
      '-CAfile',
      'root.pem',
      '-untrusted',
      'org.pem',
      '-purpose',
      'smimesign',
      '-crl_check_all',
      '-CRLfile',
      'r.crl',
      '-CRLfile',
      'o.crl',
      'leaf.pem',
    ]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/certificate revoked/);
  });

  it('carries the rfc822Name, emailProtection and signing key usages that openssl x509 -text shows', async () => {
    const pki = await createSsmaxTestPki();
    const { cert } = await pki.user('alice');
    using ws = opensslWorkspace();
    ws.writeCerts('leaf.pem', [cert.der]);
    const text = ws.run(['x509', '-text', '-noout', '-in', 'leaf.pem']).out;
    expect(text).toContain('email:alice@alpha.example');
    expect(text).toMatch(/Extended Key Usage: *\n *E-mail Protection/);
    expect(text).toMatch(/Key Usage: critical\n *Digital Signature, Non Repudiation\n/);
    expect(text).toMatch(/Basic Constraints: critical\n *CA:FALSE/);
    expect(text).toContain(`Authority Key Identifier: \n                ${pki.org.subjectKeyIdentifier!.toUpperCase().match(/../g)!.join(':')}`);
    expect(text).toContain('2.25.172299975742873968627403492381854827259.1.1');
    expect(text).toContain('2.25.172299975742873968627403492381854827259.1.2');
  });

  it('sets keyEncipherment for an RSA and keyAgreement for an EC encryption certificate, and both sets when combined', async () => {
    const pki = await createSsmaxTestPki();
    const rsa = await pki.user('enc-rsa', { alg: 'RSA-2048', usage: 'encryption' });
    const ec = await pki.user('enc-ec', { alg: 'EC-P256', usage: 'encryption' });
    const both = await pki.user('both', { alg: 'RSA-2048', usage: 'combined' });
    expect(rsa.cert.keyUsage).toEqual(['keyEncipherment']);
    expect(ec.cert.keyUsage).toEqual(['keyAgreement']);
    expect(both.cert.keyUsage).toEqual(['digitalSignature', 'nonRepudiation', 'keyEncipherment']);
    using ws = opensslWorkspace();
    ws.writeCerts('rsa.pem', [rsa.cert.der]);
    ws.writeCerts('ec.pem', [ec.cert.der]);
    expect(ws.run(['x509', '-text', '-noout', '-in', 'rsa.pem']).out).toMatch(/Key Usage: critical\n *Key Encipherment\n/);
    expect(ws.run(['x509', '-text', '-noout', '-in', 'ec.pem']).out).toMatch(/Key Usage: critical\n *Key Agreement\n/);
  });

  it('uses fresh positive 128-bit serial numbers and the injected clock', async () => {
    const pki = await createSsmaxTestPki();
    const a = await pki.user('a');
    const b = await pki.user('b');
    for (const c of [a.cert, b.cert, pki.org, pki.root]) expect(c.serialNumber).toMatch(/^[89a-f][0-9a-f]{31}$/);
    expect(a.cert.serialNumber).not.toBe(b.cert.serialNumber);
    expect(a.cert.notBefore.toISOString()).toBe(T0.toISOString());
    expect(a.cert.notAfter.getTime() - T0.getTime()).toBe(365 * 86_400_000);
  });

  it('throws USAGE when the address is outside the org mail domain', async () => {
    const pki = await createSsmaxTestPki();
    const key = cachedKey('EC-P256', 'outsider');
    const err = await issueUserCertificate({
      issuer: { certificate: pki.org, key: pki.orgKey },
      subjectSpki: key.spki,
      email: 'ceo@beta.example',
      usage: 'signing',
      identityProofing: { method: 'none', proofedAt: T0 },
      traceId: new Uint8Array(16),
      now: pki.now,
    }).catch((e: unknown) => e);
    expect(SsmaxError.is(err, 'USAGE')).toBe(true);
  });

  it('throws USAGE when the issuer key does not match the issuer certificate', async () => {
    const pki = await createSsmaxTestPki();
    const err = await issueOrgKmsCertificate({
      issuer: { certificate: pki.org, key: pki.rootKey },
      subjectSpki: pki.orgKey.spki,
      purpose: 'signing',
      now: pki.now,
    }).catch((e: unknown) => e);
    expect(SsmaxError.is(err, 'USAGE')).toBe(true);
  });
});

describe('issueSmimeCertificate', () => {
  const publicCa = async () => {
    const key = cachedKey('EC-P256', 'public-ca');
    const root = await issueRootCertificate({ subject: { O: 'Public S/MIME CA', CN: 'Public S/MIME Root' }, key, now: () => T0, pathLen: 0 });
    return { root, key };
  };

  it('makes a mailbox-validated leaf (address-only subject, BR policy 2.23.140.1.5.1.2, no SSMAX extensions) that openssl verifies for smimesign', async () => {
    const ca = await publicCa();
    const cert = await issueSmimeCertificate({
      issuer: { certificate: ca.root, key: ca.key },
      subjectSpki: cachedKey('EC-P256', 'mv-leaf').spki,
      email: 'eve@look.example',
      validation: 'mailbox',
      usage: 'combined',
      now: () => T0,
    });
    expect(cert.policies).toEqual(['2.23.140.1.5.1.2']);
    expect(cert.subject).toBe('CN=eve@look.example');
    expect(cert.identityProofing).toBeUndefined();
    expect(cert.traceId).toBeUndefined();
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [ca.root.der]);
    ws.writeCerts('leaf.pem', [cert.der]);
    const text = ws.run(['x509', '-text', '-noout', '-in', 'leaf.pem']).out;
    expect(text).toMatch(/Certificate Policies: *\n *Policy: 2\.23\.140\.1\.5\.1\.2/);
    expect(text).toContain('email:eve@look.example');
    expect(text).toMatch(/Key Usage: critical\n *Digital Signature, Non Repudiation, Key Agreement\n/);
    const r = ws.run(['verify', '-attime', AT, '-CAfile', 'root.pem', '-purpose', 'smimesign', 'leaf.pem']);
    expect(r.out).toContain('leaf.pem: OK');
  });

  it('makes a sponsor-validated leaf naming the person and the sponsoring organisation (policy 2.23.140.1.5.3.2)', async () => {
    const ca = await publicCa();
    const cert = await issueSmimeCertificate({
      issuer: { certificate: ca.root, key: ca.key },
      subjectSpki: cachedKey('EC-P256', 'sv-leaf').spki,
      email: 'alice@alpha.example',
      validation: 'sponsor',
      commonName: 'Alice',
      organization: 'Alpha Corp',
      usage: 'combined',
      now: () => T0,
    });
    expect(cert.policies).toEqual(['2.23.140.1.5.3.2']);
    expect(cert.subjectAttributes).toEqual([
      { type: 'O', value: 'Alpha Corp' },
      { type: 'CN', value: 'Alice' },
    ]);
    expect(cert.emailAddresses).toEqual(['alice@alpha.example']);
  });

  it('refuses a sponsor-validated certificate without the sponsor, and a non-CA issuer', async () => {
    const ca = await publicCa();
    await expect(
      issueSmimeCertificate({
        issuer: { certificate: ca.root, key: ca.key },
        subjectSpki: cachedKey('EC-P256', 'sv-leaf').spki,
        email: 'a@b.example',
        validation: 'sponsor',
        usage: 'signing',
        now: () => T0,
      }),
    ).rejects.toThrow(/sponsoring organisation/);
    const leaf = await issueSmimeCertificate({
      issuer: { certificate: ca.root, key: ca.key },
      subjectSpki: cachedKey('EC-P256', 'mv-leaf').spki,
      email: 'eve@look.example',
      validation: 'mailbox',
      usage: 'signing',
      now: () => T0,
    });
    await expect(
      issueSmimeCertificate({
        issuer: { certificate: leaf, key: cachedKey('EC-P256', 'mv-leaf') },
        subjectSpki: cachedKey('EC-P256', 'sv-leaf').spki,
        email: 'x@look.example',
        validation: 'mailbox',
        usage: 'signing',
        now: () => T0,
      }),
    ).rejects.toThrow(SsmaxError);
  });
});

describe('issueOrgCertificate', () => {
  it('makes a pathLen-0 CA with keyCertSign, cRLSign, the org name and mail domain', async () => {
    const pki = await createSsmaxTestPki();
    using ws = opensslWorkspace();
    ws.writeCerts('org.pem', [pki.org.der]);
    const text = ws.run(['x509', '-text', '-noout', '-nameopt', 'RFC2253', '-in', 'org.pem']).out;
    expect(text).toMatch(/Basic Constraints: critical\n *CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\n *Certificate Sign, CRL Sign/);
    expect(text).toContain('DNS:alpha.example');
    expect(text).toContain('Subject: CN=alpha.example,O=Alpha Corp');
    expect(pki.org.orgRole).toEqual({ kind: 'organisation', mailDomain: 'alpha.example' });
  });
});

describe('issueOrgKmsCertificate', () => {
  it('yields root → org → KMS chains that openssl verify accepts for smimesign (signing) and smimeencrypt (encryption)', async () => {
    const pki = await createSsmaxTestPki();
    const sig = await pki.kms('signing');
    const enc = await pki.kms('encryption', 'RSA-2048');
    const encEc = await pki.kms('encryption', 'EC-P256');
    expect(sig.cert.keyUsage).toEqual(['digitalSignature', 'nonRepudiation']);
    expect(enc.cert.keyUsage).toEqual(['keyEncipherment']);
    expect(encEc.cert.keyUsage).toEqual(['keyAgreement']);
    expect(sig.cert.dnsNames).toEqual(['alpha.example']);
    expect(sig.cert.subject).toBe('CN=alpha.example KMS signing,O=Alpha Corp');
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writeCerts('org.pem', [pki.org.der]);
    ws.writeCerts('sig.pem', [sig.cert.der]);
    ws.writeCerts('enc.pem', [enc.cert.der]);
    ws.writeCerts('enc-ec.pem', [encEc.cert.der]);
    const a = ws.run(['verify', '-attime', AT, '-CAfile', 'root.pem', '-untrusted', 'org.pem', '-purpose', 'smimesign', 'sig.pem']);
    expect(a.out).toContain('sig.pem: OK');
    const b = ws.run(['verify', '-attime', AT, '-CAfile', 'root.pem', '-untrusted', 'org.pem', '-purpose', 'smimeencrypt', 'enc.pem']);
    expect(b.out).toContain('enc.pem: OK');
    // openssl 3.0's smimeencrypt purpose insists on keyEncipherment, which RFC 8550 §4.4.2 does not ask
    // of an EC (key agreement) certificate, so the EC one is checked without a purpose.
    const c = ws.run(['verify', '-attime', AT, '-CAfile', 'root.pem', '-untrusted', 'org.pem', 'enc-ec.pem']);
    expect(c.out).toContain('enc-ec.pem: OK');
  });
});

describe('issueRootCertificate', () => {
  it('signs with RSASSA-PSS when asked, and openssl verifies the PSS-signed chain', async () => {
    const pki = await createSsmaxTestPki({ rootAlg: 'RSA-2048', rootScheme: 'RSASSA-PSS-SHA256', orgScheme: 'RSASSA-PSS-SHA256' });
    const alice = await pki.user('alice');
    expect(pki.root.signatureAlgorithm).toEqual({ kind: 'rsa-pss', oid: '1.2.840.113549.1.1.10', hash: 'sha256', saltLength: 32 });
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writeCerts('org.pem', [pki.org.der]);
    ws.writeCerts('leaf.pem', [alice.cert.der]);
    expect(ws.run(['x509', '-text', '-noout', '-in', 'org.pem']).out).toMatch(
      /Signature Algorithm: rsassaPss[\s\S]*Hash Algorithm: sha256[\s\S]*Salt Length: 0x20/,
    );
    const r = ws.run(['verify', '-attime', AT, '-CAfile', 'root.pem', '-untrusted', 'org.pem', '-purpose', 'smimesign', 'leaf.pem']);
    expect(r.out).toContain('leaf.pem: OK');
  });

  it('refuses a scheme the issuer key cannot make', async () => {
    const err = await import('./issue.js')
      .then((m) => m.issueRootCertificate({ subject: { CN: 'x' }, key: SoftwareKey.generate('EC-P256'), scheme: 'RSASSA-PSS-SHA256', now: () => T0 }))
      .catch((e: unknown) => e);
    expect(SsmaxError.is(err, 'UNSUPPORTED_ALGORITHM')).toBe(true);
  });
});

describe('issueCrl', () => {
  it('makes a v2 CRL with reason code and CRL number that openssl crl verifies against the issuer', async () => {
    const pki = await createSsmaxTestPki();
    const alice = await pki.user('alice');
    const crl = await issueCrl({
      issuer: { certificate: pki.org, key: pki.orgKey },
      now: pki.now,
      crlNumber: 42,
      revoked: [{ serialNumber: alice.cert.serialNumber, revocationDate: T0, reason: 'keyCompromise' }],
    });
    expect(crl.crlNumber).toBe('2a');
    expect(crl.revoked).toEqual([{ serialNumber: alice.cert.serialNumber, revocationDate: T0, reason: 'keyCompromise' }]);
    expect(crl.nextUpdate!.getTime() - T0.getTime()).toBe(7 * 86_400_000);
    using ws = opensslWorkspace();
    ws.writeCerts('org.pem', [pki.org.der]);
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writePem('o.crl', crl.der, 'X509 CRL');
    const ok = ws.run(['crl', '-in', 'o.crl', '-CAfile', 'org.pem', '-noout', '-text']);
    expect(ok.out).toContain('verify OK');
    expect(ok.out).toContain('Version 2 (0x1)');
    expect(ok.out).toMatch(/X509v3 CRL Number: *\n *42/);
    expect(ok.out).toMatch(/CRL Reason Code: *\n *Key Compromise/);
    expect(ok.out.replace(/:/g, '').toLowerCase()).toContain(`serial number ${alice.cert.serialNumber}`);
    const wrong = ws.run(['crl', '-in', 'o.crl', '-CAfile', 'root.pem', '-noout']);
    expect(wrong.out).not.toContain('verify OK');
  });

  it('omits revokedCertificates and names the issuer key when nothing is revoked', async () => {
    const pki = await createSsmaxTestPki();
    const crl = await issueCrl({ issuer: { certificate: pki.root, key: pki.rootKey }, now: pki.now, crlNumber: 0, revoked: [] });
    expect(crl.revoked).toEqual([]);
    expect(crl.authorityKeyIdentifier).toBe(pki.root.subjectKeyIdentifier);
    expect(parseCertificate(pki.root.der).subject).toBe(crl.issuer);
  });
});
