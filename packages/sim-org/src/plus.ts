/**
 * The `ssmax-plus` additions' org-side state (issue 15, docs/PROTOCOL.md "ssmax-plus"): the hold and
 * cancel marks of the MTA-out (addition 4) and the replay cache of the MTA-in (addition 3).
 */
import type { OrgAttestation, AttestationFreshness } from './attestation.js';
import type { OrgPlus } from './org-context.js';

/**
 * A replay cache: keys seen within the freshness window, each kept until its attestation's window
 * ends, at most `size` entries (the oldest expiry goes first). A key evicted early by a full cache is
 * one whose window is the first to end; what it then meets is described in docs/PROTOCOL.md.
 */
export class ReplayCache {
  readonly #until = new Map<string, number>();
  constructor(readonly size: number) {}

  /** Records `key` until `untilMs`; false when it was already there (a replay) and not yet expired at `nowMs`. */
  admit(key: string, untilMs: number, nowMs: number): boolean {
    const seen = this.#until.get(key);
    if (seen !== undefined && seen > nowMs) return false;
    for (const [k, u] of this.#until) if (u <= nowMs) this.#until.delete(k);
    while (this.#until.size >= this.size) {
      let oldest: [string, number] | undefined;
      for (const e of this.#until) if (!oldest || e[1] < oldest[1]) oldest = e;
      this.#until.delete(oldest![0]);
    }
    this.#until.set(key, untilMs);
    return true;
  }

  /**
   * The recipient agent's form: `copy` names one delivered copy (the receiving org's attestation), so
   * reading the same copy again is not a replay, another copy of the same key within the window is.
   */
  admitCopy(key: string, copy: string, untilMs: number, atMs: number): boolean {
    const seen = this.#copies.get(key);
    if (seen !== undefined && seen.copy !== copy && seen.until >= atMs) return false;
    if (seen === undefined) {
      while (this.#copies.size >= this.size) this.#copies.delete(this.#copies.keys().next().value!);
      this.#copies.set(key, { copy, until: untilMs });
    }
    return true;
  }
  readonly #copies = new Map<string, { copy: string; until: number }>();

  get entries(): number {
    return this.#until.size;
  }
}

/** The org's `ssmax-plus` state (in `OrgContext.plus`). */
export interface PlusRuntime {
  readonly options: OrgPlus;
  /** Spool ids the sender cancelled / the worker is sending (decided synchronously: cancel and send never both win). */
  readonly cancelled: Set<string>;
  readonly sending: Set<string>;
  readonly replays: ReplayCache;
}

export function createPlusRuntime(options: OrgPlus): PlusRuntime {
  return { options, cancelled: new Set(), sending: new Set(), replays: new ReplayCache(options.freshness?.cacheSize ?? 1) };
}

/** The freshness fields a hop binds into its attestation (addition 3). */
export function freshnessFor(
  plus: OrgPlus | undefined,
  o: { messageId: string; date: string; rcptTo: readonly string[]; now: Date },
): AttestationFreshness | undefined {
  if (!plus?.freshness) return undefined;
  return {
    date: o.date,
    rcptTo: [...o.rcptTo].map((r) => r.toLowerCase()).sort(),
    notBefore: o.now.toISOString(),
    notAfter: new Date(o.now.getTime() + plus.freshness.windowSeconds * 1000).toISOString(),
  };
}

/** Why a mail fails the freshness check: seen before (`replay`), or outside its window or without one (`stale`). */
export type FreshnessVerdict =
  { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: 'replay' | 'stale'; readonly detail: string };

/**
 * The receiving side's freshness check (addition 3) of the sending org's attestation: inside its
 * window, every envelope recipient bound by it, and its Message-ID not seen before from that org
 * within the window (recorded in `cache` when it passes). Data, never an exception.
 */
export function checkFreshness(
  cache: ReplayCache,
  a: OrgAttestation,
  o: { readonly rcptTo: readonly string[]; readonly now: Date; readonly skewMs?: number },
): FreshnessVerdict {
  const f = a.freshness;
  if (!f) return { ok: false, reason: 'stale', detail: 'the attestation binds no validity window' };
  const now = o.now.getTime();
  const skew = o.skewMs ?? 60_000;
  const from = Date.parse(f.notBefore);
  const until = Date.parse(f.notAfter);
  if (!(now >= from - skew && now <= until)) return { ok: false, reason: 'stale', detail: `outside the window ${f.notBefore} .. ${f.notAfter}` };
  const bound = new Set(f.rcptTo.map((r) => r.toLowerCase()));
  const extra = o.rcptTo.filter((r) => !bound.has(r.toLowerCase()));
  if (extra.length > 0) return { ok: false, reason: 'replay', detail: `envelope recipient(s) ${extra.join(', ')} not bound by the attestation` };
  if (!cache.admit(`${a.org}\n${a.messageId}`, until, now))
    return { ok: false, reason: 'replay', detail: `${a.messageId} from ${a.domain} seen before within its window` };
  return { ok: true, detail: `window until ${f.notAfter}, ${f.rcptTo.length} recipient(s) bound, first seen` };
}
