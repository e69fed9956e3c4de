/**
 * Issue 11 item 3, the reduced run of `npm run chaos` (the full one, ≥ 200 kills, is committed in
 * chaos/results/): every process of the SSMAX path SIGKILLed at random points while mail flows, each
 * restarted on its own storage; every acknowledged mail must end in the recipient's mailbox exactly once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCompiled } from '@ssmax/core/testing';
import { CHAOS_TARGETS, runChaos } from './chaos.js';

beforeAll(async () => {
  // The org and registry children run compiled JavaScript; -b rebuilds only what changed.
  await buildCompiled('packages/world');
}, 180_000);

describe('chaos: SIGKILL of the registry, either org or the mailbox while mail flows', () => {
  it('delivers every acknowledged mail exactly once after 16 kills', async () => {
    const r = await runChaos({ kills: 16, seed: 11, gapMs: [100, 700], log: (l) => console.info(l) });
    console.info(`[chaos] ${JSON.stringify(r.mails)} killed ${JSON.stringify(r.killed)}`);
    // The run did what it claims: every kind of process was killed, and mail flowed throughout.
    expect(Object.values(r.killed).reduce((a, b) => a + b, 0)).toBe(16);
    for (const t of CHAOS_TARGETS) expect(r.killed[t], t).toBeGreaterThan(0);
    expect(r.mails.acknowledged).toBeGreaterThan(10);
    expect(r.mails.submissionAttempts).toBeGreaterThan(r.mails.acknowledged);
    // Exactly once.
    expect(r.refusals).toEqual([]);
    expect(r.duplicates).toEqual([]);
    expect(r.lostIds).toEqual([]);
    expect(r.mails.deliveredOnce).toBe(r.mails.acknowledged);
    expect(r.mails.unacknowledgedDelivered).toBe(0);
  }, 600_000);
});
