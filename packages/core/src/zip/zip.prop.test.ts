import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createZip, readZip } from './index.js';

describe('createZip/readZip', () => {
  it('round-trips names and bytes when entries are arbitrary, with or without a password', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[a-zA-Z0-9_.-]{1,20}$/), data: fc.uint8Array({ maxLength: 2000 }), store: fc.boolean() }), {
          selector: (e) => e.name,
          maxLength: 5,
        }),
        fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: undefined }),
        (entries, password) => {
          const zip = createZip(
            entries.map((e) => ({ name: e.name, data: e.data, method: e.store ? 'store' : 'deflate' })),
            password === undefined ? {} : { password },
          );
          const z = readZip(zip);
          expect(z.entries.map((e) => e.name)).toEqual(entries.map((e) => e.name));
          z.entries.forEach((e, i) => {
            expect(e.encrypted).toBe(password !== undefined);
            expect(z.read(e, password === undefined ? {} : { password })).toEqual(entries[i]!.data);
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
