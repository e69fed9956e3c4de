/**
 * The org's side of the registry's HTTP contract (sim-registry/src/types.ts, duplicated here because
 * orgs and the registry meet only on the network): enrolment (1), KMS certificate registration, and
 * fetching the signed directory, status document and CRL — each verified against the registry root
 * (CMS signature by the root key, RFC 5652 §5.6) and cached no longer than its nextUpdate nor the
 * client's own freshness limit.
 */
import { request } from 'node:http';
import { SsmaxError, parseCrl, signSignedData, verifySignedData, type CrlInfo, type PrivateKeyOps, type SignScheme } from '@ssmax/core';
import { canonicalJson } from './attestation.js';
import type { Kms } from './kms.js';
import { SimOrgError } from './errors.js';
import { documentCheck, type DocumentCheck } from './json-schema.js';

export type OrgMode = 'org' | 'esp';
export type OrgStatus = 'admitted' | 'suspended' | 'revoked';
export type RegistryProofingMethod = 'my-number-card+pin' | 'employee-card+pin' | 'employee-card' | 'in-person-document' | 'email-only' | 'none';

export interface EvaluationData {
  readonly ismsCertified: boolean;
  readonly outboundInspection: boolean;
  readonly inboundInspection: boolean;
  readonly kmsOnHsm: boolean;
  readonly identityProofing: RegistryProofingMethod;
  readonly incidentContact: string;
  readonly lastAudit: {
    readonly date: string;
    readonly auditor: string;
    readonly findings: readonly { id: string; severity: 'critical' | 'high' | 'medium' | 'low'; open: boolean; summary: string }[];
  };
}

export interface EnrolmentApplication {
  readonly name: string;
  readonly domains: readonly string[];
  readonly mode: OrgMode;
  readonly keys: { readonly orgCaSpki: string; readonly kmsSigningSpki: string; readonly kmsEncryptionSpki: string };
  readonly evaluation: EvaluationData;
  readonly callbackUrl?: string;
  /** Ids of the domain-control challenges whose TXT records the org published ({@link RegistryClient.domainChallenges}). */
  readonly domainChallenges?: readonly string[];
  readonly proofOfPossession: { readonly scheme: SignScheme; readonly signature: string };
}

export interface EnrolmentResult {
  readonly applicationId: string;
  readonly decision: 'admitted' | 'refused';
  readonly orgId?: string;
  readonly failedCriteria: readonly { id: string; passed: boolean; reason: string }[];
  readonly certificates?: { readonly root: string; readonly org: string };
}

/**
 * A domain-control challenge of procedure (1): the org publishes `txtValue` as a TXT record at `txtName`
 * (`_ssmax-challenge.<domain>`) in its own zone and names `id` in its application before `expiresAt`.
 */
export interface DomainChallenge {
  readonly id: string;
  readonly domain: string;
  readonly txtName: string;
  readonly txtValue: string;
  readonly expiresAt: string;
}

export interface DirectoryMember {
  readonly orgId: string;
  readonly name: string;
  readonly domains: readonly string[];
  readonly mode: OrgMode;
  readonly status: OrgStatus;
  readonly orgCertificate: string;
  readonly kmsSigningCertificate?: string;
  readonly kmsEncryptionCertificate?: string;
  /** ssmax-plus addition 1: the SPKI SHA-256 pins (base64) of the member's MTA TLS keys. */
  readonly mtaTlsSpkiSha256?: readonly string[];
}

export interface DirectoryDocument {
  readonly type: 'ssmax-directory';
  readonly version: number;
  readonly issuedAt: string;
  readonly nextUpdate: string;
  readonly members: readonly DirectoryMember[];
}

export interface OrgStatusEntry {
  readonly orgId: string;
  readonly name: string;
  readonly status: OrgStatus;
  readonly statusSince: string;
}

export interface StatusDocument {
  readonly type: 'ssmax-status';
  readonly version: number;
  readonly issuedAt: string;
  readonly nextUpdate: string;
  readonly orgs: readonly OrgStatusEntry[];
}

export interface RegistryClientOptions {
  /** Base URL, e.g. http://127.0.0.1:4711. */
  readonly url: string;
  /** DER of the registry root: the only trust anchor for the documents. */
  readonly rootCertificate: Uint8Array;
  readonly clock?: () => Date;
  /** Local address the org's requests leave from (its sim-net address). */
  readonly localAddress?: string;
  /** Refetch a document after this many seconds even if its nextUpdate is later (default 60). */
  readonly maxAgeSeconds?: number;
  readonly timeoutMs?: number;
}

interface Cached<T> {
  readonly value: T;
  readonly fetchedAt: number;
  readonly nextUpdate: number;
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

const text = (maxLength: number) => ({ type: 'string', maxLength }) as const;
/** An ISO 8601 instant as the registry writes it (Date#toISOString). */
const instant = { type: 'string', maxLength: 40, pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' } as const;
const status = { enum: ['admitted', 'suspended', 'revoked'] } as const;
const certificate = { type: 'string', maxLength: 65536, pattern: '^[A-Za-z0-9+/]*={0,2}$' } as const;
/**
 * The signed directory and status documents as JSON Schema (draft 2020-12), checked before any field is read:
 * the root's signature says the registry wrote the bytes, not that they have the shape this client reads.
 * Members the registry adds later (since, issuer, …) are allowed; the fields read here are required and typed.
 */
const DOCUMENT_HEADER = { version: { type: 'integer', minimum: 0 }, issuedAt: instant, nextUpdate: instant } as const;
const DIRECTORY_SCHEMA = {
  type: 'object',
  required: ['type', 'version', 'issuedAt', 'nextUpdate', 'members'],
  properties: {
    type: { const: 'ssmax-directory' },
    ...DOCUMENT_HEADER,
    members: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        required: ['orgId', 'name', 'domains', 'mode', 'status', 'orgCertificate'],
        properties: {
          orgId: text(64),
          name: text(1024),
          domains: { type: 'array', maxItems: 256, items: text(253) },
          mode: { enum: ['org', 'esp'] },
          status,
          orgCertificate: certificate,
          kmsSigningCertificate: certificate,
          kmsEncryptionCertificate: certificate,
          mtaTlsSpkiSha256: { type: 'array', maxItems: 4, items: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' } },
        },
      },
    },
  },
} as const;
const STATUS_SCHEMA = {
  type: 'object',
  required: ['type', 'version', 'issuedAt', 'nextUpdate', 'orgs'],
  properties: {
    type: { const: 'ssmax-status' },
    ...DOCUMENT_HEADER,
    orgs: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        required: ['orgId', 'name', 'status', 'statusSince'],
        properties: { orgId: text(64), name: text(1024), status, statusSince: instant },
      },
    },
  },
} as const;
const DOCUMENT_CHECKS: Readonly<Record<string, DocumentCheck<unknown>>> = {
  'ssmax-directory': documentCheck<DirectoryDocument>({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...DIRECTORY_SCHEMA }),
  'ssmax-status': documentCheck<StatusDocument>({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...STATUS_SCHEMA }),
};

export class RegistryClient {
  readonly #o: RegistryClientOptions;
  readonly #clock: () => Date;
  #directory: Cached<DirectoryDocument> | undefined;
  #status: Cached<StatusDocument> | undefined;
  #crl: Cached<CrlInfo> | undefined;
  /** Number of HTTP fetches of signed documents (tests check the cache). */
  fetches = 0;

  constructor(o: RegistryClientOptions) {
    this.#o = o;
    this.#clock = o.clock ?? (() => new Date());
  }

  get rootCertificate(): Uint8Array {
    return this.#o.rootCertificate;
  }

  /** Builds an enrolment application (1) with the KMS token's three public keys and a proof of possession by the org CA key. */
  static async buildApplication(
    kms: Kms,
    fields: { name: string; domains: readonly string[]; mode: OrgMode; evaluation: EvaluationData; callbackUrl?: string; domainChallenges?: readonly string[] },
  ): Promise<EnrolmentApplication> {
    const unsigned = {
      name: fields.name,
      domains: [...fields.domains],
      mode: fields.mode,
      keys: { orgCaSpki: b64(kms.caKey.spki), kmsSigningSpki: b64(kms.signingKey.spki), kmsEncryptionSpki: b64(kms.encryptionKey.spki) },
      evaluation: fields.evaluation,
      ...(fields.callbackUrl ? { callbackUrl: fields.callbackUrl } : {}),
      ...(fields.domainChallenges ? { domainChallenges: [...fields.domainChallenges] } : {}),
    };
    const scheme: SignScheme = kms.caKey.algorithm === 'EC-P256' ? 'ECDSA-SHA256' : 'RSASSA-PKCS1-v1_5-SHA256';
    // The registry verifies the proof over the canonical JSON of the application without the proof (RFC 2986 §3's role).
    const signature = await kms.caKey.sign(scheme, new TextEncoder().encode(canonicalJson(unsigned)));
    return { ...unsigned, proofOfPossession: { scheme, signature: b64(signature) } };
  }

  /** POST /v1/enrolment/challenges: one domain-control challenge per domain, bound to the org CA key `orgCaSpki` (DER). */
  async domainChallenges(domains: readonly string[], orgCaSpki: Uint8Array): Promise<DomainChallenge[]> {
    const r = await this.#http('POST', '/v1/enrolment/challenges', JSON.stringify({ domains, orgCaSpki: b64(orgCaSpki) }));
    if (r.status !== 201) throw httpError('obtain domain-control challenges', r);
    return (JSON.parse(r.body.toString('utf8')) as { challenges: DomainChallenge[] }).challenges;
  }

  /** POST /v1/enrolments. Resolves with the decision (admitted or refused); throws on transport or 4xx/5xx other than 422. */
  async enrol(app: EnrolmentApplication): Promise<EnrolmentResult> {
    const r = await this.#http('POST', '/v1/enrolments', JSON.stringify(app));
    if (r.status !== 201 && r.status !== 422) throw httpError('enrol the org', r);
    return JSON.parse(r.body.toString('utf8')) as EnrolmentResult;
  }

  /** POST /v1/orgs/{orgId}/kms-certificates. */
  async registerKms(orgId: string, signing: Uint8Array, encryption: Uint8Array): Promise<void> {
    const r = await this.#http(
      'POST',
      `/v1/orgs/${encodeURIComponent(orgId)}/kms-certificates`,
      JSON.stringify({ signing: b64(signing), encryption: b64(encryption) }),
    );
    if (r.status !== 200) throw httpError('register the KMS certificates', r);
  }

  /**
   * POST /v1/orgs/{orgId}/mta-tls (ssmax-plus addition 1): publishes the SPKI SHA-256 pins of the org's
   * MTA TLS keys, signed with its KMS signing key (the registry accepts only a member's KMS signature).
   */
  async publishMtaTlsPins(
    orgId: string,
    spkiSha256: readonly string[],
    signer: { readonly key: PrivateKeyOps; readonly certificate: Uint8Array },
  ): Promise<void> {
    const doc = { type: 'ssmax-mta-tls', orgId, spkiSha256: [...spkiSha256] };
    const der = await signSignedData(new TextEncoder().encode(canonicalJson(doc)), {
      key: signer.key,
      certificate: signer.certificate,
      signingTime: this.#clock(),
    });
    const r = await this.#http('POST', `/v1/orgs/${encodeURIComponent(orgId)}/mta-tls`, JSON.stringify({ cms: b64(der) }));
    if (r.status !== 200) throw httpError('publish the MTA TLS pins', r);
    this.#directory = undefined;
  }

  /** The verified directory (fetched or cached). */
  async directory(): Promise<DirectoryDocument> {
    this.#directory = await this.#document(this.#directory, '/v1/directory', 'ssmax-directory');
    return this.#directory.value;
  }

  async status(): Promise<StatusDocument> {
    this.#status = await this.#document(this.#status, '/v1/status', 'ssmax-status');
    return this.#status.value;
  }

  /** The registry CRL (org certificates revoked or on hold). Its signature is checked by validateChain. */
  async crl(): Promise<CrlInfo> {
    const now = this.#clock().getTime();
    if (this.#crl && this.#fresh(this.#crl, now)) return this.#crl.value;
    const r = await this.#http('GET', '/v1/crl').catch((e: unknown) => this.#fallback(this.#crl, now, e));
    if (!('status' in r)) return r.value;
    if (r.status !== 200) return this.#fallback(this.#crl, now, httpError('fetch the CRL', r)).value;
    this.fetches++;
    const info = parseCrl(new Uint8Array(r.body));
    const next = info.nextUpdate?.getTime() ?? now;
    if (next <= now) throw new SimOrgError('TEMP_REGISTRY_UNAVAILABLE', 'Cannot use the registry CRL. Its nextUpdate has passed.');
    this.#crl = { value: info, fetchedAt: now, nextUpdate: next };
    return info;
  }

  /** Forgets cached documents (a scenario that changed registry state wants the news at once). */
  invalidate(): void {
    this.#directory = undefined;
    this.#status = undefined;
    this.#crl = undefined;
  }

  /** The member holding `domain`, if any. */
  async memberByDomain(domain: string): Promise<DirectoryMember | undefined> {
    const d = domain.toLowerCase();
    return (await this.directory()).members.find((m) => m.domains.includes(d));
  }

  async statusOf(orgId: string): Promise<OrgStatus | undefined> {
    return (await this.status()).orgs.find((o) => o.orgId === orgId)?.status;
  }

  #fresh<T>(c: Cached<T>, now: number): boolean {
    return now < c.nextUpdate && now < c.fetchedAt + (this.#o.maxAgeSeconds ?? 60) * 1000;
  }

  /** A fetch failed: a cached copy still before its nextUpdate may serve; otherwise the check is temporarily impossible. */
  #fallback<T>(c: Cached<T> | undefined, now: number, cause: unknown): Cached<T> {
    if (c && now < c.nextUpdate) return c;
    throw new SimOrgError('TEMP_REGISTRY_UNAVAILABLE', `Cannot get a fresh registry document. ${(cause as Error).message}`, { cause });
  }

  async #document<T extends { type: string; nextUpdate: string }>(cached: Cached<T> | undefined, path: string, type: T['type']): Promise<Cached<T>> {
    const now = this.#clock().getTime();
    if (cached && this.#fresh(cached, now)) return cached;
    let r;
    try {
      r = await this.#http('GET', path);
    } catch (e) {
      return this.#fallback(cached, now, e);
    }
    if (r.status !== 200) return this.#fallback(cached, now, httpError(`fetch ${path}`, r));
    this.fetches++;
    const doc = this.#verify<T>(new Uint8Array(r.body), type);
    const next = Date.parse(doc.nextUpdate);
    if (!(next > now)) throw new SimOrgError('TEMP_REGISTRY_UNAVAILABLE', `Cannot use the registry ${type}. Its nextUpdate ${doc.nextUpdate} has passed.`);
    return { value: doc, fetchedAt: now, nextUpdate: next };
  }

  /** RFC 5652 §5.6: the one signer must verify and be the registry root itself; then the JSON must match its schema. */
  #verify<T extends { type: string }>(der: Uint8Array, type: T['type']): T {
    const v = verifySignedData(der, { certificates: [this.#o.rootCertificate] });
    const s = v.signers[0];
    if (v.signers.length !== 1 || !s?.valid || !s.certificate || !Buffer.from(s.certificate).equals(Buffer.from(this.#o.rootCertificate))) {
      throw new SsmaxError(
        'BAD_SIGNATURE',
        `Cannot accept the registry ${type}. It is not signed by the registry root (${s?.reasons.join('; ') || 'wrong signer'}).`,
      );
    }
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(v.content ?? new Uint8Array(0)));
    } catch {
      throw new SsmaxError('MALFORMED_CMS', `Cannot accept the registry ${type}. Its content is not UTF-8 JSON.`);
    }
    const checked = (DOCUMENT_CHECKS[type] as DocumentCheck<T> | undefined)?.(doc);
    if (!checked?.ok) {
      throw new SsmaxError('MALFORMED_CMS', `Cannot accept the registry ${type}. It does not match its schema (${checked?.reason ?? 'unknown type'}).`);
    }
    return checked.value;
  }

  #http(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; body: Buffer }> {
    const url = new URL(path, this.#o.url);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ...(this.#o.localAddress ? { localAddress: this.#o.localAddress } : {}),
          headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: this.#o.timeoutMs ?? 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.href} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function httpError(what: string, r: { status: number; body: Buffer }): SimOrgError {
  let msg = r.body.toString('utf8').slice(0, 300);
  try {
    msg = (JSON.parse(msg) as { error?: { message?: string } }).error?.message ?? msg;
  } catch {
    /* not JSON */
  }
  return new SimOrgError(r.status >= 500 ? 'TEMP_REGISTRY_UNAVAILABLE' : 'USAGE', `Cannot ${what}. The registry answered ${r.status}: ${msg}`);
}
