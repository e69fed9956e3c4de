/**
 * World templates (world-template.ts): a world built once and stopped, started again from copies of its
 * storage. Real services throughout (SoftHSM2 cards, registry, Dovecot); one world at a time (one
 * SoftHSM2 reader per process).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CardObjects } from '@ssmax/sim-org';
import type { World } from './world.js';
import { parseWorldConfig } from './world-config.js';
import { WorldTemplate, copyWorldStorage } from './world-template.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-template-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const CONFIG = parseWorldConfig(`
version: 1
seed: 5151
orgs:
  - id: org-a
    domain: org-a.example
    role: sender
    users:
      - { address: alice, pin: "1111", password: alice-pass }
      - { address: carl, pin: "1112", password: carl-pass }
  - id: org-b
    domain: org-b.example
    role: recipient
    users: [ { address: bob, pin: "2222", password: bob-pass } ]
`);

/** Every regular file under `dir` with a digest of its content (what a started copy must never touch). */
function contents(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(path.relative(dir, p), createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Each user's card key pairs, as the public keys the card reports. */
async function cardKeys(world: World): Promise<Map<string, { sign: string; enc: string }>> {
  const keys = new Map<string, { sign: string; enc: string }>();
  for (const u of world.users()) {
    await u.card.login(u.pin);
    try {
      const hex = async (label: string) => Buffer.from((await u.card.key(label)).spki).toString('hex');
      keys.set(u.address, { sign: await hex(CardObjects.signingKey), enc: await hex(CardObjects.encryptionKey) });
    } finally {
      await u.card.logout();
    }
  }
  return keys;
}

describe('WorldTemplate', () => {
  const template = new WorldTemplate(CONFIG, path.join(root, 'template'), { profile: 'ssmax-org', retryMs: 100 });

  it('starts worlds whose cards each hold their own key pairs, whose mail is delivered, and whose trace vault opens what registration sealed', async () => {
    await template.prepare();
    const before = contents(template.dir);
    const seen: Map<string, { sign: string; enc: string }>[] = [];
    for (const n of [1, 2]) {
      const world = await template.start(path.join(root, `copy-${n}`));
      try {
        const keys = await cardKeys(world);
        expect([...keys.keys()].sort()).toEqual(['alice@org-a.example', 'bob@org-b.example', 'carl@org-a.example']);
        // No two cards share a key, and no card uses one key for both purposes.
        const all = [...keys.values()].flatMap((k) => [k.sign, k.enc]);
        expect(new Set(all).size).toBe(all.length);
        // The keys are the card's own: its certificates certify them.
        for (const u of world.users()) expect(Buffer.from(u.registered.signingCertificate.spki).toString('hex')).toBe(keys.get(u.address)!.sign);
        seen.push(keys);

        const alice = world.user('alice@org-a.example');
        const sent = await alice.send({ to: 'bob@org-b.example', subject: `copy ${n}`, body: 'Hello.', pin: alice.pin });
        await world.waitIdle();
        const bob = world.user('bob@org-b.example');
        const got = (await bob.inbox({ password: bob.password, pin: bob.pin })).find((m) => m.messageId === sent.messageId);
        expect(got?.verified, JSON.stringify(got?.problems)).toBe(true);

        // The incident desk's path (12): registration sealed alice's entry in the template; the copy opens it.
        const orgA = world.org('org-a');
        const opened = await orgA.vault.open({
          caseId: `case-${n}`,
          traceId: alice.registered.traceId,
          requestedBy: 'test CSIRT',
          reason: 'template test',
          key: orgA.vaultKey,
        });
        expect(opened?.address).toBe('alice@org-a.example');
        expect(opened?.employeeNumber).toMatch(/^EMP-[0-9a-f]{8}$/);
      } finally {
        await world.close();
      }
    }
    // Both worlds are the template started again: the same cards, so the same keys per user.
    expect(seen[1]).toEqual(seen[0]);
    // Starting, mailing and opening the vault in the copies wrote nothing into the template.
    expect(contents(template.dir)).toEqual(before);
  }, 240_000);

  it('copies modes and owners, and leaves out sockets and Dovecot run-time directories', () => {
    const src = path.join(root, 'plain-src');
    fs.mkdirSync(path.join(src, 'orgs/x/mail/dovecot/run'), { recursive: true });
    fs.writeFileSync(path.join(src, 'orgs/x/mail/dovecot/run/master.pid'), '1');
    fs.writeFileSync(path.join(src, 'orgs/x/secret'), 'k', { mode: 0o600 });
    fs.mkdirSync(path.join(src, 'orgs/x/mail/box'), { mode: 0o750 });
    fs.symlinkSync('/etc/hostname', path.join(src, 'orgs/x/link'));
    const dst = path.join(root, 'plain-dst');
    copyWorldStorage(src, dst);
    expect(fs.readFileSync(path.join(dst, 'orgs/x/secret'), 'utf8')).toBe('k');
    expect(fs.statSync(path.join(dst, 'orgs/x/secret')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dst, 'orgs/x/mail/box')).mode & 0o777).toBe(0o750);
    expect(fs.existsSync(path.join(dst, 'orgs/x/mail/dovecot'))).toBe(true);
    expect(fs.existsSync(path.join(dst, 'orgs/x/mail/dovecot/run'))).toBe(false);
    expect(fs.existsSync(path.join(dst, 'orgs/x/link'))).toBe(false);
    expect(() => copyWorldStorage(src, dst)).toThrow(/exists/);
  });
});
