/**
 * Card PIN lock-out as a switch (`CardOptions.pinLockout`, off only in falsifiability runs), on real
 * SoftHSM2 tokens: SoftHSM2 itself never locks a user PIN, so the Card's counter is all that stops a
 * thief with the card from guessing on.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, openSoftHsmStore, type SoftHsmStore } from '../testing/softhsm-store.js';
import { Card } from './card.js';

/** ECDSA-SHA256 signature check with node's crypto (signatures are DER, as the token returns them). */
function verifies(spki: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  return crypto.verify('sha256', data, { key: crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), dsaEncoding: 'der' }, sig);
}

let hsm: SoftHsmStore;
beforeAll(() => {
  hsm = openSoftHsmStore('ssmax-card-lockout-');
});
afterAll(async () => {
  await hsm?.[Symbol.asyncDispose]();
});

const PIN = '4711';
const WRONG = ['0000', '1234', '1111', '2580'];

async function freshCard(label: string, pinLockout?: boolean): Promise<Card> {
  hsm.reader.initToken({ label, soPin: '87654321', userPin: PIN });
  const token = hsm.reader.openToken(label);
  await token.login(PIN);
  await token.generateKeyPair('sign', 'EC-P256');
  await token.logout();
  return Card.open({ token, stateDir: path.join(hsm.dir, 'state'), ...(pinLockout === undefined ? {} : { pinLockout }) });
}

describe('Card PIN lock-out', () => {
  it('refuses the right PIN after 4 wrong ones when lock-out is on (the default)', async () => {
    const card = await freshCard('lockout-on');
    const got = [];
    for (const w of WRONG) got.push(await errorCode(card.login(w)));
    expect(got).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_LOCKED']);
    expect(await errorCode(card.login(PIN))).toBe('PIN_LOCKED');
    expect(card.locked).toBe(true);
    await card.close();
  });

  it('accepts a 4th guess and then the right PIN, and signs, when lock-out is switched off', async () => {
    const card = await freshCard('lockout-off', false);
    const got = [];
    for (const w of WRONG) got.push(await errorCode(card.login(w)));
    // Wrong PINs are still wrong (SoftHSM2 checks them), but the 4th is tried instead of refused as locked.
    expect(got).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT']);
    expect(card.locked).toBe(false);
    await card.login(PIN);
    const key = await card.key('sign');
    const data = crypto.randomBytes(32);
    expect(verifies(key.spki, data, await key.sign('ECDSA-SHA256', data))).toBe(true);
    await card.logout();
    await card.close();
  });
});
