import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Oids } from '../oids.js';
import { decodePem } from '../pem.js';
import { createOpensslPki, type OpensslPki } from '../testing/openssl-pki.js';
import { issueCrl, parseCertificate, validateChain, type CertificateInfo, type ChainValidationOptions, type CrlInfo } from './index.js';
import { issueOrgCertificate, issueRootCertificate, issueUserCertificate } from './issue.js';
import { SoftwareKey } from '../software-key.js';
import { cachedKey, createSsmaxTestPki, opensslWorkspace, T0, type SsmaxTestPki } from './test-fixtures.js';

const DAY = 86_400_000;
const AT = new Date(T0.getTime() + DAY);

let pki: SsmaxTestPki;
let alice: { cert: CertificateInfo };
let rootCrl: CrlInfo;
let orgCrl: CrlInfo;

beforeAll(async () => {
  pki = await createSsmaxTestPki();
  alice = await pki.user('alice');
  rootCrl = await issueCrl({ issuer: { certificate: pki.root, key: pki.rootKey }, now: pki.now, crlNumber: 1, revoked: [] });
  orgCrl = await issueCrl({ issuer: { certificate: pki.org, key: pki.orgKey }, now: pki.now, crlNumber: 1, revoked: [] });
});

const base = (over: Partial<ChainValidationOptions> = {}): ChainValidationOptions => ({
  leaf: alice.cert,
  intermediates: [pki.org],
  trustAnchors: [pki.root],
  crls: [rootCrl, orgCrl],
  time: AT,
  requiredExtKeyUsage: Oids.emailProtection,
  requiredKeyUsage: ['digitalSignature', 'nonRepudiation'],
  email: 'alice@alpha.example',
  ...over,
});

const flipLastByte = (der: Uint8Array): Uint8Array => {
  const d = new Uint8Array(der);
  d[d.length - 1]! ^= 0x01;
  return d;
};

describe('validateChain', () => {
  it('accepts root → org → user with CRLs required, emailProtection, signing usage and the address', () => {
    const r = validateChain(base({ revocation: 'require' }));
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.chain.map((c) => c.subject)).toEqual([alice.cert.subject, pki.org.subject, pki.root.subject]);
  });

  it('accepts the address when only the domain case differs', () => {
    expect(validateChain(base({ email: 'alice@ALPHA.Example' })).valid).toBe(true);
  });

  it('accepts a chain whose certificates were given as DER', () => {
    expect(
      validateChain(base({ leaf: alice.cert.der, intermediates: [pki.org.der], trustAnchors: [pki.root.der], crls: [rootCrl.der, orgCrl.der] })).valid,
    ).toBe(true);
  });

  it('reports CERT_EXPIRED when the clock is past the leaf notAfter', () => {
    const r = validateChain(base({ time: new Date(alice.cert.notAfter.getTime() + 1000), revocation: 'none' }));
    expect(r).toMatchObject({ valid: false, code: 'CERT_EXPIRED' });
  });

  it('reports CERT_NOT_YET_VALID when the clock is before notBefore', () => {
    const r = validateChain(base({ time: new Date(T0.getTime() - DAY), revocation: 'none' }));
    expect(r).toMatchObject({ valid: false, code: 'CERT_NOT_YET_VALID' });
  });

  it('reports CERT_REVOKED when our org CRL lists the leaf', async () => {
    const revoking = await issueCrl({
      issuer: { certificate: pki.org, key: pki.orgKey },
      now: pki.now,
      crlNumber: 2,
      revoked: [{ serialNumber: alice.cert.serialNumber, revocationDate: T0, reason: 'keyCompromise' }],
    });
    const r = validateChain(base({ crls: [rootCrl, revoking] }));
    expect(r).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    expect(r.reasons[0]).toContain('keyCompromise');
  });

  it('reports UNTRUSTED_CHAIN when CRLs are required but missing, and accepts with a warning under ifAvailable', () => {
    expect(validateChain(base({ crls: [rootCrl] }))).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    const lax = validateChain(base({ crls: [rootCrl], revocation: 'ifAvailable' }));
    expect(lax.valid).toBe(true);
    expect(lax.warnings.join('\n')).toContain('not checked');
  });

  it('ignores a CRL with a broken signature or past its nextUpdate', () => {
    const forged = validateChain(base({ crls: [rootCrl, flipLastByte(orgCrl.der)] }));
    expect(forged).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(forged.warnings.join('\n')).toContain('ignored');
    const stale = validateChain(base({ time: new Date(orgCrl.nextUpdate!.getTime() + 1000) }));
    expect(stale).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
  });

  it('reports BAD_SIGNATURE when one bit of the issuer signature is flipped', () => {
    const r = validateChain(base({ leaf: flipLastByte(alice.cert.der) }));
    expect(r).toMatchObject({ valid: false, code: 'BAD_SIGNATURE' });
  });

  it('reports UNTRUSTED_CHAIN when the only anchor has the root name but another key', async () => {
    const impostor = await issueRootCertificate({
      subject: { C: 'JP', O: 'SSMAX Registry', CN: 'SSMAX Registry Root' },
      key: SoftwareKey.generate('EC-P256'),
      now: pki.now,
    });
    expect(impostor.subjectDer).toEqual(pki.root.subjectDer);
    const r = validateChain(base({ trustAnchors: [impostor] }));
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    // Without key identifiers to tell them apart, the name matches and the signature check catches it.
    const noAki = validateChain(
      base({
        leaf: pki.org,
        intermediates: [],
        trustAnchors: [{ ...impostor, subjectKeyIdentifier: undefined }],
        email: undefined,
        requiredExtKeyUsage: undefined,
        requiredKeyUsage: undefined,
        revocation: 'none',
      }),
    );
    expect(noAki).toMatchObject({ valid: false, code: 'BAD_SIGNATURE' });
  });

  it('reports CERT_USAGE when emailProtection is required and the leaf lacks it', () => {
    using pkiO = createOpensslPki();
    const cert = opensslCertWithEku(pkiO, 'clientAuth');
    const r = validateChain({ leaf: cert, trustAnchors: [pkiO.caCertDer], time: new Date(), revocation: 'none', requiredExtKeyUsage: Oids.emailProtection });
    expect(r).toMatchObject({ valid: false, code: 'CERT_USAGE' });
    expect(validateChain({ leaf: cert, trustAnchors: [pkiO.caCertDer], time: new Date(), revocation: 'none' }).valid).toBe(true);
  });

  it('reports CERT_USAGE when the address does not match', () => {
    expect(validateChain(base({ email: 'mallory@alpha.example' }))).toMatchObject({ valid: false, code: 'CERT_USAGE' });
    expect(validateChain(base({ email: 'Alice@alpha.example' }))).toMatchObject({ valid: false, code: 'CERT_USAGE' });
  });

  it('reports CERT_USAGE when the leaf key usage is not the required one', () => {
    expect(validateChain(base({ requiredKeyUsage: ['keyEncipherment', 'keyAgreement'] }))).toMatchObject({ valid: false, code: 'CERT_USAGE' });
  });

  it('reports CERT_USAGE when a CA:FALSE leaf is used as an issuer, as openssl does', async () => {
    const aliceKey = cachedKey('EC-P256', 'user-alice');
    // Pretend the leaf is a CA so our issuer refuses nothing; the signed certificate still names the real leaf.
    const fake = {
      ...alice.cert,
      basicConstraints: { ca: true },
      keyUsage: undefined,
      orgRole: { kind: 'organisation' as const, mailDomain: 'alpha.example' },
    };
    const victim = await issueUserCertificate({
      issuer: { certificate: fake, key: aliceKey },
      subjectSpki: cachedKey('EC-P256', 'victim').spki,
      email: 'victim@alpha.example',
      usage: 'signing',
      identityProofing: { method: 'none', proofedAt: T0 },
      traceId: new Uint8Array(16),
      now: pki.now,
    });
    const r = validateChain(base({ leaf: victim, intermediates: [alice.cert, pki.org], email: 'victim@alpha.example', revocation: 'none' }));
    expect(r).toMatchObject({ valid: false, code: 'CERT_USAGE' });
    expect(r.reasons.join('\n')).toContain('not a CA');
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writeCerts('chain.pem', [alice.cert.der, pki.org.der]);
    ws.writeCerts('leaf.pem', [victim.der]);
    const o = ws.run(['verify', '-attime', String(AT.getTime() / 1000), '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem']);
    expect(o.status).not.toBe(0);
    expect(o.out).toMatch(/invalid CA certificate/);
  });

  it('reports CERT_USAGE when a pathLen-0 org CA has a sub-CA below it, as openssl does', async () => {
    const subKey = cachedKey('EC-P256', 'sub-ca');
    const sub = await issueOrgCertificate({
      issuer: { certificate: pki.org, key: pki.orgKey },
      subjectSpki: subKey.spki,
      organization: 'Alpha Sub',
      mailDomain: 'alpha.example',
      now: pki.now,
    });
    const leaf = await issueUserCertificate({
      issuer: { certificate: sub, key: subKey },
      subjectSpki: cachedKey('EC-P256', 'deep').spki,
      email: 'deep@alpha.example',
      usage: 'signing',
      identityProofing: { method: 'none', proofedAt: T0 },
      traceId: new Uint8Array(16),
      now: pki.now,
    });
    const r = validateChain(base({ leaf, intermediates: [sub, pki.org], email: 'deep@alpha.example', revocation: 'none' }));
    expect(r).toMatchObject({ valid: false, code: 'CERT_USAGE' });
    expect(r.reasons.join('\n')).toMatch(/allows 0 intermediate CA\(s\) below it, the path has 1/);
    using ws = opensslWorkspace();
    ws.writeCerts('root.pem', [pki.root.der]);
    ws.writeCerts('chain.pem', [sub.der, pki.org.der]);
    ws.writeCerts('leaf.pem', [leaf.der]);
    const o = ws.run(['verify', '-attime', String(AT.getTime() / 1000), '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem']);
    expect(o.out).toMatch(/path length constraint exceeded/);
  });
});

describe('validateChain against openssl-made certificates', () => {
  let o: OpensslPki;
  beforeAll(() => {
    o = createOpensslPki();
  });
  afterAll(() => o[Symbol.dispose]());

  it('accepts the RSA and EC e-mail certificates of the openssl CA', () => {
    for (const id of [o.rsa, o.ec]) {
      const r = validateChain({
        leaf: id.certDer,
        trustAnchors: [o.caCertDer],
        time: new Date(),
        revocation: 'none',
        requiredExtKeyUsage: Oids.emailProtection,
        email: id.email,
      });
      expect(r.reasons).toEqual([]);
      expect(r.valid).toBe(true);
    }
  });

  it('reports CERT_REVOKED from a CRL made by openssl ca -gencrl, and accepts the other certificate', () => {
    writeFileSync(join(o.dir, 'index.txt'), '');
    writeFileSync(join(o.dir, 'crlnumber'), '01\n');
    writeFileSync(
      join(o.dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = CA_default',
        '[CA_default]',
        'database = index.txt',
        'crlnumber = crlnumber',
        'default_md = sha256',
        'default_crl_days = 30',
        '',
      ].join('\n'),
    );
    const rev = o.openssl(['ca', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-revoke', o.rsa.certPath, '-crl_reason', 'keyCompromise']);
    expect(rev.status, rev.stderr).toBe(0);
    const gen = o.openssl(['ca', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.pem', '-gencrl']);
    expect(gen.status, gen.stderr).toBe(0);
    const crl = decodePem(gen.stdout.toString('latin1'), 'X509 CRL');
    const revoked = validateChain({ leaf: o.rsa.certDer, trustAnchors: [o.caCertDer], crls: [crl], time: new Date() });
    expect(revoked).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    expect(revoked.reasons[0]).toContain('keyCompromise');
    expect(validateChain({ leaf: o.ec.certDer, trustAnchors: [o.caCertDer], crls: [crl], time: new Date() }).valid).toBe(true);
  });
});

function opensslCertWithEku(o: OpensslPki, eku: string): Uint8Array {
  writeFileSync(
    join(o.dir, 'eku.cnf'),
    [
      '[e]',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${eku}`,
      'subjectAltName=email:eve@interop.example',
      '',
    ].join('\n'),
  );
  const req = o.openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'eve.key',
    '-out',
    'eve.csr',
    '-subj',
    '/CN=eve',
  ]);
  expect(req.status, req.stderr).toBe(0);
  const x = o.openssl([
    'x509',
    '-req',
    '-in',
    'eve.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '99',
    '-days',
    '30',
    '-extfile',
    'eku.cnf',
    '-extensions',
    'e',
  ]);
  expect(x.status, x.stderr).toBe(0);
  const der = decodePem(x.stdout.toString('latin1'), 'CERTIFICATE');
  expect(parseCertificate(der).extKeyUsage).toEqual([Oids.clientAuth]);
  return der;
}
