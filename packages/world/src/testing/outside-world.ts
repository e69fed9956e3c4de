/**
 * The world of the implementation tests (issue 14): Alice at org-a, the sender, and Bob at org-b, the recipient,
 * each org built in or run by an outside implementation through the contract (docs/IMPLEMENTING.md), under
 * ssmax-org. Shared by the implementation, Postfix and dsn-from-member tests; not part of the package's index.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCompiled } from '@ssmax/core/testing';
import { World } from '../world.js';
import { validateWorldConfig, type WorldConfig, type WorldImplementationConfig } from '../world-config.js';

/** This repository's root (the same from src/testing and dist/testing). */
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');
/** The `ssmax` command (packages/cli), which runs from its build: {@link startOutsideWorld} builds it first. */
export const SSMAX_BIN = path.join(REPO, 'packages/cli/bin/ssmax.js');

/** Alice (PIN 4711) at org-a and Bob (PIN 5811) at org-b; an org without an implementation is built in. */
export function twoOrgWorldConfig(o: {
  readonly seed: number;
  readonly orgA?: WorldImplementationConfig;
  readonly orgB?: WorldImplementationConfig;
}): WorldConfig {
  return validateWorldConfig({
    version: 1,
    seed: o.seed,
    orgs: [
      {
        id: 'org-a',
        domain: 'org-a.example',
        role: 'sender',
        ...(o.orgA ? { implementation: o.orgA } : {}),
        users: [{ address: 'alice', pin: '4711', password: 'alice-pass' }],
      },
      {
        id: 'org-b',
        domain: 'org-b.example',
        role: 'recipient',
        ...(o.orgB ? { implementation: o.orgB } : {}),
        users: [{ address: 'bob', pin: '5811', password: 'bob-pass' }],
      },
    ],
  });
}

/** A running world in a temporary directory; closing it stops the world and removes the directory. */
export interface OutsideWorld extends AsyncDisposable {
  readonly world: World;
  close(): Promise<void>;
}

/**
 * Builds packages/cli (an outside implementation here is `ssmax org …`), then starts `config` under ssmax-org
 * with a 100 ms retry in a fresh directory named `<tmpPrefix>…` (mode 0711: the mailbox and card users of the
 * world must enter it).
 */
export async function startOutsideWorld(config: WorldConfig, tmpPrefix: string): Promise<OutsideWorld> {
  await buildCompiled('packages/cli');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  fs.chmodSync(dir, 0o711);
  let world: World;
  try {
    world = await World.create(config, { storageDir: path.join(dir, 'w'), profile: 'ssmax-org', retryMs: 100 });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const close = async () => {
    try {
      await world.close();
    } finally {
      // SSMAX_KEEP keeps the directory (logs, Postfix's conf) to look at after a failure.
      if (!process.env['SSMAX_KEEP']) fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  return { world, close, [Symbol.asyncDispose]: close };
}
