import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeOutput } from './io.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeOutput', () => {
  it('writes into a character device in place instead of replacing it (--out /dev/null as root)', () => {
    const dev = join(dir, 'null');
    // mknod needs root (CI runs as root); a null device made here stands in for /dev/null.
    execFileSync('mknod', [dev, 'c', '1', '3']);
    writeOutput(dev, 'output that must vanish');
    const st = statSync(dev);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(statSync('/dev/null').rdev);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('writes into a FIFO in place: the reader gets the bytes and the FIFO stays a FIFO', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise<void>((r) => reader.on('close', () => r()));
    writeOutput(fifo, 'through the pipe\n');
    await done;
    expect(Buffer.concat(chunks).toString()).toBe('through the pipe\n');
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('replaces a regular file atomically and leaves no temp file', () => {
    const f = join(dir, 'out.bin');
    writeFileSync(f, 'old');
    writeOutput(f, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(f)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir).filter((x) => x.includes('.tmp'))).toEqual([]);
  });

  it('follows a symbolic link: the link stays and its target is written', () => {
    const target = join(dir, 'target.txt');
    const link = join(dir, 'link.txt');
    writeFileSync(target, 'old');
    symlinkSync(target, link);
    writeOutput(link, 'new');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('new');
  });

  it('creates a missing regular file', () => {
    const f = join(dir, 'fresh.txt');
    expect(existsSync(f)).toBe(false);
    writeOutput(f, 'x');
    expect(statSync(f).isFile()).toBe(true);
  });
});
