import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { berContent, berEncoded, berInteger, berOid, berStringValue, berTime, readBer } from './ber-reader.js';
import { derEncode, derOid, derSequence, derTime } from './der-writer.js';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));

function expectError(f: () => unknown, code: string): void {
  try {
    f();
  } catch (e) {
    expect(SsmaxError.is(e)).toBe(true);
    expect((e as SsmaxError).code).toBe(code);
    return;
  }
  throw new Error('expected a throw');
}

describe('BerReader', () => {
  it('joins constructed OCTET STRING segments when the encoding is indefinite (openssl -stream style)', () => {
    const ber = h('30 80 06 01 2a a0 80 24 80 04 02 6869 04 01 21 0000 0000 0000');
    const root = readBer(ber, 'test');
    expect(root.indefinite).toBe(true);
    const os = root.children[1]!.children[0]!;
    expect(Buffer.from(berStringValue(os, 'os')).toString()).toBe('hi!');
    expect(root.end).toBe(ber.byteLength);
  });

  it('keeps exact bytes and views (no copy) when reading primitives', () => {
    const der = h('30 06 04 04 deadbeef');
    const root = readBer(der, 'test');
    const v = berContent(root.children[0]!);
    expect(v.buffer).toBe(der.buffer);
    expect(berEncoded(root.children[0]!)).toEqual(h('0404deadbeef'));
  });

  it('does not look inside OCTET STRING contents when they hold DER', () => {
    const inner = derEncode(derSequence(derOid('1.2.3'), derOid('1.2.4')));
    const root = readBer(Uint8Array.from([0x04, inner.byteLength, ...inner]), 'test');
    expect(root.children).toHaveLength(0);
  });

  it('rejects trailing bytes, truncation, and bad lengths with MALFORMED_DER', () => {
    expectError(() => readBer(h('0400 00'), 't'), 'MALFORMED_DER');
    expectError(() => readBer(h('0405 0102'), 't'), 'MALFORMED_DER');
    expectError(() => readBer(h('3080 0400'), 't'), 'MALFORMED_DER');
    expectError(() => readBer(h('0480 0000'), 't'), 'MALFORMED_DER');
    expectError(() => readBer(h('04ff'), 't'), 'MALFORMED_DER');
    expectError(() => readBer(h('3004 0000 0400'), 't'), 'MALFORMED_DER');
    expectError(() => readBer(new Uint8Array(0), 't'), 'MALFORMED_DER');
  });

  it('throws LIMIT_EXCEEDED when nesting is deeper than the limit', () => {
    const depth = 100;
    const bytes = new Uint8Array(depth * 2 + 2);
    for (let i = 0; i < depth; i++) bytes.set([0x30, 0x80], i * 2);
    expectError(() => readBer(bytes, 't', { maxDepth: 64, maxNodes: 1000, maxContentLength: 1e6 }), 'LIMIT_EXCEEDED');
  });

  it('reads OIDs, INTEGERs and times when they are well formed', () => {
    expect(berOid(readBer(derOid('2.25.172299975742873968627403492381854827259.2.1'), 't'), 't')).toBe('2.25.172299975742873968627403492381854827259.2.1');
    expect(berInteger(readBer(h('0202ff7f'), 't'), 't')).toBe(-129n);
    const d = new Date('2049-12-31T23:59:59Z');
    expect(berTime(readBer(derTime(d), 't'), 't').toISOString()).toBe(d.toISOString());
    const g = new Date('2051-02-03T04:05:06Z');
    expect(berTime(readBer(derTime(g), 't'), 't').toISOString()).toBe(g.toISOString());
    expectError(() => berTime(readBer(h('170d 3234313333323030303030305a'), 't'), 't'), 'MALFORMED_DER');
  });
});
