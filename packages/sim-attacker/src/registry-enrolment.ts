/**
 * Procedure (1) from the attacker's side: apply to the SSMAX registry as a company for a domain no
 * member holds yet (a real partner that has not enrolled, or a look-alike), with keys of its own. The
 * application is well formed and claims every criterion the registry cannot check from outside (ISMS,
 * HSM, card + PIN, a fresh audit); what it lacks is control of the domain's DNS. It asks for the
 * domain-control challenge like an honest applicant, cannot publish the token in the domain's zone, and
 * applies anyway. Whether the registry admits it is the registry's
 * decision, recorded as data. If admitted, it certifies its own KMS keys under the org certificate the
 * registry issued and registers them, as a member would: from then on it can sign as that company.
 */
import { request } from 'node:http';
import { SoftwareKey, canonicalJsonBytes, issueOrgKmsCertificate, parseCertificate, type CertificateInfo } from '@ssmax/core';
import type { AttackerContext } from './footholds.js';

export interface RegistryApplicationOptions {
  /** The registry's public URL (every relying org knows it). */
  readonly registryUrl: string;
  /** The domain applied for (A-label). */
  readonly domain: string;
  /** The organisation name written in the application. */
  readonly name: string;
}

/** The attacker's membership attempt and, when admitted, its registry-certified keys. */
export interface RogueMembership {
  readonly decision: 'admitted' | 'refused';
  readonly failedCriteria: readonly { readonly id: string; readonly reason: string }[];
  /** What it did, step by step, for the attack outcome. */
  readonly actions: readonly string[];
  readonly admitted?: {
    readonly orgId: string;
    readonly root: CertificateInfo;
    readonly org: CertificateInfo;
    readonly orgKey: SoftwareKey;
    readonly kmsSigning: { readonly key: SoftwareKey; readonly certificate: CertificateInfo };
    readonly kmsEncryption: { readonly key: SoftwareKey; readonly certificate: CertificateInfo };
  };
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

/** POST of a JSON body from the attacker's own address; resolves with the status and parsed body. */
function postJson(ctx: AttackerContext, url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const u = new URL(url);
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: Number(u.port || 80),
        path: u.pathname,
        method: 'POST',
        localAddress: ctx.address,
        headers: { 'content-type': 'application/json', 'content-length': data.length },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
          } catch (e) {
            reject(e as Error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Applies to the registry for `domain` with fresh keys; registers KMS certificates when admitted. Throws only on transport faults. */
export async function applyForMembership(ctx: AttackerContext, o: RegistryApplicationOptions): Promise<RogueMembership> {
  const actions: string[] = [];
  const now = ctx.now ?? (() => new Date());
  const orgKey = SoftwareKey.generate('EC-P256');
  const kmsSigningKey = SoftwareKey.generate('EC-P256');
  const kmsEncryptionKey = SoftwareKey.generate('RSA-2048');
  const ch = await postJson(ctx, `${o.registryUrl}/v1/enrolment/challenges`, { domains: [o.domain], orgCaSpki: b64(orgKey.spki) });
  // A registry without the challenge endpoint checks nothing: apply without one.
  const challenges = ch.status === 201 ? ((ch.json['challenges'] as { id: string; txtName: string; txtValue: string }[] | undefined) ?? []) : [];
  if (challenges.length > 0) {
    actions.push(`asked the registry for a domain-control challenge for ${o.domain}: TXT ${challenges.map((c) => c.txtName).join(', ')}`);
    actions.push(`could not publish the token: it has no write access to the ${o.domain} zone`);
  } else actions.push(`the registry offers no domain-control challenge (${ch.status})`);
  const auditDate = new Date(now().getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
  const unsigned = {
    name: o.name,
    domains: [o.domain],
    mode: 'org',
    keys: { orgCaSpki: b64(orgKey.spki), kmsSigningSpki: b64(kmsSigningKey.spki), kmsEncryptionSpki: b64(kmsEncryptionKey.spki) },
    // Self-declared, as every applicant's: the registry judges the audit report it is given.
    evaluation: {
      ismsCertified: true,
      outboundInspection: true,
      inboundInspection: true,
      kmsOnHsm: true,
      identityProofing: 'employee-card+pin',
      incidentContact: `csirt@${o.domain}`,
      lastAudit: { date: auditDate, auditor: 'Audit Co.', findings: [] },
    },
    ...(challenges.length > 0 ? { domainChallenges: challenges.map((c) => c.id) } : {}),
  };
  const signature = await orgKey.sign('ECDSA-SHA256', canonicalJsonBytes(unsigned));
  const r = await postJson(ctx, `${o.registryUrl}/v1/enrolments`, { ...unsigned, proofOfPossession: { scheme: 'ECDSA-SHA256', signature: b64(signature) } });
  const failedCriteria = ((r.json['failedCriteria'] as { id: string; reason: string }[] | undefined) ?? []).map((c) => ({ id: c.id, reason: c.reason }));
  const certs = r.json['certificates'] as { root: string; org: string } | undefined;
  const orgId = r.json['orgId'] as string | undefined;
  if (r.status !== 201 || !certs || !orgId) {
    const why =
      failedCriteria.length > 0 ? failedCriteria.map((c) => `${c.id}: ${c.reason}`).join(' | ') : `HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`;
    actions.push(`applied to the registry as "${o.name}" for ${o.domain}: refused (${why})`);
    return { decision: 'refused', failedCriteria, actions };
  }
  const root = parseCertificate(new Uint8Array(Buffer.from(certs.root, 'base64')));
  const org = parseCertificate(new Uint8Array(Buffer.from(certs.org, 'base64')));
  actions.push(`applied to the registry as "${o.name}" for ${o.domain}: admitted as ${orgId}, org certificate ${org.serialNumber} from "${root.subject}"`);
  const issuer = { certificate: org, key: orgKey };
  const signing = await issueOrgKmsCertificate({ issuer, subjectSpki: kmsSigningKey.spki, purpose: 'signing', now });
  const encryption = await issueOrgKmsCertificate({ issuer, subjectSpki: kmsEncryptionKey.spki, purpose: 'encryption', now });
  const k = await postJson(ctx, `${o.registryUrl}/v1/orgs/${encodeURIComponent(orgId)}/kms-certificates`, {
    signing: b64(signing.der),
    encryption: b64(encryption.der),
  });
  if (k.status !== 200)
    throw new Error(`Cannot register the KMS certificates of ${orgId}. The registry answered ${k.status}: ${JSON.stringify(k.json).slice(0, 300)}.`);
  actions.push(`certified its own KMS keys under that org certificate and registered them (the directory now lists ${o.domain} as a member)`);
  return {
    decision: 'admitted',
    failedCriteria,
    actions,
    admitted: {
      orgId,
      root,
      org,
      orgKey,
      kmsSigning: { key: kmsSigningKey, certificate: signing },
      kmsEncryption: { key: kmsEncryptionKey, certificate: encryption },
    },
  };
}
