/**
 * Domain reputation for the conventional `best-practice` profile (seed 002, incident 3: "ドメイン
 * レピュテーション"): the receiving MTA scores the RFC 5322.From domain of each mail and flags it above a
 * threshold. It is deliberately simple and documented, so a scenario can predict it:
 *
 * | reason        | points | when                                                                  |
 * |---------------|--------|-----------------------------------------------------------------------|
 * | `new-domain`  | 30     | created less than `newDomainDays` (30) days ago per `domainRegistry`   |
 * | `unknown-age` | 10     | not in `domainRegistry` at all                                          |
 * | `homograph`   | 60     | same UTS #39 skeleton as a known partner domain, but not equal          |
 * | `near-miss`   | 50     | edit distance ≤ `maxEditDistance` (2) to a known partner domain        |
 * | `mixed-script`| 20     | a label mixes scripts beyond UTS #39 §5.2 "highly restrictive"          |
 * | `whole-script`| 20     | a label in one non-Latin script reads as a Latin word (UTS #39 §4)      |
 *
 * A score ≥ `threshold` (50) is `flag`: the mail is delivered with `X-SSMAX-Reputation: suspicious`.
 * Known partner domains (and the org's own) score 0. Reputation never blocks: a look-alike domain with
 * valid SPF/DKIM/DMARC is still delivered (the honest cell of the matrix).
 *
 * Look-alikes (issue 16) are judged with the complete Unicode data, as browsers judge IDNs: the domain
 * goes through UTS #46 (Node's `url.domainToASCII`/`domainToUnicode`, the WHATWG URL Standard's "domain
 * to ASCII", nontransitional), then the UTS #39 skeleton over the vendored confusables.txt 17.0.0, the
 * §5.2 restriction level and the §4 whole-script test (`confusables.ts`, which says why the data is
 * vendored rather than taken from an npm package). The hand-picked subset this replaced also read "vv"
 * as "w" and "cl" as "d"; confusables.txt has no such sequences (only single characters, m → rn), and
 * `near-miss` (spelling distance, unchanged) still catches them: org-d.example is one edit from
 * org-a.example, a near-miss and not a homograph.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { domainSkeleton, latinWholeScriptConfusable, restrictionLevel, scriptsOf } from './confusables.js';

export interface ReputationOptions {
  /** Domains the org corresponds with (its partners); look-alikes of these score. */
  readonly knownDomains: readonly string[];
  /** Creation date of each domain (ISO 8601 or Date), as a WHOIS/RDAP lookup would give it. */
  readonly domainRegistry: Readonly<Record<string, string | Date>>;
  /** Score at or above which the verdict is `flag` (default 50). */
  readonly threshold?: number;
  /** A domain younger than this many days is new (default 30). */
  readonly newDomainDays?: number;
  /** Largest edit distance counted as a near-miss spelling (default 2). */
  readonly maxEditDistance?: number;
}

export interface ReputationReason {
  readonly rule: 'new-domain' | 'unknown-age' | 'homograph' | 'near-miss' | 'mixed-script' | 'whole-script';
  readonly points: number;
  readonly detail: string;
}

export interface ReputationVerdict {
  readonly domain: string;
  /** The domain in Unicode (punycode labels decoded). */
  readonly unicode: string;
  readonly score: number;
  readonly verdict: 'ok' | 'flag';
  readonly reasons: readonly ReputationReason[];
}

export const REPUTATION_POINTS = { 'new-domain': 30, 'unknown-age': 10, homograph: 60, 'near-miss': 50, 'mixed-script': 20, 'whole-script': 20 } as const;

/**
 * The domain as a mail client or browser shows it: UTS #46 ToASCII then ToUnicode (RFC 5891 §5), so an
 * A-label is decoded and a U-label is mapped the way the resolver will (upper case, full-width and
 * mathematical letters to their plain forms). A domain UTS #46 refuses keeps its lower-cased form.
 */
export function toUnicodeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  const ascii = domainToASCII(d);
  const u = ascii === '' ? '' : domainToUnicode(ascii);
  return u === '' ? d : u;
}

/**
 * The confusables skeleton of a domain (UTS #39 §4 over the complete confusables.txt, read
 * case-insensitively as domains are): two domains a reader cannot tell apart share it.
 */
export function skeleton(domain: string): string {
  return domainSkeleton(toUnicodeDomain(domain));
}

/** Optimal-string-alignment distance (Levenshtein plus adjacent transposition). */
export function editDistance(a: string, b: string): number {
  const A = [...a];
  const B = [...b];
  const d: number[][] = Array.from({ length: A.length + 1 }, (_, i) => Array.from({ length: B.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= A.length; i++) {
    for (let j = 1; j <= B.length; j++) {
      const cost = A[i - 1] === B[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && A[i - 1] === B[j - 2] && A[i - 2] === B[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[A.length]![B.length]!;
}

/** Scores `domain` (the RFC 5322.From domain) at `now`. Never throws for hostile input; reads the vendored confusables.txt on first use. */
export function scoreDomain(domain: string, o: ReputationOptions & { readonly ownDomain?: string }, now: Date): ReputationVerdict {
  const unicode = toUnicodeDomain(domain);
  const trimmed = domain.trim().toLowerCase().replace(/\.$/, '');
  const ascii = domainToASCII(trimmed) || trimmed;
  const known = [...o.knownDomains, ...(o.ownDomain ? [o.ownDomain] : [])].map((k) => k.trim().toLowerCase().replace(/\.$/, ''));
  const knownUnicode = known.map(toUnicodeDomain);
  const reasons: ReputationReason[] = [];
  const isKnown = known.includes(ascii) || known.includes(trimmed) || knownUnicode.includes(unicode);
  if (!isKnown) {
    const registry = new Map(Object.entries(o.domainRegistry).map(([k, v]) => [toUnicodeDomain(k), v]));
    const created = registry.get(unicode);
    if (created === undefined) reasons.push({ rule: 'unknown-age', points: REPUTATION_POINTS['unknown-age'], detail: 'no creation date on record' });
    else {
      const t = (created instanceof Date ? created : new Date(created)).getTime();
      const days = Math.floor((now.getTime() - t) / 86_400_000);
      if (!Number.isFinite(days) || days < (o.newDomainDays ?? 30))
        reasons.push({ rule: 'new-domain', points: REPUTATION_POINTS['new-domain'], detail: `registered ${Number.isFinite(days) ? days : '?'} days ago` });
    }
    const sk = skeleton(unicode);
    const homographOf = knownUnicode.find((k) => skeleton(k) === sk);
    if (homographOf !== undefined) reasons.push({ rule: 'homograph', points: REPUTATION_POINTS.homograph, detail: `looks like ${homographOf}` });
    else {
      const max = o.maxEditDistance ?? 2;
      const near = knownUnicode
        .map((k) => ({ k, d: editDistance(unicode, k) }))
        .filter((x) => x.d > 0 && x.d <= max)
        .sort((a, b) => a.d - b.d)[0];
      if (near) reasons.push({ rule: 'near-miss', points: REPUTATION_POINTS['near-miss'], detail: `${near.d} edits from ${near.k}` });
    }
    // Details carry no ";", "(", ")" or ",": reputationHeader() uses them as separators.
    const labels = unicode.split('.');
    for (const label of labels) {
      const level = restrictionLevel(label);
      if (level === 'moderately-restrictive' || level === 'minimally-restrictive') {
        reasons.push({
          rule: 'mixed-script',
          points: REPUTATION_POINTS['mixed-script'],
          detail: `label "${label}" mixes ${scriptsOf(label).join('+')}: ${level.replace('-', ' ')} under UTS #39 §5.2`,
        });
        break;
      }
    }
    for (const label of labels) {
      const reading = latinWholeScriptConfusable(label);
      if (reading !== undefined) {
        reasons.push({
          rule: 'whole-script',
          points: REPUTATION_POINTS['whole-script'],
          detail: `label "${label}" in ${scriptsOf(label).join('+')} reads as "${reading}": whole-script confusable under UTS #39 §4`,
        });
        break;
      }
    }
  }
  const score = reasons.reduce((s, r) => s + r.points, 0);
  return { domain: ascii, unicode, score, verdict: score >= (o.threshold ?? 50) ? 'flag' : 'ok', reasons };
}

/** The header value MTA-in adds for a flagged mail: `suspicious; score=90; reasons=homograph(looks like org-a.example), new-domain(...)`. */
export function reputationHeader(v: ReputationVerdict): string {
  const reasons = v.reasons.map((r) => `${r.rule}(${r.detail.replace(/[\r\n;()]/g, ' ')})`).join(', ');
  return `${v.verdict === 'flag' ? 'suspicious' : 'ok'}; domain=${v.domain}; score=${v.score}; reasons=${reasons || 'none'}`;
}
