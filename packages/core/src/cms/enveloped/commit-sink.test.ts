import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSink } from './commit-sink.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-commit-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileSink', () => {
  it('writes small and large chunks in order, and is done with each chunk when write returns', async () => {
    const path = join(dir, 'out.bin');
    const sink = await FileSink.create(path);
    expect(sink.borrowsChunks).toBe(true);
    // Framing-sized pieces are batched, large ones written straight: a mix crossing the batch size several times.
    const sizes = [2, 11, 70_000, 3, 300_000, 65_535, 65_536, 1, 200_000, 200_000, 5];
    const expected: Buffer[] = [];
    for (const n of sizes) {
      const chunk = new Uint8Array(randomBytes(n));
      expected.push(Buffer.from(chunk));
      await sink.write(chunk);
      chunk.fill(0xee); // a borrowing sink must not see this
    }
    expect(readdirSync(dir)).not.toContain('out.bin');
    await sink.commit();
    expect(readFileSync(path).equals(Buffer.concat(expected))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('leaves no file, and no temporary file, when aborted after batched writes', async () => {
    const sink = await FileSink.create(join(dir, 'aborted.bin'));
    await sink.write(new Uint8Array(10));
    await sink.write(new Uint8Array(100_000));
    await sink.abort();
    expect(readdirSync(dir).filter((f) => f.includes('aborted'))).toEqual([]);
  });
});
