/**
 * Procedure (12): a receiving org reports a malicious mail to the registry; the registry records a case,
 * notifies the sending org (outbox + optional callback), takes the sending org's root-cause and
 * corrective-action response, classifies the outcome and feeds it to re-evaluation (13).
 * Every submission is CMS SignedData by a registry-issued certificate of the submitting org; the
 * certificates inside the CMS are ignored, the registry's own copies are the only candidates.
 */
import { newId, type RegistryContext } from './context.js';
import { asArray, asBase64, asDate, asEnum, asObject, asString, bad, HttpError } from './http.js';
import type { Reevaluation } from './reevaluation.js';
import type { CaseOutcome, CorrectiveAction, Decision, IncidentCase, IncidentReport, IncidentResponse, RootCause } from './types.js';

const ROOT_CAUSES: readonly RootCause[] = ['operation-fault', 'malicious-sender', 'client-takeover', 'not-malicious'];
const ACTIONS: readonly CorrectiveAction[] = ['sender-identified-and-revoked', 'operation-fixed', 'disciplinary-action', 'police-cooperation', 'none'];

/** Delivers a notification to an org's callback URL; resolves true when the org accepted it (2xx). */
export type Notifier = (url: string, body: unknown) => Promise<boolean>;

/** Default notifier: POST JSON, loopback destinations only (the test bed never sends traffic elsewhere). */
export const loopbackNotifier: Notifier = async (url, body) => {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) return false;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.ok;
};

/**
 * How a response decides the case outcome (documented in the README):
 * `not-malicious` → disputed (not counted); `operation-fault` → confirmed-attributable;
 * `malicious-sender` / `client-takeover` → confirmed-not-attributable only when the sender was identified
 * and their certificate revoked (traceability worked, mechanism 4), otherwise confirmed-attributable.
 */
export function classifyResponse(r: Pick<IncidentResponse, 'rootCause' | 'correctiveActions'>): CaseOutcome {
  if (r.rootCause === 'not-malicious') return 'disputed';
  if (r.rootCause === 'operation-fault') return 'confirmed-attributable';
  return r.correctiveActions.includes('sender-identified-and-revoked') ? 'confirmed-not-attributable' : 'confirmed-attributable';
}

export interface VerifiedSubmission {
  readonly orgId: string;
  readonly content: unknown;
  readonly cms: Uint8Array;
}

/**
 * Verifies a `{ cms }` body against the registry-issued certificates of `orgIds` (non-revoked orgs only)
 * and parses the eContent as JSON. Throws BAD_SIGNATURE with the verifier's reason.
 */
export async function verifySubmission(ctx: RegistryContext, body: unknown, orgIds: readonly string[], what: string): Promise<VerifiedSubmission> {
  const cms = asBase64(asObject(body, 'body')['cms'], 'cms', 256 * 1024);
  const owner = new Map<string, string>();
  const candidates: Uint8Array[] = [];
  for (const id of orgIds) {
    const org = ctx.store.getOrg(id);
    if (!org || org.status === 'revoked') continue;
    // Submissions are signed with the org's KMS signing key; the org CA key only certifies (keyCertSign).
    for (const c of ctx.store.orgCertificates(id)) {
      if (c.profile !== 'kms-signing') continue;
      candidates.push(c.der);
      owner.set(Buffer.from(c.der).toString('base64'), id);
    }
  }
  if (candidates.length === 0) throw new HttpError('ORG_NOT_ACTIVE', `Cannot accept the ${what}. The submitting org is not an active member.`);
  const outcome = ctx.pki.verifyData(cms, candidates);
  if (!outcome.ok) throw new HttpError('BAD_SIGNATURE', `Cannot accept the ${what}. ${outcome.reason}`);
  let content: unknown;
  try {
    content = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(outcome.content)) as unknown;
  } catch (cause) {
    throw new HttpError('MALFORMED_REQUEST', `Cannot accept the ${what}. The signed content is not UTF-8 JSON.`, { cause });
  }
  const orgId = owner.get(Buffer.from(outcome.signerCertificate).toString('base64'));
  if (!orgId) throw new HttpError('BAD_SIGNATURE', `Cannot accept the ${what}. The signer is not a member certificate.`);
  // The KMS certificate was validated at registration; check it is still within its validity now.
  const orgCert = ctx.store
    .orgCertificates(orgId)
    .filter((c) => c.profile === 'org-ca')
    .at(-1)?.der;
  const still = orgCert
    ? ctx.pki.validateKms({
        certificate: outcome.signerCertificate,
        purpose: 'signing',
        orgCertificate: orgCert,
        rootCertificate: ctx.rootCertificate,
        time: ctx.clock(),
      })
    : { ok: false as const, reason: 'The org has no certificate.' };
  if (!still.ok) throw new HttpError('BAD_SIGNATURE', `Cannot accept the ${what}. ${still.reason}`);
  return { orgId, content, cms };
}

function parseReport(v: unknown): IncidentReport {
  const o = asObject(v, 'report');
  if (o['type'] !== 'ssmax-incident-report') throw bad('report.type', 'must be "ssmax-incident-report"');
  const ev = asObject(o['evidence'], 'report.evidence');
  const serial = asString(o['senderCertificateSerial'], 'report.senderCertificateSerial', 64);
  if (!/^[0-9a-fA-F]+$/.test(serial)) throw bad('report.senderCertificateSerial', 'must be hex');
  const sha = ev['sha256'] === undefined ? undefined : asString(ev['sha256'], 'report.evidence.sha256', 64);
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) throw bad('report.evidence.sha256', 'must be 64 lowercase hex digits');
  return {
    type: 'ssmax-incident-report',
    reporterOrgId: asString(o['reporterOrgId'], 'report.reporterOrgId', 64),
    messageId: asString(o['messageId'], 'report.messageId', 998),
    senderOrgId: asString(o['senderOrgId'], 'report.senderOrgId', 64),
    senderCertificateSerial: serial.toLowerCase(),
    evidence: {
      summary: asString(ev['summary'], 'report.evidence.summary', 4000),
      ...(ev['pattern'] === undefined ? {} : { pattern: asEnum(ev['pattern'], 'report.evidence.pattern', ['A', 'B', 'C'] as const) }),
      ...(sha === undefined ? {} : { sha256: sha }),
    },
    reportedAt: asDate(o['reportedAt'], 'report.reportedAt'),
  };
}

function parseResponse(v: unknown): IncidentResponse {
  const o = asObject(v, 'response');
  if (o['type'] !== 'ssmax-incident-response') throw bad('response.type', 'must be "ssmax-incident-response"');
  const actions = asArray(o['correctiveActions'], 'response.correctiveActions', 8).map((a, i) => asEnum(a, `response.correctiveActions[${i}]`, ACTIONS));
  return {
    type: 'ssmax-incident-response',
    caseId: asString(o['caseId'], 'response.caseId', 64),
    orgId: asString(o['orgId'], 'response.orgId', 64),
    rootCause: asEnum(o['rootCause'], 'response.rootCause', ROOT_CAUSES),
    correctiveActions: actions,
    summary: asString(o['summary'], 'response.summary', 4000),
    respondedAt: asDate(o['respondedAt'], 'response.respondedAt'),
  };
}

export class IncidentIntake {
  constructor(
    private readonly ctx: RegistryContext,
    private readonly reevaluation: Reevaluation,
    private readonly notifier: Notifier,
    private readonly publicUrl: () => string,
  ) {}

  /** Records a report; returns the case and whether it is new (an identical resubmission returns the existing case). */
  async report(body: unknown): Promise<{ case: IncidentCase; created: boolean }> {
    const { store } = this.ctx;
    const active = store
      .listOrgs()
      .filter((o) => o.status !== 'revoked')
      .map((o) => o.orgId);
    const sub = await verifySubmission(this.ctx, body, active, 'incident report');
    const report = parseReport(sub.content);
    if (report.reporterOrgId !== sub.orgId) {
      throw new HttpError('BAD_SIGNATURE', `Cannot accept the incident report. It names reporter ${report.reporterOrgId} but is signed by ${sub.orgId}.`);
    }
    if (report.senderOrgId === report.reporterOrgId) throw bad('report.senderOrgId', 'must differ from the reporter');
    if (!store.getOrg(report.senderOrgId))
      throw new HttpError('UNKNOWN_ORG', `Cannot accept the incident report. Sender org ${report.senderOrgId} is not enrolled.`);
    const existing = store.findCaseByMessage(report.reporterOrgId, report.messageId);
    if (existing) return { case: existing, created: false };

    const now = this.ctx.clock();
    const c: IncidentCase = {
      caseId: newId('case', this.ctx.random),
      reporterOrgId: report.reporterOrgId,
      senderOrgId: report.senderOrgId,
      messageId: report.messageId,
      senderCertificateSerial: report.senderCertificateSerial,
      evidence: report.evidence,
      receivedAt: now.toISOString(),
      responseDue: new Date(now.getTime() + this.ctx.policy.responseDueDays * 86_400_000).toISOString(),
      state: 'awaiting-response',
      outcome: 'pending',
    };
    // Procedure (12): the registry asks the sending org for root cause and corrective action.
    const notice = {
      type: 'ssmax-incident-notice',
      caseId: c.caseId,
      senderOrgId: c.senderOrgId,
      reporterOrgId: c.reporterOrgId,
      messageId: c.messageId,
      senderCertificateSerial: c.senderCertificateSerial,
      evidence: c.evidence,
      responseDue: c.responseDue,
      responseUrl: `${this.publicUrl()}/v1/incidents/${c.caseId}/response`,
    };
    const outboxId = store.transaction(() => {
      store.insertCase(c, sub.cms);
      return store.insertOutbox(c.senderOrgId, c.caseId, 'incident-notice', notice, c.receivedAt);
    });
    this.ctx.log(`case ${c.caseId}: ${c.reporterOrgId} reports ${c.messageId} from ${c.senderOrgId}`);
    const cb = store.getOrg(c.senderOrgId)?.callbackUrl;
    if (cb) await this.deliver(outboxId, cb, notice);
    return { case: c, created: true };
  }

  private async deliver(outboxId: number, url: string, notice: unknown): Promise<void> {
    let ok = false;
    try {
      ok = await this.notifier(url, notice);
    } catch (e) {
      this.ctx.log(`outbox ${outboxId}: delivery to ${url} failed (${(e as Error).message})`);
    }
    this.ctx.store.markOutbox(outboxId, ok ? this.ctx.clock().toISOString() : null);
  }

  /** Takes the sending org's response, classifies the outcome and re-evaluates the org. */
  async respond(caseId: string, body: unknown): Promise<{ case: IncidentCase; decision: Decision }> {
    const { store } = this.ctx;
    const c = store.getCase(caseId);
    if (!c) throw new HttpError('NOT_FOUND', `Cannot record a response. No case ${caseId}.`);
    const sub = await verifySubmission(this.ctx, body, [c.senderOrgId], 'incident response');
    const response = parseResponse(sub.content);
    if (response.caseId !== caseId || response.orgId !== c.senderOrgId) {
      throw bad('response', `must name case ${caseId} and org ${c.senderOrgId}`);
    }
    if (c.state !== 'awaiting-response') throw new HttpError('CONFLICT', `Cannot record a response. Case ${caseId} already has one.`);
    const outcome = classifyResponse(response);
    store.setCaseResponse(caseId, response, sub.cms, this.ctx.clock().toISOString(), outcome);
    this.ctx.log(`case ${caseId}: ${c.senderOrgId} responded ${response.rootCause} → ${outcome}`);
    const decision = this.reevaluation.run(c.senderOrgId, `case:${caseId}`);
    return { case: store.getCase(caseId)!, decision };
  }
}
