/**
 * A bounce from a member's MTA reaches the sender. An org whose filter runs after its 250 (Postfix's
 * after-queue content filter, docs/postfix-org.md) refuses by DSN (RFC 3464) with the null reverse-path
 * (RFC 5321 §6.1), unsigned. The receiving org's (7) took any unsigned mail from a member domain for a
 * forged sender and refused it, so the DSN never reached the sender and the cell had no evidence. Now the
 * MX accepts it as outside mail (marked unverified), the judge reads it from the sender's mailbox, and
 * an unsigned mail that is not a null-sender DSN is still refused. Real SMTP, Dovecot, SoftHSM2 cards.
 */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDsn } from '@ssmax/sim-org';
import type { World } from '../world.js';
import { startOutsideWorld, twoOrgWorldConfig, type OutsideWorld } from '../testing/outside-world.js';
import { findDsn } from './dsn-evidence.js';

let running: OutsideWorld | undefined;
let world: World;
beforeAll(async () => {
  running = await startOutsideWorld(twoOrgWorldConfig({ seed: 4545 }), 'ssmax-dsn-member-');
  world = running.world;
}, 180_000);
afterAll(async () => {
  await running?.close();
});

/** One SMTP transaction to org-a's MX from org-b's MTA-out address (plain: what STARTTLS protects is not in question here). */
async function toOrgA(mailFrom: string, raw: Uint8Array): Promise<string> {
  const o = world.net.connectOptions(world.net.address('org-b-bouncer'), 'mx.org-a.example', 25);
  const t = nodemailer.createTransport({ host: o.host, port: o.port, localAddress: o.localAddress, ignoreTLS: true, name: 'mx.org-b.example' });
  try {
    const info = await t.sendMail({ envelope: { from: mailFrom, to: ['alice@org-a.example'] }, raw: Buffer.from(raw) });
    return info.response;
  } catch (e) {
    return String((e as { response?: string }).response ?? (e as Error).message);
  } finally {
    t.close();
  }
}

/** A DSN as Postfix writes one for a refusal after its 250: From MAILER-DAEMON at the member's domain, unsigned. */
function bounce(originalMessageId: string): Uint8Array {
  return buildDsn({
    reportingMta: 'mx.org-b.example',
    from: 'MAILER-DAEMON@org-b.example',
    to: 'alice@org-a.example',
    originalMessageId,
    recipients: ['bob@org-b.example'],
    rule: 'macro-document',
    text: 'The mail was refused by inbound inspection after it was accepted.',
    clock: () => new Date(),
    originalHeaders: [
      { name: 'From', value: 'alice@org-a.example' },
      { name: 'To', value: 'bob@org-b.example' },
      { name: 'Message-ID', value: originalMessageId },
    ],
    code: 'MALWARE',
  });
}

describe("a member's DSN (null reverse-path, unsigned) at the sender's org", () => {
  it('is delivered to the sender as outside mail and is the evidence the judge reads', async () => {
    const original = `<m-${Date.now()}@org-a.example>`;
    const reply = await toOrgA('', bounce(original));
    expect(reply).toMatch(/^250 /);
    await world.waitIdle(30_000);
    const dsn = await findDsn(world, 'alice@org-a.example', original);
    expect(dsn).toMatchObject({ reportingMta: 'mx.org-b.example', reportingOrg: 'org-b', status: '5.7.1' });
    // The sender's client shows it as unverified outside mail, never as mail signed by org-b.
    const alice = world.user('alice@org-a.example');
    const shown = (await alice.inbox({ password: alice.password, pin: alice.pin })).filter((m) => /Undelivered mail/.test(m.subject));
    expect(shown.length).toBe(1);
    expect(shown[0]!.verified).toBe(false);
    // (7) recorded why it let the unsigned mail through.
    const bare = shown[0]!.messageId.replace(/^<|>$/g, '');
    const checks = [...world.journey(`<${bare}>`), ...world.journey(bare)].flatMap((e) => e.checks);
    expect(JSON.stringify(checks)).toMatch(/unsigned delivery status notification \(null reverse-path\) from member domain org-b\.example/);
  }, 60_000);

  it('is still refused with a reverse-path, and an unsigned plain mail from the member domain with the null reverse-path too', async () => {
    expect(await toOrgA('mallory@org-b.example', bounce(`<m2-${Date.now()}@org-a.example>`))).toMatch(/^550 .*must carry the org signature/);
    const plain = [
      'From: ceo@org-b.example',
      'To: alice@org-a.example',
      'Subject: urgent wire transfer',
      `Message-ID: <p-${Date.now()}@org-b.example>`,
      `Date: ${new Date().toUTCString()}`,
      '',
      'Pay the invoice today.',
      '',
    ].join('\r\n');
    expect(await toOrgA('', new TextEncoder().encode(plain))).toMatch(/^550 .*must carry the org signature/);
  }, 60_000);
});
