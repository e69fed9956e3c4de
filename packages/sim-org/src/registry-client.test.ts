/**
 * RegistryClient reading signed registry documents whose JSON has the wrong shape. Regression for the fuzz run of
 * issue 11 item 4 (registry-json target): a document signed by the registry root with `null` content, without
 * `members`, or with a member without `domains` made directory(), memberByDomain() and status() throw TypeError.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SoftwareKey, SsmaxError, issueRootCertificate, signSignedData, type CertificateInfo } from '@ssmax/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from './registry-client.js';

const now = new Date('2026-06-01T00:00:00Z');
let rootKey: SoftwareKey;
let root: CertificateInfo;
let server: Server;
let url = '';
let served: Uint8Array = new Uint8Array(0);

const member = { orgId: 'org-a', name: 'Org A', domains: ['org-a.example'], mode: 'org', status: 'admitted', orgCertificate: 'AAAA' };
const header = { version: 1, issuer: 'SSMAX Registry', issuedAt: '2026-06-01T00:00:00.000Z', nextUpdate: '2026-06-01T01:00:00.000Z' };

beforeAll(async () => {
  rootKey = SoftwareKey.generate('EC-P256');
  root = await issueRootCertificate({ subject: { CN: 'Registry Root' }, key: rootKey, now: () => now });
  server = createServer((req, res) => {
    req.resume();
    res.end(Buffer.from(served));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Serves `content` signed by the registry root and returns a fresh client. */
async function clientServing(content: string): Promise<RegistryClient> {
  served = await signSignedData(new Uint8Array(Buffer.from(content)), { key: rootKey, certificate: root.der, signingTime: now });
  return new RegistryClient({ url, rootCertificate: root.der, clock: () => now, maxAgeSeconds: 0 });
}

async function refusal(p: Promise<unknown>): Promise<SsmaxError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof SsmaxError)) throw new Error(`expected an SsmaxError, got ${String(e)}`);
  return e;
}

describe('RegistryClient', () => {
  it('accepts a root-signed directory of the documented shape and finds its member', async () => {
    const c = await clientServing(JSON.stringify({ type: 'ssmax-directory', ...header, members: [member] }));
    expect((await c.memberByDomain('org-a.example'))?.orgId).toBe('org-a');
  });

  it.each([
    ['null content', 'null', /Cannot accept the registry ssmax-directory\. It does not match its schema \(the document must be object\)/],
    ['no members', JSON.stringify({ type: 'ssmax-directory', ...header }), /must have required property 'members'/],
    [
      'a member without domains',
      JSON.stringify({ type: 'ssmax-directory', ...header, members: [{ ...member, domains: undefined }] }),
      /\/members\/0 must have required property 'domains'/,
    ],
    [
      'domains that are not strings',
      JSON.stringify({ type: 'ssmax-directory', ...header, members: [{ ...member, domains: [7] }] }),
      /\/members\/0\/domains\/0 must be string/,
    ],
    ['content that is not JSON', '{"type":', /Cannot accept the registry ssmax-directory\. Its content is not UTF-8 JSON\./],
    ['a status document where the directory belongs', JSON.stringify({ type: 'ssmax-status', ...header, members: [] }), /\/type must be equal to constant/],
  ])('refuses a signed directory with %s as MALFORMED_CMS instead of a TypeError', async (_what, content, message) => {
    const c = await clientServing(content);
    const e = await refusal(c.memberByDomain('org-a.example'));
    expect(e.code).toBe('MALFORMED_CMS');
    expect(e.message).toMatch(message);
  });

  it('refuses a signed status document whose orgs entry is null as MALFORMED_CMS', async () => {
    const c = await clientServing(JSON.stringify({ type: 'ssmax-status', ...header, orgs: [null] }));
    const e = await refusal(c.statusOf('org-a'));
    expect(e.code).toBe('MALFORMED_CMS');
    expect(e.message).toMatch(/\/orgs\/0 must be object/);
  });
});
