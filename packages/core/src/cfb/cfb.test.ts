/**
 * The compound file writer and the VBA project builder (issue 16: macro payloads a real scanner parses).
 * Oracle: olefile (Debian python3-olefile, /usr/bin/python3) reads every file back with its defect
 * threshold at DEFECT_INCORRECT, so a wrong FAT, mini FAT or directory fails the read. That ClamAV finds
 * the macro in a createVbaProject file is tested in sim-org (clamd.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCompoundFile } from './cfb-writer.js';
import { createVbaProject, ovbaCompress } from './vba-project.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-cfb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ORACLE = `
import sys, json, olefile
o = olefile.OleFileIO(sys.argv[1], raise_defects=olefile.DEFECT_INCORRECT)
out = {}
for p in o.listdir(streams=True, storages=False):
    name = '/'.join(p)
    out[name] = o.openstream(name).read().hex()
print(json.dumps({'streams': out, 'storages': ['/'.join(p) for p in o.listdir(streams=False, storages=True)]}))
`;

/** What olefile reads from `bytes`: stream path → hex content, and the storages. */
function olefileReads(bytes: Uint8Array): { streams: Record<string, string>; storages: string[] } {
  const f = join(mkdtempSync(join(dir, 'f-')), 'file.bin');
  writeFileSync(f, bytes);
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', ORACLE, f], { encoding: 'utf8' })) as { streams: Record<string, string>; storages: string[] };
}

const hex = (b: Uint8Array | string): string => Buffer.from(b).toString('hex');

/** [MS-OVBA] §2.4.1.3.1 decompression for chunks of literal tokens and raw chunks (a copy token fails the test). */
function ovbaDecompress(c: Uint8Array): Buffer {
  expect(c[0]).toBe(0x01);
  const out: number[] = [];
  for (let at = 1; at < c.byteLength;) {
    const header = c[at]! | (c[at + 1]! << 8);
    expect(header & 0x7000).toBe(0x3000);
    const end = at + (header & 0x0fff) + 3;
    at += 2;
    if ((header & 0x8000) === 0) {
      out.push(...c.subarray(at, at + 4096));
      at += 4096;
      continue;
    }
    while (at < end) {
      const flags = c[at++]!;
      for (let bit = 0; bit < 8 && at < end; bit++) {
        expect((flags >> bit) & 1, 'copy token').toBe(0);
        out.push(c[at++]!);
      }
    }
  }
  return Buffer.from(out);
}
const bytesOf = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('createCompoundFile', () => {
  it('writes small (mini stream) and large (regular sectors) streams in nested storages that olefile reads back byte for byte', () => {
    const streams = [
      { path: 'small', data: bytesOf(5, 1) },
      { path: 'A/exactly-64', data: bytesOf(64, 2) },
      { path: 'A/B/below-cutoff', data: bytesOf(4095, 3) },
      { path: 'A/B/at-cutoff', data: bytesOf(4096, 4) },
      { path: 'large', data: bytesOf(70_000, 5) },
      { path: 'empty', data: new Uint8Array(0) },
    ];
    const got = olefileReads(createCompoundFile(streams));
    expect(got.storages.sort()).toEqual(['A', 'A/B']);
    expect(got.streams).toEqual(Object.fromEntries(streams.map((s) => [s.path, hex(s.data)])));
  });

  it('spans several directory and mini FAT sectors', () => {
    // 40 entries (5 directory sectors) and 150 mini sectors (2 mini FAT sectors).
    const streams = Array.from({ length: 39 }, (_, i) => ({ path: `s${i}`, data: bytesOf(200 + i, i) }));
    const got = olefileReads(createCompoundFile(streams));
    expect(Object.keys(got.streams)).toHaveLength(39);
    for (const s of streams) expect(got.streams[s.path], s.path).toBe(hex(s.data));
  });

  it('refuses names the format does not allow and a path given twice', () => {
    expect(() => createCompoundFile([{ path: 'a:b', data: new Uint8Array(1) }])).toThrow(/Cannot name a compound file entry "a:b"/);
    expect(() => createCompoundFile([{ path: 'x'.repeat(32), data: new Uint8Array(1) }])).toThrow(/1-31 characters/);
    expect(() =>
      createCompoundFile([
        { path: 'VBA/dir', data: new Uint8Array(1) },
        { path: 'vba/DIR', data: new Uint8Array(1) },
      ]),
    ).toThrow(/twice/);
  });
});

describe('ovbaCompress', () => {
  it('writes the [MS-OVBA] §2.4.1 container: signature 0x01, a compressed chunk of literal tokens, raw chunks for full 4096 bytes', () => {
    // Header 0xB003: size 6 - 3 = 3, signature 0b011, compressed; one FlagByte 0, three literals.
    expect(hex(ovbaCompress(Buffer.from('abc')))).toBe(`0103b000${hex('abc')}`);
    // Nine bytes: two token sequences (eight literals, then one); 13 bytes in all, size field 10.
    expect(hex(ovbaCompress(Buffer.from('abcdefghi')))).toBe(`010ab000${hex('abcdefgh')}00${hex('i')}`);
    // A full chunk is stored raw: size 4098 - 3 = 0xFFF, flag 0.
    const full = bytesOf(4096, 7);
    const out = ovbaCompress(full);
    expect(hex(out.subarray(0, 3))).toBe('01ff3f');
    expect(hex(out.subarray(3, 3 + 4096))).toBe(hex(full));
    expect(out.byteLength).toBe(1 + 2 + 4096);
    expect(hex(ovbaDecompress(ovbaCompress(bytesOf(5000, 9))))).toBe(hex(bytesOf(5000, 9)));
    expect(hex(ovbaCompress(new Uint8Array(0)))).toBe('01');
  });

  it('refuses a last chunk that literal tokens cannot fit into 4096 bytes', () => {
    expect(() => ovbaCompress(bytesOf(3641, 1))).toThrow(/Cannot compress 3641 bytes/);
    expect(() => ovbaCompress(bytesOf(3640, 1))).not.toThrow();
  });
});

describe('createVbaProject', () => {
  it('lays out a VBA project as Office does: PROJECT, VBA/_VBA_PROJECT, VBA/dir and one compressed stream per module', () => {
    const src = 'Sub AutoOpen()\r\nEnd Sub\r\n';
    const got = olefileReads(
      createVbaProject([
        { name: 'ThisDocument', source: src },
        { name: 'Module1', source: "' nothing\r\n" },
      ]),
    );
    expect(got.storages).toEqual(['VBA']);
    expect(Object.keys(got.streams).sort()).toEqual(['PROJECT', 'VBA/Module1', 'VBA/ThisDocument', 'VBA/_VBA_PROJECT', 'VBA/dir']);
    expect(got.streams['VBA/_VBA_PROJECT']).toBe('cc61ffff000000');
    expect(got.streams['VBA/ThisDocument']).toBe(hex(ovbaCompress(Buffer.from(src, 'latin1'))));
    const project = Buffer.from(got.streams['PROJECT']!, 'hex').toString('latin1');
    expect(project).toContain('Module=ThisDocument\r\nModule=Module1\r\n');
    // The dir stream names both modules (MODULENAME records, §2.3.4.2.3.2.1) and ends with the terminator.
    const dirStream = ovbaDecompress(Buffer.from(got.streams['VBA/dir']!, 'hex'));
    expect(hex(dirStream.subarray(0, 10))).toBe('01000400000001000000'); // PROJECTSYSKIND, 32-bit Windows
    expect(hex(dirStream.subarray(-6))).toBe('100000000000'); // Terminator, Reserved
    expect(dirStream.includes(Buffer.concat([Buffer.from('19000c000000', 'hex'), Buffer.from('ThisDocument', 'latin1')]))).toBe(true);
    expect(dirStream.includes(Buffer.concat([Buffer.from('190007000000', 'hex'), Buffer.from('Module1', 'latin1')]))).toBe(true);
    expect(ovbaDecompress(Buffer.from(got.streams['VBA/ThisDocument']!, 'hex')).toString('latin1')).toBe(src);
  });
});
