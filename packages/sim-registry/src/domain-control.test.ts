/**
 * Issue 10 item 10: the registry admitted any applicant for any domain no member held yet, so an
 * attacker could enrol a partner company's domain and sign mail as that company. Enrolment (1) now needs
 * proof of control of each domain: a DNS TXT record with a registry token bound to the applicant's org CA
 * key (domain-control.ts). Every case runs the real registry over HTTP against a real simulated zone.
 */
import { describe, expect, it } from 'vitest';
import { SoftwareKey } from '@ssmax/core';
import { DnsZone } from '@ssmax/sim-net';
import { Registry } from './registry.js';
import {
  FakeClock,
  b64,
  goodEvaluation,
  makeApplication,
  makeOrgKeys,
  postJson,
  provedApplication,
  requestChallenges,
  seededRandom,
  tempDir,
  type OrgKeys,
} from './testing/fixtures.js';
import type { CriterionResult, DomainChallenge, EnrolmentResult } from './types.js';

const rootKey = SoftwareKey.generate('EC-P256');
const DOMAIN = 'partner.example';

interface Bed extends AsyncDisposable {
  readonly reg: Registry;
  readonly zone: DnsZone;
  readonly clock: FakeClock;
}

async function bed(domainControl?: boolean): Promise<Bed> {
  const dir = tempDir('ssmax-domctl-');
  const zone = new DnsZone();
  const clock = new FakeClock(Date.parse('2026-05-01T09:00:00Z'));
  const reg = await Registry.start({
    dataDir: dir.path,
    signer: rootKey,
    clock: clock.now,
    random: seededRandom(dir.path),
    log: () => {},
    resolver: zone.resolver,
    ...(domainControl === undefined ? {} : { domainControl }),
  });
  return { reg, zone, clock, [Symbol.asyncDispose]: async () => (await reg.close(), dir[Symbol.dispose]()) };
}

async function apply(
  b: Bed,
  keys: OrgKeys,
  challenges: readonly DomainChallenge[] | undefined,
  domains = [DOMAIN],
  audit?: string,
): Promise<{ status: number; res: EnrolmentResult }> {
  const ev = goodEvaluation(b.clock.now());
  const app = await makeApplication(keys, {
    name: 'Partner Co',
    domains,
    evaluation: audit ? { ...ev, lastAudit: { ...ev.lastAudit, date: audit } } : ev,
    ...(challenges ? { domainChallenges: challenges.map((c) => c.id) } : {}),
  });
  const r = await postJson(`${b.reg.url}/v1/enrolments`, app);
  return { status: r.status, res: r.json as EnrolmentResult };
}

function domainControl(res: EnrolmentResult): CriterionResult | undefined {
  return res.failedCriteria.find((c) => c.id === 'E11-domain-control');
}

/** The refusal names E11 alone, and its reason names the domain and what DNS held. */
function expectRefusedForDomain(r: { status: number; res: EnrolmentResult }, what: RegExp): void {
  expect(r.status).toBe(422);
  expect(r.res.decision).toBe('refused');
  expect(r.res.certificates).toBeUndefined();
  expect(r.res.failedCriteria.map((c) => c.id)).toEqual(['E11-domain-control']);
  expect(domainControl(r.res)!.reason).toMatch(new RegExp(`${DOMAIN.replace('.', '\\.')}: `));
  expect(domainControl(r.res)!.reason).toMatch(what);
}

describe('issue 10 item 10: the registry admits anyone for any unclaimed domain', () => {
  it('admits an applicant that published the challenge token for its key in the domain, and issues the org certificate for that domain', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const r = await postJson(
      `${b.reg.url}/v1/enrolments`,
      await provedApplication(b.reg.url, b.zone, keys, { name: 'Partner Co', domains: [DOMAIN], evaluation: goodEvaluation(b.clock.now()) }),
    );
    expect(r.status).toBe(201);
    const res = r.json as EnrolmentResult;
    expect(res.decision).toBe('admitted');
    const e11 = res.criteria.find((c) => c.id === 'E11-domain-control')!;
    expect(e11.passed).toBe(true);
    expect(e11.reason).toMatch(/partner\.example: TXT _ssmax-challenge\.partner\.example carries the token of challenge chl-/);
  });

  it('refuses an applicant that names no challenge, or a challenge whose TXT record nobody published', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    expectRefusedForDomain(await apply(b, keys, undefined), /no challenge for partner\.example is named/);
    const challenges = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    expectRefusedForDomain(await apply(b, keys, challenges), /no TXT record at _ssmax-challenge\.partner\.example \(ENOTFOUND\)/);
    expect(b.reg.decisions().map((d) => d.kind)).toEqual(['refuse', 'refuse']);
  });

  it('refuses a TXT record with another token, and the right token published under the wrong name', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const [c] = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    b.zone.addTxt(c!.txtName, 'ssmax-domain-verification=not-the-token');
    b.zone.addTxt(c!.txtName, 'v=spf1 -all');
    expectRefusedForDomain(await apply(b, keys, [c!]), /holds 2 TXT record\(s\) "ssmax-domain-verification=not-the-token", "v=spf1 -all", none with the token/);
    // What an attacker can publish: the token under a name in a zone it holds, or at names other than
    // the challenge name (the apex, a look-alike's challenge name).
    const [c2] = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    b.zone.addTxt(`${c2!.txtName}.attacker.example`, c2!.txtValue);
    b.zone.addTxt('_ssmax-challenge.partner-example.example', c2!.txtValue);
    b.zone.addTxt(DOMAIN, c2!.txtValue);
    b.zone.addTxt(`www.${DOMAIN}`, c2!.txtValue);
    expectRefusedForDomain(await apply(b, keys, [c2!]), /holds 2 TXT record\(s\) .*none with the token of challenge /);
  });

  it('refuses an applicant naming a published challenge that was issued for another org CA key', async () => {
    await using b = await bed();
    const owner = makeOrgKeys();
    const attacker = makeOrgKeys();
    // The partner asked for a challenge and published it; the TXT value is public from then on.
    const [c] = await requestChallenges(b.reg.url, owner.orgCa, [DOMAIN]);
    b.zone.addTxt(c!.txtName, c!.txtValue);
    expectRefusedForDomain(await apply(b, attacker, [c!]), /challenge chl-[0-9a-f]{16} was issued for another org CA key/);
    // The attacker's own challenge for the domain, with the partner's record in DNS: the token differs.
    const [mine] = await requestChallenges(b.reg.url, attacker.orgCa, [DOMAIN]);
    expectRefusedForDomain(await apply(b, attacker, [mine!]), /holds 1 TXT record\(s\) "ssmax-domain-verification=[^"]+", none with the token/);
    // The partner itself is still admitted with its challenge: the attempts did not use it up.
    const ok = await apply(b, owner, [c!]);
    expect(ok.status).toBe(201);
  });

  it('refuses an expired challenge', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const [c] = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    expect(Date.parse(c!.expiresAt) - b.clock.now().getTime()).toBe(24 * 3_600_000);
    b.zone.addTxt(c!.txtName, c!.txtValue);
    b.clock.advance(24 * 3_600_000 + 1000);
    expectRefusedForDomain(await apply(b, keys, [c!]), new RegExp(`challenge ${c!.id} expired at ${c!.expiresAt.replace(/\./g, '\\.')}`));
  });

  it('uses a challenge up once it proved its domain, even when the application was refused for something else', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const [c] = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    b.zone.addTxt(c!.txtName, c!.txtValue);
    const stale = new Date(b.clock.now().getTime() - 400 * 86_400_000).toISOString().slice(0, 10);
    const first = await apply(b, keys, [c!], [DOMAIN], stale);
    expect(first.res.failedCriteria.map((x) => x.id)).toEqual(['E6-audit-current']);
    expectRefusedForDomain(await apply(b, keys, [c!]), new RegExp(`challenge ${c!.id} was already used at `));
    // A fresh challenge, published the same way, admits.
    const [again] = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    b.zone.addTxt(again!.txtName, again!.txtValue);
    expect((await apply(b, keys, [again!])).status).toBe(201);
  });

  it('needs every domain of the application proved, and says which one failed', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const cs = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN, 'partner.co.example']);
    b.zone.addTxt(cs[0]!.txtName, cs[0]!.txtValue);
    const r = await apply(b, keys, cs, [DOMAIN, 'partner.co.example']);
    expect(r.status).toBe(422);
    const reason = domainControl(r.res)!.reason;
    expect(reason).toMatch(/partner\.example: TXT _ssmax-challenge\.partner\.example carries the token/);
    expect(reason).toMatch(/partner\.co\.example: no TXT record at _ssmax-challenge\.partner\.co\.example/);
  });

  it('refuses when the DNS lookup fails (SERVFAIL), saying so', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const [c] = await requestChallenges(b.reg.url, keys.orgCa, [DOMAIN]);
    b.zone.addTxt(c!.txtName, c!.txtValue);
    using _fault = b.zone.injectFault({ name: c!.txtName, code: 'ESERVFAIL' });
    expectRefusedForDomain(await apply(b, keys, [c!]), /the TXT lookup of _ssmax-challenge\.partner\.example failed \(ESERVFAIL\)/);
  });

  it('answers 400 naming the field for a malformed challenge request or challenge list', async () => {
    await using b = await bed();
    const keys = makeOrgKeys();
    const url = `${b.reg.url}/v1/enrolment/challenges`;
    const noDomains = await postJson(url, { domains: [], orgCaSpki: b64(keys.orgCa.spki) });
    expect(noDomains.status).toBe(400);
    expect(noDomains.json.error.message).toMatch(/Field "domains" must name at least one mail domain/);
    const badDomain = await postJson(url, { domains: ['Not A Domain'], orgCaSpki: b64(keys.orgCa.spki) });
    expect(badDomain.json.error.message).toMatch(/Field "domains\[0\]" must be a DNS domain name/);
    const badKey = await postJson(url, { domains: [DOMAIN], orgCaSpki: 'AAAA' });
    expect(badKey.status).toBe(400);
    expect(badKey.json.error.message).toMatch(/Field "orgCaSpki" must be a DER SubjectPublicKeyInfo/);
    const app = await makeApplication(keys, { name: 'X', domains: [DOMAIN], evaluation: goodEvaluation(b.clock.now()) });
    const badIds = await postJson(`${b.reg.url}/v1/enrolments`, { ...app, domainChallenges: ['../etc/passwd'] });
    expect(badIds.status).toBe(400);
    expect(badIds.json.error.message).toMatch(/Field "domainChallenges\[0\]" must be a challenge id/);
    expect(b.reg.decisions()).toEqual([]);
  });

  it('admits without a TXT record only when domain control is switched off (falsifiability runs)', async () => {
    await using b = await bed(false);
    const r = await apply(b, makeOrgKeys(), undefined);
    expect(r.status).toBe(201);
    expect(r.res.criteria.find((c) => c.id === 'E11-domain-control')!.reason).toMatch(/Not checked: domain control is switched off/);
  });
});
