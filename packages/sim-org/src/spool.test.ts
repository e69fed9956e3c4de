import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { DirSyncer, Spool } from './spool.js';

const root = mkdtempSync(join(tmpdir(), 'ssmax-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const enc = new TextEncoder();
const env = (n: number) => ({ mailFrom: `a${n}@org-a.example`, rcptTo: ['b@org-b.example'], meta: { n } });

/**
 * The child runs the real spool code in a plain node process (no vitest), so SIGKILL hits it mid-I/O.
 * spool.ts and errors.ts import only node built-ins, so transpiling them file by file is enough.
 */
function buildChild(dir: string): string {
  for (const f of ['spool', 'errors']) {
    const src = readFileSync(fileURLToPath(new URL(`./${f}.ts`, import.meta.url)), 'utf8');
    const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    writeFileSync(join(dir, `${f}.js`), out.outputText);
  }
  const child = join(dir, 'child.mjs');
  writeFileSync(
    child,
    `import { DirSyncer, Spool } from './spool.js';
const s = await Spool.open(process.argv[2]);
for (let i = 0; ; i++) {
  const id = await s.enqueue({ mailFrom: 'a@org-a.example', rcptTo: ['b@org-b.example'], meta: { i } }, Buffer.alloc(2048 + i, 65 + (i % 26)));
  process.stdout.write('ack ' + id + '\\n');
  if (i % 3 === 0) await s.claim();
}
`,
  );
  return child;
}

describe('Spool', () => {
  it('keeps every acknowledged message when the enqueuing process is SIGKILLed mid-way', async () => {
    const build = mkdtempSync(join(root, 'child-'));
    const spoolDir = join(root, 'killed');
    const child = spawn(process.execPath, [buildChild(build), spoolDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (l.startsWith('ack ')) acked.add(l.slice(4));
        if (acked.size >= 60 && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited without being killed: ${signal}`))));
    });

    const s = await Spool.open(spoolDir);
    const { requeued } = await s.recover();
    expect(requeued.length).toBeGreaterThan(0); // claimed-but-unfinished messages came back
    expect(await s.list('processing')).toEqual([]);
    expect(readdirSync(join(spoolDir, 'tmp'))).toEqual([]);
    const found = new Set(await s.list('incoming'));
    const lost = [...acked].filter((id) => !found.has(id));
    expect(lost).toEqual([]);
    // At most the one message whose rename finished but whose ack line was never written.
    expect(found.size - acked.size).toBeGreaterThanOrEqual(0);
    expect(found.size - acked.size).toBeLessThanOrEqual(1);
    for (const id of found) {
      const e = await s.read(id, 'incoming');
      const i = e.envelope.meta!['i'] as number;
      expect(e.bytes.length).toBe(2048 + i);
      expect(e.bytes.every((b) => b === 65 + (i % 26))).toBe(true);
    }
  }, 30_000);

  it('returns the exact envelope and bytes and moves states in FIFO order', async () => {
    const s = await Spool.open(join(root, 'fifo'));
    const a = await s.enqueue(env(1), enc.encode('first\r\n'));
    const b = await s.enqueue(env(2), enc.encode('second\r\n\n\0binary'));
    const c1 = await s.claim();
    expect(c1).toMatchObject({ id: a, state: 'processing', envelope: env(1) });
    expect(new TextDecoder().decode(c1!.bytes)).toBe('first\r\n');
    await s.move(a, 'outgoing');
    expect(await s.list('outgoing')).toEqual([a]);
    const c2 = await s.claim();
    expect(c2!.id).toBe(b);
    expect(new TextDecoder().decode(c2!.bytes)).toBe('second\r\n\n\0binary');
    await s.move(b, 'bounced');
    expect(await s.claim()).toBeUndefined();
    expect(await s.claim('outgoing')).toMatchObject({ id: a });
    await s.move(a, 'delivered');
    expect(await s.list('delivered')).toEqual([a]);
    await expect(s.move(a, 'delivered')).rejects.toMatchObject({ code: 'SPOOL_NOT_FOUND' });
  });

  it('recovers a message claimed from outgoing back to outgoing, not incoming', async () => {
    const dir = join(root, 'out');
    const s = await Spool.open(dir);
    const id = await s.enqueue(env(1), enc.encode('x'));
    await s.claim();
    await s.move(id, 'outgoing');
    await s.claim('outgoing');
    const r = await (await Spool.open(dir)).recover();
    expect(r.requeued).toEqual([id]);
    expect(await s.list('outgoing')).toEqual([id]);
    expect(await s.list('incoming')).toEqual([]);
  });

  it('does not repeat a completed delivery when a restarted worker processes the message again', async () => {
    const dir = join(root, 'idem');
    const deliveries: string[] = [];
    const deliver = async (id: string) => {
      deliveries.push(id);
      return 'ok';
    };
    const first = await Spool.open(dir);
    const id = await first.enqueue(env(1), enc.encode('m'));
    const claimed = await first.claim();
    expect(await first.once(claimed!.id, 'deliver:b@org-b.example', () => deliver(id))).toEqual({ ran: true, result: 'ok' });
    // Crash before move(): a new process recovers and runs the stage again.
    const second = await Spool.open(dir);
    expect((await second.recover()).requeued).toEqual([id]);
    const again = await second.claim();
    expect(again!.id).toBe(id);
    expect(await second.once(again!.id, 'deliver:b@org-b.example', () => deliver(id))).toEqual({ ran: false });
    expect(await second.once(again!.id, 'deliver:c@org-b.example', () => deliver(id))).toMatchObject({ ran: true });
    expect(deliveries).toEqual([id, id]);
    expect(await second.isDone(id, 'deliver:b@org-b.example')).toBe(true);
  });

  it('stores a retransmission with a seen key once, in any state, and a key whose message never landed as new', async () => {
    const dir = join(root, 'keyed');
    const s = await Spool.open(dir);
    const first = await s.enqueueOnce('peer:127.0.0.9\0envid-1\0a@x\0b@y', env(1), enc.encode('one'));
    expect(first.duplicate).toBe(false);
    // The sender lost our 250 and sends the same transaction again (other bytes: its hop re-encrypts).
    expect(await s.enqueueOnce('peer:127.0.0.9\0envid-1\0a@x\0b@y', env(1), enc.encode('one again'))).toEqual({ id: first.id, duplicate: true });
    // Another key (other ENVID, or the same ENVID from another address) is another transmission.
    const other = await s.enqueueOnce('peer:127.0.0.66\0envid-1\0a@x\0b@y', env(1), enc.encode('replayed'));
    expect(other.duplicate).toBe(false);
    expect(await s.list('incoming')).toEqual([first.id, other.id].sort());
    // Still a duplicate while claimed and after delivery.
    await s.claim();
    expect((await s.enqueueOnce('peer:127.0.0.9\0envid-1\0a@x\0b@y', env(1), enc.encode('x'))).duplicate).toBe(true);
    await s.move(first.id, 'delivered');
    expect((await s.enqueueOnce('peer:127.0.0.9\0envid-1\0a@x\0b@y', env(1), enc.encode('x'))).duplicate).toBe(true);
    // Two sessions with one key at the same moment: one stores, the other sees it.
    const both = await Promise.all([s.enqueueOnce('k2', env(2), enc.encode('a')), s.enqueueOnce('k2', env(2), enc.encode('b'))]);
    expect(both.map((b) => b.duplicate).sort()).toEqual([false, true]);
    expect(both[0].id).toBe(both[1].id);
    // A kill after the key file but before the message: the key names an id the spool never held.
    const keyFiles = readdirSync(join(dir, 'keys'));
    for (const f of keyFiles) writeFileSync(join(dir, 'keys', f), 'never-stored-id');
    const fresh = await Spool.open(dir);
    expect((await fresh.enqueueOnce('k2', env(2), enc.encode('c'))).duplicate).toBe(false);
  });

  it('records an attempt durably before a side effect, so a retry knows to ask before repeating it', async () => {
    const dir = join(root, 'attempt');
    const s = await Spool.open(dir);
    const id = await s.enqueue(env(3), enc.encode('m'));
    expect(await s.attempted(id, 'rcpt:b@org-b.example')).toBe(false);
    await s.markAttempt(id, 'rcpt:b@org-b.example');
    const after = await Spool.open(dir);
    expect(await after.attempted(id, 'rcpt:b@org-b.example')).toBe(true);
    expect(await after.attempted(id, 'rcpt:c@org-b.example')).toBe(false);
    expect(await after.isDone(id, 'rcpt:b@org-b.example')).toBe(false);
  });

  it('discards half-written files in tmp on recovery', async () => {
    const dir = join(root, 'tmp-left');
    const s = await Spool.open(dir);
    writeFileSync(join(dir, 'tmp', 'partial'), 'half');
    expect(await s.recover()).toEqual({ requeued: [], discarded: 1 });
    expect(await s.list('incoming')).toEqual([]);
  });

  it('shares directory fsyncs among concurrent enqueues (group commit), one per enqueue without it', async () => {
    const n = 24;
    const run = async (groupCommit: boolean) => {
      let syncs = 0;
      const s = await Spool.open(join(root, `group-${groupCommit}`), { groupCommit, onDirSync: (d) => void (d.endsWith('incoming') && syncs++) });
      await Promise.all(Array.from({ length: n }, (_, i) => s.enqueue(env(i), enc.encode(`m${i}`))));
      expect(await s.list('incoming')).toHaveLength(n);
      return { syncs };
    };
    const grouped = await run(true);
    const each = await run(false);
    expect(each.syncs).toBe(n);
    expect(grouped.syncs).toBeLessThan(n / 2);
  });

  it('group commit: a caller that arrives while an fsync runs waits for the next one, which all such callers share', async () => {
    const pending: { resolve: () => void }[] = [];
    const syncer = new DirSyncer(() => new Promise<void>((resolve) => pending.push({ resolve })));
    const done: string[] = [];
    const call = (name: string) => void syncer.sync().then(() => done.push(name));
    const tick = () => new Promise((r) => setImmediate(r));
    call('a'); // starts fsync #1
    await tick();
    call('b'); // arrives during #1: its change may postdate #1's start
    call('c');
    expect(pending).toHaveLength(1);
    pending[0]!.resolve(); // #1 done: only a may return
    await tick();
    expect(done).toEqual(['a']);
    expect(pending).toHaveLength(2); // #2 started for b and c together
    call('d'); // arrives during #2
    pending[1]!.resolve();
    await tick();
    expect(done).toEqual(['a', 'b', 'c']);
    expect(pending).toHaveLength(3);
    pending[2]!.resolve();
    await tick();
    expect(done).toEqual(['a', 'b', 'c', 'd']);
  });
});
