/**
 * Issue 12: `ssmax cms verify` and `ssmax cms sign` with what the rest of the world writes. Inputs from outside
 * this repository: the RFC 9216 sample certificates (wbond/certvalidator tests/fixtures/rfc9216, commit
 * a2eddc9ab0a0cca80b9fb18104cae9a6cf9a1c60) and SignedData made with those keys by another implementation
 * (davidi67/examples-cms, commit 2fbf230db8f58835b4eba8cdeb3508ac76c5f989), both in
 * packages/core/test-vectors/rfc9216 (SOURCE.md); the machine's CA bundle; certificates of unsupported key
 * types made by openssl. What we sign is checked by OpenSSL 3.0 where it can and by the Python oracle
 * (core testing/cms_oracle.py, /usr/bin/python3 with Debian's cryptography 38) for Ed25519.
 * Runs the built binary, as the other CLI tests do.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SoftHsmNative,
  decodePem,
  encodePem,
  issueRootCertificate,
  issueUserCertificate,
  issueOrgCertificate,
  SoftwareKey,
  type CertificateInfo,
} from '@ssmax/core';

const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const VEC = join(ROOT, 'packages/core/test-vectors/rfc9216');
const ORACLE = join(ROOT, 'packages/core/src/testing/cms_oracle.py');
const AT = '2026-06-01T00:00:00Z';
const SAMPLE = 'This is some sample content.';

function ssmax(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

interface VerifyLine {
  valid: boolean;
  code?: string;
  reasons?: string[];
  signers: Array<{ valid: boolean; code?: string; email: string | null; scheme: string | null; digestAlgorithm: string; sid: string }>;
}

/** `ssmax cms verify`, with its one JSON line parsed. */
function verify(...args: string[]): { status: number | null; j: VerifyLine; stderr: string } {
  const r = ssmax(['cms', 'verify', '--attime', AT, ...args]);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  return { status: r.status, j: JSON.parse(lines[0]!) as VerifyLine, stderr: r.stderr };
}

let dir: string;
const p = (name: string) => join(dir, name);
const v = (name: string) => join(VEC, name);
const certPem = (name: string) => readFileSync(join(VEC, 'certs', name), 'latin1');

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString('latin1');
}

function flipFile(src: string, dst: string, at: (b: Buffer) => number): string {
  const b = Buffer.from(readFileSync(src));
  b[at(b)] = b[at(b)]! ^ 0x01;
  writeFileSync(dst, b);
  return dst;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-cms-interop-'));
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: ROOT });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
  writeFileSync(p('sample.txt'), SAMPLE);
  writeFileSync(p('ed-root.pem'), certPem('Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem'));
  writeFileSync(p('rsa-root.pem'), certPem('Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem'));
  writeFileSync(
    p('roots.pem'),
    certPem('Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem') + certPem('Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem'),
  );
  writeFileSync(p('people.pem'), certPem('alice@smime.example.sig.pem') + certPem('carlos@smime.example.sig.pem'));
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', p('k1.key')]);
  writeFileSync(p('k1-root.pem'), openssl(['req', '-x509', '-key', p('k1.key'), '-subj', '/CN=secp256k1 root', '-days', '30']));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('issue 12: ssmax cms verify on SignedData another implementation made (RFC 9216 keys)', () => {
  it('reports Carlos (Ed25519, SHA-512) valid against the LAMPS Ed25519 root and BAD_SIGNATURE with one byte of the signature changed', () => {
    const r = verify('--in', v('examples-cms/signedByCarlosEd25519.p7m'), '--CAfile', p('ed-root.pem'), '--out', p('carlos.out'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.j.valid).toBe(true);
    expect(r.j.signers).toMatchObject([
      { valid: true, email: 'carlos@smime.example', scheme: 'Ed25519', digestAlgorithm: 'SHA-512', sid: 'issuerAndSerialNumber' },
    ]);
    expect(readFileSync(p('carlos.out'), 'latin1')).toBe(SAMPLE);
    const bad = verify(
      '--in',
      flipFile(v('examples-cms/signedByCarlosEd25519.p7m'), p('carlos-bad.p7m'), (b) => b.length - 3),
      '--CAfile',
      p('ed-root.pem'),
    );
    expect(bad.status).toBe(1);
    expect(bad.j).toMatchObject({ valid: false, code: 'BAD_SIGNATURE' });
  });

  it('reports both signers of a message without certificates valid only with --certfile, each in signers[]', () => {
    const msg = v('examples-cms/signedByAliceAndCarlosNoCerts.p7m');
    const ok = verify('--in', msg, '--CAfile', p('roots.pem'), '--certfile', p('people.pem'));
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.j.signers.map((s) => [s.email, s.scheme, s.valid])).toEqual([
      ['carlos@smime.example', 'Ed25519', true],
      ['alice@smime.example', 'RSASSA-PKCS1-v1_5', true],
    ]);
    const none = verify('--in', msg, '--CAfile', p('roots.pem'));
    expect(none.status).toBe(1);
    expect(none.j.signers.map((s) => s.code)).toEqual(['SIGNER_CERTIFICATE_MISSING', 'SIGNER_CERTIFICATE_MISSING']);
    expect(none.j.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^signer 2: /)]));
    writeFileSync(p('carlos-only.pem'), certPem('carlos@smime.example.sig.pem'));
    const half = verify('--in', msg, '--CAfile', p('roots.pem'), '--certfile', p('carlos-only.pem'));
    expect(half.status).toBe(1);
    expect(half.j.signers.map((s) => s.valid)).toEqual([true, false]);
  });

  it('reports the detached subjectKeyIdentifier signer valid with --content and BAD_SIGNATURE with other content', () => {
    writeFileSync(p('carlos.pem'), certPem('carlos@smime.example.sig.pem'));
    const ok = verify(
      '--in',
      v('examples-cms/signedByCarlosDetached.p7m'),
      '--content',
      p('sample.txt'),
      '--certfile',
      p('carlos.pem'),
      '--CAfile',
      p('ed-root.pem'),
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.j.signers[0]).toMatchObject({ valid: true, sid: 'subjectKeyIdentifier', scheme: 'Ed25519' });
    writeFileSync(p('other.txt'), 'This is some sample content!');
    const bad = verify(
      '--in',
      v('examples-cms/signedByCarlosDetached.p7m'),
      '--content',
      p('other.txt'),
      '--certfile',
      p('carlos.pem'),
      '--CAfile',
      p('ed-root.pem'),
    );
    expect(bad.status).toBe(1);
    expect(bad.j.code).toBe('BAD_SIGNATURE');
  });
});

describe('issue 12: ssmax cms verify reads every certificate of a --CAfile or --certfile bundle', () => {
  it('still finds the root after a first certificate with an unsupported key (secp256k1), warning about it on stderr', () => {
    writeFileSync(p('mixed.pem'), readFileSync(p('k1-root.pem'), 'latin1') + certPem('Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem'));
    const r = verify('--in', v('examples-cms/signedByCarlosEd25519.p7m'), '--CAfile', p('mixed.pem'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.j.valid).toBe(true);
    expect(r.stderr).toMatch(/^ssmax: warning: .*mixed\.pem: skipped certificate 1 \("CN=secp256k1 root"\): its public key type is not supported/m);
  });

  it('loads the system bundle /etc/ssl/certs/ca-certificates.crt without a warning: not valid with it alone, valid with the sample root beside it', () => {
    const alone = verify('--in', v('examples-cms/signedByCarlosEd25519.p7m'), '--CAfile', '/etc/ssl/certs/ca-certificates.crt');
    expect(alone.status).toBe(1);
    expect(alone.j.code).toBe('UNTRUSTED_CHAIN');
    expect(alone.stderr).toBe('');
    const both = verify('--in', v('examples-cms/signedByCarlosEd25519.p7m'), '--CAfile', '/etc/ssl/certs/ca-certificates.crt', '--CAfile', p('ed-root.pem'));
    expect(both.status, both.stderr).toBe(0);
    expect(both.stderr).toBe('');
  });

  it('exits 3 with MALFORMED_CERTIFICATE when a --CAfile holds no usable certificate, and with a typed code for a broken message', () => {
    const k1 = ssmax(['cms', 'verify', '--in', v('examples-cms/signedByCarlosEd25519.p7m'), '--CAfile', p('k1-root.pem')]);
    expect(k1.status).toBe(3);
    expect(k1.stderr).toMatch(
      /^ssmax: MALFORMED_CERTIFICATE: Cannot read .*k1-root\.pem\. It holds no usable certificate: block 1: its public key type is not supported/,
    );
    writeFileSync(p('truncated.p7m'), readFileSync(v('examples-cms/signedByCarlosEd25519.p7m')).subarray(0, 600));
    const cut = ssmax(['cms', 'verify', '--in', p('truncated.p7m'), '--CAfile', p('ed-root.pem')]);
    expect(cut.status).toBe(3);
    expect(cut.stderr).toMatch(/^ssmax: MALFORMED_(DER|CMS): Cannot /);
  });
});

describe('issue 12: ssmax cms sign with Ed25519 and wider ECDSA/PSS keys', () => {
  it('signs with the RFC 9216 Ed25519 key (SHA-512, PureEdDSA): valid for us and for the Python oracle, with --keyid as a subjectKeyIdentifier signer', () => {
    writeFileSync(p('carlos.pem'), certPem('carlos@smime.example.sig.pem'));
    for (const keyid of [false, true]) {
      const out = p(`ours-carlos-${keyid}.p7m`);
      const s = ssmax([
        'cms',
        'sign',
        '--in',
        p('sample.txt'),
        '--out',
        out,
        '--signer',
        p('carlos.pem'),
        '--key',
        v('examples-cms/lamps-carlos.p8.pem'),
        ...(keyid ? ['--keyid'] : []),
      ]);
      expect(s.status, s.stderr).toBe(0);
      const ours = verify('--in', out, '--CAfile', p('ed-root.pem'));
      expect(ours.j.signers[0]).toMatchObject({
        valid: true,
        scheme: 'Ed25519',
        digestAlgorithm: 'SHA-512',
        sid: keyid ? 'subjectKeyIdentifier' : 'issuerAndSerialNumber',
      });
      const py = JSON.parse(execFileSync('/usr/bin/python3', [ORACLE, 'verify', '--in', out]).toString()) as {
        valid: boolean;
        signers: Array<{ digest: string }>;
      };
      expect(py).toMatchObject({ valid: true, signers: [{ digest: 'sha512' }] });
    }
  });

  it('refuses --pss and --md with an Ed25519 key (USAGE, exit 2) and writes micalg=sha-512 for a detached S/MIME signature', () => {
    for (const extra of [['--pss'], ['--md', 'sha256']]) {
      const r = ssmax([
        'cms',
        'sign',
        '--in',
        p('sample.txt'),
        '--out',
        p('x.p7m'),
        '--signer',
        p('carlos.pem'),
        '--key',
        v('examples-cms/lamps-carlos.p8.pem'),
        ...extra,
      ]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^ssmax: USAGE: Cannot sign with .*The key is Ed25519/);
    }
    writeFileSync(p('entity.txt'), 'Content-Type: text/plain\r\n\r\nhello\r\n');
    const r = ssmax([
      'cms',
      'sign',
      '--in',
      p('entity.txt'),
      '--out',
      p('signed.eml'),
      '--signer',
      p('carlos.pem'),
      '--key',
      v('examples-cms/lamps-carlos.p8.pem'),
      '--detached',
      '--outform',
      'smime',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(p('signed.eml'), 'latin1')).toMatch(/micalg=sha-512;/);
  });

  it('signs with P-384 and P-521 keys (ECDSA-SHA384/512 by default) and RSA-PSS --md sha512, each accepted by openssl cms -verify', () => {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.pem'),
      '-days',
      '30',
      '-subj',
      '/CN=cli interop CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ]);
    writeFileSync(
      p('ee.cnf'),
      '[e]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\n',
    );
    for (const [name, gen, extra, md] of [
      ['p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], [], 'sha384'],
      ['p521', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], ['--keyid'], 'sha512'],
      ['rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['--pss', '--md', 'sha512'], 'sha512'],
    ] as const) {
      openssl(['genpkey', ...gen, '-out', p(`${name}.key`)]);
      openssl(['req', '-new', '-key', p(`${name}.key`), '-subj', `/CN=${name}`, '-out', p(`${name}.csr`)]);
      openssl([
        'x509',
        '-req',
        '-in',
        p(`${name}.csr`),
        '-CA',
        p('ca.pem'),
        '-CAkey',
        p('ca.key'),
        '-set_serial',
        '7',
        '-days',
        '30',
        '-extfile',
        p('ee.cnf'),
        '-extensions',
        'e',
        '-out',
        p(`${name}.pem`),
      ]);
      const s = ssmax(['cms', 'sign', '--in', p('sample.txt'), '--out', p(`${name}.p7m`), '--signer', p(`${name}.pem`), '--key', p(`${name}.key`), ...extra]);
      expect(s.status, s.stderr).toBe(0);
      expect(openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-in', p(`${name}.p7m`), '-CAfile', p('ca.pem'), '-purpose', 'smimesign'])).toBe(SAMPLE);
      expect(openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', p(`${name}.p7m`)])).toContain(md);
      const ours = verify('--in', p(`${name}.p7m`), '--CAfile', p('ca.pem'));
      expect(ours.j.signers[0]!.digestAlgorithm).toBe(md.replace('sha', 'SHA-'));
    }
  });

  it('signs with an Ed25519 key on a SoftHSM2 token (--token) that our verifier and the Python oracle accept', async () => {
    const store = p('hsm');
    const label = 'ed-card';
    const rootKey = SoftwareKey.generate('EC-P256');
    const now = () => new Date(Date.now() - 60_000);
    const root: CertificateInfo = await issueRootCertificate({ subject: { O: 'CLI Test', CN: 'CLI Test Root' }, key: rootKey, now });
    const orgKey = SoftwareKey.generate('EC-P256');
    const org = await issueOrgCertificate({
      issuer: { certificate: root, key: rootKey },
      subjectSpki: orgKey.spki,
      organization: 'Org',
      mailDomain: 'org.example',
      now,
    });
    let cert: CertificateInfo;
    {
      await using reader = SoftHsmNative.open({ storageDir: store });
      reader.initToken({ label, soPin: 'so-ed-card', userPin: '2468' });
      await using t = reader.openToken(label);
      await t.login('2468');
      const h = await t.generateKeyPair('sig', 'Ed25519', 'signing');
      cert = await issueUserCertificate({
        issuer: { certificate: org, key: orgKey },
        subjectSpki: h.spki,
        email: 'dave@org.example',
        usage: 'signing',
        identityProofing: { method: 'employeeCardPin', proofedAt: now(), proofedBy: 'desk' },
        traceId: new Uint8Array(16).fill(3),
        now,
      });
    }
    writeFileSync(p('dave.pem'), encodePem(cert.der, 'CERTIFICATE'));
    writeFileSync(p('cli-root.pem'), encodePem(root.der, 'CERTIFICATE'));
    writeFileSync(p('cli-org.pem'), encodePem(org.der, 'CERTIFICATE'));
    const env = { SOFTHSM2_CONF: join(store, 'softhsm2.conf') };
    const s = ssmax(
      [
        'cms',
        'sign',
        '--in',
        p('sample.txt'),
        '--out',
        p('dave.p7m'),
        '--signer',
        p('dave.pem'),
        '--certfile',
        p('cli-org.pem'),
        '--token',
        `pkcs11:token=${label}`,
        '--pin',
        '2468',
      ],
      env,
    );
    expect(s.status, s.stderr).toBe(0);
    const r = ssmax(['cms', 'verify', '--in', p('dave.p7m'), '--CAfile', p('cli-root.pem')]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).signers[0]).toMatchObject({ valid: true, email: 'dave@org.example', scheme: 'Ed25519' });
    const py = JSON.parse(execFileSync('/usr/bin/python3', [ORACLE, 'verify', '--in', p('dave.p7m')]).toString()) as { valid: boolean };
    expect(py.valid).toBe(true);
    expect(decodePem(readFileSync(p('dave.pem'), 'latin1'), 'CERTIFICATE')).toHaveLength(cert.der.length);
  });
});
