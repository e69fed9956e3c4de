/**
 * Issue 12: X25519 key agreement with the key on a token (WebCrypto backend): the token generates a
 * non-extractable X25519 key; messages from us and from the Python oracle (RFC 8418, X9.63 and HKDF) to a
 * certificate for that key open with the token key. SoftHSM2 2.6.1 lists no CKM_EC_MONTGOMERY_KEY_PAIR_GEN
 * and p11-kit refuses ECDH (docs/tokens.md), so only WebCrypto offers X25519.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Crypto } from '@peculiar/webcrypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { encodePem, decodePem } from '../../pem.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { bindTokenKey } from '../../tokens/bind-token-key.js';
import { WebCryptoToken } from '../../tokens/webcrypto-token.js';
import type { KeyHandle } from '../../tokens/token.js';
import { decryptContent, encryptContent } from './index.js';
import { python } from './testing/oracles.js';

let pki: OpensslPki;
let token: WebCryptoToken;
let handle: KeyHandle;
let certPath: string;
let certDer: Uint8Array;
const content = new Uint8Array(randomBytes(2048));

beforeAll(async () => {
  pki = createOpensslPki();
  token = new WebCryptoToken({ crypto: new Crypto(), label: 'x25519-card', userPin: '1234', soPin: '5678' });
  await token.login('1234');
  handle = await token.generateKeyPair('enc', 'X25519', 'encryption');
  // A certificate for the token's public key: the CA signs it with openssl (-force_pubkey).
  writeFileSync(join(pki.dir, 'tok.pub'), encodePem(handle.spki, 'PUBLIC KEY'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: pki.dir, stdio: 'pipe', env: { ...process.env, SSMAX_EMAIL: 'card@interop.example' } });
  run([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'tok.csrkey',
    '-out',
    'tok.csr',
    '-subj',
    '/O=Interop/CN=card',
  ]);
  run([
    'x509',
    '-req',
    '-in',
    'tok.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '4242',
    '-force_pubkey',
    'tok.pub',
    '-extfile',
    'ee.cnf',
    '-extensions',
    'ee',
    '-out',
    'tok.pem',
  ]);
  certPath = join(pki.dir, 'tok.pem');
  certDer = decodePem(readFileSync(certPath, 'latin1'), 'CERTIFICATE');
}, 30_000);
afterAll(async () => {
  await token?.close();
  pki?.[Symbol.dispose]();
});

describe('issue 12: X25519 on the WebCrypto token', () => {
  it('generates a non-extractable X25519 key that cannot sign', async () => {
    expect(handle.algorithm).toBe('X25519');
    const audit = await token.auditPrivateKey(handle);
    expect(audit.valueReadRefused).toBe(true);
    expect(bindTokenKey(token, handle).signSchemes).toEqual([]);
    await expect(token.generateKeyPair('sig', 'X25519', 'signing')).rejects.toMatchObject({ code: 'USAGE' });
  });

  for (const kdf of ['x963', 'hkdf'] as const) {
    it(`opens our message and the Python oracle's (${kdf}) with the token key, and a foreign X25519 key opens neither`, async () => {
      const key = bindTokenKey(token, handle);
      const ours = await encryptContent(content, { recipients: [certDer], keyAgreementKdf: kdf, cipher: 'chacha20-poly1305' });
      expect(Buffer.from((await decryptContent(ours, { key, certificate: certDer })).content).equals(Buffer.from(content))).toBe(true);
      const theirs = python(pki.dir, 'encrypt', content, ['--cipher', 'aes-128-gcm', '--recip', certPath, '--kdf', kdf]);
      expect(theirs.status, theirs.stderr).toBe(0);
      const res = await decryptContent(theirs.out, { key });
      expect(res.keyManagement?.algorithm).toBe(`ECDH-X25519+${kdf === 'hkdf' ? 'HKDF' : 'X9.63'}-SHA256+AES128-WRAP`);
      expect(Buffer.from(res.content).equals(Buffer.from(content))).toBe(true);
      const other = await token.generateKeyPair(`other-${kdf}`, 'X25519', 'encryption');
      const err = await decryptContent(theirs.out, { key: bindTokenKey(token, other) }).catch((e: unknown) => e);
      expect(SsmaxError.is(err) ? err.code : String(err)).toBe('NO_MATCHING_RECIPIENT');
    });
  }
});
