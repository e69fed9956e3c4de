/**
 * Issue 12: EnvelopedData / AuthEnvelopedData against two outside implementations, in both directions.
 * - openssl 3.0 (the machine's `openssl`, probed below) for what it can do: AES-128/192/256 CBC and GCM,
 *   3DES, RSA-OAEP SHA-1/256/384/512, RSA PKCS#1 v1.5, ECDH on P-256/384/521, kekri, pwri;
 * - the Python oracle (testing/pycms_oracle.py: asn1crypto + pyca/cryptography 38, no shared code) for
 *   what openssl 3.0 cannot: X25519/X448 key agreement with X9.63 and RFC 8418 HKDF KDFs,
 *   ChaCha20-Poly1305 (RFC 8103), authAttrs (RFC 5083 §2.2); and the rest again.
 * Each case names the interop-table row it measures (README "Interoperability").
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { decryptContent, encryptContent, type ContentCipher } from './index.js';
import { createOracleProbes } from '../../testing/oracle-capabilities.js';
import { probeOracleVersion } from '../../testing/oracle-versions.js';
import { issueIdentity, opensslDecrypt, opensslEncrypt, python, type Identity, type IdentityKind } from './testing/oracles.js';

let pki: OpensslPki;
const ids = {} as Record<IdentityKind, Identity>;
const content = new Uint8Array(randomBytes(4099)); // not a multiple of any block size
let opensslVersion = '';

beforeAll(() => {
  pki = createOpensslPki();
  for (const k of ['rsa', 'P-256', 'P-384', 'P-521', 'X25519', 'X448'] as const) ids[k] = issueIdentity(pki, `i12-${k.toLowerCase()}`, k);
  opensslVersion = pki.openssl(['version']).stdout.toString().trim();
}, 60_000);
afterAll(() => pki?.[Symbol.dispose]());

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
    return { code: 'resolved', message: '' };
  } catch (e) {
    return SsmaxError.is(e) ? { code: e.code, message: e.message } : { code: `foreign: ${String(e)}`, message: String(e) };
  }
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const oaepArgs = (hash: string) => ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', `rsa_oaep_md:${hash}`, '-keyopt', `rsa_mgf1_md:${hash}`];

// The README table was measured with OpenSSL 3.0; the cells where another version may answer otherwise ask
// testing/oracle-capabilities.ts what this machine's openssl can do and name it in their titles (issue 11).
const probes = createOracleProbes();

describe('issue 12: the openssl oracle', () => {
  const named = `OpenSSL ${probeOracleVersion('openssl')}`;
  it(`names the openssl it measured with: ${named} (the table's column is OpenSSL 3.0; cells that differ by version say so)`, () => {
    expect(opensslVersion.startsWith(`${named} `)).toBe(true);
    expect(named).toMatch(/^OpenSSL \d+\.\d+\.\d+/);
  });
});

describe('issue 12: content ciphers with openssl 3.0, both directions', () => {
  const aes: ContentCipher[] = ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'aes-128-gcm', 'aes-192-gcm', 'aes-256-gcm'];
  for (const cipher of aes) {
    it(`row ${cipher}: we decrypt what openssl encrypts, openssl decrypts what we encrypt`, async () => {
      const theirs = opensslEncrypt(pki, content, [`-${cipher}`, '-recip', ids.rsa.certPath, ...oaepArgs('sha256')]);
      const ours = await decryptContent(theirs, { key: ids.rsa.key });
      expect(ours.cipher).toBe(cipher);
      expect(same(ours.content, content)).toBe(true);
      expect(ours.legacy).toEqual([]);
      const der = await encryptContent(content, { recipients: [ids.rsa.certDer], cipher });
      const back = opensslDecrypt(pki, der, ['-recip', ids.rsa.certPath, '-inkey', ids.rsa.keyPath]);
      expect(back.status, back.stderr).toBe(0);
      expect(same(back.out, content)).toBe(true);
    });
  }

  it('row des-ede3-cbc: we decrypt openssl -des3 and report it as legacy; we refuse to write it', async () => {
    const theirs = opensslEncrypt(pki, content, ['-des3', '-recip', ids.rsa.certPath, ...oaepArgs('sha256')]);
    const ours = await decryptContent(theirs, { key: ids.rsa.key });
    expect(ours.cipher).toBe('des-ede3-cbc');
    expect(same(ours.content, content)).toBe(true);
    expect(ours.legacy?.join(' ')).toMatch(/DES-EDE3-CBC content encryption/);
    expect((await failure(encryptContent(content, { recipients: [ids.rsa.certDer], cipher: 'des-ede3-cbc' }))).code).toBe('UNSUPPORTED_ALGORITHM');
  });
});

describe('issue 12: content ciphers with the Python oracle, both directions', () => {
  const all: ContentCipher[] = ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'aes-128-gcm', 'aes-192-gcm', 'aes-256-gcm', 'chacha20-poly1305'];
  for (const cipher of all) {
    it(`row ${cipher}: Python decrypts ours and we decrypt Python's (ECDH P-256 recipient)`, async () => {
      const der = await encryptContent(content, { recipients: [ids['P-256'].certDer], cipher });
      const py = python(pki.dir, 'decrypt', der, ['--key', ids['P-256'].keyPath]);
      expect(py.status, py.stderr).toBe(0);
      expect(same(py.out, content)).toBe(true);
      const theirs = python(pki.dir, 'encrypt', content, ['--cipher', cipher, '--recip', ids['P-256'].certPath]);
      expect(theirs.status, theirs.stderr).toBe(0);
      const ours = await decryptContent(theirs.out, { key: ids['P-256'].key });
      expect(ours.cipher).toBe(cipher);
      expect(same(ours.content, content)).toBe(true);
    });
  }

  for (const cipher of ['aes-128-gcm', 'chacha20-poly1305'] as const) {
    it(`row AuthEnvelopedData authAttrs (${cipher}): Python and we authenticate each other's attributes, and a changed attribute fails`, async () => {
      const theirs = python(pki.dir, 'encrypt', content, ['--cipher', cipher, '--recip', ids.X25519.certPath, '--auth-attrs']);
      expect(theirs.status, theirs.stderr).toBe(0);
      expect(same((await decryptContent(theirs.out, { key: ids.X25519.key })).content, content)).toBe(true);
      // The content-type attribute's OID ends in ...07 01 (id-data); make it ...07 02 inside authAttrs.
      const tampered = Buffer.from(theirs.out);
      const at = tampered.lastIndexOf(Buffer.from('06092a864886f70d010701', 'hex'));
      expect(at).toBeGreaterThan(0);
      tampered[at + 10] = 0x02;
      expect((await failure(decryptContent(tampered, { key: ids.X25519.key }))).code).toBe('AUTH_TAG_MISMATCH');
      const attrs = Buffer.from('311a301806092a864886f70d010903310b06092a864886f70d010701', 'hex');
      const der = await encryptContent(content, { recipients: [ids.X25519.certDer], cipher, authAttributes: attrs });
      const py = python(pki.dir, 'decrypt', der, ['--key', ids.X25519.keyPath]);
      expect(py.status, py.stderr).toBe(0);
      expect(same(py.out, content)).toBe(true);
    });
  }

  it('row chacha20-poly1305: a changed tag or ciphertext byte is AUTH_TAG_MISMATCH', async () => {
    const der = Buffer.from(await encryptContent(content, { recipients: [ids['P-384'].certDer], cipher: 'chacha20-poly1305' }));
    const tag = Buffer.from(der);
    tag[tag.length - 1]! ^= 0x80;
    expect((await failure(decryptContent(tag, { key: ids['P-384'].key }))).code).toBe('AUTH_TAG_MISMATCH');
    const body = Buffer.from(der);
    body[body.length - 100]! ^= 0x01;
    expect((await failure(decryptContent(body, { key: ids['P-384'].key }))).code).toBe('AUTH_TAG_MISMATCH');
  });
});

describe('issue 12: RSA key transport', () => {
  for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
    const H = `SHA-${hash.slice(3)}` as 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
    it(`row RSA-OAEP ${H}: openssl and Python decrypt ours, we decrypt theirs`, async () => {
      const theirs = opensslEncrypt(pki, content, ['-aes-256-gcm', '-recip', ids.rsa.certPath, ...oaepArgs(hash)]);
      const ours = await decryptContent(theirs, { key: ids.rsa.key });
      expect(ours.keyManagement?.algorithm).toBe(`RSAES-OAEP-${H}`);
      expect(same(ours.content, content)).toBe(true);
      const der = await encryptContent(content, { recipients: [ids.rsa.certDer], oaepHash: H });
      const os = opensslDecrypt(pki, der, ['-recip', ids.rsa.certPath, '-inkey', ids.rsa.keyPath]);
      expect(os.status, os.stderr).toBe(0);
      expect(same(os.out, content)).toBe(true);
      const py = python(pki.dir, 'decrypt', der, ['--key', ids.rsa.keyPath]);
      expect(py.status, py.stderr).toBe(0);
      const pyEnc = python(pki.dir, 'encrypt', content, ['--recip', ids.rsa.certPath, '--oaep-hash', hash]);
      expect(same((await decryptContent(pyEnc.out, { key: ids.rsa.key })).content, content)).toBe(true);
    });
  }

  it("row RSA PKCS#1 v1.5: we decrypt openssl's default key transport (CBC and GCM) and report it as legacy; we never write it", async () => {
    for (const cipher of ['-aes-128-cbc', '-aes-256-gcm']) {
      const theirs = opensslEncrypt(pki, content, [cipher, '-recip', ids.rsa.certPath]);
      const ours = await decryptContent(theirs, { key: ids.rsa.key, certificate: ids.rsa.certDer });
      expect(same(ours.content, content)).toBe(true);
      expect(ours.keyManagement?.algorithm).toBe('RSAES-PKCS1-v1_5');
      expect(ours.legacy?.join(' ')).toMatch(/PKCS#1 v1\.5 key transport/);
    }
    const der = await encryptContent(content, { recipients: [ids.rsa.certDer] });
    expect(Buffer.from(der).includes(Buffer.from('06092a864886f70d010107', 'hex'))).toBe(true); // id-RSAES-OAEP, never rsaEncryption
  });
});

describe('issue 12: key agreement', () => {
  for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
    it(`row ECDH ${curve} (X9.63): openssl and Python decrypt ours, we decrypt theirs`, async () => {
      const id = ids[curve];
      for (const md of ['sha1', 'sha256', 'sha384', 'sha512']) {
        const theirs = opensslEncrypt(pki, content, ['-aes-192-cbc', '-recip', id.certPath, '-keyopt', `ecdh_kdf_md:${md}`]);
        const ours = await decryptContent(theirs, { key: id.key });
        expect(ours.keyManagement?.algorithm).toBe(`ECDH-${curve}+X9.63-${md.toUpperCase()}+AES192-WRAP`);
        expect(same(ours.content, content)).toBe(true);
      }
      const der = await encryptContent(content, { recipients: [id.certDer], cipher: 'aes-256-gcm' });
      const os = opensslDecrypt(pki, der, ['-recip', id.certPath, '-inkey', id.keyPath]);
      expect(os.status, os.stderr).toBe(0);
      expect(same(os.out, content)).toBe(true);
      const py = python(pki.dir, 'decrypt', der, ['--key', id.keyPath]);
      expect(py.status, py.stderr).toBe(0);
      const pyEnc = python(pki.dir, 'encrypt', content, ['--cipher', 'aes-128-cbc', '--recip', id.certPath]);
      expect(same((await decryptContent(pyEnc.out, { key: id.key })).content, content)).toBe(true);
    });
  }

  for (const curve of ['X25519', 'X448'] as const) {
    for (const kdf of ['x963', 'hkdf'] as const) {
      // The "openssl 3.0: no" cell, probed on a message the Python oracle made: where this openssl opens it, it must open ours.
      const kari = probes.opensslReadsKeyAgreement(curve, kdf);
      const theirSide = kari.can ? `${kari.oracle} decrypts ours too` : `${kari.oracle} cannot ('${kari.refusal}')`;
      it(`row ${curve} ${kdf === 'hkdf' ? 'HKDF (RFC 8418)' : 'X9.63'}: Python decrypts ours, we decrypt Python's, ${theirSide}`, async () => {
        const id = ids[curve];
        const der = await encryptContent(content, { recipients: [id.certDer], keyAgreementKdf: kdf });
        const py = python(pki.dir, 'decrypt', der, ['--key', id.keyPath]);
        expect(py.status, py.stderr).toBe(0);
        expect(same(py.out, content)).toBe(true);
        const theirs = python(pki.dir, 'encrypt', content, ['--cipher', 'chacha20-poly1305', '--recip', id.certPath, '--kdf', kdf]);
        expect(theirs.status, theirs.stderr).toBe(0);
        const ours = await decryptContent(theirs.out, { key: id.key });
        expect(ours.keyManagement?.algorithm).toBe(
          `ECDH-${curve}+${kdf === 'hkdf' ? 'HKDF' : 'X9.63'}-${curve === 'X25519' ? 'SHA256' : 'SHA512'}+AES256-WRAP`,
        );
        expect(same(ours.content, content)).toBe(true);
        const os = opensslDecrypt(pki, der, ['-recip', id.certPath, '-inkey', id.keyPath]);
        if (kari.can) {
          expect(os.status, os.stderr).toBe(0);
          expect(same(os.out, content)).toBe(true);
        } else expect(os.status).not.toBe(0);
      });
    }
  }

  it('refuses a key on another curve as NO_MATCHING_RECIPIENT or UNSUPPORTED_ALGORITHM, never as content', async () => {
    const der = await encryptContent(content, { recipients: [ids.X25519.certDer] });
    expect(['NO_MATCHING_RECIPIENT', 'UNSUPPORTED_ALGORITHM']).toContain((await failure(decryptContent(der, { key: ids.X448.key }))).code);
    expect((await failure(decryptContent(der, { key: ids['P-256'].key }))).code).toMatch(/NO_MATCHING_RECIPIENT|UNSUPPORTED_ALGORITHM/);
  });
});

describe('issue 12: KEK and password recipients', () => {
  const kek = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
  const kekId = Buffer.from('c0ffee', 'hex');

  for (const len of [16, 24, 32]) {
    it(`row KEK (kekri) AES-${len * 8} key wrap: openssl and Python decrypt ours, we decrypt theirs`, async () => {
      const k = kek.subarray(0, len);
      const theirs = opensslEncrypt(pki, content, ['-aes-256-cbc', '-secretkey', k.toString('hex'), '-secretkeyid', kekId.toString('hex')]);
      const ours = await decryptContent(theirs, { secretKey: { id: kekId, key: k } });
      expect(ours.keyManagement?.algorithm).toBe(`KEK+AES${len * 8}-WRAP`);
      expect(same(ours.content, content)).toBe(true);
      const der = await encryptContent(content, { recipients: [], secretKeys: [{ id: kekId, key: k }], cipher: 'aes-128-gcm' });
      const os = opensslDecrypt(pki, der, ['-secretkey', k.toString('hex'), '-secretkeyid', kekId.toString('hex')]);
      expect(os.status, os.stderr).toBe(0);
      expect(same(os.out, content)).toBe(true);
      const py = python(pki.dir, 'decrypt', der, ['--kek', k.toString('hex'), '--kekid', kekId.toString('hex')]);
      expect(same(py.out, content)).toBe(true);
      const pyEnc = python(pki.dir, 'encrypt', content, ['--cipher', 'chacha20-poly1305', '--kek', k.toString('hex'), '--kekid', kekId.toString('hex')]);
      expect(same((await decryptContent(pyEnc.out, { secretKey: { id: kekId, key: k } })).content, content)).toBe(true);
    });
  }

  it('a wrong KEK is DECRYPT_FAILED and a wrong KEK identifier is NO_MATCHING_RECIPIENT', async () => {
    const der = await encryptContent(content, { recipients: [], secretKeys: [{ id: kekId, key: kek }] });
    const wrong = Buffer.from(kek);
    wrong[0]! ^= 1;
    expect((await failure(decryptContent(der, { secretKey: { id: kekId, key: wrong } }))).code).toBe('DECRYPT_FAILED');
    expect((await failure(decryptContent(der, { secretKey: { id: Buffer.from('beef', 'hex'), key: kek } }))).code).toBe('NO_MATCHING_RECIPIENT');
  });

  it('row password (pwri, RFC 3211 + PBKDF2): openssl and Python decrypt ours, we decrypt theirs (AES and openssl -des3)', async () => {
    const password = 'correct horse battery staple';
    // openssl 3.0 wraps the pwri KEK with the content cipher, and cannot with GCM ("cipher parameter error").
    for (const cipher of ['-aes-256-cbc', '-aes-128-cbc', '-des3']) {
      const theirs = opensslEncrypt(pki, content, [cipher, '-pwri_password', password]);
      const ours = await decryptContent(theirs, { password });
      expect(ours.keyManagement?.recipient).toBe('pwri');
      expect(same(ours.content, content)).toBe(true);
    }
    const der = await encryptContent(content, { recipients: [], passwords: [{ password, iterations: 10_000 }], cipher: 'aes-256-cbc' });
    const os = opensslDecrypt(pki, der, ['-pwri_password', password]);
    expect(os.status, os.stderr).toBe(0);
    expect(same(os.out, content)).toBe(true);
    const py = python(pki.dir, 'decrypt', der, ['--password', password]);
    expect(same(py.out, content)).toBe(true);
    const pyEnc = python(pki.dir, 'encrypt', content, ['--cipher', 'aes-192-gcm', '--password', password]);
    expect(same((await decryptContent(pyEnc.out, { password })).content, content)).toBe(true);
  });

  it("a wrong password is DECRYPT_FAILED, for our message and for openssl's", async () => {
    const der = await encryptContent(content, { recipients: [], passwords: [{ password: 'right', iterations: 1000 }] });
    expect((await failure(decryptContent(der, { password: 'wrong' }))).code).toBe('DECRYPT_FAILED');
    const theirs = opensslEncrypt(pki, content, ['-aes-256-cbc', '-pwri_password', 'right']);
    expect((await failure(decryptContent(theirs, { password: 'wrong' }))).code).toBe('DECRYPT_FAILED');
  });
});
