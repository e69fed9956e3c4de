import { SsmaxError } from '@ssmax/core';
import { SimOrgError } from '@ssmax/sim-org';
import { describe, expect, it } from 'vitest';
import { CaseProbe, TargetTally, classifyError } from './outcome.js';

describe('classifyError', () => {
  it.each([
    ['a malformed code', new SsmaxError('MALFORMED_DER', 'x'), { typed: true }],
    ['a verdict code', new SsmaxError('AUTH_TAG_MISMATCH', 'x'), { typed: true }],
    ['an unsupported algorithm', new SsmaxError('UNSUPPORTED_ALGORITHM', 'x'), { typed: true }],
    ['a SimOrgError', new SimOrgError('TEMP_REGISTRY_UNAVAILABLE', 'x'), { typed: true }],
    ['a usage code', new SsmaxError('USAGE', 'x'), { typed: false, errorType: 'SsmaxError(USAGE)' }],
    ['an input-stream failure', new SsmaxError('IO_ERROR', 'x'), { typed: false, errorType: 'SsmaxError(IO_ERROR)' }],
    ['a TypeError', new TypeError('x'), { typed: false, errorType: 'TypeError' }],
    ['a RangeError', new RangeError('Maximum call stack size exceeded'), { typed: false, errorType: 'RangeError' }],
    ['a thrown string', 'boom', { typed: false, errorType: 'string' }],
    ['an object without a prototype', Object.create(null) as object, { typed: false, errorType: 'object' }],
  ])('counts %s as %o', (_what, e, expected) => {
    expect(classifyError(e)).toEqual(expected);
  });
});

describe('CaseProbe', () => {
  it('goes on after a typed error, remembers its code, and lets an untyped error end the case', async () => {
    const probe = new CaseProbe();
    expect(await probe.step(() => Promise.reject(new SsmaxError('MALFORMED_CMS', 'x')))).toBeUndefined();
    expect(probe.typedSeen).toBe(true);
    expect(probe.lastCode).toBe('MALFORMED_CMS');
    expect(await probe.step(() => 7)).toBe(7);
    await expect(probe.step(() => JSON.parse('{') as unknown)).rejects.toBeInstanceOf(SyntaxError);
  });
});

describe('TargetTally', () => {
  it('counts outcomes, keeps the input of failing cases only, and names the untyped error types', () => {
    const t = new TargetTally('t');
    t.add(0, { outcome: 'ok', ms: 1, reached: ['deep'] }, () => new Uint8Array([1]));
    t.add(1, { outcome: 'typed', ms: 3, reached: [] }, () => new Uint8Array([2]));
    t.add(2, { outcome: 'untyped', ms: 2, reached: ['deep'], errorType: 'TypeError', detail: 'x is undefined' }, () => new Uint8Array([3, 4]));
    t.add(3, { outcome: 'hang', ms: 2500, reached: [] }, () => new Uint8Array([5]));
    t.add(4, { outcome: 'ok', ms: 1, reached: [], violation: 'smuggling: 2 messages queued from 1 end-of-data markers' }, () => new Uint8Array([6]));
    const r = t.result();
    expect(r).toMatchObject({
      cases: 5,
      ok: 2,
      typedErrors: 1,
      untypedErrors: 1,
      hangs: 1,
      crashes: 0,
      violations: 1,
      slowest_ms: 2500,
      uncaughtErrorTypes: ['TypeError'],
    });
    expect(r.reached).toEqual({ deep: 2 });
    expect(r.findings.map((f) => [f.case, f.outcome, f.inputBase64])).toEqual([
      [2, 'untyped', Buffer.from([3, 4]).toString('base64')],
      [3, 'hang', 'BQ=='],
      [4, 'violation', 'Bg=='],
    ]);
    expect(t.failures).toBe(3);
  });
});
