/**
 * Procedure (1): an organisation applies; the registry checks the application is well formed and that
 * the applicant holds the org CA key, evaluates it against {@link ENROLMENT_CRITERIA} (procedure (13)),
 * and on admission issues, from the registry root key, the org certificate (the org CA key, CA:TRUE
 * pathLen 0) and the two KMS certificates (signing, encryption). The registry issues the KMS
 * certificates itself (rather than accepting org-issued ones) so a relying org needs one trust anchor,
 * a chain of length one, and one CRL that covers everything an org presents.
 */
import * as crypto from 'node:crypto';
import { canonicalBytes } from './canonical-json.js';
import { newId, newSerial, type RegistryContext } from './context.js';
import { ACCEPTED_PROOFING, evaluateEnrolment } from './evaluation.js';
import { asArray, asBase64, asBool, asDate, asEnum, asObject, asString, b64, bad, hex } from './http.js';
import type { CertificateProfile } from './pki.js';
import type {
  AuditFinding,
  AuditReport,
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

/** Validates the JSON of an application; throws MALFORMED_REQUEST naming the first bad field. */
export function parseApplication(body: unknown): EnrolmentApplication {
  const o = asObject(body, 'application');
  const domains = asArray(o['domains'], 'domains', 16).map((d, i) => asString(d, `domains[${i}]`, 253).toLowerCase());
  if (domains.length === 0) throw bad('domains', 'must name at least one mail domain');
  domains.forEach((d, i) => {
    if (!DOMAIN_RE.test(d)) throw bad(`domains[${i}]`, 'must be a DNS domain name in A-label form');
  });
  if (new Set(domains).size !== domains.length) throw bad('domains', 'must not repeat a domain');
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
    proofOfPossession: {
      scheme: asEnum(pop['scheme'], 'proofOfPossession.scheme', ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'ECDSA-SHA256'] as const),
      signature: b64(asBase64(pop['signature'], 'proofOfPossession.signature', 1024)),
    },
  };
}

/** The bytes the applicant signs for proof of possession: canonical JSON of the application minus the proof. */
export function popSigningInput(app: Omit<EnrolmentApplication, 'proofOfPossession'> & { proofOfPossession?: unknown }): Uint8Array {
  const { proofOfPossession: _drop, ...rest } = app;
  return canonicalBytes(rest);
}

function verifyPop(app: EnrolmentApplication, rawBody: Record<string, unknown>): boolean {
  const key = crypto.createPublicKey({ key: Buffer.from(app.keys.orgCaSpki, 'base64'), format: 'der', type: 'spki' });
  const sig = Buffer.from(app.proofOfPossession.signature, 'base64');
  // The applicant signed what it sent: use the raw body (minus the proof), not our normalised copy.
  const data = popSigningInput(rawBody as unknown as EnrolmentApplication);
  const scheme = app.proofOfPossession.scheme;
  if (scheme === 'ECDSA-SHA256') return key.asymmetricKeyType === 'ec' && crypto.verify('sha256', data, { key, dsaEncoding: 'der' }, sig);
  if (key.asymmetricKeyType !== 'rsa') return false;
  if (scheme === 'RSASSA-PSS-SHA256') {
    return crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
  }
  return crypto.verify('sha256', data, key, sig);
}

export class Enrolment {
  constructor(private readonly ctx: RegistryContext) {}

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
    const criteria = evaluateEnrolment(
      { mode: app.mode, domains: app.domains, evaluation: app.evaluation, claimedDomains, keysDistinct: new Set(spkis).size === 3, now },
      this.ctx.policy,
    );
    const failed = criteria.filter((c) => !c.passed);
    if (failed.length > 0) {
      store.transaction(() => {
        store.insertApplication(applicationId, at, app);
        store.setApplicationOutcome(applicationId, 'refused', null);
        store.insertDecision({ orgId: null, applicationId, kind: 'refuse', at, trigger: 'enrolment', reasons: failed });
      });
      this.ctx.log(`enrolment ${applicationId} "${app.name}" refused: ${failed.map((f) => f.id).join(', ')}`);
      return { applicationId, decision: 'refused', failedCriteria: failed, criteria };
    }

    const orgId = newId('org', random);
    const notAfter = new Date(now.getTime() + this.ctx.certificateDays * 86_400_000);
    const issue = async (profile: CertificateProfile, spkiB64: string, cn: string) => {
      const serial = newSerial(random);
      const der = await this.ctx.pki.issue(this.ctx.signer, this.ctx.rootCertificate, {
        profile,
        serial,
        commonName: cn,
        organization: app.name,
        subjectSpki: new Uint8Array(Buffer.from(spkiB64, 'base64')),
        dnsNames: app.domains,
        notBefore: now,
        notAfter,
      });
      return { profile, serialHex: hex(serial), der };
    };
    const certs = [
      await issue('org-ca', app.keys.orgCaSpki, `${app.name} SSMAX Org CA`),
      await issue('kms-signing', app.keys.kmsSigningSpki, `${app.name} SSMAX KMS Signing`),
      await issue('kms-encryption', app.keys.kmsEncryptionSpki, `${app.name} SSMAX KMS Encryption`),
    ];
    store.transaction(() => {
      store.insertApplication(applicationId, at, app);
      store.insertOrg({
        orgId, name: app.name, mode: app.mode, domains: app.domains, status: 'admitted', admittedAt: at, statusSince: at,
        suspendedAt: null, revokedAt: null, reinstatedAt: null, callbackUrl: app.callbackUrl ?? null, incidentContact: app.evaluation.incidentContact,
      });
      for (const c of certs) store.insertCertificate({ serialHex: c.serialHex, orgId, profile: c.profile, der: c.der, issuedAt: at });
      store.insertAudit(orgId, at, app.evaluation.lastAudit);
      store.setApplicationOutcome(applicationId, 'admitted', orgId);
      store.insertDecision({ orgId, applicationId, kind: 'admit', at, trigger: 'enrolment', reasons: criteria });
      store.nextCounter('state');
    });
    this.ctx.log(`enrolment ${applicationId} "${app.name}" admitted as ${orgId}`);
    const [org, sig, enc] = certs;
    return {
      applicationId,
      decision: 'admitted',
      orgId,
      failedCriteria: [],
      criteria,
      certificates: { root: b64(this.ctx.rootCertificate), org: b64(org!.der), kmsSigning: b64(sig!.der), kmsEncryption: b64(enc!.der) },
    };
  }
}
