import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SPOOL_STATES, type SpoolState } from '../spool.js';
import { SpoolCensus } from './spool-census.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function spoolDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ssmax-census-'));
  dirs.push(d);
  for (const s of SPOOL_STATES) mkdirSync(join(d, s));
  return d;
}

/**
 * Counts one spool that holds message `m` in `from`/, which a worker claims (renames to processing/`from`~m)
 * right after the census has listed `listed`/ and before it lists the next state.
 */
function countAcrossClaim(from: 'incoming' | 'outgoing', listed: SpoolState): number {
  const d = spoolDir();
  writeFileSync(join(d, from, 'm'), 'x');
  let claimed = false;
  return new SpoolCensus([d], (p) => {
    const names = readdirSync(p);
    if (!claimed && p === join(d, listed)) {
      claimed = true;
      renameSync(join(d, from, 'm'), join(d, 'processing', `${from}~m`));
    }
    return names;
  }).count();
}

describe('SpoolCensus', () => {
  it('counts a message once when a worker claims it (incoming → processing) between two directory listings', () => {
    // The file is listed in incoming/ and then again in processing/: a per-file count says 2.
    expect(countAcrossClaim('incoming', 'incoming')).toBe(1);
  });

  it('still counts a message a retry moves back (outgoing → processing) behind the listing', () => {
    // processing/ is listed before the move and outgoing/ after it: the first pass sees the message nowhere.
    expect(countAcrossClaim('outgoing', 'processing')).toBe(1);
  });

  it('keeps counting a message it has seen, ignores half-written dot files, and keeps two spools apart', () => {
    const a = spoolDir();
    const b = spoolDir();
    const census = new SpoolCensus([a, b]);
    expect(census.count()).toBe(0);
    writeFileSync(join(a, 'incoming', 'm1'), 'x');
    writeFileSync(join(b, 'incoming', 'm1'), 'x');
    writeFileSync(join(a, 'incoming', '.m3.tmp'), 'x');
    expect(census.count()).toBe(2);
    renameSync(join(a, 'incoming', 'm1'), join(a, 'delivered', 'm1'));
    rmSync(join(b, 'incoming', 'm1'));
    expect(census.count()).toBe(2);
    writeFileSync(join(a, 'bounced', 'm4'), 'x');
    expect(census.count()).toBe(3);
  });
});
