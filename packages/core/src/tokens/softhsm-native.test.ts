import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { SOFTHSM_NATIVE_CAPABILITIES, SoftHsmNative } from './softhsm-native.js';
import { registerTokenSuite } from './token-suite.js';
import type { Token } from './token.js';

// One reader (one SoftHSM token directory) for this test file's process, holding several cards.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-softhsm-native-'));
let reader: SoftHsmNative;
beforeAll(() => {
  reader = SoftHsmNative.open({ storageDir: dir });
});
afterAll(async () => {
  await reader?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

registerTokenSuite({
  name: 'softhsm-native',
  async setup() {
    reader.initToken({ label: 'native-card', soPin: '87654321', userPin: '123456' });
    return { token: reader.openToken('native-card'), userPin: '123456', soPin: '87654321' };
  },
  async reopen(previous: Token) {
    await previous.close();
    return reader.openToken('native-card');
  },
  async teardown() {},
});

describe('SoftHsmNative', () => {
  it('keeps several cards apart when they share one reader', async () => {
    reader.initToken({ label: 'alice', soPin: '11111111', userPin: '1111' });
    reader.initToken({ label: 'bob', soPin: '22222222', userPin: '2222' });
    expect(reader.labels()).toEqual(expect.arrayContaining(['alice', 'bob']));
    await using alice = reader.openToken('alice');
    await using bob = reader.openToken('bob');
    await alice.login('1111');
    await bob.login('2222');
    const ka = await alice.generateKeyPair('sig', 'EC-P256');
    expect(await bob.findKey('sig')).toBeUndefined();
    const kb = await bob.generateKeyPair('sig', 'EC-P256');
    expect(Buffer.from(kb.spki).equals(Buffer.from(ka.spki))).toBe(false);
    await expect(bob.login('1111')).rejects.toSatisfy((e) => SsmaxError.is(e, 'PIN_INCORRECT'));
    expect(() => reader.initToken({ label: 'alice', soPin: '11111111', userPin: '1111' })).toThrow(/label exists/);
  });

  it('refuses a second token directory in the same process', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-softhsm-other-'));
    try {
      expect(() => SoftHsmNative.open({ storageDir: other })).toThrow(SsmaxError);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('gets CKR_ARGUMENTS_BAD from SoftHSM for native OAEP-SHA-256, which is why it is served by raw RSA', async () => {
    reader.initToken({ label: 'oaep-probe', soPin: '33333333', userPin: '3333' });
    // Claim native OAEP-SHA-256 to measure what the module really does with it.
    await using token = reader.openToken('oaep-probe', { ...SOFTHSM_NATIVE_CAPABILITIES, oaepHashesNative: ['SHA-1', 'SHA-256'] });
    await token.login('3333');
    const key = await token.generateKeyPair('enc', 'RSA-2048');
    const pub = crypto.createPublicKey({ key: Buffer.from(key.spki), format: 'der', type: 'spki' });
    const c = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('k'));
    const err = (await token.decryptRsaOaep(key, 'SHA-256', c).catch((e: unknown) => e)) as SsmaxError;
    expect(err.code).toBe('DECRYPT_FAILED');
    expect((err.cause as { code?: number }).code).toBe(pkcs11js.CKR_ARGUMENTS_BAD);
  });

  it('keeps the PIN usable after many wrong PINs, because SoftHSM 2.6.1 never locks (the Card must)', async () => {
    reader.initToken({ label: 'nolock', soPin: '44444444', userPin: '4444' });
    await using token = reader.openToken('nolock');
    for (let i = 0; i < 5; i++) await expect(token.login('0000')).rejects.toBeInstanceOf(SsmaxError);
    await token.login('4444');
    expect(token.loggedIn).toBe(true);
    expect(token.capabilities.pinLockout).toBe(false);
  });
});
