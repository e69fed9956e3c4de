/**
 * Issue 10 item 5: the card's PIN counter cannot be bypassed by opening the card twice, by guessing in
 * parallel, by a stale Card object writing over a lock, or by guessing the SO PIN instead. Real SoftHSM2
 * tokens: SoftHSM2 locks neither the user nor the SO PIN, so the Card's counters are all that stop a thief.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { errorCode, openSoftHsmStore, type SoftHsmStore } from '../testing/softhsm-store.js';
import { Card } from './card.js';

let hsm: SoftHsmStore;
let stateDir: string;
beforeAll(() => {
  hsm = openSoftHsmStore('ssmax-card-counter-');
  stateDir = path.join(hsm.dir, 'state');
});
afterAll(async () => {
  await hsm?.[Symbol.asyncDispose]();
});

const PIN = '4711';
const SO = '87654321';

function blankCard(label: string): void {
  hsm.reader.initToken({ label, soPin: SO, userPin: PIN });
}

function open(label: string, extra: { pinLockout?: boolean } = {}): Promise<Card> {
  return Card.open({ token: hsm.reader.openToken(label), stateDir, ...extra });
}

function stateOnDisk(label: string): { failures: number; locked: boolean; soFailures?: number; soLocked?: boolean } {
  return JSON.parse(fs.readFileSync(path.join(stateDir, `card-${encodeURIComponent(label)}.json`), 'utf8'));
}

describe('Card PIN counter (issue 10 item 5)', () => {
  it('locks after 3 wrong PINs in total when the guesses are spread over two Card objects of one card', async () => {
    blankCard('two-objects');
    const a = await open('two-objects');
    const b = await open('two-objects');
    expect(await errorCode(a.login('0000'))).toBe('PIN_INCORRECT');
    expect(await errorCode(b.login('1111'))).toBe('PIN_INCORRECT');
    expect(await errorCode(a.login('2222'))).toBe('PIN_INCORRECT');
    // Each object alone has seen fewer than 3 wrong PINs; the card has seen 3.
    expect(await errorCode(b.login(PIN))).toBe('PIN_LOCKED');
    expect(await errorCode(a.login(PIN))).toBe('PIN_LOCKED');
    expect(stateOnDisk('two-objects')).toMatchObject({ locked: true });
    await a.close();
    await b.close();
  });

  it('keeps a lock when a Card object opened before the lock logs in with the right PIN', async () => {
    blankCard('stale-object');
    const stale = await open('stale-object');
    const thief = await open('stale-object');
    for (const w of ['0000', '1111', '2222']) expect(await errorCode(thief.login(w))).toBe('PIN_INCORRECT');
    expect(thief.locked).toBe(true);
    expect(await errorCode(stale.login(PIN))).toBe('PIN_LOCKED');
    expect(stale.locked).toBe(true);
    expect(stale.loggedIn).toBe(false);
    expect(stateOnDisk('stale-object')).toMatchObject({ locked: true });
    await stale.close();
    await thief.close();
  });

  it('checks at most 3 wrong PINs when 8 wrong logins run at once on one Card object', async () => {
    blankCard('parallel');
    const card = await open('parallel');
    const guesses = ['1000', '1001', '1002', '1003', '1004', '1005', '1006', '1007'];
    const codes = await Promise.all(guesses.map((g) => errorCode(card.login(g))));
    expect(codes.filter((c) => c === 'PIN_INCORRECT')).toHaveLength(3);
    expect(codes.filter((c) => c === 'PIN_LOCKED')).toHaveLength(5);
    expect(await errorCode(card.login(PIN))).toBe('PIN_LOCKED');
    expect(stateOnDisk('parallel')).toMatchObject({ failures: 3, locked: true });
    await card.close();
  });

  it('blocks the SO PIN after 3 wrong SO PINs, so even the right SO PIN no longer unlocks the card', async () => {
    blankCard('so-guess');
    const card = await open('so-guess');
    for (const w of ['0000', '1111', '2222']) expect(await errorCode(card.login(w))).toBe('PIN_INCORRECT');
    const other = await open('so-guess');
    const remaining: unknown[] = [];
    for (const w of ['00000000', '11111111', '22222222']) {
      // Spread over two objects too: the SO counter is the card's, not the object's.
      const c = w === '11111111' ? other : card;
      try {
        await c.unlock(w, '9999');
        remaining.push('unlocked');
      } catch (e) {
        expect(SsmaxError.is(e, 'PIN_INCORRECT')).toBe(true);
        remaining.push((e as SsmaxError).details['remainingTries']);
      }
    }
    expect(remaining).toEqual([2, 1, 0]);
    expect(await errorCode(card.unlock(SO, '9999'))).toBe('PIN_LOCKED');
    expect(await errorCode(card.login('9999'))).toBe('PIN_LOCKED');
    expect(await errorCode(card.login(PIN))).toBe('PIN_LOCKED');
    expect(stateOnDisk('so-guess')).toMatchObject({ locked: true, soLocked: true });
    await card.close();
    await other.close();
  });

  it('resets the SO counter after a right SO PIN, and a right user PIN does not clear a wrong-SO-PIN count', async () => {
    blankCard('so-reset');
    const card = await open('so-reset');
    expect(await errorCode(card.unlock('00000000', '9999'))).toBe('PIN_INCORRECT');
    await card.login(PIN);
    await card.logout();
    expect(stateOnDisk('so-reset')).toMatchObject({ soFailures: 1 });
    expect(await errorCode(card.unlock('11111111', '9999'))).toBe('PIN_INCORRECT');
    await card.unlock(SO, '9999');
    expect(stateOnDisk('so-reset')).toMatchObject({ failures: 0, locked: false, soFailures: 0, soLocked: false });
    await card.login('9999');
    await card.logout();
    await card.close();
  });

  it('still counts and limits SO PINs but never locks the user PIN when lock-out is switched off', async () => {
    blankCard('ablated');
    const card = await open('ablated', { pinLockout: false });
    const codes = [];
    for (const w of ['1000', '1001', '1002', '1003', '1004']) codes.push(await errorCode(card.login(w)));
    expect(codes).toEqual(Array(5).fill('PIN_INCORRECT'));
    expect(stateOnDisk('ablated')).toMatchObject({ failures: 5, locked: false });
    await card.login(PIN);
    await card.logout();
    for (const w of ['00000000', '11111111', '22222222']) expect(await errorCode(card.unlock(w, '9999'))).toBe('PIN_INCORRECT');
    expect(await errorCode(card.unlock(SO, '9999'))).toBe('PIN_LOCKED');
    await card.close();
  });

  it('waits for the PIN-state lock of a live process and takes over the lock of a dead one', async () => {
    blankCard('file-lock');
    const card = await open('file-lock');
    const lockPath = path.join(stateDir, `card-${encodeURIComponent('file-lock')}.json.lock`);
    // Another process holds the lock (as during its PIN check): our login waits until it is released.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    fs.writeFileSync(lockPath, JSON.stringify({ pid: holder.pid, host: os.hostname() }));
    let done = false;
    const login = card.login(PIN).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 400));
    expect(done).toBe(false);
    fs.rmSync(lockPath);
    await login;
    expect(done).toBe(true);
    await card.logout();
    // A lock left behind by a process that died mid-check does not wedge the card.
    fs.writeFileSync(lockPath, JSON.stringify({ pid: holder.pid, host: os.hostname() }));
    const exited = new Promise((r) => holder.once('exit', r));
    holder.kill('SIGKILL');
    await exited;
    await card.login(PIN);
    await card.logout();
    expect(fs.existsSync(lockPath)).toBe(false);
    await card.close();
  });
});
