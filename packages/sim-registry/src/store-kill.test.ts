/**
 * Issue 11 item 3: the registry's SQLite store survives a SIGKILL mid-write. A child process (the real
 * RegistryStore, compiled) commits transactions as fast as it can, each touching two tables (a meta row
 * and a counter), and prints an acknowledgement after each commit returns; the parent SIGKILLs it at a
 * random moment, five times over the same file. After each kill the file must pass SQLite's integrity
 * check, hold every acknowledged transaction, and never half of one (WAL: a commit is all or nothing).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCompiled } from '@ssmax/core/testing';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'ssmax-store-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  await buildCompiled('packages/sim-registry');
}, 180_000);

/** Runs the writer until `acks` commits are acknowledged plus a random extra delay, then SIGKILLs it. Returns the last acknowledged n. */
async function writeAndKill(script: string, dataDir: string, acks: number, extraMs: number): Promise<number> {
  const child = spawn(process.execPath, [script, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let last = -1;
  let seen = 0;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
  await new Promise<void>((ok, fail) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        last = Number(l.slice(4));
        if (++seen === acks) setTimeout(() => (child.kill('SIGKILL'), ok()), extraMs);
      }
    });
    void exited.then(() => (seen < acks ? fail(new Error(`writer exited early: ${stderr}`)) : undefined));
  });
  expect(await exited).toBe('SIGKILL');
  return last;
}

describe('RegistryStore under SIGKILL', () => {
  it('keeps every acknowledged transaction whole, and the file intact, across five kills mid-write', async () => {
    const script = join(dir, 'writer.mjs');
    const store = join(ROOT, 'packages/sim-registry/dist/store.js');
    writeFileSync(
      script,
      `import { RegistryStore } from ${JSON.stringify(store)};
const s = RegistryStore.open(process.argv[2]);
let n = s.counter('kill-test');
for (;;) {
  n = s.transaction(() => {
    const next = s.nextCounter('kill-test');
    s.setMeta('k' + next, new Uint8Array(4096).fill(next % 251));
    return next;
  });
  process.stdout.write('ack ' + n + '\\n');
}
`,
    );
    const dataDir = join(dir, 'data');
    let acknowledged = 0;
    for (const [acks, extra] of [
      [50, 0],
      [200, 3],
      [20, 1],
      [400, 7],
      [100, 2],
    ] as const) {
      acknowledged = Math.max(acknowledged, await writeAndKill(script, dataDir, acks, extra));
      const db = new Database(join(dataDir, 'registry.sqlite'));
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        const counter = (db.prepare("SELECT value FROM counters WHERE name = 'kill-test'").get() as { value: number }).value;
        const rows = (db.prepare("SELECT count(*) AS n FROM meta WHERE key LIKE 'k%'").get() as { n: number }).n;
        // Every acknowledged commit is there; no commit is there by half (the counter and its row agree).
        expect(counter).toBeGreaterThanOrEqual(acknowledged);
        expect(rows).toBe(counter);
        const lastRow = db.prepare('SELECT value FROM meta WHERE key = ?').get(`k${counter}`) as { value: Buffer };
        expect(lastRow.value.length).toBe(4096);
        expect(lastRow.value.every((b) => b === counter % 251)).toBe(true);
      } finally {
        db.close();
      }
    }
    expect(acknowledged).toBeGreaterThan(700);
  }, 120_000);
});
