/**
 * Publishes what relying orgs need for procedure (7): the signed directory (who is a member, with which
 * domains and certificates), the signed status document (admitted | suspended | revoked, with times) and
 * the CRL. Documents are CMS SignedData (RFC 5652 §5) by the registry root key over canonical JSON;
 * each is re-signed when the state version changes or half its freshness has passed, so repeated GETs
 * return identical bytes (stable ETag) and a relying party never receives a document close to stale.
 */
import { canonicalJsonBytes as canonicalBytes } from '@ssmax/core';
import type { RegistryContext } from './context.js';
import { b64 } from './http.js';
import type { CrlEntry } from './pki.js';
import type { DirectoryDocument, DirectoryMember, OrgStatusEntry, StatusDocument } from './types.js';

export interface PublisherOptions {
  /** Seconds from issuedAt to nextUpdate for the directory and status documents. */
  readonly documentFreshnessSeconds: number;
  /** Seconds from thisUpdate to nextUpdate for the CRL (RFC 5280 §5.1.2.5). */
  readonly crlFreshnessSeconds: number;
  /** Upper bound for Cache-Control max-age, so a status change reaches caches quickly. */
  readonly cacheMaxAgeSeconds: number;
}

export interface PublishedDocument {
  readonly bytes: Uint8Array;
  readonly etag: string;
  readonly version: number;
  readonly issuedAt: Date;
  readonly nextUpdate: Date;
}

type Kind = 'directory' | 'status' | 'crl';

export class StatusPublisher {
  private readonly cache = new Map<Kind, PublishedDocument>();

  constructor(
    private readonly ctx: RegistryContext,
    readonly options: PublisherOptions,
  ) {}

  /** Seconds a client may cache `doc` (never past its nextUpdate). */
  maxAge(doc: PublishedDocument): number {
    const left = Math.floor((doc.nextUpdate.getTime() - this.ctx.clock().getTime()) / 1000);
    return Math.max(0, Math.min(this.options.cacheMaxAgeSeconds, left));
  }

  async directory(): Promise<PublishedDocument> {
    return this.get('directory', this.options.documentFreshnessSeconds, async (version, issuedAt, nextUpdate) => {
      const doc: DirectoryDocument = { ...this.header('ssmax-directory', version, issuedAt, nextUpdate), type: 'ssmax-directory', members: this.members() };
      return this.ctx.pki.signData(this.ctx.signer, this.ctx.rootCertificate, canonicalBytes(doc), issuedAt);
    });
  }

  async status(): Promise<PublishedDocument> {
    return this.get('status', this.options.documentFreshnessSeconds, async (version, issuedAt, nextUpdate) => {
      const orgs: OrgStatusEntry[] = this.ctx.store.listOrgs().map((o) => ({
        orgId: o.orgId,
        name: o.name,
        status: o.status,
        admittedAt: o.admittedAt,
        statusSince: o.statusSince,
        ...(o.suspendedAt ? { suspendedAt: o.suspendedAt } : {}),
        ...(o.revokedAt ? { revokedAt: o.revokedAt } : {}),
        ...(o.reinstatedAt ? { reinstatedAt: o.reinstatedAt } : {}),
      }));
      const doc: StatusDocument = { ...this.header('ssmax-status', version, issuedAt, nextUpdate), type: 'ssmax-status', orgs };
      return this.ctx.pki.signData(this.ctx.signer, this.ctx.rootCertificate, canonicalBytes(doc), issuedAt);
    });
  }

  async crl(): Promise<PublishedDocument> {
    return this.get('crl', this.options.crlFreshnessSeconds, async (_version, thisUpdate, nextUpdate) => {
      const { store } = this.ctx;
      // Only the org certificates are the registry's to list; KMS certificates hang below them, so
      // revoking or holding the org certificate invalidates the KMS certificates' chains too.
      const entries: CrlEntry[] = store.revokedCertificates('org-ca').map((c) => ({
        serialHex: c.serialHex,
        revokedAt: new Date(c.revokedAt ?? thisUpdate.toISOString()),
        reason: 'privilegeWithdrawn',
      }));
      // A suspended org's certificate is on hold (RFC 5280 §5.3.1 certificateHold) until reinstated.
      for (const o of store.listOrgs().filter((x) => x.status === 'suspended')) {
        for (const c of store.orgCertificates(o.orgId).filter((x) => x.profile === 'org-ca')) {
          entries.push({ serialHex: c.serialHex, revokedAt: new Date(o.statusSince), reason: 'certificateHold' });
        }
      }
      const crlNumber = store.transaction(() => store.nextCounter('crl'));
      return this.ctx.pki.issueCrl(this.ctx.signer, this.ctx.rootCertificate, {
        crlNumber,
        now: thisUpdate,
        freshnessSeconds: (nextUpdate.getTime() - thisUpdate.getTime()) / 1000,
        revoked: entries,
      });
    });
  }

  private header(type: string, version: number, issuedAt: Date, nextUpdate: Date) {
    return { type, version, issuer: this.ctx.issuerName, issuedAt: issuedAt.toISOString(), nextUpdate: nextUpdate.toISOString() };
  }

  private members(): DirectoryMember[] {
    const { store } = this.ctx;
    return store.listOrgs().map((o) => {
      const certs = store.orgCertificates(o.orgId);
      const latest = (p: string) => certs.filter((c) => c.profile === p).at(-1)?.der;
      const sig = latest('kms-signing');
      const enc = latest('kms-encryption');
      const pins = store.getMeta(`mta-tls/${o.orgId}`);
      return {
        orgId: o.orgId,
        name: o.name,
        domains: o.domains,
        mode: o.mode,
        status: o.status,
        since: o.admittedAt,
        statusSince: o.statusSince,
        orgCertificate: b64(latest('org-ca') ?? new Uint8Array(0)),
        ...(sig ? { kmsSigningCertificate: b64(sig) } : {}),
        ...(enc ? { kmsEncryptionCertificate: b64(enc) } : {}),
        ...(pins ? { mtaTlsSpkiSha256: JSON.parse(new TextDecoder().decode(pins)) as string[] } : {}),
      };
    });
  }

  private async get(
    kind: Kind,
    freshness: number,
    make: (version: number, issuedAt: Date, nextUpdate: Date) => Promise<Uint8Array>,
  ): Promise<PublishedDocument> {
    const version = this.ctx.store.counter('state');
    const now = this.ctx.clock();
    const cached = this.cache.get(kind);
    const halfLife = cached ? (cached.nextUpdate.getTime() - cached.issuedAt.getTime()) / 2 : 0;
    if (cached && cached.version === version && now.getTime() < cached.issuedAt.getTime() + halfLife) return cached;
    // Whole seconds: UTCTime and the JSON times then say the same instant.
    const issuedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(issuedAt.getTime() + freshness * 1000);
    const bytes = await make(version, issuedAt, nextUpdate);
    const doc: PublishedDocument = { bytes, etag: `"${kind}-v${version}-${issuedAt.getTime()}"`, version, issuedAt, nextUpdate };
    this.cache.set(kind, doc);
    return doc;
  }
}
