import * as crypto from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { SOFTHSM_CONTAINER_CAPABILITIES, SoftHsmContainer } from './softhsm-container.js';
import { registerTokenSuite } from './token-suite.js';
import type { Token } from './token.js';

// ONE container for this test file: started once, stopped in afterAll. Docker down → beforeAll throws
// CONTAINER_ERROR and every case fails (never skips).
let hsm: SoftHsmContainer;
beforeAll(async () => {
  hsm = await SoftHsmContainer.start({ label: 'remote-card', soPin: '87654321', userPin: '123456' });
});
afterAll(async () => {
  await hsm?.stop();
});

registerTokenSuite({
  name: 'softhsm-container',
  async setup() {
    return { token: hsm.openToken(), userPin: '123456', soPin: '87654321' };
  },
  async reopen(previous: Token) {
    await previous.close();
    return hsm.openToken();
  },
  async teardown() {},
});

describe('SoftHsmContainer', () => {
  it('serves the token from the container over the p11-kit socket', async () => {
    expect(hsm.socketPath).toMatch(/p11kit\.sock$/);
    const ps = await hsm.exec(['sh', '-c', 'ls /proc/*/cmdline | xargs -n1 cat 2>/dev/null | tr "\\0" " " | grep -c "p11-kit server" || true']);
    expect(Number(ps.output.trim())).toBeGreaterThan(0);
    const list = await hsm.exec(['softhsm2-util', '--show-slots']);
    expect(list.output).toContain('remote-card');
  });

  it('gets CKR_MECHANISM_INVALID for CKM_ECDH1_DERIVE over p11-kit, which is why ecdh is declared false', async () => {
    await using token = hsm.openToken({ ...SOFTHSM_CONTAINER_CAPABILITIES, ecdh: true });
    await token.login('123456');
    const key = (await token.findKey('probe-ec')) ?? (await token.generateKeyPair('probe-ec', 'EC-P256'));
    const peer = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    const err = (await token.deriveEcdh(key, new Uint8Array(peer)).catch((e: unknown) => e)) as SsmaxError;
    expect(err).toBeInstanceOf(SsmaxError);
    expect(err.details['ckr']).toBe(pkcs11js.CKR_MECHANISM_INVALID);
  });

  it('gets CKR_ARGUMENTS_BAD for native OAEP-SHA-256, which is why it is served by raw RSA', async () => {
    await using token = hsm.openToken({ ...SOFTHSM_CONTAINER_CAPABILITIES, oaepHashesNative: ['SHA-1', 'SHA-256'] });
    await token.login('123456');
    const key = (await token.findKey('probe-rsa')) ?? (await token.generateKeyPair('probe-rsa', 'RSA-2048'));
    const pub = crypto.createPublicKey({ key: Buffer.from(key.spki), format: 'der', type: 'spki' });
    const c = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('k'));
    const err = (await token.decryptRsaOaep(key, 'SHA-256', c).catch((e: unknown) => e)) as SsmaxError;
    expect(err.code).toBe('DECRYPT_FAILED');
    expect((err.cause as { code?: number }).code).toBe(pkcs11js.CKR_ARGUMENTS_BAD);
  });

  it('refuses a second container in the same process while the first is connected', async () => {
    await expect(SoftHsmContainer.start({ label: 'second', soPin: '87654321', userPin: '123456' })).rejects.toSatisfy((e) => SsmaxError.is(e, 'USAGE'));
  });
});
