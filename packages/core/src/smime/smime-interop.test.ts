/**
 * External oracles for the S/MIME layer: gpgsm 2.2 and the openssl 3.0 CLI read what we build (framing by
 * smime/, SignedData by cms/signed's signSignedData, envelopes by cms/enveloped's encryptContent), and we read
 * and verify (verifySignedData) what openssl builds. Certificates come from the openssl CLI, not from our X.509.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xorByte } from '../testing/bytes.js';
import { createOpensslPki, type OpensslIdentity, type OpensslPki } from '../testing/openssl-pki.js';
import { encryptContent, signSignedData, verifySignedData } from '../cms/index.js';
import { buildMimeEntity, buildMultipartSigned, buildPkcs7Mime, parseSmime } from './index.js';

let pki: OpensslPki;
let dir: string;
let n = 0;

beforeAll(() => {
  pki = createOpensslPki();
  dir = mkdtempSync(join(tmpdir(), 'ssmax-smime-interop-'));
});
afterAll(() => {
  pki?.[Symbol.dispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function tmpFile(data: Uint8Array | string): string {
  const p = join(dir, `f${++n}`);
  writeFileSync(p, data);
  return p;
}

function openssl(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('openssl', args, { cwd: dir });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Our SignedData over `content` (SHA-256; PKCS#1 v1.5 for RSA, ECDSA for EC), detached unless `attached`. */
function sign(content: Uint8Array, id: OpensslIdentity, attached = false): Promise<Uint8Array> {
  return signSignedData(content, { key: id.key, certificate: id.certDer, detached: !attached });
}

const entity = (): Uint8Array =>
  buildMimeEntity({
    text: 'Quarterly figures attached.\nRegards',
    attachments: [{ filename: 'figures.csv', contentType: 'text/csv', content: new Uint8Array(Buffer.from('a,b\n1,2\n')) }],
  });

/**
 * An isolated gpgsm home: its own keybox and trustlist, no dirmngr (no network), CRL and policy checks off because
 * the openssl test PKI publishes neither. Only PKCS#1 v1.5 and ECDSA are graded here; gpgsm 2.2.40 verifies our
 * RSASSA-PSS too (SHA-256/384/512), measured in core/src/cms/gpgsm-issue12.interop.test.ts.
 */
class GpgsmHome implements Disposable {
  readonly home = mkdtempSync(join(tmpdir(), 'ssmax-gpgsm-'));
  private readonly env = { ...process.env, GNUPGHOME: this.home };

  constructor(caCertPath: string, certPaths: string[]) {
    for (const p of [caCertPath, ...certPaths]) this.gpgsm(['--import', p]);
    const fpr = execFileSync('openssl', ['x509', '-in', caCertPath, '-noout', '-fingerprint', '-sha1']).toString().split('=')[1]?.trim().replace(/:/g, '');
    // gpg-agent's trustlist format: fingerprint, then the flag S marking an S/MIME root.
    writeFileSync(join(this.home, 'trustlist.txt'), `${fpr} S\n`);
  }

  gpgsm(args: string[]): { status: number; statusLines: string[]; stderr: string } {
    const r = spawnSync('gpgsm', ['--batch', '--disable-dirmngr', '--disable-crl-checks', '--disable-policy-checks', '--status-fd', '1', ...args], {
      env: this.env,
    });
    return {
      status: r.status ?? -1,
      statusLines: r.stdout
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('[GNUPG:]')),
      stderr: r.stderr.toString(),
    };
  }

  [Symbol.dispose](): void {
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: this.env });
    rmSync(this.home, { recursive: true, force: true });
  }
}

describe('multipart/signed read by gpgsm', () => {
  for (const kind of ['rsa', 'ec'] as const) {
    const label = kind === 'rsa' ? 'RSA PKCS#1 v1.5' : 'ECDSA P-256';
    it(`reports GOODSIG when the signer is ${label} and the body is intact, BADSIG when one byte changed`, async () => {
      const id = pki[kind];
      using gpg = new GpgsmHome(pki.caCertPath, [id.certPath]);
      const inner = entity();
      const mail = buildMultipartSigned(inner, await sign(inner, id), { headers: { from: id.email, to: 'x@y.example', subject: 'figures' } });
      // openssl, not our parser, takes the signature back out of our mail.
      const pk7 = openssl(['smime', '-pk7out', '-in', tmpFile(mail), '-outform', 'DER']);
      expect(pk7.status).toBe(0);
      const sigPath = tmpFile(pk7.stdout);
      const good = gpg.gpgsm(['--verify', sigPath, tmpFile(inner)]);
      expect(good.statusLines.some((l) => l.startsWith('[GNUPG:] GOODSIG'))).toBe(true);
      expect(good.statusLines.some((l) => l.startsWith('[GNUPG:] TRUST_FULLY'))).toBe(true);
      expect(good.status).toBe(0);
      const tampered = new Uint8Array(inner);
      xorByte(tampered, tampered.length - 20, 0x01);
      const bad = gpg.gpgsm(['--verify', sigPath, tmpFile(tampered)]);
      expect(bad.statusLines.some((l) => l.startsWith('[GNUPG:] BADSIG'))).toBe(true);
      expect(bad.status).not.toBe(0);
    });
  }
});

describe('our S/MIME read by openssl', () => {
  for (const kind of ['rsa', 'ec'] as const) {
    it(`openssl smime -verify accepts our multipart/signed and returns the exact signed entity when the signer is ${kind}`, async () => {
      const id = pki[kind];
      const inner = entity();
      const mail = buildMultipartSigned(inner, await sign(inner, id));
      const out = join(dir, `out${++n}`);
      const r = openssl(['smime', '-verify', '-in', tmpFile(mail), '-CAfile', pki.caCertPath, '-out', out]);
      expect(r.stderr).toContain('Verification successful');
      expect(r.status).toBe(0);
      expect(Buffer.compare(readFileSync(out), Buffer.from(inner))).toBe(0);
      const r2 = openssl(['cms', '-verify', '-in', tmpFile(mail), '-CAfile', pki.caCertPath, '-out', join(dir, `out${++n}`)]);
      expect(r2.status).toBe(0);
    });
  }

  it('openssl cms -verify rejects our multipart/signed when the signed part was altered', async () => {
    const inner = entity();
    const mail = Buffer.from(buildMultipartSigned(inner, await sign(inner, pki.rsa)));
    const s = mail.toString('latin1').replace('Quarterly', 'Quarterlz');
    const r = openssl(['cms', '-verify', '-in', tmpFile(Buffer.from(s, 'latin1')), '-CAfile', pki.caCertPath, '-out', join(dir, `out${++n}`)]);
    expect(r.status).not.toBe(0);
  });

  it('openssl cms -verify accepts our application/pkcs7-mime signed-data and yields its content', async () => {
    const inner = entity();
    const mail = buildPkcs7Mime(await sign(inner, pki.ec, true), 'signed-data', { headers: { subject: 'nodetach' } });
    const out = join(dir, `out${++n}`);
    const r = openssl(['cms', '-verify', '-in', tmpFile(mail), '-CAfile', pki.caCertPath, '-out', out, '-binary']);
    expect(r.status).toBe(0);
    expect(Buffer.compare(readFileSync(out), Buffer.from(inner))).toBe(0);
  });

  for (const [smimeType, cipher] of [
    ['enveloped-data', 'aes-256-cbc'],
    ['authEnveloped-data', 'aes-256-gcm'],
  ] as const) {
    for (const kind of ['rsa', 'ec'] as const) {
      it(`openssl cms -decrypt reads our application/pkcs7-mime ${smimeType} when the recipient key is ${kind}`, async () => {
        const inner = entity();
        const id = pki[kind];
        const mail = buildPkcs7Mime(await encryptContent(inner, { recipients: [id.certDer], cipher }), smimeType);
        const out = join(dir, `out${++n}`);
        const dec = openssl(['cms', '-decrypt', '-binary', '-in', tmpFile(mail), '-inkey', id.keyPath, '-recip', id.certPath, '-out', out]);
        expect(dec.stderr).toBe('');
        expect(Buffer.compare(readFileSync(out), Buffer.from(inner))).toBe(0);
      });
    }
  }
});

describe('openssl S/MIME read by parseSmime', () => {
  const body = 'Content-Type: text/plain\n\nline one\nline two\n';

  it('extracts from openssl -sign multipart/signed the exact bytes the signature covers', () => {
    const out = join(dir, `m${++n}.eml`);
    expect(openssl(['cms', '-sign', '-in', tmpFile(body), '-signer', pki.rsa.certPath, '-inkey', pki.rsa.keyPath, '-out', out]).status).toBe(0);
    for (const variant of ['as written', 'LF only']) {
      let raw = readFileSync(out);
      if (variant === 'LF only') raw = Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      const p = parseSmime(raw);
      expect(p.kind).toBe('multipart-signed');
      if (p.kind !== 'multipart-signed') return;
      expect(p.micalg).toBe('sha-256');
      // openssl canonicalised the text to CRLF before signing (RFC 8551 §3.1.1).
      expect(Buffer.from(p.signedEntity).toString('latin1')).toBe(body.replace(/\n/g, '\r\n'));
      const verify = (content: Uint8Array): number =>
        openssl([
          'cms',
          '-verify',
          '-binary',
          '-inform',
          'DER',
          '-in',
          tmpFile(p.signature),
          '-content',
          tmpFile(content),
          '-CAfile',
          pki.caCertPath,
          '-out',
          join(dir, `o${++n}`),
        ]).status;
      expect(verify(p.signedEntity)).toBe(0);
      expect(verifySignedData(p.signature, { detachedContent: p.signedEntity }).allValid).toBe(true);
      const t = new Uint8Array(p.signedEntity);
      xorByte(t, t.length - 3, 0x20);
      expect(verify(t)).not.toBe(0);
      const bad = verifySignedData(p.signature, { detachedContent: t });
      expect(bad.allValid).toBe(false);
      expect(bad.signers[0]?.code).toBe('CONTENT_MISMATCH');
    }
  });

  it('extracts the SignedData from openssl -sign -nodetach (application/pkcs7-mime)', () => {
    const out = join(dir, `m${++n}.eml`);
    expect(openssl(['smime', '-sign', '-nodetach', '-in', tmpFile(body), '-signer', pki.ec.certPath, '-inkey', pki.ec.keyPath, '-out', out]).status).toBe(0);
    const p = parseSmime(readFileSync(out));
    expect(p.kind).toBe('pkcs7-mime');
    if (p.kind !== 'pkcs7-mime') return;
    expect(p.smimeType).toBe('signed-data');
    const content = join(dir, `o${++n}`);
    expect(openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-in', tmpFile(p.der), '-CAfile', pki.caCertPath, '-out', content]).status).toBe(0);
    expect(readFileSync(content, 'latin1')).toBe(body.replace(/\n/g, '\r\n'));
    const v = verifySignedData(p.der);
    expect(v.allValid).toBe(true);
    expect(Buffer.from(v.content ?? []).toString('latin1')).toBe(body.replace(/\n/g, '\r\n'));
  });

  it('reads the x-pkcs7-signature protocol that openssl smime writes', () => {
    const out = join(dir, `m${++n}.eml`);
    expect(openssl(['smime', '-sign', '-in', tmpFile(body), '-signer', pki.ec.certPath, '-inkey', pki.ec.keyPath, '-out', out]).status).toBe(0);
    expect(readFileSync(out, 'latin1')).toContain('application/x-pkcs7-signature');
    const p = parseSmime(readFileSync(out));
    expect(p.kind).toBe('multipart-signed');
    if (p.kind !== 'multipart-signed') return;
    const r = openssl([
      'cms',
      '-verify',
      '-binary',
      '-inform',
      'DER',
      '-in',
      tmpFile(p.signature),
      '-content',
      tmpFile(p.signedEntity),
      '-CAfile',
      pki.caCertPath,
      '-out',
      join(dir, `o${++n}`),
    ]);
    expect(r.status).toBe(0);
    expect(verifySignedData(p.signature, { detachedContent: p.signedEntity }).allValid).toBe(true);
  });
});
