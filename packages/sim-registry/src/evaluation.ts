/**
 * Procedure (13): the registry's documented evaluation criteria, as data. Each criterion has a stable
 * id, the reason it exists, and a pure check; a refusal names the ids that failed. Re-evaluation rules
 * likewise, over the stored incident and audit history. Nothing here does I/O, so the same facts and
 * the same clock always give the same decision.
 */
import type { AuditReport, CriterionResult, EvaluationData, IdentityProofingMethod, IncidentCase, OrgMode, OrgStatus } from './types.js';

const DAY_MS = 86_400_000;

/** Policy numbers, in one place so the README and the tests quote the same values. */
export interface EvaluationPolicy {
  /** An audit older than this many days does not count as current (12 months). */
  readonly auditMaxAgeDays: number;
  /** Confirmed cases attributable to the org, within the window, that suspend it. */
  readonly suspendAfterAttributableCases: number;
  /** Confirmed cases attributable to the org, within the window, that revoke it. */
  readonly revokeAfterAttributableCases: number;
  readonly incidentWindowDays: number;
  /** Days the sending org has to answer a case before it counts as overdue (and attributable). */
  readonly responseDueDays: number;
  /** Hours a domain-control challenge stays usable after it was issued (procedure (1)). */
  readonly challengeValidityHours: number;
}

export const DEFAULT_EVALUATION_POLICY: EvaluationPolicy = Object.freeze({
  auditMaxAgeDays: 365,
  suspendAfterAttributableCases: 2,
  revokeAfterAttributableCases: 4,
  incidentWindowDays: 365,
  responseDueDays: 14,
  challengeValidityHours: 24,
});

/** Identity-proofing methods strong enough for SSMAX: card possession + PIN, linked to My Number (paper §4 (2)). */
export const ACCEPTED_PROOFING: readonly IdentityProofingMethod[] = ['my-number-card+pin', 'employee-card+pin'];

/** What the registry found in DNS for one domain of an application (domain-control.ts). */
export interface DomainControlFinding {
  readonly domain: string;
  /** A matching, unexpired, unused token bound to the applicant's org CA key was published for the domain. */
  readonly verified: boolean;
  /** What was checked and found, for the refusal (the TXT name, the challenge, the records seen). */
  readonly detail: string;
}

export interface EnrolmentFacts {
  readonly mode: OrgMode;
  readonly domains: readonly string[];
  readonly evaluation: EvaluationData;
  /** Domains of the application already held by another org that is not revoked. */
  readonly claimedDomains: readonly string[];
  /** True when the org CA, KMS signing and KMS encryption keys are three different keys. */
  readonly keysDistinct: boolean;
  /**
   * One finding per domain of the application, or 'not-checked' when the registry runs with domain
   * control switched off (falsifiability runs only).
   */
  readonly domainControl: readonly DomainControlFinding[] | 'not-checked';
  readonly now: Date;
}

export interface EnrolmentCriterion {
  readonly id: string;
  readonly title: string;
  /** Why the registry requires it (quoted in every refusal). */
  readonly reason: string;
  readonly appliesTo: readonly OrgMode[];
  readonly check: (f: EnrolmentFacts, policy: EvaluationPolicy) => boolean;
  /** What this application showed for the criterion, appended to the reason (e.g. what DNS held). */
  readonly detail?: (f: EnrolmentFacts) => string;
}

function auditAgeDays(audit: AuditReport, now: Date): number {
  const t = Date.parse(`${audit.date}T00:00:00Z`);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : (now.getTime() - t) / DAY_MS;
}

function openCritical(audit: AuditReport): boolean {
  return audit.findings.some((f) => f.open && f.severity === 'critical');
}

/** The enrolment criteria of procedure (1)/(13). Order is the order of the report. */
export const ENROLMENT_CRITERIA: readonly EnrolmentCriterion[] = Object.freeze([
  {
    id: 'E1-isms',
    title: 'ISMS certification is current',
    reason: 'The SSMAX operation items are audited as part of the org information-security audit (paper §6 (13)); that needs a certified ISMS.',
    appliesTo: ['org', 'esp'],
    check: (f) => f.evaluation.ismsCertified,
  },
  {
    id: 'E2-outbound-inspection',
    title: 'Outbound inspection server present',
    reason: 'Procedure (5): an org inspects outbound mail for leaks of confidential data. ESPs do not inspect (privacy).',
    appliesTo: ['org'],
    check: (f) => f.evaluation.outboundInspection,
  },
  {
    id: 'E3-inbound-inspection',
    title: 'Inbound inspection server present',
    reason: 'Procedure (8): an org inspects inbound mail for malware. ESPs do not inspect (privacy).',
    appliesTo: ['org'],
    check: (f) => f.evaluation.inboundInspection,
  },
  {
    id: 'E4-kms-hsm',
    title: 'KMS keys on an HSM',
    reason: 'The KMS keys sign and re-encrypt for the whole org (procedures (6)/(9)); a copied key would let anyone speak for it.',
    appliesTo: ['org', 'esp'],
    check: (f) => f.evaluation.kmsOnHsm,
  },
  {
    id: 'E5-identity-proofing',
    title: 'Users are proved with a card + PIN linked to My Number',
    reason: 'Procedure (2) and mechanism 2: address certificates only after an ID-card check, keys on the card, two-factor use.',
    appliesTo: ['org', 'esp'],
    check: (f) => ACCEPTED_PROOFING.includes(f.evaluation.identityProofing),
  },
  {
    id: 'E6-audit-current',
    title: 'Audit within the last 12 months',
    reason: 'The registry relies on the audit report for the SSMAX operation items (paper §6 (13)); a stale audit says nothing about today.',
    appliesTo: ['org', 'esp'],
    check: (f, p) => {
      const age = auditAgeDays(f.evaluation.lastAudit, f.now);
      return age >= 0 && age <= p.auditMaxAgeDays;
    },
  },
  {
    id: 'E7-no-open-critical-findings',
    title: 'No open critical audit findings',
    reason: 'An open critical finding means the org does not yet meet the SSMAX operating standard it must comply with (procedure (1)).',
    appliesTo: ['org', 'esp'],
    check: (f) => !openCritical(f.evaluation.lastAudit),
  },
  {
    id: 'E8-incident-contact',
    title: 'Incident response contact given',
    reason: 'Procedure (12): the registry must be able to ask the sending org for root cause and correction.',
    appliesTo: ['org', 'esp'],
    check: (f) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(f.evaluation.incidentContact),
  },
  {
    id: 'E9-domains-unclaimed',
    title: 'Mail domains not held by another member',
    reason: 'Receivers map a From domain to exactly one org certificate (mechanism 3); two holders would make that ambiguous.',
    appliesTo: ['org', 'esp'],
    check: (f) => f.claimedDomains.length === 0,
  },
  {
    id: 'E10-keys-distinct',
    title: 'Org CA, KMS signing and KMS encryption keys are distinct',
    reason: 'Separate keys keep certificate issuance, org signatures and decryption independent (RFC 5280 §4.2.1.3 key usage separation).',
    appliesTo: ['org', 'esp'],
    check: (f) => f.keysDistinct,
  },
  {
    id: 'E11-domain-control',
    title: 'The applicant controls each mail domain',
    reason:
      "Receivers take a member's domains as the ones it speaks for (mechanism 3), so the registry admits a domain only for an applicant that published, in that domain's DNS, a TXT record carrying a registry token bound to its org CA key (the ACME dns-01 check, RFC 8555 §8.4).",
    appliesTo: ['org', 'esp'],
    check: (f) =>
      f.domainControl === 'not-checked' ||
      f.domains.every((d) => (f.domainControl as readonly DomainControlFinding[]).some((x) => x.domain === d && x.verified)),
    detail: (f) =>
      f.domainControl === 'not-checked' ? 'Not checked: domain control is switched off.' : f.domainControl.map((d) => `${d.domain}: ${d.detail}`).join(' '),
  },
] satisfies EnrolmentCriterion[]);

/** Applies every criterion that applies to the mode; returns all results (passed and failed). */
export function evaluateEnrolment(f: EnrolmentFacts, policy: EvaluationPolicy = DEFAULT_EVALUATION_POLICY): CriterionResult[] {
  return ENROLMENT_CRITERIA.filter((c) => c.appliesTo.includes(f.mode)).map((c: EnrolmentCriterion) => ({
    id: c.id,
    passed: c.check(f, policy),
    reason: `${c.title}. ${c.reason}${c.detail ? ` ${c.detail(f)}` : ''}`,
  }));
}

/** Whether a case counts against the sending org at `now` (documented in the README, "Re-evaluation"). */
export function isAttributable(c: IncidentCase, now: Date): boolean {
  if (c.outcome === 'confirmed-attributable') return true;
  // An unanswered case past its due date counts: the org did not trace its sender (mechanism 4).
  return c.state === 'awaiting-response' && now.getTime() > Date.parse(c.responseDue);
}

export interface ReevaluationFacts {
  readonly status: OrgStatus;
  readonly statusSince: string;
  /** Start of the slate: admission or the last reinstatement. Earlier cases were already judged. */
  readonly slateStart: string;
  readonly cases: readonly IncidentCase[];
  readonly latestAudit: AuditReport | null;
  readonly now: Date;
}

export interface ReevaluationOutcome {
  readonly kind: 'suspend' | 'revoke' | 'reinstate' | 'no-change';
  readonly results: readonly CriterionResult[];
}

/**
 * Procedure (13) re-evaluation. Rules, in order:
 * R1 revoke when attributable cases in the window (since the slate start) reach the revoke threshold;
 * R2 suspend when they reach the suspend threshold (for a suspended org: cases since the suspension); R3 suspend on an open critical audit finding;
 * R4 suspend when the latest audit is older than 12 months; R5 reinstate a suspended org when R1–R4 all
 * pass, no case against it awaits a response, and its latest audit is dated after the suspension.
 * A revoked org stays revoked (it may apply again as a new member).
 */
export function reevaluate(f: ReevaluationFacts, policy: EvaluationPolicy = DEFAULT_EVALUATION_POLICY): ReevaluationOutcome {
  if (f.status === 'revoked') {
    return { kind: 'no-change', results: [{ id: 'R0-revoked-final', passed: false, reason: 'The org is revoked; revocation is final.' }] };
  }
  const windowStart = Math.max(f.now.getTime() - policy.incidentWindowDays * DAY_MS, Date.parse(f.slateStart));
  const counted = f.cases.filter((c) => Date.parse(c.receivedAt) >= windowStart && isAttributable(c, f.now));
  const n = counted.length;
  const ids = counted.map((c) => c.caseId).join(', ') || 'none';
  // While suspended, R2 looks only at cases received after the suspension: the earlier ones caused it.
  const recent = f.status === 'suspended' ? counted.filter((c) => Date.parse(c.receivedAt) >= Date.parse(f.statusSince)) : counted;
  const m = recent.length;
  const recentIds = recent.map((c) => c.caseId).join(', ') || 'none';
  const results: CriterionResult[] = [
    {
      id: 'R1-incidents-revoke',
      passed: n < policy.revokeAfterAttributableCases,
      reason: `${n} attributable confirmed case(s) in the window (revoke at ${policy.revokeAfterAttributableCases}): ${ids}.`,
    },
    {
      id: 'R2-incidents-suspend',
      passed: m < policy.suspendAfterAttributableCases,
      reason: `${m} attributable confirmed case(s) ${f.status === 'suspended' ? 'since the suspension' : 'in the window'} (suspend at ${policy.suspendAfterAttributableCases}): ${recentIds}.`,
    },
    {
      id: 'R3-audit-critical',
      passed: f.latestAudit !== null && !openCritical(f.latestAudit),
      reason:
        f.latestAudit === null
          ? 'No audit on file.'
          : `Latest audit ${f.latestAudit.date}: ${openCritical(f.latestAudit) ? 'open critical finding(s)' : 'no open critical findings'}.`,
    },
    {
      id: 'R4-audit-current',
      passed: f.latestAudit !== null && auditAgeDays(f.latestAudit, f.now) <= policy.auditMaxAgeDays,
      reason: f.latestAudit === null ? 'No audit on file.' : `Latest audit dated ${f.latestAudit.date} (max age ${policy.auditMaxAgeDays} days).`,
    },
  ];
  const byId = (id: string): boolean => results.find((r) => r.id === id)?.passed ?? false;
  if (!byId('R1-incidents-revoke')) return { kind: 'revoke', results };
  if (!byId('R2-incidents-suspend') || !byId('R3-audit-critical') || !byId('R4-audit-current')) {
    return { kind: f.status === 'suspended' ? 'no-change' : 'suspend', results };
  }
  if (f.status === 'suspended') {
    const awaiting = f.cases.filter((c) => c.state === 'awaiting-response').length;
    const auditAfter = f.latestAudit !== null && Date.parse(`${f.latestAudit.date}T23:59:59Z`) >= Date.parse(f.statusSince);
    const r5: CriterionResult = {
      id: 'R5-reinstate',
      passed: awaiting === 0 && auditAfter,
      reason: `${awaiting} case(s) await a response; latest audit ${auditAfter ? 'is' : 'is not'} dated after the suspension.`,
    };
    return { kind: r5.passed ? 'reinstate' : 'no-change', results: [...results, r5] };
  }
  return { kind: 'no-change', results };
}
