import { describe, expect, it } from 'vitest';
import type { OrgAttestation } from './attestation.js';
import { ReplayCache, checkFreshness, freshnessFor } from './plus.js';

const T0 = new Date('2026-12-07T10:00:00Z');
const PLUS = { pinnedTls: true, headerProtection: true, freshness: { windowSeconds: 600, cacheSize: 3 }, holdSeconds: 60, retryWindowSeconds: 3600 };

function attestation(over: Partial<OrgAttestation> = {}): OrgAttestation {
  return {
    v: 1,
    type: 'ssmax-attestation',
    hop: 1,
    org: 'org-a-id',
    domain: 'org-a.example',
    role: 'sending-org',
    messageId: '<m1@org-a.example>',
    at: T0.toISOString(),
    checks: [],
    inspection: { performed: true, kind: 'dlp', verdict: 'allow', reasons: [] },
    identityNotice: {
      sender: 'alice@org-a.example',
      certSerial: '01',
      traceId: '02',
      proofing: 'employeeCardPin',
      proofedAt: T0.toISOString(),
      cardAndPinUsed: true,
    },
    files: [],
    freshness: freshnessFor(PLUS, { messageId: '<m1@org-a.example>', date: 'Mon, 07 Dec 2026 10:00:00 +0000', rcptTo: ['Bob@org-b.example'], now: T0 })!,
    ...over,
  };
}
const at = (s: number) => new Date(T0.getTime() + s * 1000);

describe('checkFreshness', () => {
  it('passes a first copy inside its window and refuses the same Message-ID again as a replay', () => {
    const cache = new ReplayCache(10);
    expect(checkFreshness(cache, attestation(), { rcptTo: ['bob@org-b.example'], now: at(5) }).ok).toBe(true);
    expect(checkFreshness(cache, attestation(), { rcptTo: ['bob@org-b.example'], now: at(30) })).toMatchObject({ ok: false, reason: 'replay' });
  });

  it('refuses an envelope recipient the attestation does not bind as a replay, without recording the copy', () => {
    const cache = new ReplayCache(10);
    expect(checkFreshness(cache, attestation(), { rcptTo: ['carol@org-c.example'], now: at(5) })).toMatchObject({ ok: false, reason: 'replay' });
    expect(checkFreshness(cache, attestation(), { rcptTo: ['bob@org-b.example'], now: at(6) }).ok).toBe(true);
  });

  it('refuses a copy after its window, or one without a window, as stale', () => {
    const cache = new ReplayCache(10);
    expect(checkFreshness(cache, attestation(), { rcptTo: ['bob@org-b.example'], now: at(601) })).toMatchObject({ ok: false, reason: 'stale' });
    const { freshness: _, ...without } = attestation();
    expect(checkFreshness(cache, without, { rcptTo: ['bob@org-b.example'], now: at(1) })).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('keeps the same Message-ID from two orgs apart', () => {
    const cache = new ReplayCache(10);
    expect(checkFreshness(cache, attestation(), { rcptTo: ['bob@org-b.example'], now: at(1) }).ok).toBe(true);
    expect(checkFreshness(cache, attestation({ org: 'org-c-id' }), { rcptTo: ['bob@org-b.example'], now: at(1) }).ok).toBe(true);
  });
});

describe('ReplayCache', () => {
  it('evicts the entry whose window ends first when full', () => {
    const cache = new ReplayCache(2);
    expect(cache.admit('a', 100, 0)).toBe(true);
    expect(cache.admit('b', 50, 0)).toBe(true);
    expect(cache.admit('c', 200, 0)).toBe(true);
    expect(cache.entries).toBe(2);
    // b (window ending first) went; a and c are still replays.
    expect(cache.admit('a', 100, 1)).toBe(false);
    expect(cache.admit('c', 200, 1)).toBe(false);
    expect(cache.admit('b', 50, 1)).toBe(true);
  });

  it('forgets an entry once its window has ended', () => {
    const cache = new ReplayCache(5);
    expect(cache.admit('a', 100, 0)).toBe(true);
    expect(cache.admit('a', 100, 99)).toBe(false);
    expect(cache.admit('a', 300, 101)).toBe(true);
  });

  it('lets the agent reread one delivered copy but refuses a second copy within the window', () => {
    const cache = new ReplayCache(5);
    expect(cache.admitCopy('m', 'copy-1', 100, 10)).toBe(true);
    expect(cache.admitCopy('m', 'copy-1', 100, 20)).toBe(true);
    expect(cache.admitCopy('m', 'copy-2', 100, 30)).toBe(false);
  });
});
