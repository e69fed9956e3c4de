/**
 * A prepared world to start again and again: the storage of a world built once and stopped (registry
 * database and root token, every org's KMS, CA, trace vault, registration records, the users' cards as
 * SoftHSM2 token directories, spools and mailboxes), copied into a new directory and started there as a
 * restarted world ({@link World.create} on existing storage keeps its tokens and cards). Building an SSMAX
 * world makes every key on a token (RSA-2048 on SoftHSM2 for each card and KMS) and registers every
 * user (2); starting a copy makes none, so a matrix that needs a clean world many times pays for the
 * keys once per run.
 *
 * Each card in the copy is a copy of the same user's card in the template: within a world every card
 * still holds its own key pairs, made on that card by the template's registration (2); no two users share
 * a key. Two worlds started from one template are the same world started twice (same keys, certificates
 * and registry enrolments), which is what a clean world for the next cell is meant to be.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SsmaxError } from '@ssmax/core';
import { World, type WorldOptions } from './world.js';
import type { WorldConfig } from './world-config.js';

/**
 * Run-time state of a stopped world that must not be copied: sockets, pipes and the links Dovecot keeps
 * in its base_dir (`<org>/mail/dovecot/run`, recreated at start; a copied socket would look like a
 * running server), and the clamd working directory (its pid file and socket).
 */
function isRuntime(rel: string, st: fs.Stats): boolean {
  if (st.isSocket() || st.isFIFO() || st.isSymbolicLink()) return true;
  const parts = rel.split(path.sep);
  return (st.isDirectory() && parts.at(-1) === 'run' && parts.at(-2) === 'dovecot') || (parts.length === 1 && parts[0] === 'clamd');
}

/**
 * Copies a stopped world's storage from `from` to `to` (which must not exist), keeping each file's mode
 * and owner (Dovecot's mail processes run as their own user and must reach the mail directories).
 */
export function copyWorldStorage(from: string, to: string): void {
  if (fs.existsSync(to)) throw new SsmaxError('USAGE', `Cannot copy the world template to ${to}. The directory exists.`);
  const copy = (rel: string): void => {
    const src = path.join(from, rel);
    const dst = path.join(to, rel);
    const st = fs.lstatSync(src);
    if (rel !== '' && isRuntime(rel, st)) return;
    if (st.isDirectory()) {
      fs.mkdirSync(dst);
      for (const name of fs.readdirSync(src)) copy(path.join(rel, name));
    } else fs.copyFileSync(src, dst);
    fs.chmodSync(dst, st.mode & 0o7777);
    // Only root may give a file away; an unprivileged run owns everything it copies, as it owned the template.
    if (process.getuid?.() === 0) fs.lchownSync(dst, st.uid, st.gid);
  };
  copy('');
}

/**
 * A world template: built on first use into `dir` with `options` (and stopped), then started as a copy
 * for each {@link start}.
 */
export class WorldTemplate {
  #built: Promise<void> | undefined;

  constructor(
    private readonly config: WorldConfig,
    /** Where the template's storage lives; the template world is built here. */
    readonly dir: string,
    /** Options of the template world; `storageDir` is the template's `dir`. */
    private readonly options: Omit<WorldOptions, 'storageDir'>,
  ) {}

  /** Builds the template world once (the first call) and stops it. */
  prepare(): Promise<void> {
    this.#built ??= (async () => {
      const w = await World.create(this.config, { ...this.options, storageDir: this.dir });
      await w.close();
    })();
    return this.#built;
  }

  /**
   * Starts a world from a copy of the template in `storageDir` (which must not exist). `overrides` may
   * change what is not kept in storage (e.g. `withoutStarttls`, `log`); the profile, seed and switched-off
   * defences are the template's.
   */
  async start(storageDir: string, overrides: Pick<WorldOptions, 'withoutStarttls' | 'log' | 'retryMs' | 'clock'> = {}): Promise<World> {
    await this.prepare();
    copyWorldStorage(this.dir, storageDir);
    return World.create(this.config, { ...this.options, ...overrides, storageDir });
  }
}
