/**
 * An example relying-party fetcher written only against the HTTP contract and the exported JSON types
 * (as an org package would write it): verify the CMS with the registry root, check freshness with the
 * caller's clock, cache by ETag + max-age and revalidate with If-None-Match.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SoftwareKey, validateChain, verifySignedData } from '@ssmax/core';
import { DnsZone } from '@ssmax/sim-net';
import { Registry } from './registry.js';
import { b64, FakeClock, goodEvaluation, makeOrgKeys, postJson, provedApplication, seededRandom, tempDir } from './testing/fixtures.js';
import type { DirectoryDocument, EnrolmentResult } from './types.js';

type Verdict<T> = { ok: true; doc: T; fromCache: boolean } | { ok: false; reason: string };

class DirectoryClient {
  private cached: { etag: string; freshUntil: number; doc: DirectoryDocument } | null = null;
  requests = 0;

  constructor(
    private readonly url: string,
    private readonly rootCertificate: Uint8Array,
    private readonly clock: () => Date,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async directory(): Promise<Verdict<DirectoryDocument>> {
    const now = this.clock().getTime();
    if (this.cached && now < this.cached.freshUntil && now < Date.parse(this.cached.doc.nextUpdate)) return { ok: true, doc: this.cached.doc, fromCache: true };
    this.requests++;
    const res = await this.fetchImpl(`${this.url}/v1/directory`, { headers: this.cached ? { 'if-none-match': this.cached.etag } : {} });
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1] ?? '0');
    if (res.status === 304 && this.cached) {
      if (now >= Date.parse(this.cached.doc.nextUpdate)) return { ok: false, reason: 'stale: 304 for a document past its nextUpdate' };
      this.cached = { ...this.cached, freshUntil: now + maxAge * 1000 };
      return { ok: true, doc: this.cached.doc, fromCache: true };
    }
    if (res.status !== 200) return { ok: false, reason: `HTTP ${res.status}` };
    const cms = new Uint8Array(await res.arrayBuffer());
    const v = verifySignedData(cms);
    const signer = v.signers[0];
    if (!v.allValid || v.signers.length !== 1 || !signer?.certificate || !v.content) return { ok: false, reason: 'bad signature' };
    // The signer must be the registry root itself (the documents are signed with the root key).
    const chain = validateChain({ leaf: signer.certificate, trustAnchors: [this.rootCertificate], time: this.clock(), revocation: 'none' });
    if (!chain.valid || chain.chain.length !== 1) return { ok: false, reason: `untrusted signer: ${chain.reasons.join('; ')}` };
    const doc = JSON.parse(new TextDecoder().decode(v.content)) as DirectoryDocument;
    if (doc.type !== 'ssmax-directory') return { ok: false, reason: 'wrong document type' };
    if (now >= Date.parse(doc.nextUpdate) || now < Date.parse(doc.issuedAt) - 300_000) return { ok: false, reason: 'stale or future document' };
    if (this.cached && doc.version < this.cached.doc.version) return { ok: false, reason: 'rollback: older version than cached' };
    this.cached = { etag: res.headers.get('etag') ?? '', freshUntil: now + maxAge * 1000, doc };
    return { ok: true, doc, fromCache: false };
  }
}

/** The applicants' DNS, where they publish their domain-control TXT records for the registry. */
const zone = new DnsZone();

async function enrolOne(url: string, name: string, domain: string, clock: FakeClock): Promise<EnrolmentResult> {
  const r = await postJson(
    `${url}/v1/enrolments`,
    await provedApplication(url, zone, makeOrgKeys(), { name, domains: [domain], evaluation: goodEvaluation(clock.now()) }),
  );
  expect(r.status).toBe(201);
  return r.json as EnrolmentResult;
}

describe('DirectoryClient (example relying party)', () => {
  it('verifies, caches by max-age, revalidates with 304 and sees a status change when the registry state changes', async () => {
    using dir = tempDir('ssmax-dirc-');
    const clock = new FakeClock(Date.now());
    await using reg = await Registry.start({
      dataDir: join(dir.path, 'data'),
      signer: SoftwareKey.generate('EC-P256'),
      clock: clock.now,
      random: seededRandom('dc'),
      log: () => {},
      resolver: zone.resolver,
      publisher: { documentFreshnessSeconds: 600, cacheMaxAgeSeconds: 30 },
    });
    const rootDer = new Uint8Array(await (await fetch(`${reg.url}/v1/root`)).arrayBuffer());
    expect(b64(rootDer)).toBe(b64(reg.rootCertificate));
    const a = await enrolOne(reg.url, 'Alpha', 'alpha.example', clock);
    const client = new DirectoryClient(reg.url, rootDer, clock.now);

    const first = await client.directory();
    expect(first.ok && first.doc.members.map((m) => m.orgId)).toEqual([a.orgId]);
    expect(first.ok && first.fromCache).toBe(false);
    expect(client.requests).toBe(1);

    clock.advance(10_000);
    const cached = await client.directory();
    expect(cached.ok && cached.fromCache).toBe(true);
    expect(client.requests).toBe(1);

    clock.advance(30_000);
    const revalidated = await client.directory();
    expect(revalidated.ok && revalidated.fromCache).toBe(true);
    expect(client.requests).toBe(2);

    reg.decide(a.orgId!, 'suspend', 'test');
    clock.advance(31_000);
    const changed = await client.directory();
    expect(changed.ok && !changed.fromCache && changed.doc.members[0]?.status).toBe('suspended');
    expect(changed.ok && first.ok && changed.doc.version).toBeGreaterThan(first.ok ? first.doc.version : Infinity);
  });

  it('rejects a directory signed by another key and a stale one', async () => {
    using dir = tempDir('ssmax-dirc-');
    const clock = new FakeClock(Date.now());
    await using reg = await Registry.start({
      dataDir: dir.path,
      signer: SoftwareKey.generate('EC-P256'),
      clock: clock.now,
      log: () => {},
      publisher: { documentFreshnessSeconds: 600 },
    });
    using dir2 = tempDir('ssmax-dirc-');
    await using other = await Registry.start({ dataDir: dir2.path, signer: SoftwareKey.generate('EC-P256'), clock: clock.now, log: () => {} });
    const wrongRoot = new DirectoryClient(reg.url, other.rootCertificate, clock.now);
    const r = await wrongRoot.directory();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/untrusted signer/);

    // A client whose clock is past nextUpdate must refuse the (cached-by-server) document.
    await new DirectoryClient(reg.url, reg.rootCertificate, clock.now).directory();
    const late = new DirectoryClient(reg.url, reg.rootCertificate, () => new Date(clock.now().getTime() + 601_000));
    const stale = await late.directory();
    expect(stale.ok).toBe(false);
    expect(!stale.ok && stale.reason).toMatch(/stale/);
  });
});
