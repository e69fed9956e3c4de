/**
 * Issue 14 item 2, `kind: container`: an org run from a locally built image through testcontainers (Ryuk
 * off, never pulled, host network: the simulated network is loopback). The image is the SoftHSM2 one
 * (images/softhsm2/build.sh); it runs our org through the contract with the host's /usr and this repository
 * (and /etc/ssl) mounted read-only, the org's directory and the network CA mounted at the same paths by the world.
 * Real Docker, SoftHSM2, Dovecot and STARTTLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOFTHSM_CONTAINER_IMAGE } from '@ssmax/core';
import type { World } from '../world.js';
import { REPO, SSMAX_BIN, startOutsideWorld, twoOrgWorldConfig, type OutsideWorld } from '../testing/outside-world.js';

let started: OutsideWorld | undefined;
let world: World;
beforeAll(async () => {
  const config = twoOrgWorldConfig({
    seed: 4343,
    orgB: {
      kind: 'container',
      name: 'org-serve-in-docker',
      image: SOFTHSM_CONTAINER_IMAGE,
      command: ['/usr/bin/node', SSMAX_BIN, 'org', 'serve'],
      mounts: [
        { source: '/usr', target: '/usr', readOnly: true },
        // openssl's configuration (/usr/lib/ssl/openssl.cnf points here).
        { source: '/etc/ssl', target: '/etc/ssl', readOnly: true },
        { source: REPO, target: REPO, readOnly: true },
      ],
    },
  });
  started = await startOutsideWorld(config, 'ssmax-container-org-');
  world = started.world;
}, 240_000);
afterAll(async () => {
  await started?.close();
});

describe('an org run from a local image (kind: container)', () => {
  it('is ready through the contract and receives, re-encrypts and delivers a member mail', async () => {
    expect(world.org('org-b').implementation).toBe('container:org-serve-in-docker');
    const alice = world.user('alice@org-a.example');
    const sent = await alice.send({
      to: 'bob@org-b.example',
      subject: 'from the host to the container',
      body: 'see the file',
      files: [{ name: 'n.txt', contentType: 'text/plain', content: new TextEncoder().encode('crossed into docker') }],
      pin: alice.pin,
    });
    await world.waitIdle();
    const bob = world.user('bob@org-b.example');
    const got = (await bob.inbox({ password: bob.password, pin: bob.pin })).find((m) => m.messageId === sent.messageId);
    expect(got?.verified).toBe(true);
    expect(new TextDecoder().decode(got?.files[0]?.content)).toBe('crossed into docker');
    expect(world.journey(sent.messageId).some((e) => e.actor === 'org-b/mta-in' && e.procedure === 7)).toBe(true);
  }, 120_000);
});
