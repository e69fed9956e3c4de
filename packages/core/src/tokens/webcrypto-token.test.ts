import { Crypto } from '@peculiar/webcrypto';
import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { registerTokenSuite } from './token-suite.js';
import { WebCryptoToken } from './webcrypto-token.js';

registerTokenSuite({
  name: 'webcrypto',
  async setup() {
    return {
      token: new WebCryptoToken({ crypto: new Crypto(), label: 'wc-card', userPin: '123456', soPin: '87654321' }),
      userPin: '123456',
      soPin: '87654321',
    };
  },
  // In-process keys live as long as the token object: a "re-open" is a new card over the same token.
  async reopen(previous) {
    return previous;
  },
  async teardown() {},
});

describe('WebCryptoToken', () => {
  it('refuses to sign a bare digest when asked to, because WebCrypto hashes itself', async () => {
    const token = new WebCryptoToken({ crypto: new Crypto(), label: 'wc', userPin: '1', soPin: '2' });
    await token.login('1');
    const key = await token.generateKeyPair('k', 'EC-P256');
    const err = await token.signDigest(key, 'ECDSA-SHA256', new Uint8Array(32)).catch((e: unknown) => e);
    expect(SsmaxError.is(err, 'CAPABILITY_MISSING')).toBe(true);
    await token.close();
    await expect(token.login('1')).rejects.toBeInstanceOf(SsmaxError);
  });
});
