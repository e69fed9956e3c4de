/**
 * Issue 11 item 2 (see sim-attacker dkim-sign-time.test.ts): the conventional MTA-out's DKIM signature must carry
 * the t= it signed. With a clock that advances a second per read, mailauth without signTime writes another t=.
 */
import { generateKeyPairSync } from 'node:crypto';
import { authenticate } from 'mailauth';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimNet } from '@ssmax/sim-net';
import { CONVENTIONAL_PRESETS, dkimSignMessage } from './conventional.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('issue 11 item 2: the MTA-out signs DKIM with one t=', () => {
  it('passes DKIM however the clock moves during signing', async () => {
    await using net = await SimNet.create({ seed: 13 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    net.zone.publishDkim('conv-a.example', 'sel1', { publicKey });
    const raw = new Uint8Array(
      Buffer.from('From: <a@conv-a.example>\r\nTo: <b@conv-b.example>\r\nSubject: hi\r\nMessage-ID: <x1@conv-a.example>\r\n\r\nhello\r\n'),
    );
    let t = 1_796_603_219_000;
    vi.spyOn(Date, 'now').mockImplementation(() => (t += 1000));
    const rt = {
      options: { ...CONVENTIONAL_PRESETS['best-practice'].conventional, dkimSelector: 'sel1' },
      dkimPrivateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const signed = await dkimSignMessage({ domain: 'conv-a.example' }, rt, raw);
    vi.restoreAllMocks();
    const r = await authenticate(Buffer.from(signed), {
      ip: '127.0.0.1',
      sender: 'a@conv-a.example',
      helo: 'mx.conv-a.example',
      mta: 'mx.conv-b.example',
      resolver: net.resolver,
      disableArc: true,
      disableBimi: true,
    });
    expect(r.dkim.results.map((x) => x.status.result)).toEqual(['pass']);
  });
});
