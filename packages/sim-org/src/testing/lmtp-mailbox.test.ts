/**
 * Issue 11 (a repeat run of the whole suite failed once on it): a client that resets its connection in the
 * middle of an LMTP transaction, as an org process SIGKILLed mid-delivery does, reaches smtp-server as an
 * 'error' event on the server. Without a listener that is an uncaught ECONNRESET in the test process.
 */
import { connect } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { startLmtpMailbox } from './lmtp-mailbox.js';

describe('the stand-in LMTP mailbox', () => {
  it('survives a client that resets mid-transaction, and files the next delivery', async () => {
    await using box = await startLmtpMailbox();
    const socket = connect(box.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const replies: string[] = [];
    socket.on('data', (d: Buffer) => replies.push(d.toString('latin1')));
    await once(socket, 'data');
    socket.write('LHLO killed.example\r\nMAIL FROM:<a@killed.example>\r\nRCPT TO:<bob@b.example>\r\nDATA\r\nSubject: half\r\n');
    await expect.poll(() => replies.join('').includes('354'), { timeout: 5000 }).toBe(true);
    socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 200));
    await box.mailbox.deliver('bob@b.example', new Uint8Array(Buffer.from('Subject: whole\r\n\r\nbody\r\n')), { mailFrom: 'a@a.example' });
    const got = (box.inboxes.get('bob@b.example') ?? []).map((b) => b.toString('latin1'));
    expect(got).toHaveLength(1);
    expect(got[0]).toContain('Subject: whole');
  });
});
