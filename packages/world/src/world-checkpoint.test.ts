/**
 * checkpointWorld (world-checkpoint.ts) on a real world: what one cell publishes in the world's public
 * registrars is gone after a restore, and what was there before is back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SoftwareKey } from '@ssmax/core';
import { World } from './world.js';
import { parseWorldConfig } from './world-config.js';
import { checkpointWorld } from './world-checkpoint.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-checkpoint-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const CONFIG = parseWorldConfig(`
version: 1
seed: 6161
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

describe('checkpointWorld', () => {
  it('takes back a look-alike domain with p=reject, its registrar record and its public-CA certificate, and keeps what the world started with', async () => {
    await using world = await World.create(CONFIG, { storageDir: path.join(root, 'w'), profile: 'best-practice' });
    const zone = world.net.zone;
    const registrar = world.domainRegistry;
    const startDmarc = await zone.resolver('_dmarc.org-a.example', 'TXT');
    const startRegistry = { ...world.domainRegistry };
    expect(startRegistry['org-a.example']).toBeDefined();
    const restore = checkpointWorld(world);

    // One cell: the attacker registers vendor-x.example 10 days ago to a privacy proxy, publishes MX and
    // DMARC p=reject, gets a public-CA certificate; it also edits a member's record.
    zone.addMx('vendor-x.example', 'mail.vendor-x.example', 10).addA('mail.vendor-x.example', world.net.address('attacker'));
    zone.publishDmarc('vendor-x.example', { p: 'reject' });
    zone.publishDmarc('org-a.example', { p: 'none' });
    world.recordDomainRegistration('vendor-x.example', new Date(Date.now() - 10 * 86_400_000), { registrant: 'privacy proxy', verified: false });
    world.recordDomainRegistration('org-a.example', new Date(), { registrant: 'someone else', verified: false });
    await world.publicCa.issue({ email: 'billing@vendor-x.example', spki: SoftwareKey.generate('EC-P256').spki, validation: 'mailbox' });
    expect(world.publicCa.certificates('billing@vendor-x.example')).toHaveLength(1);

    restore();
    await expect(zone.resolver('_dmarc.vendor-x.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(zone.resolver('vendor-x.example', 'MX')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(await zone.resolver('_dmarc.org-a.example', 'TXT')).toEqual(startDmarc);
    expect(world.domainRegistry).toEqual(startRegistry);
    expect(world.registrants['vendor-x.example']).toBeUndefined();
    expect(world.registrants['org-a.example']).toEqual({ registrant: 'org-a', verified: true });
    expect(world.publicCa.certificates('billing@vendor-x.example')).toEqual([]);
    // The reputation check holds the registrar's record object itself: restored in place, not replaced.
    expect(world.domainRegistry).toBe(registrar);

    // It restores again after the next cell.
    zone.publishDmarc('vendor-x.example', { p: 'quarantine' });
    restore();
    await expect(zone.resolver('_dmarc.vendor-x.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  }, 120_000);
});
