import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from './canonical-json.js';
import { jsonValue } from './fuzz/fuzz-support.js';

const json = jsonValue();

function shuffleKeys(v: unknown, seed: number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, seed));
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    const rotated = entries.length ? [...entries.slice(seed % entries.length), ...entries.slice(0, seed % entries.length)].reverse() : entries;
    return Object.fromEntries(rotated.map(([k, x]) => [k, shuffleKeys(x, seed)]));
  }
  return v;
}

describe('canonicalJson', () => {
  it('round-trips through JSON.parse and does not depend on key insertion order', () => {
    fc.assert(
      fc.property(json, fc.nat(), (v, seed) => {
        const c = canonicalJson(v);
        expect(JSON.parse(c)).toEqual(v);
        expect(canonicalJson(shuffleKeys(v, seed))).toBe(c);
        expect(c).not.toMatch(/^\s|\s$/);
      }),
    );
  });

  it('rejects numbers that are not safe integers', () => {
    expect(() => canonicalJson({ a: 1.5 })).toThrow(/safe integers/);
    expect(() => canonicalJson([2 ** 60])).toThrow(/safe integers/);
  });

  it('sorts keys by UTF-16 code units and drops undefined members when given a fixed document', () => {
    const doc = { b: 1, a: [true, undefined, 'x'], '\u00e9': null, Z: { d: undefined, c: 'é' } };
    expect(canonicalJson(doc)).toBe('{"Z":{"c":"é"},"a":[true,null,"x"],"b":1,"é":null}');
    expect(Buffer.from(canonicalJsonBytes(doc)).toString('hex')).toBe(
      Buffer.from('{"Z":{"c":"é"},"a":[true,null,"x"],"b":1,"é":null}', 'utf8').toString('hex'),
    );
  });
});
