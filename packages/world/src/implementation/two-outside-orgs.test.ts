/**
 * Issue 14: a world with two outside orgs. Both org-a and org-b are our own org run through the contract
 * (`ssmax org serve`), which knows the simulated network only from its config's hosts and MX tables. The
 * world reserves every outside org's names before it starts any, so org-a (started first) is told where
 * org-b's MX is, and a member mail from org-a reaches org-b. Real SMTP with STARTTLS, SoftHSM2 cards, Dovecot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgImplementationConfig } from '@ssmax/core';
import type { World } from '../world.js';
import { reportMalicious } from '../executor/incident.js';
import { SSMAX_BIN, startOutsideWorld, twoOrgWorldConfig, type OutsideWorld } from '../testing/outside-world.js';

const serve = { kind: 'process', name: 'org-serve', command: [process.execPath, SSMAX_BIN, 'org', 'serve'] } as const;

let running: OutsideWorld | undefined;
let world: World;
let sentId = '';
beforeAll(async () => {
  running = await startOutsideWorld(twoOrgWorldConfig({ seed: 4343, orgA: serve, orgB: serve }), 'ssmax-two-outside-');
  world = running.world;
}, 240_000);
afterAll(async () => {
  await running?.close();
});

const configOf = (org: string): OrgImplementationConfig =>
  JSON.parse(fs.readFileSync(path.join(world.storageDir, 'orgs', org, 'implementation.json'), 'utf8')) as OrgImplementationConfig;

describe('two outside orgs in one world', () => {
  it("gives each implementation the other's MX, MSA and CRL host, whichever started first", () => {
    const a = configOf('org-a');
    const b = configOf('org-b');
    expect(a.network.mx).toContainEqual({ domain: 'org-b.example', host: 'mx.org-b.example' });
    expect(b.network.mx).toContainEqual({ domain: 'org-a.example', host: 'mx.org-a.example' });
    const names = (c: OrgImplementationConfig) => c.network.hosts.map((h) => `${h.name}:${h.port}`);
    expect(names(a)).toEqual(expect.arrayContaining(['mx.org-b.example:25', 'msa.org-b.example:587', 'crl.org-b.example:80']));
    expect(names(b)).toEqual(expect.arrayContaining(['mx.org-a.example:25', 'msa.org-a.example:587', 'crl.org-a.example:80']));
    // What org-a was told is where the world's relay for org-b's MX listens.
    const told = a.network.hosts.find((h) => h.name === 'mx.org-b.example' && h.port === 25)!;
    expect(world.net.directory.resolve('mx.org-b.example', 25).endpoint).toEqual(told.connect);
  });

  it('carries a member mail with a CONFIDENTIAL file from org-a to org-b (members may receive it, (5)): verified, over STARTTLS', async () => {
    const alice = world.user('alice@org-a.example');
    const sent = await alice.send({
      to: 'bob@org-b.example',
      subject: 'between two outside orgs',
      body: 'see the file',
      files: [{ name: 'q3.txt', contentType: 'text/plain', content: new TextEncoder().encode('CONFIDENTIAL: revenue 43') }],
      pin: alice.pin,
    });
    await world.waitIdle(60_000);
    const bob = world.user('bob@org-b.example');
    const got = (await bob.inbox({ password: bob.password, pin: bob.pin })).find((m) => m.messageId === sent.messageId);
    expect(got?.verified).toBe(true);
    expect(new TextDecoder().decode(got?.files[0]?.content)).toBe('CONFIDENTIAL: revenue 43');
    const toB = world.net.tap.connections().filter((c) => c.service === 'mx.org-b.example:25');
    expect(toB.some((c) => c.captured('client-to-server').includes('STARTTLS'))).toBe(true);
    sentId = sent.messageId;
  }, 120_000);

  it("(12) between them: org-b files bob's report, org-a answers the registry by itself, and the judge reads its answer from the case", async () => {
    const lines: string[] = [];
    const evidence = await reportMalicious(world, 'bob@org-b.example', sentId.replace(/^<|>$/g, ''), undefined, {
      seed: 1,
      clock: () => new Date(),
      log: (l) => lines.push(l),
    });
    expect(evidence, lines.join('\n')).toEqual({ identified: true, ownHosts: false, onCrl: true, resubmissionRefused: true });
    expect(lines.join('\n')).toMatch(/org-a concluded sender, identified=true/);
  }, 120_000);
});
