import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileChunks } from './file-chunks.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-file-chunks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readFileChunks', () => {
  it('yields the file in order through one reused buffer no larger than the chunk size', async () => {
    const content = randomBytes(3 * 1000 + 17);
    const path = join(dir, 'big.bin');
    writeFileSync(path, content);
    const copies: Buffer[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const c of readFileChunks(path, 1000)) {
      copies.push(Buffer.from(c));
      buffers.add(c.buffer);
      expect(c.buffer.byteLength).toBe(1000);
    }
    expect(Buffer.concat(copies).equals(content)).toBe(true);
    expect(copies.map((c) => c.byteLength)).toEqual([1000, 1000, 1000, 17]);
    expect(buffers.size).toBe(1);
  });

  it('reads a small file into a buffer of its size plus one, and an empty file as no chunk', async () => {
    writeFileSync(join(dir, 'small.bin'), 'abc');
    writeFileSync(join(dir, 'empty.bin'), '');
    const small: Uint8Array[] = [];
    for await (const c of readFileChunks(join(dir, 'small.bin'))) small.push(c);
    expect(small.map((c) => [Buffer.from(c).toString(), c.buffer.byteLength])).toEqual([['abc', 4]]);
    const empty: Uint8Array[] = [];
    for await (const c of readFileChunks(join(dir, 'empty.bin'))) empty.push(c);
    expect(empty).toEqual([]);
  });

  it('throws IO_ERROR when the file cannot be opened', async () => {
    await expect(readFileChunks(join(dir, 'missing.bin')).next()).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});
