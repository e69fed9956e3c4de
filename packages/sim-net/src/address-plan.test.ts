import { describe, expect, it } from 'vitest';
import { AddressPlan, checkBindable } from './address-plan.js';

describe('AddressPlan', () => {
  it('hands out distinct 127.x.y.n addresses and the same one again for the same actor', () => {
    const plan = AddressPlan.create({ seed: 12345 });
    const a = plan.allocate('registry');
    const b = plan.allocate('org-a/mta');
    expect(a).not.toBe(b);
    expect(plan.allocate('registry')).toBe(a);
    expect(a.startsWith(`${plan.prefix}.`)).toBe(true);
    expect(plan.actorOf(b)).toBe('org-a/mta');
    expect(plan.entries()).toEqual([
      { actor: 'registry', address: a },
      { actor: 'org-a/mta', address: b },
    ]);
  });

  it('derives the same /24 from the same seed and different ones from different seeds, never 127.0.0', () => {
    expect(AddressPlan.create({ seed: 7 }).prefix).toBe(AddressPlan.create({ seed: 7 }).prefix);
    expect(AddressPlan.create({ seed: 7 }).prefix).not.toBe(AddressPlan.create({ seed: 8 }).prefix);
    for (const seed of [0, 1, 255, 256, 65023, 65024, -1, 2 ** 40]) {
      const prefix = AddressPlan.create({ seed }).prefix;
      expect(prefix).toMatch(/^127\.(\d+)\.(\d+)$/);
      expect(prefix.startsWith('127.0.')).toBe(false);
    }
  });

  it('throws LIMIT_EXCEEDED when the /24 is used up', () => {
    const plan = AddressPlan.create({ prefix: '127.200.1' });
    for (let i = 0; i < 254; i++) plan.allocate(`a${i}`);
    expect(plan.addressOf('a253')).toBe('127.200.1.254');
    expect(() => plan.allocate('one-more')).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
  });

  it('rejects a prefix outside 127/8 or equal to 127.0.0', () => {
    for (const prefix of ['127.0.0', '10.0.0', '127.1', '127.1.256']) {
      expect(() => AddressPlan.create({ prefix })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });
});

describe('checkBindable', () => {
  it('accepts an allocated 127/8 address and rejects an address the host does not have', async () => {
    await expect(checkBindable(AddressPlan.create({ seed: 99 }).allocate('x'))).resolves.toBeUndefined();
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never configured locally, so bind fails.
    await expect(checkBindable('192.0.2.1')).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});
