/**
 * Issue 14 item 2, `kind: container`: an org run from a locally built image through testcontainers (Ryuk
 * off, never pulled, host network: the simulated network is loopback). The image is the SoftHSM2 one
 * (images/softhsm2/build.sh); it runs our org through the contract with the host's /usr and this repository
 * (and /etc/ssl) mounted read-only, the org's directory and the network CA mounted at the same paths by the world.
 * Real Docker, SoftHSM2, Dovecot and STARTTLS.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOFTHSM_CONTAINER_IMAGE } from '@ssmax/core';
import { buildCompiled } from '@ssmax/core/testing';
import { World } from '../world.js';
import { parseWorldConfig } from '../world-config.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');

let dir: string;
let world: World;
beforeAll(async () => {
  await buildCompiled('packages/cli');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-container-org-'));
  fs.chmodSync(dir, 0o711);
  const config = parseWorldConfig(
    JSON.stringify({
      version: 1,
      seed: 4343,
      orgs: [
        { id: 'org-a', domain: 'org-a.example', role: 'sender', users: [{ address: 'alice', pin: '4711', password: 'alice-pass' }] },
        {
          id: 'org-b',
          domain: 'org-b.example',
          role: 'recipient',
          implementation: {
            kind: 'container',
            name: 'org-serve-in-docker',
            image: SOFTHSM_CONTAINER_IMAGE,
            command: ['/usr/bin/node', `${REPO}/packages/cli/bin/ssmax.js`, 'org', 'serve'],
            mounts: [
              { source: '/usr', target: '/usr', readOnly: true },
              // openssl's configuration (/usr/lib/ssl/openssl.cnf points here).
              { source: '/etc/ssl', target: '/etc/ssl', readOnly: true },
              { source: REPO, target: REPO, readOnly: true },
            ],
          },
          users: [{ address: 'bob', pin: '5811', password: 'bob-pass' }],
        },
      ],
    }),
  );
  world = await World.create(config, { storageDir: path.join(dir, 'w'), profile: 'ssmax-org', retryMs: 100 });
}, 240_000);
afterAll(async () => {
  await world?.close();
  fs.rmSync(dir, { recursive: true, force: true });
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
