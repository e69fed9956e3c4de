/**
 * Issue 14 items 1-2: an org run by an outside implementation through the contract (docs/IMPLEMENTING.md):
 * our own org as `ssmax org serve --config FILE`, started by the world, talked to only over SMTP, LMTP and
 * HTTP. Real SoftHSM2 cards, real Dovecot, real STARTTLS under the simulated network's CA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { World } from '../world.js';
import { SSMAX_BIN, startOutsideWorld, twoOrgWorldConfig, type OutsideWorld } from '../testing/outside-world.js';
import { NotObservableError } from './outside-org.js';

let started: OutsideWorld | undefined;
let world: World;
beforeAll(async () => {
  // Org A built in, org B outside.
  const config = twoOrgWorldConfig({
    seed: 4242,
    orgB: { kind: 'process', name: 'org-serve', command: [process.execPath, SSMAX_BIN, 'org', 'serve'], env: {} },
  });
  started = await startOutsideWorld(config, 'ssmax-outside-');
  world = started.world;
}, 180_000);
afterAll(async () => {
  await started?.close();
});

describe('an org run by an outside implementation (contract v1)', () => {
  it('enrols over HTTP, certifies the card keys it was given, and is reached only through its published services', () => {
    const b = world.org('org-b');
    expect(b.implementation).toBe('process:org-serve');
    expect(b.outside?.ready.contract).toBe(1);
    expect(() => b.organisation).toThrow(NotObservableError);
    // (2): the certificate on Bob's card certifies the key the world made on the card, for Bob's address.
    const bob = world.user('bob@org-b.example');
    expect(bob.registered.signingCertificate.emailAddresses).toEqual(['bob@org-b.example']);
    const names = world.services().map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['org-b/msa', 'org-b/mta-in', 'org-b/crl']));
    expect(world.org('org-a').implementation).toBe('builtin');
  });

  it('receives a member mail over STARTTLS, inspects and re-encrypts it to the recipient, and delivers it over LMTP', async () => {
    const alice = world.user('alice@org-a.example');
    const sent = await alice.send({
      to: 'bob@org-b.example',
      subject: 'quarterly figures',
      body: 'see the file',
      files: [{ name: 'q3.txt', contentType: 'text/plain', content: new TextEncoder().encode('revenue 42') }],
      pin: alice.pin,
    });
    await world.waitIdle();
    const bob = world.user('bob@org-b.example');
    const inbox = await bob.inbox({ password: bob.password, pin: bob.pin });
    const got = inbox.find((m) => m.messageId === sent.messageId);
    expect(got?.verified).toBe(true);
    expect(got?.identityNotice?.cardAndPinUsed).toBe(true);
    expect(new TextDecoder().decode(got?.files[0]?.content)).toBe('revenue 42');
    // The optional journey events arrived over HTTP: (7), (8) and (9) at org-b.
    const procedures = world
      .journey(sent.messageId)
      .filter((e) => e.actor.startsWith('org-b/'))
      .map((e) => e.procedure);
    expect(procedures).toEqual(expect.arrayContaining([7, 8, 9]));
    // The hop into org-b was STARTTLS through the world's tapped relay: the subject (protected only by TLS) never crossed in the clear.
    const toB = world.net.tap.connections().filter((c) => c.service === 'mx.org-b.example:25');
    expect(toB.length).toBeGreaterThan(0);
    expect(toB.some((c) => c.captured('client-to-server').includes('STARTTLS'))).toBe(true);
    expect(toB.some((c) => c.captured('client-to-server').includes('quarterly figures'))).toBe(false);
  }, 120_000);
});
