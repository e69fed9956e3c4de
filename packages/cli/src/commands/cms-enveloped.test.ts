/**
 * Issue 12: the `ssmax cms encrypt` / `decrypt` options for KEK (--secretkey/--secretkeyid), password
 * (--pwri-password), cipher, OAEP hash and KDF choice, and the JSON line that reports legacy algorithms.
 * The built binary runs as a process; openssl 3.0 and the Python oracle of core (asn1crypto + pyca/cryptography)
 * are the peers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpensslPki, type OpensslPki } from '@ssmax/core/testing';

const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
// The second implementation lives beside core's enveloped-data code (a script, not an import).
const ORACLE = fileURLToPath(new URL('../../../core/src/cms/enveloped/testing/pycms_oracle.py', import.meta.url));

let pki: OpensslPki;
let dir: string;
const content = Buffer.concat([Buffer.from('issue 12 CLI\r\n'), Buffer.from([0, 255, 13, 10]), Buffer.alloc(3000, 0x41)]);
let inPath: string;
let x25519: { key: string; cert: string };

function ssmax(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
const p = (name: string) => join(dir, name);
const openssl = (args: string[]) => pki.openssl(args);

beforeAll(() => {
  pki = createOpensslPki();
  dir = mkdtempSync(join(tmpdir(), 'ssmax-cli-i12-'));
  inPath = p('in.bin');
  writeFileSync(inPath, content);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: pki.dir, stdio: 'pipe', env: { ...process.env, SSMAX_EMAIL: 'x@interop.example' } });
  run(['genpkey', '-algorithm', 'X25519', '-out', 'x.key']);
  run(['pkey', '-in', 'x.key', '-pubout', '-out', 'x.pub']);
  run([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'x.csrkey',
    '-out',
    'x.csr',
    '-subj',
    '/O=Interop/CN=x25519',
  ]);
  run([
    'x509',
    '-req',
    '-in',
    'x.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '77',
    '-force_pubkey',
    'x.pub',
    '-extfile',
    'ee.cnf',
    '-extensions',
    'ee',
    '-out',
    'x.pem',
  ]);
  x25519 = { key: join(pki.dir, 'x.key'), cert: join(pki.dir, 'x.pem') };
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
}, 120_000);
afterAll(() => {
  pki?.[Symbol.dispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ssmax cms decrypt (issue 12)', () => {
  it("decrypts openssl's 3DES-CBC with PKCS#1 v1.5 key transport and reports both as legacy in the JSON line", () => {
    const enc = p('des3.der');
    expect(openssl(['cms', '-encrypt', '-binary', '-des3', '-outform', 'DER', '-in', inPath, '-out', enc, pki.rsa.certPath]).status).toBe(0);
    const out = p('des3.out');
    const r = ssmax(['cms', 'decrypt', '--in', enc, '--out', out, '--key', pki.rsa.keyPath, '--recip', pki.rsa.certPath]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out).equals(content)).toBe(true);
    const line = JSON.parse(r.stdout.trim());
    expect(line).toMatchObject({ decrypted: true, cipher: 'des-ede3-cbc', recipient: 'ktri', keyManagement: 'RSAES-PKCS1-v1_5', legacy: true });
    expect(line.reasons.join(' ')).toMatch(/DES-EDE3-CBC content encryption.*PKCS#1 v1\.5 key transport/);
  });

  it('reports legacy: false for a current message, and puts the JSON line on stderr when the plaintext goes to stdout', () => {
    const enc = p('modern.der');
    expect(ssmax(['cms', 'encrypt', '--in', inPath, '--out', enc, '--recip', pki.ec.certPath, '--cipher', 'aes-128-gcm']).status).toBe(0);
    const r = spawnSync(process.execPath, [BIN, 'cms', 'decrypt', '--in', enc, '--out', '-', '--key', pki.ec.keyPath]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.equals(content)).toBe(true);
    expect(JSON.parse(r.stderr.toString().trim())).toMatchObject({ cipher: 'aes-128-gcm', recipient: 'kari', legacy: false, reasons: [] });
  });
});

describe('ssmax cms encrypt / decrypt with a KEK (--secretkey, --secretkeyid)', () => {
  const key = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
  it("openssl decrypts ours and we decrypt openssl's; a wrong KEK id exits 1 with NO_MATCHING_RECIPIENT and writes nothing", () => {
    const ours = p('kek.der');
    const r = ssmax(['cms', 'encrypt', '--in', inPath, '--out', ours, '--secretkey', key, '--secretkeyid', '0a0b', '--cipher', 'aes-256-cbc']);
    expect(r.status, r.stderr).toBe(0);
    expect(openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', ours, '-out', p('kek.os'), '-secretkey', key, '-secretkeyid', '0a0b']).status).toBe(
      0,
    );
    expect(readFileSync(p('kek.os')).equals(content)).toBe(true);
    const theirs = p('kek-os.der');
    expect(
      openssl([
        'cms',
        '-encrypt',
        '-binary',
        '-aes-128-gcm',
        '-outform',
        'DER',
        '-in',
        inPath,
        '-out',
        theirs,
        '-secretkey',
        key.slice(0, 32),
        '-secretkeyid',
        '0c',
      ]).status,
    ).toBe(0);
    const d = ssmax(['cms', 'decrypt', '--in', theirs, '--out', p('kek.out'), '--secretkey', key.slice(0, 32), '--secretkeyid', '0c']);
    expect(d.status, d.stderr).toBe(0);
    expect(readFileSync(p('kek.out')).equals(content)).toBe(true);
    expect(JSON.parse(d.stdout.trim())).toMatchObject({ recipient: 'kekri', keyManagement: 'KEK+AES128-WRAP' });
    const wrong = ssmax(['cms', 'decrypt', '--in', theirs, '--out', p('kek.never'), '--secretkey', key.slice(0, 32), '--secretkeyid', '0d']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/NO_MATCHING_RECIPIENT/);
    expect(existsSync(p('kek.never'))).toBe(false);
  });

  it('exits 2 when --secretkey comes without --secretkeyid', () => {
    expect(ssmax(['cms', 'decrypt', '--in', inPath, '--out', p('x'), '--secretkey', key]).status).toBe(2);
  });
});

describe('ssmax cms encrypt / decrypt with a password (--pwri-password)', () => {
  it("openssl decrypts ours and we decrypt openssl's; a wrong password exits 1 with DECRYPT_FAILED", () => {
    const ours = p('pw.der');
    expect(ssmax(['cms', 'encrypt', '--in', inPath, '--out', ours, '--pwri-password', 's3cret', '--cipher', 'aes-192-cbc']).status).toBe(0);
    expect(openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', ours, '-out', p('pw.os'), '-pwri_password', 's3cret']).status).toBe(0);
    expect(readFileSync(p('pw.os')).equals(content)).toBe(true);
    const theirs = p('pw-os.der');
    expect(openssl(['cms', '-encrypt', '-binary', '-aes-256-cbc', '-outform', 'DER', '-in', inPath, '-out', theirs, '-pwri_password', 's3cret']).status).toBe(
      0,
    );
    const d = ssmax(['cms', 'decrypt', '--in', theirs, '--out', p('pw.out'), '--pwri-password', 's3cret']);
    expect(d.status, d.stderr).toBe(0);
    expect(readFileSync(p('pw.out')).equals(content)).toBe(true);
    const wrong = ssmax(['cms', 'decrypt', '--in', theirs, '--out', p('pw.never'), '--pwri-password', 'guess']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/DECRYPT_FAILED/);
    expect(existsSync(p('pw.never'))).toBe(false);
  });
});

describe('ssmax cms encrypt: cipher, OAEP hash and KDF choices', () => {
  it("writes ChaCha20-Poly1305 to an X25519 recipient with the RFC 8418 HKDF (--kdf hkdf) that the Python oracle decrypts, and decrypts the oracle's", () => {
    const ours = p('x.der');
    const r = ssmax(['cms', 'encrypt', '--in', inPath, '--out', ours, '--recip', x25519.cert, '--cipher', 'chacha20-poly1305', '--kdf', 'hkdf']);
    expect(r.status, r.stderr).toBe(0);
    const py = spawnSync('/usr/bin/python3', [ORACLE, 'decrypt', '--in', ours, '--out', p('x.py'), '--key', x25519.key], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    expect(readFileSync(p('x.py')).equals(content)).toBe(true);
    const theirs = p('x-py.der');
    expect(
      spawnSync('/usr/bin/python3', [ORACLE, 'encrypt', '--in', inPath, '--out', theirs, '--recip', x25519.cert, '--cipher', 'aes-256-gcm', '--kdf', 'hkdf'])
        .status,
    ).toBe(0);
    const d = ssmax(['cms', 'decrypt', '--in', theirs, '--out', p('x.out'), '--key', x25519.key]);
    expect(d.status, d.stderr).toBe(0);
    expect(readFileSync(p('x.out')).equals(content)).toBe(true);
    expect(JSON.parse(d.stdout.trim())).toMatchObject({ recipient: 'kari', keyManagement: 'ECDH-X25519+HKDF-SHA256+AES256-WRAP' });
  });

  it('writes RSA-OAEP with SHA-512 (--oaep-hash sha512) that openssl decrypts, and refuses --cipher des-ede3-cbc with exit 2', () => {
    const ours = p('oaep512.der');
    expect(
      ssmax(['cms', 'encrypt', '--in', inPath, '--out', ours, '--recip', pki.rsa.certPath, '--oaep-hash', 'sha512', '--cipher', 'aes-192-gcm']).status,
    ).toBe(0);
    const dump = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', ours]).stdout.toString();
    expect(dump).toMatch(/sha512/);
    expect(
      openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', ours, '-out', p('oaep512.os'), '-recip', pki.rsa.certPath, '-inkey', pki.rsa.keyPath])
        .status,
    ).toBe(0);
    expect(readFileSync(p('oaep512.os')).equals(content)).toBe(true);
    expect(ssmax(['cms', 'encrypt', '--in', inPath, '--out', p('never.der'), '--recip', pki.rsa.certPath, '--cipher', 'des-ede3-cbc']).status).toBe(2);
  });
});
