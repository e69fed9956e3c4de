/**
 * ssmax-plus addition 2 in a whole world (registry, two orgs with Dovecot, card users): the mailbox holds the
 * mail only inside the chain of encryption, the recipient's client (observer) shows it normally, and a copy
 * whose outer Subject was changed after the sender — planted in the mailbox over IMAP, as a holder of the
 * stolen password can — is shown with a warning whose reason names the forged field.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fetchAllRaw, observeSsmax } from './executor/observe.js';
import { withImapSession } from './testing/imap-session.js';
import { World } from './world.js';
import { parseWorldConfig } from './world-config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-world-hp-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const PAIR = parseWorldConfig(`
version: 1
seed: 4343
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

describe('Header protection in an ssmax-plus world', () => {
  it('keeps Subject and body out of the mailbox, shows the mail normally, and flags a copy with a forged outer Subject', async () => {
    // The hold (addition 4) is switched off: it only delays the mail.
    await using world = await World.create(PAIR, { storageDir: path.join(root, 'plus'), profile: 'ssmax-plus', ablate: ['hold-and-cancel'] });
    expect(world.plus?.headerProtection).toBe(true);
    const sent = await world.user('alice@org-a.example').send({
      to: 'bob@org-b.example',
      subject: 'Q3 ref-w1',
      body: 'Figures attached. body-w1',
      files: [{ name: 'q3.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('revenue up 4%\n')) }],
      pin: '1111',
    });
    expect(sent.response).toMatch(/^250/);
    await world.waitIdle();
    const bob = world.user('bob@org-b.example');

    // What the mailbox holds, as a stolen password reads it: the envelope and the obscured Subject only.
    const raws = await fetchAllRaw(bob);
    const mine = raws.find((r) => Buffer.from(r).toString('latin1').includes(sent.messageId.replace(/^<|>$/g, '')));
    expect(mine, 'delivered').toBeDefined();
    const stored = Buffer.from(mine!).toString('latin1');
    expect(stored).toMatch(/^Subject: \[\.\.\.\]\r$/m);
    expect(stored).not.toContain('ref-w1');
    expect(stored).not.toContain(Buffer.from('Figures attached. body-w1').toString('base64').slice(0, 20));

    const journey = world.journey(sent.messageId);
    const first = await observeSsmax(bob, { messageId: sent.messageId, copy: 1 }, journey, 'org-a');
    expect(first.view?.shown).toBe('normal');
    expect(first.view?.reasons).toEqual([]);

    // The same mail planted again with a forged outer Subject (IMAP APPEND with bob's password).
    const forged = stored.replace(/^Subject: \[\.\.\.\]/m, 'Subject: URGENT: new bank details');
    await withImapSession(bob, (client) => client.append('INBOX', Buffer.from(forged, 'latin1')));
    const second = await observeSsmax(bob, { messageId: sent.messageId, copy: 2 }, journey, 'org-a');
    expect(second.view?.shown).toBe('warning');
    expect(second.view?.reasons).toEqual([
      'the outer subject "URGENT: new bank details" is not what the sender put outside ("[...]"); shown: the protected subject "Q3 ref-w1"',
    ]);
  });
});
