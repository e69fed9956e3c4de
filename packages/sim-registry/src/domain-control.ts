/**
 * Procedure (1): proof that an applicant controls the mail domains it applies for, the way ACME dns-01
 * (RFC 8555 §8.4) and Google site verification prove it. The applicant asks for one challenge per domain
 * (`POST /v1/enrolment/challenges`), each a random token bound to the SHA-256 of its org CA key's SPKI
 * and valid for {@link EvaluationPolicy.challengeValidityHours}; it publishes
 * `_ssmax-challenge.<domain> TXT "ssmax-domain-verification=<token>"` in the domain's DNS and names the
 * challenge ids in its application, which it signs with that key (proof of possession). At evaluation
 * the registry reads the TXT records through its injected resolver.
 *
 * A published token is public, so its binding to the key (only the key holder can sign an application
 * naming it) is what keeps a bystander from borrowing it; single use keeps an old record from admitting
 * a second applicant later. What the lookup found is a criterion result (data), never an exception.
 */
import { createHash } from 'node:crypto';
import { newId, type RegistryContext } from './context.js';
import type { DomainControlFinding } from './evaluation.js';
import type { ChallengeRow } from './store.js';
import type { DomainChallengeResponse } from './types.js';

/** The owner name label the TXT record sits under (RFC 8552 §2 underscore naming, like `_acme-challenge`). */
export const CHALLENGE_LABEL = '_ssmax-challenge';
/** The TXT record's text before the token. */
export const CHALLENGE_TXT_PREFIX = 'ssmax-domain-verification=';
/** Challenge ids as the registry issues them. */
export const CHALLENGE_ID_RE = /^chl-[0-9a-f]{16}$/;

/** Where the TXT record for `domain` is published. */
export function challengeTxtName(domain: string): string {
  return `${CHALLENGE_LABEL}.${domain}`;
}

const spkiHash = (spki: Uint8Array): string => createHash('sha256').update(spki).digest('hex');
const quote = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);

/** The outcome of checking one application's domains. */
export interface DomainControlCheck {
  readonly findings: readonly DomainControlFinding[];
  /** The challenges that proved a domain: used up once the application is decided. */
  readonly proving: readonly string[];
}

export class DomainControl {
  constructor(private readonly ctx: RegistryContext) {}

  /** Issues one challenge per domain, bound to the org CA key `orgCaSpki` (canonical DER). */
  issue(domains: readonly string[], orgCaSpki: Uint8Array): DomainChallengeResponse {
    const { store, clock, random, policy } = this.ctx;
    const now = clock();
    const expiresAt = new Date(now.getTime() + policy.challengeValidityHours * 3_600_000).toISOString();
    const binding = spkiHash(orgCaSpki);
    const rows = domains.map((domain) => ({
      id: newId('chl', random),
      domain,
      token: Buffer.from(random(32)).toString('base64url'),
      spkiSha256: binding,
      issuedAt: now.toISOString(),
      expiresAt,
    }));
    store.transaction(() => rows.forEach((r) => store.insertChallenge(r)));
    this.ctx.log(`domain-control challenges ${rows.map((r) => `${r.id} (${r.domain})`).join(', ')} issued`);
    return {
      challenges: rows.map((r) => ({
        id: r.id,
        domain: r.domain,
        txtName: challengeTxtName(r.domain),
        txtValue: `${CHALLENGE_TXT_PREFIX}${r.token}`,
        expiresAt: r.expiresAt,
      })),
    };
  }

  /**
   * Checks every domain of an application against the challenges it names: one of them must be for that
   * domain, bound to `orgCaSpki`, unexpired and unused at `now`, and its token must be in a TXT record at
   * `_ssmax-challenge.<domain>`. 'not-checked' when domain control is switched off.
   */
  async check(domains: readonly string[], orgCaSpki: Uint8Array, challengeIds: readonly string[], now: Date): Promise<DomainControlCheck | 'not-checked'> {
    if (!this.ctx.domainControl) return 'not-checked';
    const binding = spkiHash(orgCaSpki);
    const named = challengeIds.map((id) => ({ id, row: this.ctx.store.getChallenge(id) }));
    const unknown = named.filter((n) => n.row === null).map((n) => n.id);
    const findings: DomainControlFinding[] = [];
    const proving: string[] = [];
    for (const domain of domains) {
      const rows = named.flatMap((n) => (n.row !== null && n.row.domain === domain ? [n.row] : []));
      if (rows.length === 0) {
        const also = unknown.length > 0 ? ` (the registry issued none of ${unknown.join(', ')})` : '';
        findings.push({ domain, verified: false, detail: `no challenge for ${domain} is named in the application${also}.` });
        continue;
      }
      const unusable = rows.map((r) => ({ r, why: this.#unusable(r, binding, now) }));
      const usable = unusable.filter((u) => u.why === undefined).map((u) => u.r);
      if (usable.length === 0) {
        findings.push({ domain, verified: false, detail: unusable.map((u) => u.why).join('; ') + '.' });
        continue;
      }
      const name = challengeTxtName(domain);
      const seen = await this.#lookup(name);
      if ('error' in seen) {
        const absent = seen.error === 'ENOTFOUND' || seen.error === 'ENODATA';
        findings.push({
          domain,
          verified: false,
          detail: absent
            ? `no TXT record at ${name} (${seen.error}).`
            : `the TXT lookup of ${name} failed (${seen.error}), so control of ${domain} is not shown.`,
        });
        continue;
      }
      const match = usable.find((r) => seen.records.includes(`${CHALLENGE_TXT_PREFIX}${r.token}`));
      if (match) {
        proving.push(match.id);
        findings.push({ domain, verified: true, detail: `TXT ${name} carries the token of challenge ${match.id}.` });
        continue;
      }
      const found = seen.records.length === 0 ? 'no TXT record' : `${seen.records.length} TXT record(s) ${seen.records.slice(0, 3).map(quote).join(', ')}`;
      findings.push({ domain, verified: false, detail: `${name} holds ${found}, none with the token of challenge ${usable.map((r) => r.id).join(', ')}.` });
    }
    return { findings, proving };
  }

  /** Uses up the proving challenges for `applicationId`; false when one was used meanwhile. Call inside a store transaction. */
  consume(ids: readonly string[], at: string, applicationId: string): boolean {
    return ids.map((id) => this.ctx.store.consumeChallenge(id, at, applicationId)).every(Boolean);
  }

  #unusable(r: ChallengeRow, binding: string, now: Date): string | undefined {
    if (r.spkiSha256 !== binding) return `challenge ${r.id} was issued for another org CA key`;
    if (r.usedAt !== null) return `challenge ${r.id} was already used at ${r.usedAt}`;
    if (now.getTime() > Date.parse(r.expiresAt)) return `challenge ${r.id} expired at ${r.expiresAt}`;
    return undefined;
  }

  /** The TXT records at `name`, each as its character-strings joined (RFC 7208 §3.3 reads them so too). */
  async #lookup(name: string): Promise<{ records: string[] } | { error: string }> {
    try {
      const txt = await this.ctx.resolver(name, 'TXT');
      return { records: txt.map((chunks) => chunks.join('')) };
    } catch (e) {
      // The resolver contract rejects with node's DNS error shape (`code` ENOTFOUND, ESERVFAIL, ...).
      const code = (e as { code?: unknown } | null)?.code;
      return { error: typeof code === 'string' ? code : 'ESERVFAIL' };
    }
  }
}
