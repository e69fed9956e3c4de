/**
 * Whole worlds with real services: the registry (SQLite, root key on SoftHSM2), organisations and ESPs
 * (SMTP on the simulated network, KMS tokens, Dovecot mailboxes), users with SoftHSM2 cards.
 * SoftHSM2 is one reader per process, so the worlds of this file run one after another.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { connect } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readZip } from '@ssmax/core';
import { PROFILES } from './profiles.js';
import { World } from './world.js';
import { loadWorldConfig, parseWorldConfig, type WorldConfig } from './world-config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-world-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const FILES = [
  { name: 'report.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('Quarterly figures: revenue up 4%.\n')) },
  { name: 'data.bin', contentType: 'application/octet-stream', content: new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 37) & 0xff)) },
];

function processesUnder(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo'));
}

function refused(hostPort: string): Promise<boolean> {
  const i = hostPort.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = connect({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

const PAIR: WorldConfig = parseWorldConfig(`
version: 1
seed: 4242
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

/** Sends alice → bob with two files and returns bob's verdict of that mail. */
async function exchange(world: World, subject: string) {
  const sent = await world.user('alice@org-a.example').send({ to: 'bob@org-b.example', subject, body: 'Two files for you.', files: FILES, pin: '1111' });
  expect(sent.response).toMatch(/^250/);
  await world.waitIdle();
  const bob = world.user('bob@org-b.example');
  const inbox = await bob.inbox({ password: bob.password, pin: '2222' });
  const v = inbox.find((m) => m.messageId === sent.messageId);
  expect(v, 'delivered to bob').toBeDefined();
  return { sent, v: v! };
}

describe('World', () => {
  it('starts the default world, delivers under ssmax-org with identity notice employeeCardPin and intact files, and stops with no stray process or port', async () => {
    const config = await loadWorldConfig(path.join(import.meta.dirname, '../../../worlds/default.yaml'));
    const dir = path.join(root, 'default');
    const world = await World.create(config, { storageDir: dir });
    let listens: string[] = [];
    try {
      expect(world.profile.id).toBe('ssmax-org');
      expect(world.orgs().map((o) => [o.id, o.mode])).toEqual([
        ['org-a', 'org'],
        ['org-b', 'org'],
        ['esp-c', 'esp'],
      ]);
      expect(world.users().map((u) => u.address)).toEqual([
        'alice@org-a.example',
        'andrew@org-a.example',
        'bob@org-b.example',
        'beth@org-b.example',
        'carol@c-mail.example',
      ]);
      // Every actor has its own loopback address.
      const services = world.services();
      listens = services.map((s) => s.listen);
      const hosts = new Set(services.map((s) => s.listen.split(':')[0]));
      expect(hosts.size).toBeGreaterThanOrEqual(1 + 3 * 3);
      expect(processesUnder(dir).some((l) => l.includes('dovecot'))).toBe(true);
      // The registry lists the three members admitted.
      const directory = await world.org('org-a').organisation.registry.directory();
      expect(directory.members).toHaveLength(3);
      // SPF names exactly the org's MTA-out.
      const spf = (await world.net.resolver('org-a.example', 'TXT')).map((c) => c.join(''));
      expect(spf).toEqual([`v=spf1 ip4:${world.org('org-a').organisation.ctx.addresses.mtaOut} -all`]);

      const { sent, v } = await exchange(world, 'Q3 numbers');
      expect(v.problems).toEqual([]);
      expect(v.verified).toBe(true);
      expect(v.identityNotice).toMatchObject({ proofing: 'employeeCardPin', cardAndPinUsed: true, sendingDomain: 'org-a.example' });
      expect(v.files.map((f) => [f.name, f.ok, Buffer.from(f.content!).toString('hex')])).toEqual(
        FILES.map((f) => [f.name, true, Buffer.from(f.content).toString('hex')]),
      );
      // The merged journey runs (4) → (5) → (6) at org-a, then (7) → (8) → (9) at org-b, in time order.
      const j = world.journey(sent.messageId);
      const at = j.map((e) => e.at);
      expect([...at].sort()).toEqual(at);
      const firstOf = (actor: string) => j.findIndex((e) => e.actor.startsWith(actor));
      expect(firstOf('org-a/msa')).toBeGreaterThanOrEqual(0);
      expect(firstOf('org-a/msa')).toBeLessThan(firstOf('org-b/mta-in'));
      expect(j.filter((e) => e.actor.startsWith('org-b/')).map((e) => e.procedure)).toEqual(expect.arrayContaining([7, 8, 9]));
      // The andrew user was given a generated 6-digit PIN and a password.
      expect(world.user('andrew@org-a.example').pin).toMatch(/^\d{6}$/);
    } finally {
      await world.close();
    }
    expect(processesUnder(dir)).toEqual([]);
    // clamd listens on a Unix socket (issue 16): closed means the socket file is gone.
    for (const l of listens) expect(l.startsWith('unix:') ? !fs.existsSync(l.slice('unix:'.length)) : await refused(l), `${l} closed`).toBe(true);
  });

  for (const profile of ['ssmax-esp-in', 'ssmax-esp-out'] as const) {
    it(`delivers org-a → org-b with intact files when ${profile} makes the ${profile === 'ssmax-esp-in' ? 'recipient' : 'sender'}'s side an ESP`, async () => {
      await using world = await World.create(PAIR, { storageDir: path.join(root, profile), profile });
      const espSide = profile === 'ssmax-esp-in' ? 'org-b' : 'org-a';
      const orgSide = profile === 'ssmax-esp-in' ? 'org-a' : 'org-b';
      expect(world.org(espSide).mode).toBe('esp');
      expect(world.org(orgSide).mode).toBe('org');
      const { sent, v } = await exchange(world, profile);
      expect(v.problems).toEqual([]);
      expect(v.verified).toBe(true);
      // ESP users are proofed with the My Number card; org users with the employee card.
      expect(v.identityNotice).toMatchObject({ proofing: profile === 'ssmax-esp-out' ? 'myNumberCardPin' : 'employeeCardPin', cardAndPinUsed: true });
      expect(v.files.map((f) => [f.name, f.ok, f.sha256])).toEqual(FILES.map((f) => [f.name, true, expect.stringMatching(/^[0-9a-f]{64}$/)]));
      expect(Buffer.from(v.files[1]!.content!).equals(Buffer.from(FILES[1]!.content))).toBe(true);
      // The ESP's inspection step is skipped; the org on the other side inspects the files in plaintext.
      const j = world.journey(sent.messageId);
      const step = (org: string) => j.find((e) => e.actor.startsWith(`${org}/`) && e.procedure === (org === 'org-a' ? 5 : 8));
      expect(
        step(espSide)
          ?.checks.filter((c) => c.name === 'dlp' || c.name === 'inspection')
          .map((c) => c.result),
      ).toEqual(['skip']);
      expect(step(orgSide)?.files).toBe('plaintext');
      expect(step(orgSide)?.checks.some((c) => c.result === 'skip' && (c.name === 'dlp' || c.name === 'inspection'))).toBe(false);
    });
  }

  it('runs plain-ppap as conventional mail: the files arrive in a ZipCrypto ZIP, the password in a second mail, both unverified', async () => {
    await using world = await World.create(PAIR, { storageDir: path.join(root, 'ppap'), profile: 'plain-ppap' });
    expect(world.org('org-a').organisation.security).toBe('conventional');
    expect(() => world.org('org-a').registration).toThrow(/conventional profile plain-ppap/);
    const alice = world.user('alice@org-a.example');
    expect(alice.hasCard).toBe(false);
    const sent = await alice.send({ to: 'bob@org-b.example', subject: 'Q3', body: 'ZIP attached.', files: FILES, pin: '' });
    expect(sent.response).toMatch(/^250/);
    await world.waitIdle();
    const bob = world.user('bob@org-b.example');
    const inbox = await bob.inbox({ password: bob.password, pin: '' });
    const files = inbox.find((m) => m.messageId === sent.messageId);
    const pw = inbox.find((m) => m.subject === 'Password: Q3');
    expect(files?.verified).toBe(false);
    expect(files?.files.map((f) => f.name)).toEqual(['files.zip']);
    const zip = readZip(files!.files[0]!.content!);
    expect(zip.entries.map((e) => [e.name, e.encryption])).toEqual(FILES.map((f) => [f.name, 'zipcrypto']));
    expect(pw?.text).toMatch(/password for the ZIP file in my previous mail is: \S+/);
    // Outside SSMAX: every hop is procedure 0.
    const j = world.journey(sent.messageId);
    expect(j.length).toBeGreaterThan(0);
    expect(j.every((e) => e.procedure === 0)).toBe(true);
    expect(Object.keys(PROFILES)).toEqual([
      'plain-ppap',
      'best-practice',
      'smime-e2e',
      'ssmax-paper',
      'ssmax-org',
      'ssmax-esp-out',
      'ssmax-esp-in',
      'ssmax-plus',
    ]);
  });
});
