/**
 * Structure-aware JSON mutation: a valid document (a manifest, an attestation, a registry directory) keeps its
 * shape while one to three operations change a member somewhere inside it: removed, retyped, replaced by an
 * extreme value or by generated JSON (core's jsonValue), repeated, nested deep, or joined by an unknown or
 * `__proto__` key. The result is serialised with JSON.stringify, so a schema check (not JSON.parse) meets it.
 */
import fc from 'fast-check';
import { safely } from './safely.js';
import { jsonValue } from '@ssmax/core/fuzz';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function deepArray(depth: number): Json {
  let v: Json = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Values at the edges of what a reader expects of a member. */
const EXTREMES: readonly Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  2 ** 53,
  -(2 ** 31),
  '',
  ' ',
  'x'.repeat(70_000),
  '\u0000',
  '\ud800',
  '../../etc/passwd',
  'not-a-date',
  '2026-02-30T25:61:00Z',
  'a'.repeat(64),
  '0'.repeat(64),
  [],
  {},
  [null],
  deepArray(1000),
];

/** Every path (keys and indexes) to a member, pre-order, the root first. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (out.length > 5000) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function get(root: Json, path: readonly (string | number)[]): Json {
  let v: Json = root;
  for (const k of path) v = (v as Record<string | number, Json>)[k] as Json;
  return v;
}

function set(root: Json, path: readonly (string | number)[], value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const parent = get(root, path.slice(0, -1));
  const key = path[path.length - 1]!;
  if (Array.isArray(parent) && typeof key === 'number') {
    if (value === undefined) parent.splice(key, 1);
    else parent[key] = value;
  } else if (parent !== null && typeof parent === 'object' && !Array.isArray(parent)) {
    if (value === undefined) delete parent[key];
    else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

type Op = { readonly op: number; readonly at: number; readonly arg: number; readonly text: string; readonly value: unknown };

function apply(root: Json, m: Op): Json {
  const all = paths(root);
  const path = all[m.at % all.length]!;
  const here = get(root, path);
  switch (m.op % 9) {
    case 0:
      return set(root, path, undefined);
    case 1:
      // A copy: a shared value put in twice, then changed in place, would make the document contain itself.
      return set(root, path, structuredClone(EXTREMES[m.arg % EXTREMES.length]!));
    case 2:
      return set(root, path, (m.value ?? null) as Json);
    case 3:
      if (here !== null && typeof here === 'object' && !Array.isArray(here)) {
        const keys = ['__proto__', 'constructor', m.text, 'v', 'type', `${m.text}\u0000`];
        Object.defineProperty(here, keys[m.arg % keys.length]!, { value: (m.value ?? null) as Json, enumerable: true, writable: true, configurable: true });
      }
      return root;
    case 4:
      if (Array.isArray(here) && here.length > 0)
        here.push(...Array.from({ length: m.arg % 5 === 0 ? 2000 : 1 + (m.arg % 3) }, () => structuredClone(here[0]!)));
      return root;
    case 5:
      if (typeof here === 'string') {
        const variants = [
          here + m.text,
          here.slice(0, m.arg % (here.length + 1)),
          here.toUpperCase(),
          `${here}\r\n${m.text}`,
          here.normalize('NFD'),
          `\u202e${here}`,
        ];
        return set(root, path, variants[m.arg % variants.length]!);
      }
      return root;
    case 6:
      if (typeof here === 'number') {
        const variants = [here + 1, here - 1, -here, here * 1e6, here + 0.5, Number.MAX_SAFE_INTEGER + 2];
        return set(root, path, variants[m.arg % variants.length]!);
      }
      return root;
    case 7:
      // Same value, other type: "1" for 1, [x] for x, {"0": x}.
      return set(root, path, [String(here), [here], { 0: here }][m.arg % 3] as Json);
    default:
      return set(root, path, deepArray(m.arg % 2 === 0 ? 50 : 400));
  }
}

/** Mutated JSON text from `seeds` (parsed JSON values). */
export function jsonMutatedFrom(seeds: readonly unknown[]): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('Cannot mutate JSON. No seed documents.');
  const op = fc.record({ op: fc.nat(8), at: fc.nat(), arg: fc.nat(), text: fc.string({ maxLength: 12 }), value: jsonValue() });
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(op, { minLength: 1, maxLength: 3 })).map(([i, ops]) => {
    let doc = structuredClone(seeds[i]) as Json;
    for (const m of ops) doc = safely(apply, doc, m);
    let text: string;
    try {
      text = JSON.stringify(doc);
    } catch {
      // Nesting piled up past what JSON.stringify can walk: the seed as it was.
      text = JSON.stringify(seeds[i]);
    }
    return new Uint8Array(Buffer.from(text, 'utf8'));
  });
}
