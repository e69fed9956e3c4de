/**
 * Structure-aware ZIP mutation (APPNOTE 6.3): the records of a valid archive (local headers, central directory
 * headers, the end record) are found by signature, and one to three operations set one of their fields (sizes,
 * offsets, counts, method, flags, name and extra lengths) to an edge value, corrupt compressed data, repeat a
 * central record (the overlapping-entry bomb), or put foreign bytes in front of or behind the archive.
 */
import fc from 'fast-check';
import { safely } from './safely.js';

interface Field {
  readonly at: number;
  readonly width: 2 | 4;
}

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;

/** Field offsets within each record (APPNOTE 4.3.7, 4.3.12, 4.3.16). */
const FIELDS: Readonly<Record<number, readonly Field[]>> = {
  [LOCAL]: [
    { at: 6, width: 2 },
    { at: 8, width: 2 },
    { at: 14, width: 4 },
    { at: 18, width: 4 },
    { at: 22, width: 4 },
    { at: 26, width: 2 },
    { at: 28, width: 2 },
  ],
  [CENTRAL]: [
    { at: 8, width: 2 },
    { at: 10, width: 2 },
    { at: 16, width: 4 },
    { at: 20, width: 4 },
    { at: 24, width: 4 },
    { at: 28, width: 2 },
    { at: 30, width: 2 },
    { at: 32, width: 2 },
    { at: 42, width: 4 },
  ],
  [END]: [
    { at: 4, width: 2 },
    { at: 6, width: 2 },
    { at: 8, width: 2 },
    { at: 10, width: 2 },
    { at: 12, width: 4 },
    { at: 16, width: 4 },
    { at: 20, width: 2 },
  ],
};

function records(buf: Buffer): { at: number; sig: number }[] {
  const out: { at: number; sig: number }[] = [];
  for (let i = buf.indexOf('PK'); i >= 0 && i + 4 <= buf.length; i = buf.indexOf('PK', i + 1)) {
    const sig = buf.readUInt32LE(i);
    if (sig === LOCAL || sig === CENTRAL || sig === END) out.push({ at: i, sig });
  }
  return out;
}

type Op = { readonly op: number; readonly at: number; readonly arg: number; readonly junk: Uint8Array };

function edgeValues(current: number, width: 2 | 4): number[] {
  const max = width === 2 ? 0xffff : 0xffffffff;
  return [
    0,
    1,
    max,
    max - 1,
    (current + 1) % (max + 1),
    Math.max(0, current - 1),
    Math.min(max, current * 2 + 1),
    0x7fff,
    0x7fffffff % (max + 1),
    8,
    99,
    12,
    14,
  ];
}

function apply(input: Buffer, m: Op): Buffer {
  const recs = records(input);
  if (recs.length === 0) return input;
  const rec = recs[m.at % recs.length]!;
  const fields = FIELDS[rec.sig]!;
  const buf = Buffer.from(input);
  switch (m.op % 6) {
    case 0: {
      const f = fields[m.arg % fields.length]!;
      if (rec.at + f.at + f.width > buf.length) return buf;
      const cur = f.width === 2 ? buf.readUInt16LE(rec.at + f.at) : buf.readUInt32LE(rec.at + f.at);
      const values = edgeValues(cur, f.width);
      const v = values[Math.floor(m.arg / fields.length) % values.length]!;
      if (f.width === 2) buf.writeUInt16LE(v & 0xffff, rec.at + f.at);
      else buf.writeUInt32LE(v >>> 0, rec.at + f.at);
      return buf;
    }
    case 1: {
      // General-purpose flags: encrypted (bit 0), data descriptor (3), strong encryption (6), UTF-8 names (11).
      const flagAt = rec.sig === CENTRAL ? 8 : rec.sig === LOCAL ? 6 : -1;
      if (flagAt < 0 || rec.at + flagAt + 2 > buf.length) return buf;
      const bit = [0, 3, 6, 11, 13][m.arg % 5]!;
      buf.writeUInt16LE(buf.readUInt16LE(rec.at + flagAt) ^ (1 << bit), rec.at + flagAt);
      return buf;
    }
    case 2: {
      // Damage compressed data right after a local header's name and extra field.
      if (rec.sig !== LOCAL || rec.at + 30 > buf.length) return buf;
      const start = rec.at + 30 + buf.readUInt16LE(rec.at + 26) + buf.readUInt16LE(rec.at + 28);
      for (let k = 0; k < m.junk.length && start + k < buf.length; k++) buf[start + ((m.arg + k) % 64)] = m.junk[k]!;
      return buf;
    }
    case 3: {
      // The central record repeated: entries that all point at one local header (overlap bomb).
      const central = recs.filter((r) => r.sig === CENTRAL);
      const end = recs.find((r) => r.sig === END);
      if (central.length === 0 || !end || end.at + 22 > buf.length) return buf;
      const c = central[m.arg % central.length]!;
      if (c.at + 46 > buf.length) return buf;
      const record = buf.subarray(c.at, c.at + 46 + buf.readUInt16LE(c.at + 28) + buf.readUInt16LE(c.at + 30) + buf.readUInt16LE(c.at + 32));
      const len = record.length;
      const copies = m.arg % 4 === 0 ? 500 : 2;
      const out = Buffer.concat([buf.subarray(0, end.at), ...Array.from({ length: copies }, () => record), buf.subarray(end.at)]);
      const endAt = end.at + copies * len;
      out.writeUInt16LE(Math.min(0xffff, out.readUInt16LE(endAt + 8) + copies), endAt + 8);
      out.writeUInt16LE(Math.min(0xffff, out.readUInt16LE(endAt + 10) + copies), endAt + 10);
      out.writeUInt32LE(out.readUInt32LE(endAt + 12) + copies * len, endAt + 12);
      return out;
    }
    case 4:
      return m.arg % 2 === 0 ? Buffer.concat([Buffer.from(m.junk), buf]) : Buffer.concat([buf, Buffer.from(m.junk)]);
    default:
      // Cut at a record boundary: a directory without its archive, an archive without its directory.
      return buf.subarray(0, rec.at + (m.arg % 4) * 7);
  }
}

/** Mutated archives from `seeds` (ZIP files). */
export function zipMutatedFrom(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('Cannot mutate ZIP. No seed archives.');
  const op = fc.record({ op: fc.nat(5), at: fc.nat(), arg: fc.nat(), junk: fc.uint8Array({ minLength: 1, maxLength: 24 }) });
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(op, { minLength: 1, maxLength: 3 })).map(([i, ops]) => {
    let buf: Buffer = Buffer.from(seeds[i]!);
    for (const m of ops) buf = safely(apply, buf, m);
    return new Uint8Array(buf);
  });
}
