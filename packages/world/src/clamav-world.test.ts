/**
 * Issue 16 part 1 in a whole world: one clamd per world, shared by its inspecting orgs, listed among the
 * world's services, deciding (8) at the SSMAX MX and the conventional MX's inspection, named in the
 * journey and the SMTP reply, and stopped with the world.
 *
 * Real services: registry, orgs, Dovecot mailboxes, SoftHSM2 cards, clamd; the outsider's SMTP client on
 * the simulated network.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createVbaProject, createZip } from '@ssmax/core';
import { attackerContext, composeMail, mxOf, smtpSend } from '@ssmax/sim-attacker';
import { EICAR } from '@ssmax/sim-org';
import { afterAll, describe, expect, it } from 'vitest';
import { World } from './world.js';
import { parseWorldConfig } from './world-config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-clamav-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const PAIR = parseWorldConfig(`
version: 1
seed: 1616
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

const BOB = 'bob@org-b.example';

function processesUnder(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir) && !l.includes('ps -eo'));
}

/** A Word document whose vbaProject.bin is a VBA project with an AutoOpen macro, under an innocuous name. */
function macroDocument(): Uint8Array {
  return createZip([
    { name: 'word/document.xml', data: '<w:document><w:body>Enable editing</w:body></w:document>' },
    { name: 'word/vbaProject.bin', data: createVbaProject([{ name: 'ThisDocument', source: 'Sub AutoOpen()\r\n  Shell "calc.exe"\r\nEnd Sub\r\n' }]) },
  ]);
}

/** An outsider's mail with `attachments`, straight to bob's MX; the SMTP reply. */
async function fromOutside(world: World, attachments: { filename: string; content: Uint8Array }[]): Promise<{ reply: string; messageId: string }> {
  const att = attackerContext(world.net);
  const messageId = `${Math.random().toString(36).slice(2)}@vendor.example`;
  const raw = composeMail({ from: 'sales@vendor.example', to: BOB, subject: 'Order', text: 'Please see the attachment.', attachments, messageId });
  const r = await smtpSend(att, { target: { host: await mxOf(att, 'org-b.example'), port: 25 }, envelope: { from: 'sales@vendor.example', to: [BOB] }, raw });
  return { reply: r.ok ? r.reply : (r.failure.smtpReply ?? r.failure.message), messageId: `<${messageId}>` };
}

describe('ClamAV in a world (issue 16 part 1)', () => {
  it('ssmax-org: lists one clamd, refuses EICAR and a macro document at (8) naming ClamAV and the signature, and stops it with the world', async () => {
    const storageDir = path.join(root, 'ssmax');
    const world = await World.create(PAIR, { storageDir, profile: 'ssmax-org' });
    try {
      const listed = () => world.services().filter((s) => s.name === 'clamav');
      expect(listed()).toEqual([{ name: 'clamav', listen: `unix:${world.clamd!.socketPath}`, protocol: expect.stringContaining('starts on the first scan') }]);
      // Nothing scanned yet: no clamd runs.
      expect(processesUnder(storageDir).filter((l) => l.includes('clamd'))).toEqual([]);

      const eicar = await fromOutside(world, [{ filename: 'tool.txt', content: new TextEncoder().encode(EICAR) }]);
      expect(eicar.reply).toMatch(/^550 5\.7\.1 Message refused: malware detected \(clamav Eicar-Test-Signature\.UNOFFICIAL in tool\.txt\)/);
      const macro = await fromOutside(world, [{ filename: 'order.doc', content: macroDocument() }]);
      expect(macro.reply).toMatch(/^550 5\.7\.1 Message refused: malware detected \(clamav Heuristics\.OLE2\.ContainsMacros\.VBA in order\.doc\)/);
      const clean = await fromOutside(world, [{ filename: 'figures.csv', content: new TextEncoder().encode('q1,q2\n4,5\n') }]);
      expect(clean.reply).toMatch(/^250 /);

      const step = (id: string) => world.journey(id).find((e) => e.actor === 'org-b/inspection' && e.procedure === 8);
      expect(step(eicar.messageId)).toMatchObject({
        outcome: 'rejected',
        checks: [{ name: 'clamav', result: 'fail', detail: 'Eicar-Test-Signature.UNOFFICIAL (tool.txt)' }],
      });
      expect(step(macro.messageId)).toMatchObject({
        outcome: 'rejected',
        checks: [{ name: 'clamav', result: 'fail', detail: 'Heuristics.OLE2.ContainsMacros.VBA (order.doc)' }],
      });
      expect(step(clean.messageId)).toMatchObject({
        outcome: 'accepted',
        checks: [{ name: 'inspection', result: 'pass', detail: expect.stringMatching(/^nothing found by clamav \(ClamAV 1\.\d+\.\d+, local signatures\)/) }],
      });

      // One daemon for the world: both orgs hold the same one, and exactly one clamd runs under the world's directory.
      expect(world.org('org-a').organisation.ctx.malwareScanner).toBe(world.clamd);
      expect(world.org('org-b').organisation.ctx.malwareScanner).toBe(world.clamd);
      expect(processesUnder(storageDir).filter((l) => l.includes('clamd'))).toHaveLength(1);
      expect(listed()[0]!.protocol).toMatch(/ClamAV 1\.\d+\.\d+, pid \d+/);
    } finally {
      await world.close();
    }
    expect(processesUnder(storageDir)).toEqual([]);
  });

  it('best-practice: the conventional MX refuses a macro document by ClamAV, and an encrypted ZIP as Heuristics.Encrypted.Zip', async () => {
    await using world = await World.create(PAIR, { storageDir: path.join(root, 'best'), profile: 'best-practice' });
    const macro = await fromOutside(world, [{ filename: 'order.doc', content: macroDocument() }]);
    expect(macro.reply).toMatch(/^550 5\.7\.1 Message refused: malware detected \(clamav Heuristics\.OLE2\.ContainsMacros\.VBA in order\.doc\)/);
    const zip = await fromOutside(world, [{ filename: 'files.zip', content: createZip([{ name: 'invoice.doc', data: 'hello' }], { password: 'pa55' }) }]);
    expect(zip.reply).toMatch(/^550 5\.7\.1 Message refused: encrypted archive cannot be inspected \(clamav Heuristics\.Encrypted\.Zip in files\.zip\)/);
    const step = world.journey(macro.messageId).find((e) => e.actor === 'org-b/inspection');
    expect(step?.checks).toContainEqual({ name: 'clamav', result: 'fail', detail: 'Heuristics.OLE2.ContainsMacros.VBA (order.doc)' });
  });
});
