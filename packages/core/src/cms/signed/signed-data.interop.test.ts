import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Oids } from '../../oids.js';
import { createOpensslPki, type OpensslIdentity, type OpensslPki } from '../../testing/openssl-pki.js';
import type { SignScheme } from '../../tokens/token.js';
import { readBer, type BerElement } from '../common/index.js';
import { signSignedData } from './sign-signed-data.js';
import { verifySignedData } from './verify-signed-data.js';

let pki: OpensslPki;
let n = 0;
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

/** Writes bytes into the PKI temp dir and returns the path (cleaned up with the PKI). */
function file(bytes: Uint8Array, ext = 'bin'): string {
  const p = join(pki.dir, `f${++n}.${ext}`);
  writeFileSync(p, bytes);
  return p;
}

/** Content with CR, LF, NUL and high bytes, so any text-mode canonicalisation would show. */
function awkwardContent(size = 4096): Uint8Array {
  const c = new Uint8Array(randomBytes(size));
  c.set(Buffer.from('line one\r\nline two\nno newline at end\r\r\n\x00\xff'), 0);
  return c;
}

function opensslVerify(sig: Uint8Array, detachedContent?: Uint8Array): { status: number; out: Buffer; stderr: string } {
  const outPath = join(pki.dir, `out${++n}.bin`);
  const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', file(sig, 'der'), '-CAfile', pki.caCertPath, '-purpose', 'smimesign', '-out', outPath];
  if (detachedContent) args.push('-content', file(detachedContent));
  const r = pki.openssl(args);
  let out = Buffer.alloc(0);
  try {
    out = readFileSync(outPath);
  } catch {
    // openssl writes no output file when verification fails early.
  }
  return { status: r.status, out, stderr: r.stderr };
}

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const c = bytes.slice();
  c[at] = (c[at] as number) ^ 0x01;
  return c;
}

/** Offset of the last byte of the first SignerInfo's signature value (located with our BER reader). */
function signatureLastByte(der: Uint8Array): number {
  const sd = readBer(der, 't').children[1]!.children[0]!;
  const si = sd.children[sd.children.length - 1]!.children[0]!;
  const sig = si.children.find((c, i) => i > 3 && c.tagClass === 0 && c.tagNumber === 4) as BerElement;
  return sig.contentEnd - 1;
}

const cases: Array<{ scheme: SignScheme; who: 'rsa' | 'ec' }> = [
  { scheme: 'RSASSA-PKCS1-v1_5-SHA256', who: 'rsa' },
  { scheme: 'RSASSA-PSS-SHA256', who: 'rsa' },
  { scheme: 'ECDSA-SHA256', who: 'ec' },
];

describe('signSignedData (openssl cms -verify as oracle)', () => {
  for (const { scheme, who } of cases) {
    for (const detached of [false, true]) {
      const mode = detached ? 'detached' : 'attached';
      it(`is accepted by openssl with identical content when ${scheme} ${mode}`, async () => {
        const id: OpensslIdentity = pki[who];
        const content = awkwardContent();
        const sig = await signSignedData(content, { key: id.key, certificate: id.certDer, scheme, detached });
        const r = opensslVerify(sig, detached ? content : undefined);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        expect(Buffer.compare(r.out, Buffer.from(content))).toBe(0);
      });

      it(`is rejected by openssl when ${scheme} ${mode} content or signature changes by one byte`, async () => {
        const id = pki[who];
        const content = awkwardContent();
        const sig = await signSignedData(content, { key: id.key, certificate: id.certDer, scheme, detached });
        const badSig = flip(sig, signatureLastByte(sig));
        expect(opensslVerify(badSig, detached ? content : undefined).status).not.toBe(0);
        if (detached) {
          expect(opensslVerify(sig, flip(content, 100)).status).not.toBe(0);
        } else {
          const at = Buffer.from(sig).indexOf(Buffer.from(content));
          expect(at).toBeGreaterThan(0);
          expect(opensslVerify(flip(sig, at + 100)).status).not.toBe(0);
        }
      });
    }
  }

  it('is accepted by openssl when only the content digest is signed (streaming path)', async () => {
    const content = awkwardContent(100_000);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', content));
    const sig = await signSignedData({ digest }, { key: pki.ec.key, certificate: pki.ec.certDer, detached: true });
    const r = opensslVerify(sig, content);
    expect(r.status).toBe(0);
    expect(opensslVerify(sig, flip(content, 5)).status).not.toBe(0);
  });

  it('is accepted by openssl when the content is 20 MiB and attached', async () => {
    const content = new Uint8Array(randomBytes(20 * 1024 * 1024));
    const sig = await signSignedData(content, { key: pki.rsa.key, certificate: pki.rsa.certDer, scheme: 'RSASSA-PSS-SHA256' });
    const r = opensslVerify(sig);
    expect(r.status).toBe(0);
    expect(r.out.byteLength).toBe(content.byteLength);
    expect(Buffer.compare(r.out, Buffer.from(content))).toBe(0);
  });

  it('carries a non-data eContentType and extra attributes that openssl prints back', async () => {
    const ct = '2.25.172299975742873968627403492381854827259.2.1';
    const extraValue = Uint8Array.from([0x0c, 0x05, ...Buffer.from('hello')]);
    const sig = await signSignedData(awkwardContent(), {
      key: pki.ec.key,
      certificate: pki.ec.certDer,
      contentType: ct,
      extraSignedAttributes: [{ type: '2.25.172299975742873968627403492381854827259.3.1', values: [extraValue] }],
      signingTime: new Date('2031-05-06T07:08:09Z'),
    });
    expect(opensslVerify(sig).status).toBe(0);
    const printed = pki.openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file(sig, 'der')]).stdout.toString();
    expect(printed).toContain(ct);
    expect(printed).toMatch(/May +6 07:08:09 2031 GMT/);
    expect(printed).toContain('hello');
    expect(printed).toMatch(/version: 3/);
  });
});

describe('verifySignedData (openssl cms -sign as producer)', () => {
  const made: Array<{ label: string; who: 'rsa' | 'ec'; pss: boolean; attached: boolean; stream: boolean; scheme: string }> = [];
  for (const who of ['rsa', 'ec'] as const) {
    for (const pss of who === 'rsa' ? [false, true] : [false]) {
      for (const attached of [true, false]) {
        // openssl 3.0 cannot write -stream -outform DER for detached or PSS signatures ("illegal zero
        // content"), so BER indefinite-length input comes from attached PKCS#1 v1.5 and ECDSA only.
        for (const stream of attached && !pss ? [false, true] : [false]) {
          made.push({
            label: `${who}${pss ? '-pss' : ''} ${attached ? 'attached' : 'detached'}${stream ? ' -stream (BER)' : ''}`,
            who,
            pss,
            attached,
            stream,
            scheme: who === 'ec' ? 'ECDSA' : pss ? 'RSASSA-PSS' : 'RSASSA-PKCS1-v1_5',
          });
        }
      }
    }
  }

  function opensslSign(c: (typeof made)[number], content: Uint8Array): Uint8Array {
    const id = pki[c.who];
    const out = join(pki.dir, `s${++n}.der`);
    const args = [
      'cms',
      '-sign',
      '-binary',
      '-md',
      'sha256',
      '-in',
      file(content),
      '-signer',
      id.certPath,
      '-inkey',
      id.keyPath,
      '-outform',
      'DER',
      '-out',
      out,
    ];
    if (c.pss) args.push('-keyopt', 'rsa_padding_mode:pss');
    if (c.attached) args.push('-nodetach');
    if (c.stream) args.push('-stream');
    const r = pki.openssl(args);
    expect(r.stderr).toBe('');
    return new Uint8Array(readFileSync(out));
  }

  for (const c of made) {
    it(`reports valid with the signer certificate when openssl signed ${c.label}`, () => {
      const content = awkwardContent(c.stream ? 70_000 : 3000);
      const der = opensslSign(c, content);
      if (c.stream) expect(der[1]).toBe(0x80);
      const v = verifySignedData(der, c.attached ? {} : { detachedContent: content });
      expect(v.allValid).toBe(true);
      expect(v.signers).toHaveLength(1);
      const s = v.signers[0]!;
      expect(s.reasons).toEqual([]);
      expect(s.scheme).toBe(c.scheme);
      expect(s.digestAlgorithm).toBe('SHA-256');
      expect(Buffer.compare(Buffer.from(s.certificate!), Buffer.from(pki[c.who].certDer))).toBe(0);
      expect(Math.abs(s.signingTime!.getTime() - Date.now())).toBeLessThan(120_000);
      expect(v.contentType).toBe(Oids.data);
      expect(v.detached).toBe(!c.attached);
      expect(Buffer.compare(Buffer.from(v.content!), Buffer.from(content))).toBe(0);
    });

    it(`reports invalid (as data) when openssl signed ${c.label} and content or signature was changed`, () => {
      const content = awkwardContent(3000);
      const der = opensslSign(c, content);
      let tamperedContent: ReturnType<typeof verifySignedData>;
      if (c.attached) {
        const at = Buffer.from(der).indexOf(Buffer.from(content.subarray(0, 500)));
        expect(at).toBeGreaterThan(0);
        tamperedContent = verifySignedData(flip(der, at + 200));
      } else {
        tamperedContent = verifySignedData(der, { detachedContent: flip(content, 200) });
      }
      expect(tamperedContent.allValid).toBe(false);
      expect(tamperedContent.signers[0]!.code).toBe('CONTENT_MISMATCH');
      const badSig = verifySignedData(flip(der, signatureLastByte(der)), c.attached ? {} : { detachedContent: content });
      expect(badSig.allValid).toBe(false);
      expect(badSig.signers[0]!.code).toBe('BAD_SIGNATURE');
    });
  }

  it('reports valid when openssl signed 8 MiB with -stream (constructed OCTET STRING segments)', () => {
    const content = new Uint8Array(randomBytes(8 * 1024 * 1024));
    const der = opensslSign({ label: '', who: 'ec', pss: false, attached: true, stream: true, scheme: 'ECDSA' }, content);
    const v = verifySignedData(der);
    expect(v.allValid).toBe(true);
    expect(Buffer.compare(Buffer.from(v.content!), Buffer.from(content))).toBe(0);
  });

  it('reports valid when openssl signed without signed attributes (-noattr)', () => {
    const content = awkwardContent(2000);
    const out = join(pki.dir, `s${++n}.der`);
    const r = pki.openssl([
      'cms',
      '-sign',
      '-binary',
      '-noattr',
      '-md',
      'sha256',
      '-nodetach',
      '-in',
      file(content),
      '-signer',
      pki.rsa.certPath,
      '-inkey',
      pki.rsa.keyPath,
      '-outform',
      'DER',
      '-out',
      out,
    ]);
    expect(r.status).toBe(0);
    const der = new Uint8Array(readFileSync(out));
    const v = verifySignedData(der);
    expect(v.signers[0]!.signedAttributes).toEqual([]);
    expect(v.allValid).toBe(true);
    const at = Buffer.from(der).indexOf(Buffer.from(content.subarray(0, 500)));
    expect(verifySignedData(flip(der, at + 10)).signers[0]!.code).toBe('BAD_SIGNATURE');
  });

  // SHA-1 is refused for RSA as well as ECDSA (signer-info-rules.test.ts, issue 10 item 11).
  for (const md of ['sha384', 'sha512']) {
    it(`reports valid when openssl signed with -md ${md}`, () => {
      const content = awkwardContent(2000);
      const out = join(pki.dir, `s${++n}.der`);
      for (const who of ['rsa', 'ec'] as const) {
        const r = pki.openssl([
          'cms',
          '-sign',
          '-binary',
          '-md',
          md,
          '-nodetach',
          '-in',
          file(content),
          '-signer',
          pki[who].certPath,
          '-inkey',
          pki[who].keyPath,
          '-outform',
          'DER',
          '-out',
          out,
        ]);
        expect(r.status).toBe(0);
        const v = verifySignedData(new Uint8Array(readFileSync(out)));
        expect(v.signers[0]!.reasons).toEqual([]);
        expect(v.signers[0]!.digestAlgorithm).toBe(md.replace('sha', 'SHA-'));
      }
    });
  }

  it('reports UNSUPPORTED_ALGORITHM (as data) when openssl signed ECDSA with SHA-1', () => {
    const out = join(pki.dir, `s${++n}.der`);
    const r = pki.openssl([
      'cms',
      '-sign',
      '-binary',
      '-md',
      'sha1',
      '-nodetach',
      '-in',
      file(awkwardContent(100)),
      '-signer',
      pki.ec.certPath,
      '-inkey',
      pki.ec.keyPath,
      '-outform',
      'DER',
      '-out',
      out,
    ]);
    expect(r.status).toBe(0);
    const v = verifySignedData(new Uint8Array(readFileSync(out)));
    expect(v.allValid).toBe(false);
    expect(v.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
  });
});
