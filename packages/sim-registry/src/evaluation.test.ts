import { describe, expect, it } from 'vitest';
import { classifyResponse } from './incident-intake.js';
import { DEFAULT_EVALUATION_POLICY, ENROLMENT_CRITERIA, evaluateEnrolment, isAttributable, reevaluate, type ReevaluationFacts } from './evaluation.js';
import { goodEvaluation } from './testing/fixtures.js';
import type { IncidentCase } from './types.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const day = (d: number) => new Date(NOW.getTime() + d * 86_400_000).toISOString();

function kase(id: string, receivedDay: number, outcome: IncidentCase['outcome'], state: IncidentCase['state'] = 'responded'): IncidentCase {
  return {
    caseId: id,
    reporterOrgId: 'org-b',
    senderOrgId: 'org-a',
    messageId: `<${id}>`,
    senderCertificateSerial: '01',
    evidence: { summary: 's' },
    receivedAt: day(receivedDay),
    responseDue: day(receivedDay + 14),
    state,
    outcome,
  };
}

const CONTROLLED = [{ domain: 'a.example', verified: true, detail: 'TXT _ssmax-challenge.a.example carries the token.' }];

const base: ReevaluationFacts = {
  status: 'admitted',
  statusSince: day(-300),
  slateStart: day(-300),
  cases: [],
  latestAudit: { date: day(-30).slice(0, 10), auditor: 'A', findings: [] },
  now: NOW,
};

describe('ENROLMENT_CRITERIA', () => {
  it('has unique ids and a reason for every criterion', () => {
    const ids = ENROLMENT_CRITERIA.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of ENROLMENT_CRITERIA) expect(c.reason.length).toBeGreaterThan(20);
  });

  it('fails only E5 when identity proofing is a card without PIN', () => {
    const r = evaluateEnrolment({
      mode: 'org',
      domains: ['a.example'],
      evaluation: { ...goodEvaluation(NOW), identityProofing: 'employee-card' },
      claimedDomains: [],
      keysDistinct: true,
      domainControl: CONTROLLED,
      now: NOW,
    });
    expect(r.filter((x) => !x.passed).map((x) => x.id)).toEqual(['E5-identity-proofing']);
  });

  it('fails E6 when the audit is dated in the future or more than 365 days ago, and passes at exactly 365', () => {
    const at = (d: number) => ({ ...goodEvaluation(NOW), lastAudit: { date: day(d).slice(0, 10), auditor: 'A', findings: [] } });
    const failed = (d: number) =>
      evaluateEnrolment({ mode: 'esp', domains: ['a.example'], evaluation: at(d), claimedDomains: [], keysDistinct: true, domainControl: CONTROLLED, now: NOW })
        .filter((x) => !x.passed)
        .map((x) => x.id);
    expect(failed(-365)).toEqual([]);
    expect(failed(-366)).toEqual(['E6-audit-current']);
    expect(failed(2)).toEqual(['E6-audit-current']);
  });

  it('fails only E11, naming the domain and what DNS held, when a domain has no verified finding', () => {
    const facts = {
      mode: 'org' as const,
      domains: ['a.example', 'b.example'],
      evaluation: goodEvaluation(NOW),
      claimedDomains: [],
      keysDistinct: true,
      now: NOW,
    };
    const r = evaluateEnrolment({
      ...facts,
      domainControl: [...CONTROLLED, { domain: 'b.example', verified: false, detail: 'no TXT record at _ssmax-challenge.b.example (ENOTFOUND).' }],
    });
    expect(r.filter((x) => !x.passed).map((x) => x.id)).toEqual(['E11-domain-control']);
    expect(r.find((x) => x.id === 'E11-domain-control')!.reason).toMatch(/b\.example: no TXT record at _ssmax-challenge\.b\.example/);
    // A domain with no finding at all is not controlled either.
    expect(
      evaluateEnrolment({ ...facts, domainControl: CONTROLLED })
        .filter((x) => !x.passed)
        .map((x) => x.id),
    ).toEqual(['E11-domain-control']);
    expect(evaluateEnrolment({ ...facts, domainControl: 'not-checked' }).filter((x) => !x.passed)).toEqual([]);
  });

  it('fails E10 when two of the three keys are the same', () => {
    const r = evaluateEnrolment({
      mode: 'org',
      domains: ['a.example'],
      evaluation: goodEvaluation(NOW),
      claimedDomains: [],
      keysDistinct: false,
      domainControl: CONTROLLED,
      now: NOW,
    });
    expect(r.filter((x) => !x.passed).map((x) => x.id)).toEqual(['E10-keys-distinct']);
  });
});

describe('reevaluate', () => {
  it('keeps an org admitted with one attributable case and suspends it at the documented threshold of two', () => {
    expect(DEFAULT_EVALUATION_POLICY.suspendAfterAttributableCases).toBe(2);
    expect(reevaluate({ ...base, cases: [kase('c1', -10, 'confirmed-attributable')] }).kind).toBe('no-change');
    expect(reevaluate({ ...base, cases: [kase('c1', -10, 'confirmed-attributable'), kase('c2', -5, 'confirmed-attributable')] }).kind).toBe('suspend');
  });

  it('revokes at four attributable cases even when suspended', () => {
    const cases = [1, 2, 3, 4].map((i) => kase(`c${i}`, -20 + i, 'confirmed-attributable'));
    expect(reevaluate({ ...base, status: 'suspended', statusSince: day(-17), cases }).kind).toBe('revoke');
  });

  it('ignores disputed and traced-and-revoked cases, cases before the slate and cases outside the window', () => {
    const cases = [
      kase('d', -10, 'disputed'),
      kase('n', -9, 'confirmed-not-attributable'),
      kase('old', -400, 'confirmed-attributable'),
      kase('before-slate', -50, 'confirmed-attributable'),
    ];
    expect(reevaluate({ ...base, slateStart: day(-40), cases }).kind).toBe('no-change');
  });

  it('counts an unanswered case once it is past its due date', () => {
    const overdue = kase('o', -20, 'pending', 'awaiting-response');
    const pending = kase('p', -3, 'pending', 'awaiting-response');
    expect(isAttributable(overdue, NOW)).toBe(true);
    expect(isAttributable(pending, NOW)).toBe(false);
    expect(reevaluate({ ...base, cases: [overdue, kase('c', -5, 'confirmed-attributable')] }).kind).toBe('suspend');
  });

  it('suspends on an open critical finding or an audit older than 12 months', () => {
    const crit = { ...base.latestAudit!, findings: [{ id: 'F', severity: 'critical' as const, open: true, summary: 'x' }] };
    expect(reevaluate({ ...base, latestAudit: crit }).kind).toBe('suspend');
    expect(reevaluate({ ...base, latestAudit: { ...base.latestAudit!, date: day(-400).slice(0, 10) } }).kind).toBe('suspend');
    const closed = { ...crit, findings: [{ ...crit.findings[0]!, open: false }] };
    expect(reevaluate({ ...base, latestAudit: closed }).kind).toBe('no-change');
  });

  it('reinstates a suspended org only after a clean audit dated after the suspension and with no case awaiting a response', () => {
    const suspended = {
      ...base,
      status: 'suspended' as const,
      statusSince: day(-10),
      cases: [kase('c1', -20, 'confirmed-attributable'), kase('c2', -12, 'confirmed-attributable')],
    };
    expect(reevaluate(suspended).kind).toBe('no-change');
    const fresh = { date: day(-1).slice(0, 10), auditor: 'A', findings: [] };
    expect(reevaluate({ ...suspended, latestAudit: fresh }).kind).toBe('reinstate');
    expect(reevaluate({ ...suspended, latestAudit: fresh, cases: [...suspended.cases, kase('w', -2, 'pending', 'awaiting-response')] }).kind).toBe('no-change');
  });

  it('never changes a revoked org', () => {
    expect(reevaluate({ ...base, status: 'revoked' }).kind).toBe('no-change');
  });
});

describe('classifyResponse', () => {
  it('counts a malicious sender against the org unless the sender was identified and revoked', () => {
    expect(classifyResponse({ rootCause: 'malicious-sender', correctiveActions: ['disciplinary-action'] })).toBe('confirmed-attributable');
    expect(classifyResponse({ rootCause: 'malicious-sender', correctiveActions: ['sender-identified-and-revoked'] })).toBe('confirmed-not-attributable');
    expect(classifyResponse({ rootCause: 'client-takeover', correctiveActions: ['sender-identified-and-revoked'] })).toBe('confirmed-not-attributable');
    expect(classifyResponse({ rootCause: 'operation-fault', correctiveActions: ['sender-identified-and-revoked', 'operation-fixed'] })).toBe(
      'confirmed-attributable',
    );
    expect(classifyResponse({ rootCause: 'not-malicious', correctiveActions: ['none'] })).toBe('disputed');
  });
});
