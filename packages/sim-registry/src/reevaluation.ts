import type { RegistryContext } from './context.js';
import { reevaluate } from './evaluation.js';
import { HttpError } from './http.js';
import type { CriterionResult, Decision, DecisionKind } from './types.js';

/** RFC 5280 §5.3.1 CRLReason privilegeWithdrawn: a revoked org has lost its membership. */
export const CRL_REASON_PRIVILEGE_WITHDRAWN = 9;

/**
 * Procedure (13) after admission: reads an org's incident and audit history from the store, applies
 * {@link reevaluate}, and records the decision (with its reasons and trigger) and the status change in
 * one transaction. Revocation also marks the org's certificates revoked, which puts them on the CRL.
 */
export class Reevaluation {
  constructor(private readonly ctx: RegistryContext) {}

  run(orgId: string, trigger: string): Decision {
    const { store } = this.ctx;
    const org = store.getOrg(orgId);
    if (!org) throw new HttpError('UNKNOWN_ORG', `Cannot re-evaluate ${orgId}. No such org is enrolled.`);
    const now = this.ctx.clock();
    const outcome = reevaluate(
      {
        status: org.status,
        statusSince: org.statusSince,
        slateStart: org.reinstatedAt ?? org.admittedAt,
        cases: store.casesAgainst(orgId),
        latestAudit: store.latestAudit(orgId)?.audit ?? null,
        now,
      },
      this.ctx.policy,
    );
    return this.apply(orgId, outcome.kind, outcome.results, trigger);
  }

  /** Records a decision and applies its status change. Used by {@link run} and by operator decisions. */
  apply(orgId: string, kind: DecisionKind, reasons: readonly CriterionResult[], trigger: string): Decision {
    const { store } = this.ctx;
    const at = this.ctx.clock().toISOString();
    const decision = store.transaction(() => {
      const org = store.getOrg(orgId);
      if (!org) throw new HttpError('UNKNOWN_ORG', `Cannot decide on ${orgId}. No such org is enrolled.`);
      if (org.status === 'revoked' && kind !== 'no-change') {
        throw new HttpError('CONFLICT', `Cannot ${kind} ${orgId}. The org is revoked; revocation is final.`);
      }
      if (kind === 'suspend') store.setOrgStatus(orgId, 'suspended', at);
      if (kind === 'reinstate') {
        if (org.status !== 'suspended') throw new HttpError('CONFLICT', `Cannot reinstate ${orgId}. It is ${org.status}, not suspended.`);
        store.setOrgStatus(orgId, 'admitted', at);
      }
      if (kind === 'revoke') {
        store.setOrgStatus(orgId, 'revoked', at);
        store.revokeOrgCertificates(orgId, at, CRL_REASON_PRIVILEGE_WITHDRAWN);
      }
      if (kind !== 'no-change') store.nextCounter('state');
      const d = { orgId, applicationId: null, kind, at, trigger, reasons };
      return { id: store.insertDecision(d), ...d };
    });
    if (kind !== 'no-change') this.ctx.log(`decision ${decision.id}: ${kind} ${orgId} (${trigger})`);
    return decision;
  }
}
