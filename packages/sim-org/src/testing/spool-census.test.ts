import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SPOOL_STATES } from '../spool.js';
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

/** A readdir that lists `state` and then, once, lets `after` rename a file, as a spool worker might between two listings. */
function renamingAfter(dir: string, state: string, after: () => void): (p: string) => string[] {
  let fired = false;
  return (p) => {
    const names = readdirSync(p);
    if (!fired && p === join(dir, state)) {
      fired = true;
      after();
    }
    return names;
  };
}

describe('SpoolCensus', () => {
  it('counts a message once when a worker claims it (incoming → processing) between two directory listings', () => {
    const d = spoolDir();
    writeFileSync(join(d, 'incoming', 'm1'), 'x');
    const census = new SpoolCensus(
      [d],
      renamingAfter(d, 'incoming', () => renameSync(join(d, 'incoming', 'm1'), join(d, 'processing', 'incoming~m1'))),
    );
    // The file is listed in incoming/ and then again in processing/: a per-file count says 2.
    expect(census.count()).toBe(1);
  });

  it('still counts a message a retry moves back (outgoing → processing) behind the listing', () => {
    const d = spoolDir();
    writeFileSync(join(d, 'outgoing', 'm2'), 'x');
    // processing/ is listed before the move and outgoing/ after it: the first pass sees the message nowhere.
    const census = new SpoolCensus(
      [d],
      renamingAfter(d, 'processing', () => renameSync(join(d, 'outgoing', 'm2'), join(d, 'processing', 'outgoing~m2'))),
    );
    expect(census.count()).toBe(1);
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
