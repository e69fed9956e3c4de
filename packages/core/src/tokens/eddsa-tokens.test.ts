/**
 * Issue 12: Ed25519 (and Ed448 where offered) signing on the token backends, measured. WebCrypto: Ed25519.
 * SoftHSM2 2.6.1 native: CKM_EC_EDWARDS_KEY_PAIR_GEN + CKM_EDDSA for both curves. Over p11-kit 0.24.1
 * remoting (what the container backend uses) both mechanisms are refused; that is measured here against a
 * p11-kit server this test starts on the same SoftHSM2 store, so it needs no Docker. Every signature is
 * checked by node:crypto and, inside a SignedData, by our verifier.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Crypto } from '@peculiar/webcrypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSignedData, verifySignedData } from '../cms/index.js';
import { SsmaxError } from '../errors.js';
import { errorCode, openSoftHsmStore, type SoftHsmStore } from '../testing/softhsm-store.js';
import { issueUserCertificate } from '../x509/issue.js';
import { createSsmaxTestPki, type SsmaxTestPki } from '../x509/test-fixtures.js';
import { bindTokenKey } from './bind-token-key.js';
import { Pkcs11Module } from './pkcs11-module.js';
import { Pkcs11Token } from './pkcs11-token.js';
import { P11KIT_CLIENT_MODULE_PATH, SOFTHSM_CONTAINER_CAPABILITIES } from './softhsm-container.js';
import { SOFTHSM_NATIVE_CAPABILITIES } from './softhsm-native.js';
import type { KeyHandle, Token } from './token.js';
import { WEBCRYPTO_CAPABILITIES, WebCryptoToken } from './webcrypto-token.js';

const DATA = new TextEncoder().encode('Ed25519 on a card\r\n');
let pki: SsmaxTestPki;
let store: SoftHsmStore;
beforeAll(async () => {
  pki = await createSsmaxTestPki();
  store = openSoftHsmStore('ssmax-eddsa-tokens-');
});
afterAll(async () => {
  await store?.[Symbol.asyncDispose]();
});

function nodeVerify(spki: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  return crypto.verify(null, data, crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), sig);
}

/** A SignedData made with the token key under a user certificate from the test PKI, as our verifier sees it. */
async function signedDataFrom(token: Token, handle: KeyHandle): Promise<ReturnType<typeof verifySignedData>> {
  const cert = await issueUserCertificate({
    issuer: { certificate: pki.org, key: pki.orgKey },
    subjectSpki: handle.spki,
    email: `${handle.label}@alpha.example`,
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt: pki.now(), proofedBy: 'desk' },
    traceId: new Uint8Array(16).fill(1),
    now: pki.now,
  });
  const der = await signSignedData(DATA, { key: bindTokenKey(token, handle), certificate: cert.der, signingTime: pki.now() });
  return verifySignedData(der);
}

describe('issue 12: Ed25519 on the WebCrypto backend', () => {
  it('declares Ed25519 only, generates a non-extractable signing key and signs data that node:crypto and our SignedData verifier accept', async () => {
    expect(WEBCRYPTO_CAPABILITIES.keyAlgorithms).toContain('Ed25519');
    expect(WEBCRYPTO_CAPABILITIES.keyAlgorithms).not.toContain('Ed448');
    await using token = new WebCryptoToken({ crypto: new Crypto(), label: 'wc-ed', userPin: '1234', soPin: '87654321' });
    await token.login('1234');
    const h = await token.generateKeyPair('wc-ed-user', 'Ed25519', 'signing');
    expect(h).toMatchObject({ algorithm: 'Ed25519', purpose: 'signing' });
    const key = bindTokenKey(token, h);
    expect(key.signSchemes).toEqual(['Ed25519']);
    expect(key.oaepHashes).toEqual([]);
    const sig = await key.sign('Ed25519', DATA);
    expect(sig).toHaveLength(64);
    expect(nodeVerify(h.spki, DATA, sig)).toBe(true);
    expect(nodeVerify(h.spki, new TextEncoder().encode('other'), sig)).toBe(false);
    const v = await signedDataFrom(token, h);
    expect(v.signers[0]).toMatchObject({ valid: true, scheme: 'Ed25519', digestAlgorithm: 'SHA-512' });
    const audit = await token.auditPrivateKey?.(h);
    if (audit) expect(audit.valueReadRefused).toBe(true);
  });

  it('refuses an Ed25519 encryption key (USAGE), Ed448 (CAPABILITY_MISSING) and ECDSA with an Ed25519 key', async () => {
    await using token = new WebCryptoToken({ crypto: new Crypto(), label: 'wc-ed2', userPin: '1234', soPin: '87654321' });
    await token.login('1234');
    expect(await errorCode(token.generateKeyPair('enc', 'Ed25519', 'encryption'))).toBe('USAGE');
    expect(await errorCode(token.generateKeyPair('ed448', 'Ed448'))).toBe('CAPABILITY_MISSING');
    const h = await token.generateKeyPair('ed', 'Ed25519');
    expect(await errorCode(token.signData(h, 'ECDSA-SHA256', DATA))).toBe('UNSUPPORTED_ALGORITHM');
  });
});

describe('issue 12: Ed25519 and Ed448 on SoftHSM2 2.6.1 native (CKM_EDDSA)', () => {
  for (const alg of ['Ed25519', 'Ed448'] as const) {
    it(`generates a sensitive, never-extractable ${alg} key in the token that signs data node:crypto accepts, and finds it again after a re-open`, async () => {
      const label = `native-${alg.toLowerCase()}`;
      store.reader.initToken({ label, soPin: '87654321', userPin: '123456' });
      let token = store.reader.openToken(label);
      try {
        await token.login('123456');
        const h = await token.generateKeyPair(`${label}-user`, alg, 'signing');
        expect(h).toMatchObject({ algorithm: alg, purpose: 'signing' });
        expect(crypto.createPublicKey({ key: Buffer.from(h.spki), format: 'der', type: 'spki' }).asymmetricKeyType).toBe(alg.toLowerCase());
        const key = bindTokenKey(token, h);
        expect(key.signSchemes).toEqual([alg]);
        const sig = await key.sign(alg, DATA);
        expect(sig).toHaveLength(alg === 'Ed25519' ? 64 : 114);
        expect(nodeVerify(h.spki, DATA, sig)).toBe(true);
        expect(await token.auditPrivateKey!(h)).toEqual({
          sensitive: true,
          extractable: false,
          alwaysSensitive: true,
          neverExtractable: true,
          valueReadRefused: true,
        });
        const v = await signedDataFrom(token, h);
        expect(v.signers[0]).toMatchObject({ valid: true, scheme: alg, digestAlgorithm: alg === 'Ed25519' ? 'SHA-512' : 'SHAKE256' });
        // PureEdDSA has no digest to sign, and an Edwards key neither decrypts nor derives.
        expect(await errorCode(token.signDigest(h, alg, new Uint8Array(32)))).toBe('USAGE');
        expect(await errorCode(token.decryptRsaOaep(h, 'SHA-1', new Uint8Array(256)))).toBe('UNSUPPORTED_ALGORITHM');
        expect(await errorCode(token.generateKeyPair(`${label}-enc`, alg, 'encryption'))).toBe('USAGE');
        await token.close();
        token = store.reader.openToken(label);
        await token.login('123456');
        const again = await token.findKey(`${label}-user`);
        expect(again).toMatchObject({ algorithm: alg, purpose: 'signing' });
        expect(Buffer.compare(Buffer.from(again!.spki), Buffer.from(h.spki))).toBe(0);
        expect(nodeVerify(h.spki, DATA, await bindTokenKey(token, again!).sign(alg, DATA))).toBe(true);
      } finally {
        await token.close();
      }
    });
  }

  it('declares what it measured: Ed25519 and Ed448 on the native backend, neither on the container backend', () => {
    expect(SOFTHSM_NATIVE_CAPABILITIES.keyAlgorithms).toEqual(expect.arrayContaining(['Ed25519', 'Ed448']));
    expect(SOFTHSM_NATIVE_CAPABILITIES.signSchemes).toEqual(expect.arrayContaining(['Ed25519', 'Ed448']));
    expect(SOFTHSM_CONTAINER_CAPABILITIES.keyAlgorithms).not.toContain('Ed25519');
    expect(SOFTHSM_CONTAINER_CAPABILITIES.signSchemes).not.toContain('Ed25519');
  });
});

describe("issue 12: Ed25519 over p11-kit 0.24.1 remoting (the container backend's transport)", () => {
  let server: ChildProcess | undefined;
  let sockDir: string;
  const label = 'rpc-card';
  beforeAll(async () => {
    // A p11-kit server in front of the same SoftHSM2 store, as the container runs one in front of its own.
    store.reader.initToken({ label, soPin: '87654321', userPin: '123456' });
    sockDir = mkdtempSync(join(tmpdir(), 'ssmax-p11kit-'));
    const sock = join(sockDir, 'p11kit.sock');
    server = spawn('p11-kit', ['server', '-f', '-n', sock, '--provider', '/usr/lib/softhsm/libsofthsm2.so', `pkcs11:token=${label}`], {
      env: { ...process.env, SOFTHSM2_CONF: store.reader.confPath },
      stdio: 'ignore',
    });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(sock)).toBe(true);
  });
  afterAll(() => {
    if (server?.pid !== undefined) process.kill(server.pid);
    rmSync(sockDir, { recursive: true, force: true });
  });

  it('gets CKR_MECHANISM_INVALID for key generation and for CKM_EDDSA even with a key the token made natively, which is why the container declares neither', async () => {
    // The Ed25519 key is made in-process, natively, in the store the server serves.
    {
      const native = store.reader.openToken(label);
      await native.login('123456');
      await native.generateKeyPair('made-natively', 'Ed25519', 'signing');
      await native.close();
    }
    const module = Pkcs11Module.acquire({
      path: P11KIT_CLIENT_MODULE_PATH,
      initializeFlags: pkcs11js.CKF_OS_LOCKING_OK,
      env: { P11_KIT_SERVER_ADDRESS: `unix:path=${join(sockDir, 'p11kit.sock')}` },
    });
    const slot = module.slotByLabel(label);
    expect(slot).toBeDefined();
    const mechanisms = module.pkcs11.C_GetMechanismList(slot!);
    expect(mechanisms).not.toContain(0x1057); // CKM_EDDSA
    expect(mechanisms).not.toContain(0x1055); // CKM_EC_EDWARDS_KEY_PAIR_GEN
    expect(mechanisms).toContain(pkcs11js.CKM_ECDSA);
    // Declare Ed25519 on purpose, so the calls reach the transport instead of being refused by us.
    const token = Pkcs11Token.open({
      module,
      slot: slot!,
      label,
      capabilities: { ...SOFTHSM_CONTAINER_CAPABILITIES, keyAlgorithms: ['Ed25519'], signSchemes: ['Ed25519'] },
    });
    try {
      await token.login('123456');
      const gen = (await token.generateKeyPair('over-rpc', 'Ed25519').catch((e: unknown) => e)) as SsmaxError;
      expect(gen).toBeInstanceOf(SsmaxError);
      expect(gen.details['ckr']).toBe(pkcs11js.CKR_MECHANISM_INVALID);
      const h = await token.findKey('made-natively');
      expect(h?.algorithm).toBe('Ed25519');
      const sig = (await bindTokenKey(token, h!)
        .sign('Ed25519', DATA)
        .catch((e: unknown) => e)) as SsmaxError;
      expect(sig).toBeInstanceOf(SsmaxError);
      expect(sig.details['ckr']).toBe(pkcs11js.CKR_MECHANISM_INVALID);
    } finally {
      await token.close();
    }
  });
});
