import { describe, expect, it } from 'vitest';
import * as asn1js from 'asn1js';
import { SSMAX_ARC } from '../oids.js';
import {
  derEncode,
  derEnumerated,
  derGeneralizedTime,
  derIa5String,
  derImplicit,
  derInteger,
  derNamedBits,
  derOctetString,
  derOid,
  derSequence,
  derSetOf,
  derTime,
  encodeLength,
} from './der-writer.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

describe('DerWriter', () => {
  it('writes minimal lengths when content crosses the short/long form boundaries', () => {
    expect(hex(encodeLength(0x7f))).toBe('7f');
    expect(hex(encodeLength(0x80))).toBe('8180');
    expect(hex(encodeLength(0x100))).toBe('820100');
    expect(hex(encodeLength(20 * 1024 * 1024))).toBe('8401400000');
  });

  it('encodes OIDs like asn1js when arcs exceed 2^53 (SSMAX UUID arc)', () => {
    for (const oid of ['1.2.840.113549.1.7.2', '2.16.840.1.101.3.4.2.1', `${SSMAX_ARC}.2.1`, '2.999.3']) {
      const ref = new Uint8Array(new asn1js.ObjectIdentifier({ value: oid }).toBER());
      expect(hex(derOid(oid))).toBe(hex(ref));
    }
  });

  it('encodes INTEGERs minimally when given numbers, negatives or unsigned magnitudes', () => {
    expect(hex(derInteger(0))).toBe('020100');
    expect(hex(derInteger(127))).toBe('02017f');
    expect(hex(derInteger(128))).toBe('02020080');
    expect(hex(derInteger(-129))).toBe('0202ff7f');
    expect(hex(derInteger(-1))).toBe('0201ff');
    expect(hex(derInteger(Uint8Array.of(0, 0, 0x80, 1)))).toBe('0203008001');
  });

  it('sorts SET OF elements by encoding when they are given unsorted (X.690 §11.6)', () => {
    const s = derEncode(derSetOf([Uint8Array.of(0x04, 0x01, 0x02), Uint8Array.of(0x02, 0x01, 0x05), Uint8Array.of(0x04, 0x00)]));
    expect(hex(s)).toBe('3108' + '020105' + '0400' + '040102');
  });

  it('writes UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5652 §11.3)', () => {
    expect(Buffer.from(derTime(new Date('2024-03-05T06:07:08.900Z')).subarray(2)).toString()).toBe('240305060708Z');
    expect(Buffer.from(derTime(new Date('2050-01-01T00:00:00Z')).subarray(2)).toString()).toBe('20500101000000Z');
    expect(derTime(new Date('2050-01-01T00:00:00Z'))[0]).toBe(0x18);
  });

  it('round-trips nested structures through asn1js when content is large', () => {
    const big = new Uint8Array(300_000).fill(7);
    const der = derEncode(derSequence(derOid('1.2.3'), derOctetString(big)));
    const parsed = asn1js.fromBER(der);
    expect(parsed.offset).toBe(der.byteLength);
    const seq = parsed.result as asn1js.Sequence;
    expect((seq.valueBlock.value[1] as asn1js.OctetString).valueBlock.valueHexView.byteLength).toBe(300_000);
  });

  it('drops trailing zero bits of a named-bit BIT STRING when encoding KeyUsage (X.690 §11.2.2)', () => {
    expect(hex(derNamedBits([]))).toBe('030100');
    expect(hex(derNamedBits([0, 2]))).toBe('030205a0'); // digitalSignature, keyEncipherment
    expect(hex(derNamedBits([5, 6]))).toBe('03020106'); // keyCertSign, cRLSign
    expect(hex(derNamedBits([8]))).toBe('0303070080'); // decipherOnly
  });

  it('writes ENUMERATED with tag 10 and GeneralizedTime for any year when asked', () => {
    expect(hex(derEnumerated(1))).toBe('0a0101');
    expect(hex(derEnumerated(200))).toBe('0a0200c8');
    expect(Buffer.from(derGeneralizedTime(new Date('2024-03-05T06:07:08.900Z'))).toString('latin1')).toBe('\x18\x0f20240305060708Z');
    expect(() => derGeneralizedTime(new Date(Date.UTC(10000, 0, 1)))).toThrow(/out of range/);
  });

  it('retags an IA5String implicitly with a long-form length when the text exceeds 127 bytes', () => {
    const long = `${'a'.repeat(200)}@example.jp`;
    const der = derEncode(derImplicit(1, false, ...derIa5String(long).parts));
    expect(hex(der.subarray(0, 3))).toBe('8181d3');
    expect(Buffer.from(der.subarray(3)).toString('latin1')).toBe(long);
    expect(() => derIa5String('ümlaut@example.jp')).toThrow(/non-ASCII/);
  });
});
