import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZip, readZip, looksLikeZip, zipBudget } from './index.js';
import { SsmaxError } from '../errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const seeded = (n: number) => new Uint8Array(n).fill(7);

/** Makes an archive with the system zip tool (Info-ZIP 3.0), the independent oracle. */
function infoZip(name: string, files: Record<string, string | Uint8Array>, args: string[] = []): Uint8Array {
  const src = mkdtempSync(join(dir, 'src-'));
  for (const [n, d] of Object.entries(files)) writeFileSync(join(src, n), d);
  const out = join(dir, name);
  execFileSync('zip', ['-q', '-X', ...args, out, ...Object.keys(files)], { cwd: src });
  return new Uint8Array(readFileSync(out));
}

describe('readZip', () => {
  it('returns the original bytes when reading deflated and stored entries made by Info-ZIP', () => {
    const big = 'hello world\n'.repeat(500);
    const z = readZip(infoZip('plain.zip', { 'a.txt': big, 'b.bin': new Uint8Array([0, 1, 2, 255]) }));
    expect(z.entries.map((e) => e.name)).toEqual(['a.txt', 'b.bin']);
    expect(z.entries[0]!.method).toBe(8);
    expect(text(z.read(z.entries[0]!))).toBe(big);
    expect([...z.read(z.entries[1]!)]).toEqual([0, 1, 2, 255]);
    const stored = readZip(infoZip('stored.zip', { 'c.txt': 'stored' }, ['-0']));
    expect(stored.entries[0]!.method).toBe(0);
    expect(text(stored.read(stored.entries[0]!))).toBe('stored');
  });

  it('reports ZipCrypto and decrypts only with the right password when Info-ZIP encrypted the archive', () => {
    const z = readZip(infoZip('enc.zip', { 'secret.txt': '社外秘 data'.repeat(20) }, ['-P', 'pw123']));
    const e = z.entries[0]!;
    expect(e.encrypted).toBe(true);
    expect(e.encryption).toBe('zipcrypto');
    expect(text(z.read(e, { password: 'pw123' }))).toBe('社外秘 data'.repeat(20));
    expect(() => z.read(e)).toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
    expect(() => z.read(e, { password: 'wrong' })).toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
  });

  it('throws LIMIT_EXCEEDED when an entry inflates beyond maxEntryBytes (zip bomb)', () => {
    const zeros = new Uint8Array(20 * 1024 * 1024);
    const bomb = createZip([{ name: 'zeros.bin', data: zeros }]);
    expect(bomb.length).toBeLessThan(100_000);
    const z = readZip(bomb, { maxEntryBytes: 1024 * 1024 });
    expect(() => z.read(z.entries[0]!)).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
  });

  it('throws when the directory understates the uncompressed size', () => {
    const zip = createZip([{ name: 'x', data: 'a'.repeat(10_000) }]);
    // Central directory uncompressed size at offset 24 of the central header: claim 10 bytes.
    const cd = zip.length - 22 - (46 + 1);
    new DataView(zip.buffer).setUint32(cd + 24, 10, true);
    const z = readZip(zip);
    expect(() => z.read(z.entries[0]!)).toThrow(SsmaxError);
  });

  it('marks an entry encrypted when only the local header sets bit 0', () => {
    const z = readZip(createZip([{ name: 'a.txt', data: 'x', raw: { localFlags: 1, centralFlags: 0 } }]));
    expect(z.entries[0]!.encrypted).toBe(true);
  });

  it('reports aes when an entry carries the WinZip AES extra field 0x9901', () => {
    // AE-2 extra field: id 0x9901, size 7, version 2, vendor "AE", strength 3 (AES-256), method 8.
    const extra = new Uint8Array([0x01, 0x99, 7, 0, 2, 0, 0x41, 0x45, 3, 8, 0]);
    const z = readZip(createZip([{ name: 'a.txt', data: 'x', raw: { method: 99, extra, localFlags: 1, centralFlags: 1 } }]));
    expect(z.entries[0]!.encryption).toBe('aes');
    expect(() => z.read(z.entries[0]!, { password: 'x' })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ALGORITHM' }));
  });

  it('throws MALFORMED_ZIP when the archive is truncated', () => {
    const zip = createZip([{ name: 'a.txt', data: 'hello' }]);
    expect(() => readZip(zip.subarray(0, zip.length - 5))).toThrow(expect.objectContaining({ code: 'MALFORMED_ZIP' }));
    expect(() => readZip(new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'MALFORMED_ZIP' }));
  });

  it('throws LIMIT_EXCEEDED when there are more entries than maxEntries', () => {
    const zip = createZip(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
    expect(() => readZip(zip, { maxEntries: 4 })).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
  });
});

describe('createZip', () => {
  it('produces an archive Info-ZIP unzip tests clean and extracts byte-exact', () => {
    const zip = createZip([
      { name: 'a.txt', data: 'alpha\n'.repeat(100) },
      { name: 'dir/b.bin', data: new Uint8Array([9, 8, 7]), method: 'store' },
      { name: '報告書.txt', data: '日本語' },
    ]);
    expect(looksLikeZip(zip)).toBe(true);
    const f = join(dir, 'ours.zip');
    writeFileSync(f, zip);
    execFileSync('unzip', ['-tq', f]);
    expect(execFileSync('unzip', ['-p', f, 'a.txt']).toString()).toBe('alpha\n'.repeat(100));
    expect([...execFileSync('unzip', ['-p', f, 'dir/b.bin'])]).toEqual([9, 8, 7]);
    expect(readZip(zip).entries[2]!.name).toBe('報告書.txt');
  });

  it('produces ZipCrypto that Info-ZIP unzip decrypts with the password and rejects without it', () => {
    const zip = createZip([{ name: 'secret.txt', data: 'top secret\n' }], { password: 'pass!', random: seeded });
    const f = join(dir, 'ours-enc.zip');
    writeFileSync(f, zip);
    expect(execFileSync('unzip', ['-p', '-P', 'pass!', f, 'secret.txt']).toString()).toBe('top secret\n');
    expect(() => execFileSync('unzip', ['-p', '-P', 'nope', f, 'secret.txt'], { stdio: 'pipe' })).toThrow();
    expect(readZip(zip).entries[0]!.encryption).toBe('zipcrypto');
  });
});

/** What Info-ZIP's unzip says when it tests the archive (exit status and its last lines). */
function unzipTest(name: string, bytes: Uint8Array): { status: number; output: string } {
  const f = join(dir, name);
  writeFileSync(f, bytes);
  try {
    return { status: 0, output: execFileSync('unzip', ['-t', f], { stdio: ['ignore', 'pipe', 'pipe'] }).toString() };
  } catch (e) {
    const x = e as { status: number; stdout?: Buffer; stderr?: Buffer };
    return { status: x.status, output: `${x.stdout?.toString() ?? ''}${x.stderr?.toString() ?? ''}` };
  }
}

/**
 * `zip` with one more central-directory record appended: `extra` (a whole central record) pointing at
 * `offset`, the start of a local header inside another entry's data (Fifield's "quoted" overlap).
 */
function withCentralRecord(zip: Uint8Array, extra: Uint8Array, offset: number): Uint8Array {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const eocd = zip.length - 22;
  const cdSize = v.getUint32(eocd + 12, true);
  const rec = new Uint8Array(extra);
  new DataView(rec.buffer).setUint32(42, offset, true);
  const out = new Uint8Array(Buffer.concat([zip.subarray(0, eocd), rec, zip.subarray(eocd)]));
  const ov = new DataView(out.buffer);
  const end = out.length - 22;
  ov.setUint16(end + 8, v.getUint16(eocd + 8, true) + 1, true);
  ov.setUint16(end + 10, v.getUint16(eocd + 10, true) + 1, true);
  ov.setUint32(end + 12, cdSize + rec.length, true);
  return out;
}

describe('issue 10 item 3: nested, overlapping ZIP bomb', () => {
  it('refuses many central records pointing at one local header, as Info-ZIP unzip does', () => {
    // The bomb: each of 500 records "holds" the same 4 x 32 MiB inner archive, a fresh budget each.
    const inner = createZip([0, 1, 2, 3].map((i) => ({ name: `z${i}.bin`, data: new Uint8Array(1024 * 1024) })));
    const bomb = createZip([
      { name: 'inner.zip', data: inner, method: 'store', raw: { centralCopies: 500 } },
      { name: 'seikyu.docm', data: 'Sub AutoOpen()' },
    ]);
    expect(bomb.length).toBeLessThan(60_000);
    const oracle = unzipTest('shared-header.zip', bomb);
    expect(oracle.status).not.toBe(0);
    expect(oracle.output).toMatch(/overlapped components/);
    expect(() => readZip(bomb)).toThrow(
      expect.objectContaining({ code: 'MALFORMED_ZIP', message: expect.stringMatching(/"inner\.zip" and "inner\.zip" share one local header at offset 0/) }),
    );
  });

  it("refuses a local header quoted inside another entry's data (the overlap of Fifield's bomb)", () => {
    const kernel = createZip([{ name: 'k.txt', data: 'kernel', method: 'store' }]);
    const localK = kernel.subarray(0, 30 + 5 + 6);
    const centralK = kernel.subarray(localK.length, kernel.length - 22);
    // "q.bin" stores the bytes of k.txt's local header and data; a second record points into them.
    const outer = createZip([{ name: 'q.bin', data: localK, method: 'store' }]);
    const quoted = withCentralRecord(outer, centralK, 30 + 5);
    const oracle = unzipTest('quoted.zip', quoted);
    expect(oracle.status).not.toBe(0);
    expect(oracle.output).toMatch(/overlapped components/);
    expect(() => readZip(quoted)).toThrow(
      expect.objectContaining({ code: 'MALFORMED_ZIP', message: expect.stringMatching(/"k\.txt" starts at offset 35, inside entry "q\.bin"/) }),
    );
    // The same record pointing at a copy of the header after q.bin's data is an ordinary archive.
    const apart = new Uint8Array(Buffer.concat([outer.subarray(0, 30 + 5 + localK.length), localK, outer.subarray(30 + 5 + localK.length)]));
    const v = new DataView(apart.buffer);
    v.setUint32(apart.length - 22 + 16, v.getUint32(apart.length - 22 + 16, true) + localK.length, true);
    const fine = withCentralRecord(apart, centralK, 30 + 5 + localK.length);
    expect(unzipTest('apart.zip', fine).status).toBe(0);
    const z = readZip(fine);
    expect(z.entries.map((e) => e.name)).toEqual(['q.bin', 'k.txt']);
    expect(text(z.read(z.entries[1]!))).toBe('kernel');
  });

  it('draws every archive read with one budget from it, so nesting does not reset the limit', () => {
    const inner = createZip([{ name: 'zeros.bin', data: new Uint8Array(3 * 1024 * 1024) }]);
    const limits = { maxTotalBytes: 8 * 1024 * 1024 };
    const read = (budget = zipBudget(limits)) => {
      const z = readZip(inner, limits, budget);
      return z.read(z.entries[0]!);
    };
    // Each archive alone is within the limit ...
    for (let i = 0; i < 3; i++) expect(read().length).toBe(3 * 1024 * 1024);
    // ... three of them on one budget are not.
    const budget = zipBudget(limits);
    read(budget);
    read(budget);
    expect(budget.bytes).toBe(2 * 1024 * 1024);
    expect(() => read(budget)).toThrow(
      expect.objectContaining({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/more than the 2097152 left of the inspection's budget/) }),
    );
    const entries = zipBudget({ maxEntries: 5 });
    readZip(
      createZip([
        { name: 'a', data: 'x' },
        { name: 'b', data: 'y' },
        { name: 'c', data: 'z' },
      ]),
      {},
      entries,
    );
    expect(() =>
      readZip(
        createZip([
          { name: 'd', data: 'x' },
          { name: 'e', data: 'y' },
          { name: 'f', data: 'z' },
        ]),
        {},
        entries,
      ),
    ).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
  });
});
