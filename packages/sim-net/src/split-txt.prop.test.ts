import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitTxt } from './dns-zone.js';

describe('splitTxt', () => {
  it('yields character-strings of at most 255 bytes that decode on their own and join back when given any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (text) => {
        const chunks = splitTxt(text);
        expect(chunks.join('')).toBe(text);
        for (const c of chunks) expect(Buffer.byteLength(c, 'utf8')).toBeLessThanOrEqual(255);
        expect(chunks.filter((c) => c === '').length).toBe(text === '' ? 1 : 0);
      }),
    );
  });
});
