import { generateKeyPairSync } from 'node:crypto';
import { authenticate, dkimSign } from 'mailauth';
import { spf } from 'mailauth/lib/spf/index.js';
import { resolvePolicy } from 'mailauth/lib/mta-sts.js';
import { describe, expect, it } from 'vitest';
import { DnsError, DnsZone, reverseName, splitTxt } from './dns-zone.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('DnsZone', () => {
  it('answers A, MX, TXT, CNAME and PTR in node resolver shapes when records exist', async () => {
    const zone = new DnsZone()
      .addA('mx.org-a.example', '127.9.1.2')
      .addMx('org-a.example', 'mx2.org-a.example', 20)
      .addMx('org-a.example', 'MX.org-a.example.', 10)
      .addTxt('org-a.example', 'hello world')
      .addCname('www.org-a.example', 'mx.org-a.example')
      .addPtr('127.9.1.2', 'mx.org-a.example');
    const r = zone.resolver;
    expect(await r('MX.Org-A.example.', 'A')).toEqual(['127.9.1.2']);
    expect(await r('org-a.example', 'MX')).toEqual([
      { exchange: 'mx2.org-a.example', priority: 20 },
      { exchange: 'mx.org-a.example', priority: 10 },
    ]);
    expect(await r('org-a.example', 'TXT')).toEqual([['hello world']]);
    expect(await r('www.org-a.example', 'A')).toEqual(['127.9.1.2']);
    expect(await r('www.org-a.example', 'CNAME')).toEqual(['mx.org-a.example']);
    expect(await r('2.1.9.127.in-addr.arpa', 'PTR')).toEqual(['mx.org-a.example']);
    expect(await zone.reverse('127.9.1.2')).toEqual(['mx.org-a.example']);
    expect(await r('mx.org-a.example')).toEqual(['127.9.1.2']);
  });

  it('throws ENOTFOUND for a missing name and ENODATA for a name without that type, like node', async () => {
    const zone = new DnsZone().addA('mx.org-a.example', '127.9.1.2').addTxt('s1._domainkey.org-a.example', 'v=DKIM1; p=');
    const err = await zone.resolver('nope.org-a.example', 'TXT').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsError);
    expect(err).toMatchObject({
      code: 'ENOTFOUND',
      errno: 'ENOTFOUND',
      syscall: 'queryTxt',
      hostname: 'nope.org-a.example',
      message: 'queryTxt ENOTFOUND nope.org-a.example',
    });
    expect(await codeOf(zone.resolver('mx.org-a.example', 'MX'))).toBe('ENODATA');
    // RFC 8020: an empty non-terminal exists, so it is NODATA, not NXDOMAIN.
    expect(await codeOf(zone.resolver('_domainkey.org-a.example', 'TXT'))).toBe('ENODATA');
    expect(await codeOf(zone.resolver('org-a.example', 'A'))).toBe('ENODATA');
    expect(await codeOf(zone.resolver('mx.org-a.example', 'SRV'))).toBe('ENODATA');
    expect(await codeOf(zone.resolver('mx.org-a.example', 'BOGUS'))).toBe('ERR_INVALID_ARG_VALUE');
    expect(await codeOf(zone.reverse('127.9.9.9'))).toBe('ENOTFOUND');
  });

  it('fails with the injected code when a fault is active and answers again once it is removed', async () => {
    const zone = new DnsZone().addTxt('org-a.example', 'v=spf1 -all');
    const fault = zone.injectFault({ name: 'org-a.example', rrtype: 'TXT', code: 'ESERVFAIL' });
    expect(await codeOf(zone.resolver('org-a.example', 'TXT'))).toBe('ESERVFAIL');
    {
      using _all = zone.injectFault({ name: '*', code: 'ETIMEOUT' });
      expect(await codeOf(zone.resolver('other.example', 'A'))).toBe('ETIMEOUT');
    }
    expect(await codeOf(zone.resolver('other.example', 'A'))).toBe('ENOTFOUND');
    fault.remove();
    expect(await zone.resolver('org-a.example', 'TXT')).toEqual([['v=spf1 -all']]);
    expect(zone.queries().map((q) => q.outcome)).toEqual(['ESERVFAIL', 'ETIMEOUT', 'ENOTFOUND', 'answer']);
  });

  it('splits a long TXT record into 255-byte character-strings that join back to the text', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const zone = new DnsZone();
    const text = zone.publishDkim('org-a.example', 's2048', { publicKey });
    const [record] = await zone.resolver('s2048._domainkey.org-a.example', 'TXT');
    expect(record!.length).toBeGreaterThan(1);
    expect(record!.every((c) => Buffer.byteLength(c) <= 255)).toBe(true);
    expect(record![0]!.length).toBe(255);
    expect(record!.join('')).toBe(text);
    expect(splitTxt('é'.repeat(200)).every((c) => Buffer.byteLength(c) <= 255 && !c.includes('\uFFFD'))).toBe(true);
  });

  it('does not let a caller edit the zone through an answer when the answer is mutated', async () => {
    const zone = new DnsZone().addMx('org-a.example', 'mx.org-a.example', 10);
    const answer = await zone.resolver('org-a.example', 'MX');
    (answer[0] as { priority: number }).priority = 99;
    answer.pop();
    expect(await zone.resolver('org-a.example', 'MX')).toEqual([{ exchange: 'mx.org-a.example', priority: 10 }]);
  });

  it('builds in-addr.arpa and ip6.arpa names when given addresses', () => {
    expect(reverseName('127.3.2.1')).toBe('1.2.3.127.in-addr.arpa');
    expect(reverseName('2001:db8::1')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });

  it('lets mailauth compute SPF pass for the listed 127.x address and fail for another', async () => {
    const zone = new DnsZone();
    expect(zone.publishSpf('org-a.example', { ip4: ['127.9.1.2'] })).toBe('v=spf1 ip4:127.9.1.2 -all');
    const pass = await spf({ sender: 'alice@org-a.example', ip: '127.9.1.2', helo: 'mx.org-a.example', mta: 'mx.org-b.example', resolver: zone.resolver });
    const fail = await spf({ sender: 'alice@org-a.example', ip: '127.9.1.3', helo: 'mx.org-a.example', mta: 'mx.org-b.example', resolver: zone.resolver });
    expect(pass.status.result).toBe('pass');
    expect(fail.status.result).toBe('fail');
    // Replacing, not adding: two SPF records would be a permerror (RFC 7208 §4.5).
    zone.publishSpf('org-a.example', { ip4: ['127.9.1.3'] });
    const moved = await spf({ sender: 'alice@org-a.example', ip: '127.9.1.3', helo: 'h.example', mta: 'mx.org-b.example', resolver: zone.resolver });
    expect(moved.status.result).toBe('pass');
  });

  it('gives mailauth temperror when the SPF lookup times out', async () => {
    const zone = new DnsZone();
    zone.publishSpf('org-a.example', { ip4: ['127.9.1.2'] });
    zone.injectFault({ name: 'org-a.example', code: 'ETIMEOUT' });
    const res = await spf({ sender: 'alice@org-a.example', ip: '127.9.1.2', helo: 'mx.org-a.example', mta: 'mx', resolver: zone.resolver });
    expect(res.status.result).toBe('temperror');
  });

  it.each(['rsa', 'ed25519'] as const)('lets mailauth verify DKIM (%s), SPF and find the DMARC record when all are published', async (alg) => {
    const { publicKey, privateKey } = alg === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
    const zone = new DnsZone();
    zone.publishSpf('org-a.example', { ip4: ['127.9.1.2'] });
    const dkim = zone.publishDkim('org-a.example', 'sel1', { publicKey });
    // RFC 8463 §4.2: Ed25519 keys are published bare (32 bytes), RSA keys as SubjectPublicKeyInfo.
    const p = Buffer.from(/p=([^;]+)$/.exec(dkim)![1]!, 'base64');
    expect(
      p.equals(alg === 'ed25519' ? publicKey.export({ type: 'spki', format: 'der' }).subarray(-32) : publicKey.export({ type: 'spki', format: 'der' })),
    ).toBe(true);
    expect(zone.publishDmarc('org-a.example', { p: 'reject', rua: ['mailto:dmarc@org-a.example'] })).toBe('v=DMARC1; p=reject; rua=mailto:dmarc@org-a.example');
    const message = Buffer.from('From: alice@org-a.example\r\nTo: bob@org-b.example\r\nSubject: hi\r\nMessage-ID: <1@org-a.example>\r\n\r\nhello\r\n');
    const signed = await dkimSign(message, {
      signatureData: [{ signingDomain: 'org-a.example', selector: 'sel1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }],
    } as never);
    const input = Buffer.concat([Buffer.from(signed.signatures), message]);
    const result = await authenticate(input, {
      ip: '127.9.1.2',
      sender: 'alice@org-a.example',
      helo: 'mx.org-a.example',
      mta: 'mx.org-b.example',
      resolver: zone.resolver,
      disableArc: true,
      disableBimi: true,
    });
    expect(result.dkim.results[0]?.status.result).toBe('pass');
    expect(result.spf && result.spf.status.result).toBe('pass');
    expect(result.dmarc && result.dmarc.status.result).toBe('pass');
    expect(result.dmarc && 'policy' in result.dmarc ? result.dmarc.policy : undefined).toBe('reject');

    const forged = await authenticate(input, {
      ip: '127.9.1.66',
      sender: 'alice@org-a.example',
      helo: 'evil.example',
      mta: 'mx.org-b.example',
      resolver: zone.resolver,
      disableArc: true,
      disableBimi: true,
    });
    expect(forged.spf && forged.spf.status.result).toBe('fail');
  });

  it('gives DMARC fail with policy reject when neither SPF nor DKIM align', async () => {
    const zone = new DnsZone();
    zone.publishSpf('org-a.example', { ip4: ['127.9.1.2'] });
    zone.publishDmarc('org-a.example', { p: 'reject' });
    const message = Buffer.from('From: alice@org-a.example\r\nTo: bob@org-b.example\r\nSubject: hi\r\n\r\nhello\r\n');
    const result = await authenticate(message, {
      ip: '127.9.1.66',
      sender: 'alice@org-a.example',
      helo: 'evil.example',
      mta: 'mx.org-b.example',
      resolver: zone.resolver,
      disableArc: true,
      disableBimi: true,
    });
    expect(result.dmarc && result.dmarc.status.result).toBe('fail');
    expect(zone.queries().some((q) => q.name === '_dmarc.org-a.example' && q.outcome === 'answer')).toBe(true);
  });

  it('publishes MTA-STS and TLSRPT records that mailauth and RFC 8460 parsers read', async () => {
    const zone = new DnsZone();
    zone.publishMtaSts('org-b.example', { id: '20240101', mode: 'enforce', mx: ['mx.org-b.example'], maxAge: 86400 });
    expect(await resolvePolicy('bob@org-b.example', { resolver: zone.resolver })).toBe('20240101');
    expect(zone.mtaStsPolicy('org-b.example')).toBe('version: STSv1\nmode: enforce\nmx: mx.org-b.example\nmax_age: 86400\n');
    expect(() => zone.publishMtaSts('org-b.example', { id: 'not-valid!', mode: 'enforce', mx: [], maxAge: 1 })).toThrow(/RFC 8461/);
    zone.withdrawMtaSts('org-b.example');
    expect(await resolvePolicy('org-b.example', { resolver: zone.resolver })).toBe(false);
    zone.publishTlsRpt('org-b.example', ['mailto:tlsrpt@org-b.example']);
    expect(await zone.resolver('_smtp._tls.org-b.example', 'TXT')).toEqual([['v=TLSRPTv1; rua=mailto:tlsrpt@org-b.example']]);
  });

  it('takes back what was added, replaced and removed after a snapshot when restored', async () => {
    const zone = new DnsZone().addA('mx.org-a.example', '127.9.1.2').addMx('org-a.example', 'mx.org-a.example', 10);
    zone.publishDmarc('org-a.example', { p: 'none' });
    zone.publishMtaSts('org-a.example', { id: 'a1', mode: 'testing', mx: ['mx.org-a.example'], maxAge: 86400 });
    const before = zone.snapshot();
    // One cell registers a look-alike with p=reject, replaces org-a's DMARC, adds an MX and drops org-a's A record.
    zone.addMx('partner-z.example', 'mx.partner-z.example', 10).addA('mx.partner-z.example', '127.9.1.9');
    zone.publishDmarc('partner-z.example', { p: 'reject' });
    zone.publishDmarc('org-a.example', { p: 'reject' });
    zone.addMx('org-a.example', 'mx2.org-a.example', 20);
    zone.remove('mx.org-a.example', 'A');
    zone.withdrawMtaSts('org-a.example');
    zone.restore(before);
    await expect(zone.resolver('_dmarc.partner-z.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(zone.resolver('partner-z.example', 'MX')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(await zone.resolver('_dmarc.org-a.example', 'TXT')).toEqual([['v=DMARC1; p=none']]);
    expect(await zone.resolver('org-a.example', 'MX')).toEqual([{ exchange: 'mx.org-a.example', priority: 10 }]);
    expect(await zone.resolver('mx.org-a.example', 'A')).toEqual(['127.9.1.2']);
    expect(zone.mtaStsPolicy('org-a.example')).toContain('mode: testing');
    // The snapshot is not tied to the zone: changes after the restore do not reach it, so it restores again.
    zone.addMx('org-a.example', 'mx3.org-a.example', 30);
    zone.restore(before);
    expect(await zone.resolver('org-a.example', 'MX')).toEqual([{ exchange: 'mx.org-a.example', priority: 10 }]);
  });
});
