/**
 * Issue 11 item 2: the DKIM "bad signature" flake. mailauth 4.13.3's dkimSign, given no signTime, reads the
 * clock for the DKIM-Signature header it signs (t=) and again for the header it writes; when a second
 * boundary falls between the two reads, the written t= is one more than the signed one and every verifier
 * says "bad signature", with the body hash matching. Measured: about 1 in 600 fresh look-alike mails
 * (attacks.test.ts failed so in CI). A clock that advances a second per read makes it certain here; the
 * signers of this repository pass one signTime and verify under the same clock.
 */
import { generateKeyPairSync } from 'node:crypto';
import { authenticate, dkimSign } from 'mailauth';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimNet } from '@ssmax/sim-net';
import { attackerContext } from './footholds.js';
import { composeMail } from './compose-mail.js';
import { LookAlikeDomain } from './look-alike.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Date.now advancing one second per read, from a whole second. */
function tickingClock(): void {
  let t = 1_796_603_219_000;
  vi.spyOn(Date, 'now').mockImplementation(() => (t += 1000));
}

async function dkimResult(net: SimNet, raw: Uint8Array, ip: string, sender: string): Promise<{ result: string; comment?: string }> {
  const r = await authenticate(Buffer.from(raw), {
    ip,
    sender,
    helo: 'mail.example',
    mta: 'mx.org-b.example',
    resolver: net.resolver,
    disableArc: true,
    disableBimi: true,
  });
  const s = r.dkim.results[0]!.status;
  return { result: s.result, ...(s.comment ? { comment: String(s.comment) } : {}) };
}

describe('issue 11 item 2: one DKIM t= for the signed and the written header', () => {
  it('mailauth without signTime signs one t= and writes another when the clock moves on during signing (the flake, made certain)', async () => {
    await using net = await SimNet.create({ seed: 11 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    net.zone.publishDkim('dkim-demo.example', 's1', { publicKey });
    const raw = composeMail({
      from: 'a@dkim-demo.example',
      to: 'bob@org-b.example',
      subject: 'hello',
      text: 'hello',
      date: new Date('2026-12-07T00:00:00Z'),
      messageId: 'demo-1@dkim-demo.example',
    });
    tickingClock();
    const res = await dkimSign(Buffer.from(raw), {
      signatureData: [{ signingDomain: 'dkim-demo.example', selector: 's1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }],
    } as never);
    vi.restoreAllMocks();
    const signed = new Uint8Array(Buffer.concat([Buffer.from(res.signatures, 'latin1'), Buffer.from(raw)]));
    expect(await dkimResult(net, signed, '127.0.0.1', 'a@dkim-demo.example')).toEqual({ result: 'fail', comment: 'bad signature' });
  });

  it('the look-alike attacker signs with one signTime: its mail passes DKIM however the clock moves', async () => {
    await using net = await SimNet.create({ seed: 12 });
    const ctx = attackerContext(net);
    const la = await LookAlikeDomain.register(ctx, { domain: 'look-demo.example' });
    const raw = composeMail({
      from: `info@${la.domain}`,
      to: 'bob@org-b.example',
      subject: 'hello',
      text: 'hello',
      date: new Date('2026-12-07T00:00:00Z'),
      messageId: 'demo-2@look-demo.example',
    });
    tickingClock();
    const signed = await la.dkimSign(raw);
    vi.restoreAllMocks();
    expect(await dkimResult(net, signed, ctx.address, `info@${la.domain}`)).toEqual({ result: 'pass' });
  });
});
