/**
 * Structure-aware DER/BER mutation: a valid seed is read into its TLV tree (core's readBer), one to four
 * operations change nodes (tag, length, contents, order, nesting, definite → indefinite, subtrees spliced from
 * other seeds), and the tree is written back with every other length recomputed. So the outer framing stays
 * valid and the damage lands deep inside (a SignerInfo, an extension, a RecipientInfo), where byte flips rarely
 * get. OCTET STRING and BIT STRING contents that are themselves DER (eContent, extnValue, a subjectPublicKey) are
 * opened as subtrees too.
 */
import fc from 'fast-check';
import { safely } from './safely.js';
import { readBer, type BerElement } from '@ssmax/core/fuzz';

interface Node {
  /** Identifier octets. */
  head: Uint8Array;
  /** Constructed element, or a primitive string whose contents are DER (after `prefix`). */
  kids?: Node[];
  /** Primitive contents (when there are no kids). */
  body?: Uint8Array;
  /** Bytes before the encapsulated DER (a BIT STRING's unused-bits octet). */
  prefix?: Uint8Array;
  indefinite?: boolean;
  /** Length octets written instead of the right ones. */
  length?: Uint8Array;
}

const SMALL = { maxDepth: 64, maxNodes: 20_000, maxContentLength: 4 * 1024 * 1024 };

function headLength(input: Uint8Array, start: number): number {
  if (((input[start] ?? 0) & 0x1f) !== 0x1f) return 1;
  let n = 1;
  while (start + n < input.length && ((input[start + n] ?? 0) & 0x80) !== 0) n++;
  return n + 1;
}

function tryReadBer(bytes: Uint8Array): BerElement | undefined {
  try {
    return readBer(bytes, 'a fuzz seed', SMALL);
  } catch {
    return undefined;
  }
}

function fromBer(el: BerElement, depth: number): Node {
  const head = el.input.slice(el.start, el.start + headLength(el.input, el.start));
  if (el.constructed) return { head, kids: el.children.map((c) => fromBer(c, depth + 1)), indefinite: el.indefinite };
  const body = el.input.slice(el.contentStart, el.contentEnd);
  const universal = el.tagClass === 0;
  if (depth < 40 && universal && (el.tagNumber === 4 || el.tagNumber === 3) && body.length >= 2) {
    const prefix = el.tagNumber === 3 ? body.subarray(0, 1) : new Uint8Array(0);
    const inner = body.subarray(prefix.length);
    // Only contents that start like a SEQUENCE/SET/OCTET STRING and parse whole are taken for DER.
    const first = inner[0] ?? 0;
    if (first === 0x30 || first === 0x31 || first === 0x04) {
      const parsed = tryReadBer(inner);
      if (parsed) return { head, kids: [fromBer(parsed, depth + 1)], prefix };
    }
  }
  return { head, body };
}

function lengthOctets(n: number): Uint8Array {
  if (n < 0x80) return new Uint8Array([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

function encode(node: Node): Uint8Array {
  const content = node.kids ? Buffer.concat([node.prefix ?? new Uint8Array(0), ...node.kids.map(encode)]) : (node.body ?? new Uint8Array(0));
  const indefinite = node.indefinite === true && node.kids !== undefined && node.prefix === undefined;
  const len = node.length ?? (indefinite ? new Uint8Array([0x80]) : lengthOctets(content.length));
  return Buffer.concat([node.head, len, content, indefinite ? new Uint8Array([0, 0]) : new Uint8Array(0)]);
}

function clone(n: Node): Node {
  return { ...n, ...(n.kids ? { kids: n.kids.map(clone) } : {}) };
}

/** Pre-order list of every node with its parent (the root has none). */
function walk(root: Node): { node: Node; parent: Node | undefined }[] {
  const out: { node: Node; parent: Node | undefined }[] = [];
  const visit = (node: Node, parent: Node | undefined): void => {
    out.push({ node, parent });
    for (const k of node.kids ?? []) visit(k, node);
  };
  visit(root, undefined);
  return out;
}

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const latin = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

/** Length octets that lie: indefinite on a primitive, non-minimal, reserved, past the end, absurdly long. */
const BAD_LENGTHS = [
  hex('80'),
  hex('8100'),
  hex('817f'),
  hex('820001'),
  hex('84ffffffff'),
  hex('847fffffff'),
  hex('86010000000000'),
  hex('870000000000000000'),
  hex('ff'),
  hex('85'),
];

/** Contents that probe the readers of each universal type. */
const INTERESTING: Readonly<Record<number, readonly Uint8Array[]>> = {
  1: [hex(''), hex('01'), hex('0000'), hex('ff')],
  2: [hex(''), hex('00'), hex('80'), hex('007f'), hex('ff'.repeat(65)), hex('7f' + 'ff'.repeat(600)), hex('00989680'), hex('7fffffff'), hex('ffffffff')],
  3: [hex(''), hex('08'), hex('07ff'), hex('00')],
  5: [hex('00'), hex('0000')],
  6: [hex(''), hex('80'), hex('2a86'), hex('888080808080808080808001'), hex('ff'.repeat(40) + '01'), hex('2a864886f70d010701'), hex('2a864886f70d010702')],
  12: [hex('ff'), hex('c0af'), hex('eda080'), latin('\0'), latin('x'.repeat(5000))],
  23: [latin(''), latin('Z'), latin('000000000000Z'), latin('991231235959Z'), latin('491231235960Z'), latin('2001011200Z'), latin('200101120000+0900')],
  24: [latin(''), latin('20501301000000Z'), latin('19700101000000.1234567890Z'), latin('99991231235959Z'), latin('00000229000000Z'), latin('2050010100000Z')],
};

type Op = { readonly op: number; readonly at: number; readonly arg: number; readonly bytes: Uint8Array };

/**
 * How many of `wanted` copies of `node` the case's growth budget still allows (and spends them): every case stays
 * a mail-sized input, however its duplications compound, and generating it stays cheap.
 */
function grow(budget: { bytes: number }, wanted: number, node: Node): number {
  const size = Math.max(1, encode(node).length);
  const copies = Math.max(0, Math.min(wanted, Math.floor(budget.bytes / size)));
  budget.bytes -= copies * size;
  return copies;
}

const OP_COUNT = 15;
/** Bytes the duplicating operations of one case may add in all. */
const AMPLIFY_BYTES = 1024 * 1024;

function apply(root: Node, m: Op, donors: readonly Node[], budget: { bytes: number }): Node {
  const nodes = walk(root);
  const { node, parent } = nodes[m.at % nodes.length]!;
  const siblings = parent?.kids;
  const idx = siblings ? siblings.indexOf(node) : -1;
  const donor = donors.length > 0 ? donors[m.arg % donors.length]! : undefined;
  switch (m.op % OP_COUNT) {
    case 0: {
      // Tag: flip constructed, change class, or set a raw identifier octet.
      const variants = [0x20, 0x40, 0x80, 0xc0, 0x01, 0x1f];
      const h = new Uint8Array(node.head);
      if (m.arg % 3 === 0) h[0] = m.arg & 0xff;
      else h[0] = (h[0] ?? 0) ^ variants[m.arg % variants.length]!;
      node.head = h[0] !== undefined && (h[0] & 0x1f) === 0x1f && h.length === 1 ? new Uint8Array([h[0], 0x81, 0x00]) : h;
      break;
    }
    case 1: {
      const len = encode({ ...node, length: undefined }).length;
      const choices = [...BAD_LENGTHS, lengthOctets(len + 1), lengthOctets(Math.max(0, len - 1)), lengthOctets(len * 2 + 1000)];
      node.length = choices[m.arg % choices.length];
      break;
    }
    case 2:
      if (siblings && idx >= 0) siblings.splice(idx, 1);
      break;
    case 3: {
      // Duplicate: a few copies, or a few hundred (many extensions, many RDNs).
      const copies = grow(budget, m.arg % 7 === 0 ? 300 : 1 + (m.arg % 3), node);
      if (siblings && idx >= 0) siblings.splice(idx + 1, 0, ...Array.from({ length: copies }, () => clone(node)));
      break;
    }
    case 4:
      if (siblings && idx >= 0 && siblings.length > 1) {
        const j = (idx + 1 + (m.arg % (siblings.length - 1))) % siblings.length;
        [siblings[idx], siblings[j]] = [siblings[j]!, siblings[idx]!];
      }
      break;
    case 5: {
      const tag = (node.head[0] ?? 0) & 0x1f;
      const pool = INTERESTING[tag] ?? INTERESTING[2]!;
      node.kids = undefined;
      node.prefix = undefined;
      node.body = pool[m.arg % pool.length];
      break;
    }
    case 6:
      node.kids = undefined;
      node.prefix = undefined;
      node.body = m.bytes;
      break;
    case 7:
      if (donor && siblings && idx >= 0) siblings[idx] = clone(donor);
      break;
    case 8: {
      // Nesting: one or two wrappers, or deeper than every reader's depth limit.
      const levels = m.arg % 5 === 0 ? 70 : 1 + (m.arg % 2);
      let wrapped: Node = node;
      for (let i = 0; i < levels; i++) wrapped = { head: new Uint8Array([[0x30, 0x31, 0xa0][m.arg % 3]!]), kids: [wrapped] };
      if (siblings && idx >= 0) siblings[idx] = wrapped;
      else return wrapped;
      break;
    }
    case 9:
      if (node.kids && node.prefix === undefined) node.indefinite = true;
      break;
    case 10: {
      const body = node.kids
        ? encode({ head: new Uint8Array(0), kids: node.kids, length: new Uint8Array(0), ...(node.prefix ? { prefix: node.prefix } : {}) })
        : (node.body ?? new Uint8Array(0));
      node.kids = undefined;
      node.prefix = undefined;
      node.body = body.subarray(0, body.length === 0 ? 0 : m.arg % body.length);
      break;
    }
    case 11:
      if (node.kids) node.kids = [];
      break;
    case 12:
      if (donor && node.kids) node.kids.splice(m.arg % (node.kids.length + 1), 0, clone(donor));
      break;
    case 14: {
      // Amplify a SET OF (SignerInfos, certificates, RecipientInfos, attributes): its first member a thousand or
      // three thousand times over, well within a mail size limit. Finds work that grows per member.
      const sets = nodes.filter((x) => x.node.head[0] === 0x31 || (x.node.head[0] === 0xa0 && (x.node.kids?.length ?? 0) > 0));
      const set = sets.length > 0 ? sets[m.at % sets.length]!.node : undefined;
      const first = set?.kids?.[0];
      // One in four: the copies make the case costly to run, and most cases should stay cheap.
      if (set && first && m.arg % 4 === 0) {
        const copies = grow(budget, m.arg % 8 === 0 ? 1000 : 3000, first);
        set.kids = [...set.kids!, ...Array.from({ length: copies }, () => clone(first))];
      }
      break;
    }
    case 13: {
      // An OID from another seed in place of this one (a known algorithm where another is expected).
      const oids = donors.filter((d) => d.head[0] === 0x06);
      if (node.head[0] === 0x06 && oids.length > 0) node.body = oids[m.arg % oids.length]!.body;
      break;
    }
  }
  return root;
}

/**
 * Mutated DER from `seeds` (each readable by readBer; others are skipped): one to four tree operations on one
 * seed, with subtrees and OIDs of every seed as donors.
 */
export function derMutatedFrom(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const trees = seeds.map(tryReadBer).flatMap((el) => (el ? [fromBer(el, 0)] : []));
  if (trees.length === 0) throw new Error('Cannot mutate DER. No seed is readable DER.');
  const donors = trees.flatMap((t) => walk(t).map((x) => x.node)).filter((_, i) => i % 3 === 0 || i < 200);
  const op = fc.record({
    op: fc.nat(OP_COUNT - 1),
    at: fc.nat(),
    arg: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 64 }),
  });
  return fc.tuple(fc.nat(trees.length - 1), fc.array(op, { minLength: 1, maxLength: 4 })).map(([i, ops]) => {
    let root = clone(trees[i]!);
    const budget = { bytes: AMPLIFY_BYTES };
    for (const m of ops) root = safely((r: Node, op: Op) => apply(r, op, donors, budget), root, m);
    return new Uint8Array(encode(root));
  });
}
