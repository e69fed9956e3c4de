/**
 * Issue 10, "Also": `--help` on every command and subcommand prints its usage to stdout and exits 0; an
 * error that is not ours (OpenSSL's "no inverse" on an RSA key with an even modulus) comes out as a typed
 * code with our sentence, not INTERNAL with the library's text. Runs the built binary.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareKey, encodePem, issueRootCertificate, issueSmimeCertificate } from '@ssmax/core';
import { asSsmaxError } from './foreign-error.js';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
function ssmax(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-cli-contract-'));
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const COMMANDS: readonly (readonly string[])[] = [
  ['cms'],
  ['cms', 'sign'],
  ['cms', 'verify'],
  ['cms', 'encrypt'],
  ['cms', 'decrypt'],
  ['cms', 'reencrypt'],
  ['mail'],
  ['mail', 'verify'],
  ['run'],
  ['report'],
  ['report', 'merge'],
  ['up'],
  ['send'],
  ['inbox'],
  ['demo'],
  ['org'],
  ['org', 'serve'],
  ['conformance'],
  ['bench'],
];

describe('ssmax --help (issue 10, also)', () => {
  it('prints the top-level usage to stdout and exits 0', () => {
    const r = ssmax(['--help']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^usage: ssmax <command>/);
  });

  for (const cmd of COMMANDS) {
    it(`prints the usage of ssmax ${cmd.join(' ')} to stdout and exits 0`, () => {
      const r = ssmax([...cmd, '--help']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage:/);
      expect(r.stdout).toContain(`ssmax ${cmd.join(' ')}`);
    });
  }
});

describe('errors that are not ours (issue 10, also)', () => {
  it('reports an RSA key with an even modulus as MALFORMED_KEY with a sentence, exit 3, not as INTERNAL "no inverse"', async () => {
    // A PKCS#8 key node reads without complaint; OpenSSL fails on it only when it signs ("no inverse").
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const n = Buffer.from(jwk.n!, 'base64url');
    n[n.length - 1]! &= 0xfe;
    const broken = createPrivateKey({ key: { ...jwk, n: n.toString('base64url') }, format: 'jwk' });
    writeFileSync(join(dir, 'even.key'), broken.export({ format: 'pem', type: 'pkcs8' }));
    const caKey = SoftwareKey.generate('EC-P256');
    const ca = await issueRootCertificate({ subject: { CN: 'contract CA' }, key: caKey, now: () => new Date() });
    const spki = new Uint8Array(createPublicKey(broken).export({ format: 'der', type: 'spki' }));
    const cert = await issueSmimeCertificate({
      issuer: { certificate: ca, key: caKey },
      subjectSpki: spki,
      email: 'even@contract.example',
      validation: 'mailbox',
      usage: 'signing',
      now: () => new Date(),
    });
    writeFileSync(join(dir, 'even.pem'), encodePem(cert.der, 'CERTIFICATE'));
    writeFileSync(join(dir, 'in.txt'), 'hello\r\n');
    // Something to decrypt: a message to another (sound) RSA recipient; the key is read before any recipient is tried.
    const otherKey = SoftwareKey.generate('RSA-2048');
    const other = await issueSmimeCertificate({
      issuer: { certificate: ca, key: caKey },
      subjectSpki: otherKey.spki,
      email: 'other@contract.example',
      validation: 'mailbox',
      usage: 'encryption',
      now: () => new Date(),
    });
    writeFileSync(join(dir, 'other.pem'), encodePem(other.der, 'CERTIFICATE'));
    expect(ssmax(['cms', 'encrypt', '--in', join(dir, 'in.txt'), '--out', join(dir, 'in.p7m'), '--recip', join(dir, 'other.pem')]).status).toBe(0);
    for (const args of [
      ['cms', 'sign', '--in', join(dir, 'in.txt'), '--out', join(dir, 'out.der'), '--signer', join(dir, 'even.pem'), '--key', join(dir, 'even.key')],
      ['cms', 'decrypt', '--in', join(dir, 'in.p7m'), '--out', join(dir, 'out.bin'), '--key', join(dir, 'even.key')],
    ]) {
      const r = ssmax(args);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/^ssmax: MALFORMED_KEY: Cannot use the private key\. /);
      expect(r.stderr).not.toMatch(/routines|no inverse|INTERNAL/);
    }
  });

  it('maps what Node and OpenSSL throw anywhere else to typed codes with our sentence (the last line of defence in bin.ts)', () => {
    const caught = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error('did not throw');
    };
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const n = Buffer.from(jwk.n!, 'base64url');
    n[n.length - 1]! &= 0xfe;
    const evenKey = createPrivateKey({ key: { ...jwk, n: n.toString('base64url') }, format: 'jwk' });
    const ossl = asSsmaxError(
      caught(() => sign('sha256', Buffer.from('x'), evenKey)),
      'cms sign',
    );
    expect([ossl.code, ossl.category]).toEqual(['MALFORMED_KEY', 'malformed']);
    expect(ossl.message).toMatch(/^Cannot use the key\. The crypto library could not compute with it \(no inverse\)/);
    const sys = asSsmaxError(
      caught(() => readFileSync(join(dir, 'missing', 'file'))),
      'cms verify',
    );
    expect(sys.code).toBe('IO_ERROR');
    expect(sys.message).toBe(`Cannot run ssmax cms verify. The system refused open on ${join(dir, 'missing', 'file')} (ENOENT).`);
  });
});
