/**
 * Procedure (1): an organisation applies; the registry checks the application is well formed and that
 * the applicant holds the org CA key, looks up its proof of control of each domain in DNS
 * (domain-control.ts), evaluates it against {@link ENROLMENT_CRITERIA} (procedure (13)), and on
 * admission issues, from the registry root key, the org certificate (the org CA key, CA,
 * pathLen 0). The org then issues its two KMS certificates (signing, encryption) under that org CA and
 * registers them ({@link Enrolment.registerKms}); the registry accepts them only if they chain to the
 * org certificate and certify the KMS keys named in the application. Choosing org-issued KMS
 * certificates keeps one certificate profile for the whole test bed (core's issueOrgKmsCertificate:
 * root → org CA → KMS/user) and puts the org's own keys under the org's own control; the registry CRL
 * lists org certificates, and a revoked or held org certificate invalidates everything below it.
 */
import * as crypto from 'node:crypto';
import { canonicalJsonBytes as canonicalBytes } from '@ssmax/core';
import { newId, type RegistryContext } from './context.js';
import { CHALLENGE_ID_RE, DomainControl } from './domain-control.js';
import { ACCEPTED_PROOFING, evaluateEnrolment } from './evaluation.js';
import { asArray, asBase64, asBool, asDate, asEnum, asObject, asString, b64, bad, HttpError } from './http.js';
import type {
  AuditFinding,
  AuditReport,
  DomainChallengeResponse,
  EnrolmentApplication,
  EnrolmentResult,
  EvaluationData,
  IdentityProofingMethod,
} from './types.js';

const PROOFING: readonly IdentityProofingMethod[] = [...ACCEPTED_PROOFING, 'employee-card', 'in-person-document', 'email-only', 'none'];
const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

export function parseAudit(v: unknown, field: string): AuditReport {
  const o = asObject(v, field);
  return {
    date: asDate(o['date'], `${field}.date`),
    auditor: asString(o['auditor'], `${field}.auditor`, 200),
    findings: asArray(o['findings'], `${field}.findings`, 200).map((x, i): AuditFinding => {
      const f = asObject(x, `${field}.findings[${i}]`);
      return {
        id: asString(f['id'], `${field}.findings[${i}].id`, 64),
        severity: asEnum(f['severity'], `${field}.findings[${i}].severity`, ['critical', 'high', 'medium', 'low'] as const),
        open: asBool(f['open'], `${field}.findings[${i}].open`),
        summary: asString(f['summary'], `${field}.findings[${i}].summary`, 1000),
      };
    }),
  };
}

function parseSpki(v: unknown, field: string): { der: Uint8Array; key: crypto.KeyObject } {
  const der = asBase64(v, field, 4096);
  try {
    const key = crypto.createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    const t = key.asymmetricKeyType;
    const d = key.asymmetricKeyDetails ?? {};
    const ok = (t === 'rsa' && (d.modulusLength === 2048 || d.modulusLength === 3072)) || (t === 'ec' && d.namedCurve === 'prime256v1');
    if (!ok) throw bad(field, 'must be an RSA-2048/3072 or EC P-256 key');
    // Re-export so the stored SPKI is the canonical DER, not whatever BER the applicant sent.
    return { der: new Uint8Array(key.export({ format: 'der', type: 'spki' })), key };
  } catch (e) {
    if (e instanceof Error && e.name === 'HttpError') throw e;
    throw bad(field, 'must be a DER SubjectPublicKeyInfo');
  }
}

/** 1-16 distinct mail domains in A-label form, lower-cased. */
function parseDomains(v: unknown): string[] {
  const domains = asArray(v, 'domains', 16).map((d, i) => asString(d, `domains[${i}]`, 253).toLowerCase());
  if (domains.length === 0) throw bad('domains', 'must name at least one mail domain');
  domains.forEach((d, i) => {
    if (!DOMAIN_RE.test(d)) throw bad(`domains[${i}]`, 'must be a DNS domain name in A-label form');
  });
  if (new Set(domains).size !== domains.length) throw bad('domains', 'must not repeat a domain');
  return domains;
}

/** Validates the JSON of an application; throws MALFORMED_REQUEST naming the first bad field. */
export function parseApplication(body: unknown): EnrolmentApplication {
  const o = asObject(body, 'application');
  const domains = parseDomains(o['domains']);
  const domainChallenges =
    o['domainChallenges'] === undefined
      ? undefined
      : asArray(o['domainChallenges'], 'domainChallenges', 16).map((c, i) => {
          if (typeof c !== 'string' || !CHALLENGE_ID_RE.test(c))
            throw bad(`domainChallenges[${i}]`, 'must be a challenge id from POST /v1/enrolment/challenges (chl-<16 hex digits>)');
          return c;
        });
  const keys = asObject(o['keys'], 'keys');
  const ev = asObject(o['evaluation'], 'evaluation');
  const evaluation: EvaluationData = {
    ismsCertified: asBool(ev['ismsCertified'], 'evaluation.ismsCertified'),
    outboundInspection: asBool(ev['outboundInspection'], 'evaluation.outboundInspection'),
    inboundInspection: asBool(ev['inboundInspection'], 'evaluation.inboundInspection'),
    kmsOnHsm: asBool(ev['kmsOnHsm'], 'evaluation.kmsOnHsm'),
    identityProofing: asEnum(ev['identityProofing'], 'evaluation.identityProofing', PROOFING),
    incidentContact: asString(ev['incidentContact'], 'evaluation.incidentContact', 254),
    lastAudit: parseAudit(ev['lastAudit'], 'evaluation.lastAudit'),
  };
  const pop = asObject(o['proofOfPossession'], 'proofOfPossession');
  const callbackUrl = o['callbackUrl'] === undefined ? undefined : asString(o['callbackUrl'], 'callbackUrl', 2048);
  if (callbackUrl !== undefined && !/^https?:\/\//.test(callbackUrl)) throw bad('callbackUrl', 'must be an http(s) URL');
  return {
    name: asString(o['name'], 'name', 200),
    domains,
    mode: asEnum(o['mode'], 'mode', ['org', 'esp'] as const),
    keys: {
      orgCaSpki: b64(parseSpki(keys['orgCaSpki'], 'keys.orgCaSpki').der),
      kmsSigningSpki: b64(parseSpki(keys['kmsSigningSpki'], 'keys.kmsSigningSpki').der),
      kmsEncryptionSpki: b64(parseSpki(keys['kmsEncryptionSpki'], 'keys.kmsEncryptionSpki').der),
    },
    evaluation,
    ...(callbackUrl === undefined ? {} : { callbackUrl }),
    ...(domainChallenges === undefined ? {} : { domainChallenges }),
    proofOfPossession: {
      scheme: asEnum(pop['scheme'], 'proofOfPossession.scheme', ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'ECDSA-SHA256'] as const),
      signature: b64(asBase64(pop['signature'], 'proofOfPossession.signature', 1024)),
    },
  };
}

/**
 * The bytes the applicant signs for proof of possession: canonical JSON of the application minus the proof.
 * Takes any JSON object: the registry checks the body as the applicant sent it, not its own normalised copy.
 */
export function popSigningInput(app: Readonly<Record<string, unknown>>): Uint8Array {
  const { proofOfPossession: _drop, ...rest } = app;
  return canonicalBytes(rest);
}

function verifyPop(app: EnrolmentApplication, rawBody: Record<string, unknown>): boolean {
  const key = crypto.createPublicKey({ key: Buffer.from(app.keys.orgCaSpki, 'base64'), format: 'der', type: 'spki' });
  const sig = Buffer.from(app.proofOfPossession.signature, 'base64');
  // The applicant signed what it sent: use the raw body (minus the proof), not our normalised copy.
  const data = popSigningInput(rawBody);
  const scheme = app.proofOfPossession.scheme;
  if (scheme === 'ECDSA-SHA256') return key.asymmetricKeyType === 'ec' && crypto.verify('sha256', data, { key, dsaEncoding: 'der' }, sig);
  if (key.asymmetricKeyType !== 'rsa') return false;
  if (scheme === 'RSASSA-PSS-SHA256') {
    return crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
  }
  return crypto.verify('sha256', data, key, sig);
}

export class Enrolment {
  readonly #domainControl: DomainControl;

  constructor(private readonly ctx: RegistryContext) {
    this.#domainControl = new DomainControl(ctx);
  }

  /** `POST /v1/enrolment/challenges`: one domain-control challenge per domain, bound to `orgCaSpki`. Throws HttpError for malformed input. */
  challenges(body: unknown): DomainChallengeResponse {
    const o = asObject(body, 'request');
    const domains = parseDomains(o['domains']);
    return this.#domainControl.issue(domains, parseSpki(o['orgCaSpki'], 'orgCaSpki').der);
  }

  /** Handles one application (already parsed JSON). Throws HttpError for malformed input or a bad proof. */
  async apply(body: unknown): Promise<EnrolmentResult> {
    const app = parseApplication(body);
    if (!verifyPop(app, body as Record<string, unknown>)) {
      throw bad('proofOfPossession.signature', 'does not verify with keys.orgCaSpki over the canonical JSON of the application');
    }
    const { store, clock, random } = this.ctx;
    const now = clock();
    const at = now.toISOString();
    const applicationId = newId('app', random);
    const claimedDomains = app.domains.filter((d) => store.domainHolders(d).length > 0);
    const spkis = [app.keys.orgCaSpki, app.keys.kmsSigningSpki, app.keys.kmsEncryptionSpki];
    const control = await this.#domainControl.check(app.domains, new Uint8Array(Buffer.from(app.keys.orgCaSpki, 'base64')), app.domainChallenges ?? [], now);
    const proving = control === 'not-checked' ? [] : control.proving;
    const criteria = evaluateEnrolment(
      {
        mode: app.mode,
        domains: app.domains,
        evaluation: app.evaluation,
        claimedDomains,
        keysDistinct: new Set(spkis).size === 3,
        domainControl: control === 'not-checked' ? control : control.findings,
        now,
      },
      this.ctx.policy,
    );
    const failed = criteria.filter((c) => !c.passed);
    if (failed.length > 0) {
      store.transaction(() => {
        store.insertApplication(applicationId, at, app);
        // A challenge that proved its domain is used up whatever the decision: single use.
        this.#domainControl.consume(proving, at, applicationId);
        store.setApplicationOutcome(applicationId, 'refused', null);
        store.insertDecision({ orgId: null, applicationId, kind: 'refuse', at, trigger: 'enrolment', reasons: failed });
      });
      this.ctx.log(`enrolment ${applicationId} "${app.name}" refused: ${failed.map((f) => f.id).join(', ')}`);
      return { applicationId, decision: 'refused', failedCriteria: failed, criteria };
    }

    const orgId = newId('org', random);
    const orgCert = await this.ctx.pki.issueOrg(this.ctx.signer, this.ctx.rootCertificate, {
      organization: app.name,
      mailDomain: app.domains[0]!,
      mode: app.mode,
      subjectSpki: new Uint8Array(Buffer.from(app.keys.orgCaSpki, 'base64')),
      now,
      validityDays: this.ctx.certificateDays,
      random,
    });
    store.transaction(() => {
      // Re-check inside the write transaction: a concurrent application may have taken a domain while we signed.
      const taken = app.domains.filter((d) => store.domainHolders(d).length > 0);
      if (taken.length > 0)
        throw new HttpError('CONFLICT', `Cannot admit "${app.name}". Domain(s) ${taken.join(', ')} were admitted for another org meanwhile; apply again.`);
      store.insertApplication(applicationId, at, app);
      if (!this.#domainControl.consume(proving, at, applicationId)) {
        throw new HttpError(
          'CONFLICT',
          `Cannot admit "${app.name}". A domain-control challenge it names was used by another application meanwhile; request new challenges and apply again.`,
        );
      }
      store.insertOrg({
        orgId,
        name: app.name,
        mode: app.mode,
        domains: app.domains,
        status: 'admitted',
        admittedAt: at,
        statusSince: at,
        suspendedAt: null,
        revokedAt: null,
        reinstatedAt: null,
        callbackUrl: app.callbackUrl ?? null,
        incidentContact: app.evaluation.incidentContact,
      });
      store.insertCertificate({ serialHex: this.ctx.pki.serialOf(orgCert), orgId, profile: 'org-ca', der: orgCert, issuedAt: at });
      store.setMeta(
        `kms-keys/${orgId}`,
        new TextEncoder().encode(JSON.stringify({ signing: app.keys.kmsSigningSpki, encryption: app.keys.kmsEncryptionSpki })),
      );
      store.insertAudit(orgId, at, app.evaluation.lastAudit);
      store.setApplicationOutcome(applicationId, 'admitted', orgId);
      store.insertDecision({ orgId, applicationId, kind: 'admit', at, trigger: 'enrolment', reasons: criteria });
      store.nextCounter('state');
    });
    this.ctx.log(`enrolment ${applicationId} "${app.name}" admitted as ${orgId}`);
    return {
      applicationId,
      decision: 'admitted',
      orgId,
      failedCriteria: [],
      criteria,
      certificates: { root: b64(this.ctx.rootCertificate), org: b64(orgCert) },
    };
  }

  /**
   * Registers the org-issued KMS certificates. Each must validate under root → org certificate now,
   * carry the key usage of its purpose, and certify exactly the KMS key named in the application.
   * Re-registering (renewal with the same keys) replaces the previous certificates.
   */
  registerKms(orgId: string, body: unknown): { signing: string; encryption: string } {
    const { store, pki } = this.ctx;
    const org = store.getOrg(orgId);
    if (!org) throw new HttpError('UNKNOWN_ORG', `Cannot register KMS certificates. No org ${orgId}.`);
    if (org.status === 'revoked') throw new HttpError('ORG_NOT_ACTIVE', `Cannot register KMS certificates. ${orgId} is revoked.`);
    const o = asObject(body, 'body');
    const declared = JSON.parse(new TextDecoder().decode(store.getMeta(`kms-keys/${orgId}`) ?? new Uint8Array())) as { signing: string; encryption: string };
    const orgCert = store
      .orgCertificates(orgId)
      .filter((c) => c.profile === 'org-ca')
      .at(-1)!.der;
    const now = this.ctx.clock();
    const checked = (['signing', 'encryption'] as const).map((purpose) => {
      const der = asBase64(o[purpose], purpose, 16 * 1024);
      const v = pki.validateKms({ certificate: der, purpose, orgCertificate: orgCert, rootCertificate: this.ctx.rootCertificate, time: now });
      if (!v.ok) throw bad(purpose, `is not acceptable: ${v.reason}`);
      if (b64(pki.spkiOf(der)) !== declared[purpose]) throw bad(purpose, `must certify the KMS ${purpose} key named in the application`);
      return { purpose, der };
    });
    const at = now.toISOString();
    store.transaction(() => {
      for (const c of checked) store.replaceKmsCertificate(orgId, c.purpose === 'signing' ? 'kms-signing' : 'kms-encryption', pki.serialOf(c.der), c.der, at);
      store.nextCounter('state');
    });
    this.ctx.log(`kms certificates registered for ${orgId}`);
    return { signing: pki.serialOf(checked[0]!.der), encryption: pki.serialOf(checked[1]!.der) };
  }
}
