/**
 * A minimal writer of Compound File Binary files ([MS-CFB], "OLE2"): version 3, 512-byte sectors,
 * streams below the 4096-byte cutoff in the mini stream (§2.6.3). Enough to build the test bed's Office
 * payloads the way Office stores them (a `vbaProject.bin` is a compound file, [MS-OVBA] §2.2), so a real
 * scanner's OLE2 parser reads them; not a general-purpose library (no DIFAT: at most 109 FAT sectors,
 * about 6.8 MiB).
 */

/** One stream of the file; `path` names its storages, e.g. "VBA/dir" (storages are created as needed). */
export interface CfbStream {
  readonly path: string;
  readonly data: Uint8Array;
}

const SECTOR = 512;
const MINI_SECTOR = 64;
const MINI_CUTOFF = 4096;
const FREESECT = 0xffffffff;
const ENDOFCHAIN = 0xfffffffe;
const FATSECT = 0xfffffffd;
const NOSTREAM = 0xffffffff;

interface Node {
  name: string;
  type: 1 | 2 | 5;
  data?: Uint8Array;
  children: Node[];
  id: number;
  left: number;
  right: number;
  child: number;
  start: number;
  size: number;
}

/** [MS-CFB] §2.6.4: siblings are ordered by name length first, then by upper-cased code units. */
function compareNames(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  const ua = a.toUpperCase();
  const ub = b.toUpperCase();
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

/** Links sorted siblings as a balanced binary tree (all black, which a balanced tree allows) and returns its root id. */
function linkSiblings(sorted: readonly Node[]): number {
  if (sorted.length === 0) return NOSTREAM;
  const mid = sorted.length >> 1;
  const n = sorted[mid]!;
  n.left = linkSiblings(sorted.slice(0, mid));
  n.right = linkSiblings(sorted.slice(mid + 1));
  return n.id;
}

/** Builds a compound file holding `streams`. Throws a TypeError for an invalid path or a file too big for this writer. */
export function createCompoundFile(streams: readonly CfbStream[]): Uint8Array {
  const root: Node = { name: 'Root Entry', type: 5, children: [], id: 0, left: NOSTREAM, right: NOSTREAM, child: NOSTREAM, start: ENDOFCHAIN, size: 0 };
  const all: Node[] = [root];
  const make = (name: string, type: 1 | 2, data?: Uint8Array): Node => {
    if (name.length === 0 || name.length > 31 || /[/\\:!]/.test(name))
      throw new TypeError(`Cannot name a compound file entry "${name}". Names are 1-31 characters without / \\ : ! ([MS-CFB] §2.6.1).`);
    const n: Node = {
      name,
      type,
      children: [],
      id: all.length,
      left: NOSTREAM,
      right: NOSTREAM,
      child: NOSTREAM,
      start: ENDOFCHAIN,
      size: 0,
      ...(data ? { data } : {}),
    };
    all.push(n);
    return n;
  };
  for (const s of streams) {
    const names = s.path.split('/');
    let parent = root;
    for (const storage of names.slice(0, -1)) {
      parent =
        parent.children.find((c) => c.type === 1 && compareNames(c.name, storage) === 0) ??
        (() => {
          const n = make(storage, 1);
          parent.children.push(n);
          return n;
        })();
    }
    const leaf = names[names.length - 1]!;
    if (parent.children.some((c) => compareNames(c.name, leaf) === 0)) throw new TypeError(`Cannot add "${s.path}" to a compound file twice.`);
    parent.children.push(make(leaf, 2, s.data));
  }
  for (const n of all) n.child = linkSiblings([...n.children].sort((a, b) => compareNames(a.name, b.name)));

  // The mini stream (§2.6.3): small streams in 64-byte mini sectors, chained by the mini FAT.
  const miniFat: number[] = [];
  const miniChunks: Uint8Array[] = [];
  const big: Node[] = [];
  for (const n of all) {
    if (n.type !== 2) continue;
    n.size = n.data!.byteLength;
    if (n.size === 0) continue;
    if (n.size >= MINI_CUTOFF) {
      big.push(n);
      continue;
    }
    const count = Math.ceil(n.size / MINI_SECTOR);
    n.start = miniFat.length;
    for (let i = 0; i < count; i++) miniFat.push(i === count - 1 ? ENDOFCHAIN : miniFat.length + 1);
    const padded = new Uint8Array(count * MINI_SECTOR);
    padded.set(n.data!);
    miniChunks.push(padded);
  }
  const miniStream = Buffer.concat(miniChunks);

  const dirSectors = Math.ceil((all.length * 128) / SECTOR);
  const miniFatSectors = Math.ceil((miniFat.length * 4) / SECTOR);
  const miniStreamSectors = Math.ceil(miniStream.byteLength / SECTOR);
  const bigSectors = big.reduce((a, n) => a + Math.ceil(n.size / SECTOR), 0);
  const rest = dirSectors + miniFatSectors + miniStreamSectors + bigSectors;
  let fatSectors = 1;
  while (fatSectors * (SECTOR / 4) < fatSectors + rest) fatSectors++;
  if (fatSectors > 109) throw new TypeError('Cannot write this compound file. It needs DIFAT sectors, which this writer does not write.');

  const total = fatSectors + rest;
  const fat = new Array<number>(fatSectors * (SECTOR / 4)).fill(FREESECT);
  let next = 0;
  const chain = (count: number): number => {
    if (count === 0) return ENDOFCHAIN;
    const first = next;
    for (let i = 0; i < count; i++) fat[next + i] = i === count - 1 ? ENDOFCHAIN : next + i + 1;
    next += count;
    return first;
  };
  for (let i = 0; i < fatSectors; i++) fat[next++] = FATSECT;
  const dirStart = chain(dirSectors);
  const miniFatStart = chain(miniFatSectors);
  root.start = chain(miniStreamSectors);
  root.size = miniStream.byteLength;
  for (const n of big) n.start = chain(Math.ceil(n.size / SECTOR));

  const out = Buffer.alloc(SECTOR * (1 + total));
  // Header (§2.2).
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(out, 0);
  out.writeUInt16LE(0x003e, 24);
  out.writeUInt16LE(0x0003, 26);
  out.writeUInt16LE(0xfffe, 28);
  out.writeUInt16LE(9, 30);
  out.writeUInt16LE(6, 32);
  out.writeUInt32LE(0, 40); // directory sectors: 0 in version 3
  out.writeUInt32LE(fatSectors, 44);
  out.writeUInt32LE(dirStart, 48);
  out.writeUInt32LE(0, 52);
  out.writeUInt32LE(MINI_CUTOFF, 56);
  out.writeUInt32LE(miniFatSectors ? miniFatStart : ENDOFCHAIN, 60);
  out.writeUInt32LE(miniFatSectors, 64);
  out.writeUInt32LE(ENDOFCHAIN, 68);
  out.writeUInt32LE(0, 72);
  for (let i = 0; i < 109; i++) out.writeUInt32LE(i < fatSectors ? i : FREESECT, 76 + i * 4);

  const at = (sector: number): number => SECTOR * (1 + sector);
  fat.forEach((v, i) => out.writeUInt32LE(v >>> 0, at(0) + i * 4));
  // Directory (§2.6): 128-byte entries; unused slots are empty entries (all zero, siblings NOSTREAM).
  for (let i = 0; i < dirSectors * (SECTOR / 128); i++) {
    const o = at(dirStart) + i * 128;
    const n = all[i];
    if (!n) {
      out.writeUInt32LE(NOSTREAM, o + 68);
      out.writeUInt32LE(NOSTREAM, o + 72);
      out.writeUInt32LE(NOSTREAM, o + 76);
      continue;
    }
    const name = Buffer.from(`${n.name}\0`, 'utf16le');
    name.copy(out, o);
    out.writeUInt16LE(name.byteLength, o + 64);
    out[o + 66] = n.type;
    out[o + 67] = 1; // black
    out.writeUInt32LE(n.left >>> 0, o + 68);
    out.writeUInt32LE(n.right >>> 0, o + 72);
    out.writeUInt32LE(n.child >>> 0, o + 76);
    out.writeUInt32LE(n.type === 1 ? 0 : n.start >>> 0, o + 116);
    out.writeUInt32LE(n.type === 1 ? 0 : n.size, o + 120);
  }
  miniFat.forEach((v, i) => out.writeUInt32LE(v >>> 0, at(miniFatStart) + i * 4));
  for (let i = miniFat.length; i < miniFatSectors * (SECTOR / 4); i++) out.writeUInt32LE(FREESECT, at(miniFatStart) + i * 4);
  miniStream.copy(out, at(root.start === ENDOFCHAIN ? 0 : root.start));
  for (const n of big) Buffer.from(n.data!).copy(out, at(n.start));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
