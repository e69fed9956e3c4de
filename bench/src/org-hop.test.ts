import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContentCipher } from '@ssmax/core';
import { createBenchPki, fixedContent, makeIncoming, makeWorkDir, openssl, opensslCipher, recipientKeyopts, type BenchPki, type Suite } from './fixtures.js';
import { orgHopFile, type OrgHopOptions } from './org-hop.js';

let dir: string;
let pki: BenchPki;

beforeAll(() => {
  dir = makeWorkDir();
  pki = createBenchPki(join(dir, 'pki'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hopOptions(suite: Suite, cipher: ContentCipher, extra: Partial<OrgHopOptions> = {}): OrgHopOptions {
  const p = pki.suites[suite];
  return { key: p.org.key, certificate: p.org.certDer, trustAnchors: [pki.caDer], recipients: [p.next.certDer], cipher, ...extra };
}

/** Decrypts and verifies the hop output with openssl as the next party; returns the content. */
function opensslReceive(suite: Suite, outPath: string): Buffer {
  const p = pki.suites[suite];
  const signed = join(dir, 'rx-signed.der');
  const content = join(dir, 'rx-content.bin');
  openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', outPath, '-recip', p.next.certPath, '-inkey', p.next.keyPath, '-out', signed]);
  openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-in', signed, '-CAfile', pki.caPath, '-out', content]);
  // The organisation, not the sender, must be the signer now.
  const signers = join(dir, 'rx-signers.pem');
  openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-in', signed, '-CAfile', pki.caPath, '-out', '/dev/null', '-signer', signers]);
  expect(readFileSync(signers, 'latin1')).toContain(readFileSync(p.org.certPath, 'latin1').trim().split('\n')[1]);
  return readFileSync(content);
}

describe('orgHopFile', () => {
  for (const [suite, cipher, size] of [
    ['ec', 'aes-256-gcm', 1024],
    ['rsa', 'aes-256-cbc', 1024],
    ['rsa', 'aes-256-gcm', 5 << 20], // above the read-whole threshold: the streamed path
    ['ec', 'aes-256-cbc', (5 << 20) + 7],
  ] as const) {
    it(`re-encrypts to the next party and re-signs as the organisation when the input is ${suite}/${cipher}/${size} B`, async () => {
      const { inPath } = makeIncoming(pki, dir, suite, cipher, size);
      const outPath = join(dir, `out-${suite}-${cipher}-${size}.der`);
      const r = await orgHopFile(inPath, outPath, hopOptions(suite, cipher));
      expect(r.committed).toBe(true);
      expect(r.contentLength).toBe(size);
      expect(opensslReceive(suite, outPath).equals(Buffer.from(fixedContent(size)))).toBe(true);
    });
  }

  it('throws and leaves no output when the AES-GCM tag of the input was altered', async () => {
    const size = 5 << 20;
    const { inPath } = makeIncoming(pki, dir, 'ec', 'aes-256-gcm', size);
    const bad = readFileSync(inPath);
    bad[bad.length - 1]! ^= 0x01; // the mac OCTET STRING is the last element (RFC 5083 §2.1)
    const badPath = join(dir, 'tampered.der');
    writeFileSync(badPath, bad);
    const outPath = join(dir, 'tampered-out.der');
    const seen: number[] = [];
    await expect(
      orgHopFile(badPath, outPath, hopOptions('ec', 'aes-256-gcm', { inspect: (c) => (seen.push(c.byteLength), { allow: true, reasons: [] }) })),
    ).rejects.toMatchObject({ code: 'AUTH_TAG_MISMATCH' });
    expect(existsSync(outPath)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('tampered-out'))).toEqual([]);
    // Whole-content inspection runs after the tag: it never saw the forged plaintext.
    expect(seen).toEqual([]);
  });

  it('refuses to forward when the inspection blocks', async () => {
    const { inPath } = makeIncoming(pki, dir, 'ec', 'aes-256-gcm', 1024);
    const outPath = join(dir, 'blocked.der');
    const r = await orgHopFile(inPath, outPath, hopOptions('ec', 'aes-256-gcm', { inspect: () => ({ allow: false, reasons: ['test rule'] }) }));
    expect(r).toMatchObject({ committed: false, verdict: { allow: false, reasons: ['test rule'] } });
    expect(existsSync(outPath)).toBe(false);
  });

  it('refuses to forward when the sender does not chain to the trust anchor', async () => {
    const { inPath } = makeIncoming(pki, dir, 'rsa', 'aes-256-gcm', 1024);
    const outPath = join(dir, 'untrusted.der');
    // The organisation certificate is no CA: the sender's chain cannot be built from it.
    const r = await orgHopFile(inPath, outPath, hopOptions('rsa', 'aes-256-gcm', { trustAnchors: [pki.suites.rsa.org.certDer] }));
    expect(r.committed).toBe(false);
    expect(existsSync(outPath)).toBe(false);
  });
  it('refuses to forward when the signed content was altered inside a valid envelope', async () => {
    // The sender's SignedData with one content byte flipped, then properly encrypted to the org: only
    // the messageDigest check over the streamed content can catch it.
    const size = (5 << 20) + 3;
    const p = pki.suites.ec;
    const contentPath = join(dir, 'alter-content.bin');
    writeFileSync(contentPath, fixedContent(size));
    const signedPath = join(dir, 'alter-signed.der');
    openssl([
      'cms',
      '-sign',
      '-binary',
      '-nodetach',
      '-outform',
      'DER',
      '-md',
      'sha256',
      '-in',
      contentPath,
      '-signer',
      p.sender.certPath,
      '-inkey',
      p.sender.keyPath,
      '-out',
      signedPath,
    ]);
    const signed = readFileSync(signedPath);
    const at = signed.indexOf(Buffer.from(fixedContent(64)));
    expect(at).toBeGreaterThan(0);
    signed[at + 1000]! ^= 0x20;
    writeFileSync(signedPath, signed);
    const inPath = join(dir, 'alter-in.der');
    openssl([
      'cms',
      '-encrypt',
      '-binary',
      '-outform',
      'DER',
      opensslCipher('aes-256-gcm'),
      '-in',
      signedPath,
      '-out',
      inPath,
      '-recip',
      p.org.certPath,
      ...recipientKeyopts('ec'),
    ]);
    const outPath = join(dir, 'alter-out.der');
    const r = await orgHopFile(inPath, outPath, hopOptions('ec', 'aes-256-gcm'));
    expect(r.committed).toBe(false);
    expect(r.verdict.allow).toBe(false);
    expect(r.verdict.reasons.join(' ')).toMatch(/digest/i);
    expect(existsSync(outPath)).toBe(false);
  });
});
