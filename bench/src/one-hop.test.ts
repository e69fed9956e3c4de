/**
 * Issue 13 item 1: the bench times the hop the simulator runs. One function object is the per-file hop of
 * core, of every sim-org organisation (orgHop sends each file part through orgFileHop: sim-org
 * org-hop.test.ts) and of the bench's hop cases (orgHop / orgHopFile call benchFileHop).
 */
import { protectedFileHop } from '@ssmax/core';
import { orgFileHop } from '@ssmax/sim-org';
import { describe, expect, it } from 'vitest';
import { benchFileHop } from './org-hop.js';

describe('the bench hop', () => {
  it('is the very function an organisation runs for each protected file, which is core protectedFileHop', () => {
    expect(benchFileHop).toBe(orgFileHop);
    expect(orgFileHop).toBe(protectedFileHop);
  });
});
