/**
 * Issue 17: the baselines must be today's real best practice. Each "Composition Kills" class of From
 * ambiguity (Chen et al., USENIX Security 2020) is sent from an outside host straight to org-b's MX, once
 * with the best-practice MX (mailauth DMARC, p=reject published by org-a) and once with the SSMAX MX.
 * Every class must be refused in the session, or reach the inbox visibly unverified with the MX and the
 * client naming the same address; the MX's own Authentication-Results cannot be forged or extended.
 *
 * Real services: whole worlds (registry, orgs, Dovecot mailboxes, SoftHSM2 cards), the attacker's SMTP
 * client on the simulated network, the recipient's client over IMAP.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attackerContext, FROM_FORMS, sendSpoofedDirect, type FromForm } from '@ssmax/sim-attacker';
import { dmarcPassed, readMail } from './executor/conventional.js';
import { fetchAllRaw } from './executor/observe.js';
import { World } from './world.js';
import { parseWorldConfig } from './world-config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-from-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const PAIR = parseWorldConfig(`
version: 1
seed: 1717
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

const FORGED = 'alice@org-a.example';
const OWN = 'billing@pay-desk.example';
const BOB = 'bob@org-b.example';

/** Sends each class to bob's MX; returns the SMTP outcome of each, with the Message-ID of those accepted. */
async function sendEveryClass(world: World): Promise<Map<FromForm, { reply: string; messageId?: string }>> {
  const att = attackerContext(world.net);
  const out = new Map<FromForm, { reply: string; messageId?: string }>();
  for (const form of FROM_FORMS) {
    const r = await sendSpoofedDirect(att, {
      spoofedFrom: FORGED,
      alsoFrom: OWN,
      fromForm: form,
      to: BOB,
      subject: `New bank details (${form})`,
      text: 'Please pay the attached invoice to our new account today.',
    });
    out.set(form, r.sent ? { reply: r.sent.smtpReply, messageId: r.sent.messageId } : { reply: r.error?.smtpReply ?? r.error?.message ?? '' });
  }
  return out;
}

const REFUSED_BY_FROM_RULE: readonly FromForm[] = [
  'two-from-fields',
  'two-mailboxes',
  'encoded-word-address',
  'route-portion',
  'quoted-pair',
  'special-characters',
];

describe('issue 17: From ambiguity at both MX kinds', () => {
  it('best-practice: refuses every ambiguous From in the session; what it accepts the client shows unauthenticated under the address DMARC evaluated', async () => {
    await using world = await World.create(PAIR, { storageDir: path.join(root, 'best'), profile: 'best-practice' });
    const sent = await sendEveryClass(world);
    for (const form of REFUSED_BY_FROM_RULE) expect(sent.get(form)!.reply, form).toMatch(/^550 5\.7\.1 Message refused: DMARC needs exactly one From field/);
    expect(sent.get('leading-whitespace')!.reply).toMatch(/^554 5\.6\.0 .*continuation line/);
    // Folded correctly, From is Alice: DMARC is evaluated for org-a, fails, and p=reject applies.
    expect(sent.get('folded-from')!.reply).toMatch(/^550 5\.7\.1 Message refused: DMARC policy of the From domain is reject/);
    const accepted = FROM_FORMS.filter((f) => sent.get(f)!.messageId !== undefined);
    expect(accepted).toEqual(['sender-differs', 'resent-from']);

    await world.waitIdle();
    const mails = (await Promise.all((await fetchAllRaw(world.user(BOB))).map(readMail))).filter((m) => m !== undefined);
    for (const form of accepted) {
      const m = mails.find((x) => x.messageId === sent.get(form)!.messageId);
      expect(m, form).toBeDefined();
      // The client shows the From mailbox; the MX evaluated DMARC for that same domain (header.from), no pass.
      expect(m!.from).toBe(OWN);
      const ours = m!.authResults.find((h) => h.startsWith('mx.org-b.example') || h.startsWith('org-b.example'));
      expect(ours, form).toMatch(/\bdmarc=none\b[^;]*header\.from=pay-desk\.example/);
      expect(dmarcPassed(m!, 'org-b.example')).toBe(false);
    }
  });

  it('best-practice: an Authentication-Results under the MX’s own authserv-id that the message brings never reaches the inbox', async () => {
    await using world = await World.create(PAIR, { storageDir: path.join(root, 'best-ar'), profile: 'best-practice' });
    const att = attackerContext(world.net);
    const raw = [
      'Authentication-Results: mx.org-b.example; dmarc=pass (p=reject) header.from=org-a.example',
      'Authentication-Results: org-b.example (forged); dkim=pass header.d=org-a.example',
      `From: <${OWN}>`,
      `To: <${BOB}>`,
      'Subject: forged results',
      'Message-ID: <forged-ar-1@pay-desk.example>',
      '',
      'Pay today.',
      '',
    ].join('\r\n');
    const r = await sendSpoofedDirect(att, { spoofedFrom: OWN, to: BOB, raw: new Uint8Array(Buffer.from(raw)) });
    expect(r.sent?.smtpReply).toMatch(/^250/);
    await world.waitIdle();
    const stored = (await fetchAllRaw(world.user(BOB))).map((b) => Buffer.from(b).toString('latin1')).find((t) => t.includes('forged-ar-1@pay-desk.example'));
    expect(stored).toBeDefined();
    const fields = stored!
      .split('\r\n\r\n')[0]!
      .split(/\r\n(?![ \t])/)
      .filter((l) => /^authentication-results:/i.test(l));
    // Only the MX's own field is left, and it says what the MX found.
    expect(fields).toHaveLength(1);
    expect(fields[0]).toMatch(/dmarc=none/);
    expect(stored).not.toMatch(/dmarc=pass|dkim=pass header\.d=org-a/);
    const m = await readMail(new Uint8Array(Buffer.from(stored!, 'latin1')));
    expect(dmarcPassed(m!, 'org-b.example')).toBe(false);
  });

  it('ssmax-org: (7) refuses every class that names or may name a member; the one it accepts the agent shows unverified under the address (7) checked', async () => {
    await using world = await World.create(PAIR, { storageDir: path.join(root, 'ssmax'), profile: 'ssmax-org' });
    const sent = await sendEveryClass(world);
    for (const form of REFUSED_BY_FROM_RULE) expect(sent.get(form)!.reply, form).toMatch(/^550 5\.7\.1 From must name exactly one mailbox/);
    expect(sent.get('leading-whitespace')!.reply).toMatch(/^554 5\.6\.0 .*continuation line/);
    // A member in From (folded) or in Sender, unsigned: pattern A.
    for (const form of ['folded-from', 'sender-differs'] as const) expect(sent.get(form)!.reply, form).toMatch(/^550 5\.7\.7 .*must carry the org signature/);
    const accepted = FROM_FORMS.filter((f) => sent.get(f)!.messageId !== undefined);
    expect(accepted).toEqual(['resent-from']);

    await world.waitIdle();
    const bob = world.user(BOB);
    const inbox = await bob.inbox({ password: bob.password, pin: '2222' });
    const v = inbox.find((m) => m.messageId === `<${sent.get('resent-from')!.messageId}>`);
    expect(v).toMatchObject({ verified: false, outside: true, senderAddress: OWN });
    const mtaIn = world.journey(`<${sent.get('resent-from')!.messageId}>`).find((e) => e.actor === 'org-b/mta-in');
    expect(mtaIn?.checks).toContainEqual(expect.objectContaining({ name: 'registry-member', detail: 'pay-desk.example is not a registry member' }));
  });
});

describe('issue 17: the conventional client shows a domain as authenticated only for the From it displays', () => {
  const mail = (from: string, authResults: string[]) => ({ from, messageId: 'x', text: '', attachments: [], authResults, reputation: [] });

  it('counts a dmarc=pass of the receiving MX whose header.from is the displayed From domain', () => {
    expect(
      dmarcPassed(
        mail(FORGED, [
          'mx.org-b.example; spf=pass smtp.mailfrom=org-a.example; dkim=pass header.d=org-a.example; dmarc=pass (p=REJECT) header.from=org-a.example',
        ]),
        'org-b.example',
      ),
    ).toBe(true);
  });

  it('ignores a pass for another domain than the one displayed, a pass under another authserv-id, and text after the first dmarc result', () => {
    expect(dmarcPassed(mail(FORGED, ['mx.org-b.example; dmarc=pass header.from=quick-mail.example']), 'org-b.example')).toBe(false);
    expect(dmarcPassed(mail(FORGED, ['mx.evil.example; dmarc=pass header.from=org-a.example']), 'org-b.example')).toBe(false);
    expect(
      dmarcPassed(
        mail(FORGED, [
          'mx.org-b.example (comment); dmarc=none header.from=quick-mail.example From: <m@quick-mail.example>; dmarc=pass header.from=org-a.example',
        ]),
        'org-b.example',
      ),
    ).toBe(false);
    // Only the newest field of the receiving MX counts: an older one below it is what the message brought.
    expect(
      dmarcPassed(
        mail(FORGED, ['mx.org-b.example; dmarc=fail header.from=org-a.example', 'mx.org-b.example; dmarc=pass header.from=org-a.example']),
        'org-b.example',
      ),
    ).toBe(false);
  });
});
