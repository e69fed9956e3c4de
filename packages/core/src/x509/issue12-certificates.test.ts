/**
 * Issue 12, certificates: every certificate of a PEM bundle is read, one we cannot use is reported and never
 * hides the others, the machine's system bundle loads, and cross-signed paths between an RSA and an Ed25519
 * CA validate both ways. The cross-certificates are RFC 9216's (wbond/certvalidator tests/fixtures/rfc9216 at
 * commit a2eddc9ab0a0cca80b9fb18104cae9a6cf9a1c60; test-vectors/rfc9216/SOURCE.md); `openssl verify` is the
 * oracle for the same paths. The unusable certificates are made here by openssl.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { decodePem, encodePem } from '../pem.js';
import { xorByte } from '../testing/bytes.js';
import { parseCertificate } from './certificate-info.js';
import { readCertificateBundle } from './certificate-bundle.js';
import { validateChain } from './validate-chain.js';

const CERTS = fileURLToPath(new URL('../../test-vectors/rfc9216/certs/', import.meta.url));
const pemOf = (name: string): string => readFileSync(CERTS + name, 'latin1');
const der = (name: string): Uint8Array => decodePem(pemOf(name), 'CERTIFICATE');
const AT = new Date('2026-06-01T00:00:00Z');
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const RSA_ROOT = 'Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem';
const ED_ROOT = 'Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem';
/** The Ed25519 CA's key and name, certified by the RSA CA (RSA signature). */
const ED_BY_RSA = 'Sample_LAMPS_Ed25519_Certification_Authority.crosssigned.pem';
/** The RSA CA's key and name, certified by the Ed25519 CA (Ed25519 signature). */
const RSA_BY_ED = 'Sample_LAMPS_RSA_Certification_Authority.crosssigned.pem';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-issue12-certs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A self-signed certificate for a key type we do not support (secp256k1, DSA), made by openssl. */
function unsupportedCert(kind: 'secp256k1' | 'dsa'): string {
  const key = join(dir, `${kind}.key`);
  if (kind === 'dsa') {
    execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-out', join(dir, 'dsa.param')], {
      cwd: dir,
      stdio: 'pipe',
    });
    execFileSync('openssl', ['genpkey', '-paramfile', join(dir, 'dsa.param'), '-out', key], { cwd: dir, stdio: 'pipe' });
  } else {
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', key], { cwd: dir, stdio: 'pipe' });
  }
  return execFileSync('openssl', ['req', '-x509', '-key', key, '-subj', `/CN=Unsupported ${kind} root`, '-days', '30'], { cwd: dir }).toString('latin1');
}

describe('issue 12: readCertificateBundle', () => {
  it('reads every certificate after an unsupported key, broken DER, broken base64 and a key block, reporting each one it skips', () => {
    const garbage = encodePem(new Uint8Array([0x30, 0x82, 0x01, 0x00, 0x02, 0x01]), 'CERTIFICATE');
    const bundle = [
      unsupportedCert('secp256k1'),
      pemOf(RSA_ROOT),
      garbage,
      '-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n',
      unsupportedCert('dsa'),
      '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n',
      pemOf(ED_ROOT),
      pemOf('carlos@smime.example.enc.pem'),
    ].join('');
    const b = readCertificateBundle(new TextEncoder().encode(bundle), 'bundle.pem');
    expect(b.parsed.map((c) => c.subject)).toEqual([
      parseCertificate(der(RSA_ROOT)).subject,
      parseCertificate(der(ED_ROOT)).subject,
      parseCertificate(der('carlos@smime.example.enc.pem')).subject,
    ]);
    expect(b.parsed.map((c) => c.publicKeyType)).toEqual(['rsa', 'ed25519', 'x25519']);
    expect(b.skipped.map((s) => s.index)).toEqual([1, 3, 4, 5, 6]);
    expect(b.skipped[0]).toMatchObject({ subject: 'CN=Unsupported secp256k1 root' });
    expect(b.skipped[0]!.reason).toMatch(/public key type is not supported/);
    expect(b.skipped[1]!.reason).toMatch(/not a readable X\.509 certificate/);
    expect(b.skipped[2]!.reason).toMatch(/not base64/);
    expect(b.skipped[3]!.reason).toMatch(/public key type/);
    expect(b.skipped[4]!.reason).toMatch(/PRIVATE KEY block/);
  });

  it('reads one DER certificate, and refuses a file with no usable certificate as MALFORMED_CERTIFICATE naming why', () => {
    expect(readCertificateBundle(der(ED_ROOT)).certificates).toHaveLength(1);
    const only = new TextEncoder().encode(unsupportedCert('secp256k1'));
    const e = (() => {
      try {
        readCertificateBundle(only, 'k1.pem');
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(SsmaxError.is(e, 'MALFORMED_CERTIFICATE')).toBe(true);
    expect((e as Error).message).toMatch(/^Cannot read k1\.pem\. It holds no usable certificate: block 1: its public key type is not supported/);
    expect(() => readCertificateBundle(new TextEncoder().encode('just text'), 'x')).toThrow(SsmaxError);
  });

  it(`loads every certificate of the system bundle ${SYSTEM_BUNDLE} and still finds a root placed after it`, () => {
    const system = readFileSync(SYSTEM_BUNDLE);
    const blocks = (system.toString('latin1').match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
    expect(blocks).toBeGreaterThan(100);
    const b = readCertificateBundle(new Uint8Array(system), SYSTEM_BUNDLE);
    expect(b.skipped).toEqual([]);
    expect(b.certificates).toHaveLength(blocks);
    const both = readCertificateBundle(new Uint8Array(Buffer.concat([system, Buffer.from(pemOf(ED_ROOT))])));
    const r = validateChain({ leaf: der('carlos@smime.example.sig.pem'), trustAnchors: both.certificates, time: AT, revocation: 'none' });
    expect(r.valid).toBe(true);
    expect(r.chain.map((c) => c.subject)).toEqual([parseCertificate(der('carlos@smime.example.sig.pem')).subject, parseCertificate(der(ED_ROOT)).subject]);
    // The system roots alone do not make the sample chain valid.
    expect(validateChain({ leaf: der('carlos@smime.example.sig.pem'), trustAnchors: b.certificates, time: AT, revocation: 'none' }).code).toBe(
      'UNTRUSTED_CHAIN',
    );
  });
});

describe('issue 12: RFC 9216 cross-signed paths between the RSA and the Ed25519 CA', () => {
  it('parses the Ed25519 certificates: Ed25519 keys and signatures, X25519 encryption keys', () => {
    const carlos = parseCertificate(der('carlos@smime.example.sig.pem'));
    expect(carlos.publicKeyType).toBe('ed25519');
    expect(carlos.signatureAlgorithm).toMatchObject({ kind: 'eddsa', curve: 'Ed25519' });
    expect(parseCertificate(der('carlos@smime.example.enc.pem')).publicKeyType).toBe('x25519');
    expect(parseCertificate(der(RSA_BY_ED)).signatureAlgorithm.kind).toBe('eddsa');
    expect(parseCertificate(der(ED_BY_RSA)).signatureAlgorithm.kind).toBe('rsa-pkcs1');
  });

  it('validates Dana (issued by the Ed25519 CA) up to the RSA root through the RSA-signed cross-certificate, as openssl verify does', () => {
    const r = validateChain({
      leaf: der('dana@smime.example.sig.pem'),
      intermediates: [der(ED_BY_RSA)],
      trustAnchors: [der(RSA_ROOT)],
      time: AT,
      revocation: 'none',
    });
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.chain.map((c) => c.signatureAlgorithm.kind)).toEqual(['eddsa', 'rsa-pkcs1', 'rsa-pkcs1']);
    writeFileSync(join(dir, 'rsa-root.pem'), pemOf(RSA_ROOT));
    writeFileSync(join(dir, 'ed-by-rsa.pem'), pemOf(ED_BY_RSA));
    writeFileSync(join(dir, 'dana.pem'), pemOf('dana@smime.example.sig.pem'));
    expect(openssl(['verify', '-CAfile', 'rsa-root.pem', '-untrusted', 'ed-by-rsa.pem', 'dana.pem']).stdout).toContain('dana.pem: OK');
    // Without the cross-certificate neither finds a path.
    expect(validateChain({ leaf: der('dana@smime.example.sig.pem'), trustAnchors: [der(RSA_ROOT)], time: AT, revocation: 'none' }).code).toBe(
      'UNTRUSTED_CHAIN',
    );
    expect(openssl(['verify', '-CAfile', 'rsa-root.pem', 'dana.pem']).status).not.toBe(0);
  });

  it('validates Bob (issued by the RSA CA) up to the Ed25519 root through the Ed25519-signed cross-certificate, as openssl verify does', () => {
    const r = validateChain({
      leaf: der('bob@smime.example.sig.pem'),
      intermediates: [der(RSA_BY_ED)],
      trustAnchors: [der(ED_ROOT)],
      time: AT,
      revocation: 'none',
    });
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.chain.map((c) => c.signatureAlgorithm.kind)).toEqual(['rsa-pkcs1', 'eddsa', 'eddsa']);
    writeFileSync(join(dir, 'ed-root.pem'), pemOf(ED_ROOT));
    writeFileSync(join(dir, 'rsa-by-ed.pem'), pemOf(RSA_BY_ED));
    writeFileSync(join(dir, 'bob.pem'), pemOf('bob@smime.example.sig.pem'));
    expect(openssl(['verify', '-CAfile', 'ed-root.pem', '-untrusted', 'rsa-by-ed.pem', 'bob.pem']).stdout).toContain('bob.pem: OK');
  });

  it('reports BAD_SIGNATURE when one byte of the Ed25519 signature on the cross-certificate changes', () => {
    const cross = der(RSA_BY_ED).slice();
    xorByte(cross, cross.length - 5, 0x01);
    const r = validateChain({ leaf: der('bob@smime.example.sig.pem'), intermediates: [cross], trustAnchors: [der(ED_ROOT)], time: AT, revocation: 'none' });
    expect(r.valid).toBe(false);
    expect(r.code).toBe('BAD_SIGNATURE');
  });

  it('finds the cross path among all four CA certificates within its bounds (maxCandidates, no subject+key twice)', () => {
    const all = [der(RSA_ROOT), der(ED_ROOT), der(ED_BY_RSA), der(RSA_BY_ED)];
    for (const [leaf, root] of [
      ['dana@smime.example.sig.pem', RSA_ROOT],
      ['bob@smime.example.sig.pem', ED_ROOT],
    ] as const) {
      const r = validateChain({ leaf: der(leaf), intermediates: all, trustAnchors: [der(root)], time: AT, revocation: 'none' });
      expect(r.valid).toBe(true);
      expect(r.chain).toHaveLength(3);
      expect(r.candidatesTried).toBeLessThanOrEqual(6);
    }
    // With one candidate check allowed, the two-hop path cannot be completed: the bound holds.
    const tight = validateChain({
      leaf: der('dana@smime.example.sig.pem'),
      intermediates: all,
      trustAnchors: [der(RSA_ROOT)],
      time: AT,
      revocation: 'none',
      maxCandidates: 1,
    });
    expect(tight.valid).toBe(false);
    expect(tight.candidatesTried).toBe(1);
  });
});
