/**
 * parseDer's default bounds. Regression for the fuzz run of issue 11 item 4 (ber-der target): with the 200,000-node
 * default a megabyte of small elements kept asn1js busy for over 2 s; the default is now SMALL_DER_LIMITS.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DER_LIMITS, SMALL_DER_LIMITS, parseDer } from './asn1.js';
import { SsmaxError } from './errors.js';

/** SEQUENCE { OBJECT IDENTIFIER id-data } × n, DER. */
function manyOids(n: number): Uint8Array {
  const oid = Buffer.from('06092a864886f70d010701', 'hex');
  const content = Buffer.concat(Array.from({ length: n }, () => oid));
  const len = content.length;
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, 0x83, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff]), content]));
}

describe('parseDer', () => {
  it('refuses more elements than SMALL_DER_LIMITS allows by default, as LIMIT_EXCEEDED', () => {
    const input = manyOids(SMALL_DER_LIMITS.maxNodes + 1);
    let err: unknown;
    try {
      parseDer(input, 'the element list');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SsmaxError);
    expect((err as SsmaxError).code).toBe('LIMIT_EXCEEDED');
    expect((err as SsmaxError).message).toMatch(/^Cannot parse the element list\. /);
  });

  it('still parses the same input when the caller passes the larger limits', () => {
    const parsed = parseDer(manyOids(SMALL_DER_LIMITS.maxNodes + 1), 'the element list', DEFAULT_DER_LIMITS);
    expect(parsed.valueBlock).toBeDefined();
  });
});
