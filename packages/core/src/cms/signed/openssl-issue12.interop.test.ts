/**
 * Issue 12: SignedData with OpenSSL 3.0 as the oracle, in both directions, for what OpenSSL 3.0 does in CMS:
 * ECDSA on P-384/P-521 with SHA-384/512, RSA-PSS with SHA-384/512 (RFC 4056 parameters), subjectKeyIdentifier
 * signers, several signers, detached content, certificates out of band. Ed25519/Ed448 it does not do (the
 * last describe measures that; the Python oracle covers them). Keys and certificates come from the openssl
 * command line (testing/openssl-pki.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpensslPki, type OpensslIdentity, type OpensslKeyAlgorithm, type OpensslPki } from '../../testing/openssl-pki.js';
import { createOracleProbes } from '../../testing/oracle-capabilities.js';
import { probeOracleVersion } from '../../testing/oracle-versions.js';
import type { SignScheme } from '../../tokens/token.js';
import { berInteger, readBer, type BerElement } from '../common/index.js';
import { signSignedData } from './sign-signed-data.js';
import { verifySignedData } from './verify-signed-data.js';

const OPENSSL_VERSION = execFileSync('openssl', ['version']).toString().trim();

let pki: OpensslPki;
let n = 0;
const ids = new Map<string, OpensslIdentity>();
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

/** One identity per algorithm for the file (RSA key generation is slow on 2 shared cores). */
function id(alg: OpensslKeyAlgorithm, slot = 'a'): OpensslIdentity {
  const k = `${alg}/${slot}`;
  if (!ids.has(k)) ids.set(k, pki.issueKey(`o12-${alg}-${slot}`, alg));
  return ids.get(k)!;
}

function file(bytes: Uint8Array, ext = 'bin'): string {
  const p = join(pki.dir, `f${++n}.${ext}`);
  writeFileSync(p, bytes);
  return p;
}

const content = (): Uint8Array => {
  const c = new Uint8Array(randomBytes(2500));
  c.set(Buffer.from('line one\r\nline two\n\x00\xff'), 0);
  return c;
};

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at] = c[at]! ^ 0x01;
  return c;
}

function signerInfos(der: Uint8Array): readonly BerElement[] {
  const sd = readBer(der, 't').children[1]!.children[0]!;
  return sd.children[sd.children.length - 1]!.children;
}

function signatureLastByte(der: Uint8Array, i = 0): number {
  return (
    signerInfos(der)
      [i]!.children.filter((c) => c.tagClass === 0 && c.tagNumber === 4)
      .at(-1)!.contentEnd - 1
  );
}

/** `openssl cms -verify` against the test CA; status 0 when OpenSSL accepts. */
function opensslVerify(sig: Uint8Array, o: { content?: Uint8Array; certfile?: string } = {}): { status: number; out: Buffer; stderr: string } {
  const outPath = join(pki.dir, `out${++n}.bin`);
  const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', file(sig, 'der'), '-CAfile', pki.caCertPath, '-purpose', 'smimesign', '-out', outPath];
  if (o.content) args.push('-content', file(o.content));
  if (o.certfile) args.push('-certfile', o.certfile);
  const r = pki.openssl(args);
  let out = Buffer.alloc(0);
  try {
    out = readFileSync(outPath);
  } catch {
    // no output when verification fails early
  }
  return { status: r.status, out, stderr: r.stderr };
}

function opensslSign(c: Uint8Array, signers: OpensslIdentity[], extra: string[]): Uint8Array {
  const out = join(pki.dir, `s${++n}.der`);
  const r = pki.openssl([
    'cms',
    '-sign',
    '-binary',
    '-in',
    file(c),
    ...signers.flatMap((s) => ['-signer', s.certPath, '-inkey', s.keyPath]),
    '-outform',
    'DER',
    '-out',
    out,
    ...extra,
  ]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return new Uint8Array(readFileSync(out));
}

describe(`issue 12: the openssl oracle measured here (${OPENSSL_VERSION})`, () => {
  it(`names it: OpenSSL ${probeOracleVersion('openssl')} (the interop table's column is OpenSSL 3.0; the "cannot" cells below probe this one)`, () => {
    expect(OPENSSL_VERSION).toMatch(/^OpenSSL \d+\.\d+\.\d+/);
    expect(OPENSSL_VERSION.startsWith(`OpenSSL ${probeOracleVersion('openssl')} `)).toBe(true);
  });
});

const WIDE: Array<{ label: string; alg: OpensslKeyAlgorithm; md: 'sha384' | 'sha512'; scheme: SignScheme; expectScheme: string; pss?: boolean }> = [
  { label: 'ECDSA P-384 with SHA-384', alg: 'P-384', md: 'sha384', scheme: 'ECDSA-SHA384', expectScheme: 'ECDSA' },
  { label: 'ECDSA P-521 with SHA-512', alg: 'P-521', md: 'sha512', scheme: 'ECDSA-SHA512', expectScheme: 'ECDSA' },
  { label: 'RSA-PSS with SHA-384', alg: 'rsa', md: 'sha384', scheme: 'RSASSA-PSS-SHA384', expectScheme: 'RSASSA-PSS', pss: true },
  { label: 'RSA-PSS with SHA-512', alg: 'rsa', md: 'sha512', scheme: 'RSASSA-PSS-SHA512', expectScheme: 'RSASSA-PSS', pss: true },
];

describe('issue 12: OpenSSL 3.0 signs, we verify', () => {
  for (const w of WIDE) {
    for (const detached of [false, true]) {
      it(`reports valid for OpenSSL's ${w.label} ${detached ? 'detached' : 'attached'}, and BAD_SIGNATURE / CONTENT_MISMATCH for one changed byte`, () => {
        const s = id(w.alg);
        const c = content();
        const der = opensslSign(c, [s], ['-md', w.md, ...(w.pss ? ['-keyopt', 'rsa_padding_mode:pss'] : []), ...(detached ? [] : ['-nodetach'])]);
        const opts = detached ? { detachedContent: c } : {};
        const v = verifySignedData(der, opts);
        expect(v.signers[0]!.reasons).toEqual([]);
        expect(v.signers[0]).toMatchObject({ valid: true, scheme: w.expectScheme, digestAlgorithm: w.md.replace('sha', 'SHA-') });
        expect(verifySignedData(flip(der, signatureLastByte(der)), opts).signers[0]!.code).toBe('BAD_SIGNATURE');
        const changed = detached
          ? verifySignedData(der, { detachedContent: flip(c, 9) })
          : verifySignedData(flip(der, Buffer.from(der).indexOf(Buffer.from(c.subarray(0, 64))) + 9));
        expect(changed.signers[0]!.code).toBe('CONTENT_MISMATCH');
      });
    }
  }

  it('reports a subjectKeyIdentifier signer (-keyid) valid and finds its certificate by key identifier only', () => {
    const s = id('P-384');
    const other = id('P-384', 'b');
    const c = content();
    const der = opensslSign(c, [s], ['-keyid', '-nodetach', '-nocerts', '-md', 'sha384']);
    const v = verifySignedData(der, { certificates: [other.certDer, s.certDer] });
    expect('subjectKeyIdentifier' in v.signers[0]!.sid).toBe(true);
    expect(v.signers[0]!.valid).toBe(true);
    expect(Buffer.compare(Buffer.from(v.signers[0]!.certificate!), Buffer.from(s.certDer))).toBe(0);
    expect(verifySignedData(der, { certificates: [other.certDer] }).signers[0]!.code).toBe('SIGNER_CERTIFICATE_MISSING');
  });

  it('reports each of three OpenSSL signers, and only the one whose signature changed as invalid', () => {
    const signers = [id('P-521'), id('rsa'), id('P-256')];
    const c = content();
    const der = opensslSign(c, signers, ['-nodetach', '-md', 'sha512']);
    const v = verifySignedData(der);
    expect(v.signers).toHaveLength(3);
    expect(v.allValid).toBe(true);
    const broken = verifySignedData(flip(der, signatureLastByte(der, 1)));
    expect(broken.signers.map((s) => s.valid)).toEqual([true, false, true]);
    expect(broken.allValid).toBe(false);
  });

  it("reads the RSA-PSS parameters instead of assuming them: OpenSSL's maximal salt verifies, a changed saltLength fails the signature, a changed hash is refused", () => {
    const s = id('rsa');
    const c = content();
    // The maximal salt asked for by name: OpenSSL 3.0 writes it by default, 3.1 and later default to the hash length.
    const der = opensslSign(c, [s], ['-md', 'sha384', '-keyopt', 'rsa_padding_mode:pss', '-keyopt', 'rsa_pss_saltlen:max', '-nodetach']);
    const si = signerInfos(der)[0]!;
    const sigAlg = si.children.filter((e) => e.tagClass === 0 && e.tagNumber === 16).at(-1)!;
    const params = sigAlg.children[1]!;
    // RSASSA-PSS-params [2] saltLength INTEGER: the maximum, 256 - 48 - 2 = 206, for RSA-2048 with SHA-384
    // (not the RFC 4055 default 20, nor the hash length): a verifier that assumes either fails.
    const saltField = params.children.find((f) => f.tagClass === 2 && f.tagNumber === 2)!;
    const saltInt = saltField.children[0]!;
    expect(berInteger(saltInt, 'saltLength')).toBe(206n);
    const salt207 = flip(der, saltInt.contentEnd - 1);
    expect(verifySignedData(salt207).signers[0]!.code).toBe('BAD_SIGNATURE');
    // [0] hashAlgorithm sha384 (…04 02 02) → sha512 (…04 02 03): the parameters no longer match digestAlgorithm.
    const hashField = params.children.find((f) => f.tagClass === 2 && f.tagNumber === 0)!;
    const oid = hashField.children[0]!.children[0]!;
    const otherHash = der.slice();
    otherHash[oid.contentEnd - 1] = 3;
    const v = verifySignedData(otherHash);
    expect(v.signers[0]!.code).toBe('UNSUPPORTED_ALGORITHM');
    expect(v.signers[0]!.reasons.join()).toMatch(/PSS/);
  });
});

describe('issue 12: we sign, OpenSSL 3.0 verifies', () => {
  for (const w of WIDE) {
    for (const detached of [false, true]) {
      it(`is accepted by OpenSSL with identical content for our ${w.label} ${detached ? 'detached' : 'attached'}, and rejected with one changed byte`, async () => {
        const s = id(w.alg);
        const c = content();
        const der = await signSignedData(c, { key: s.key, certificate: s.certDer, scheme: w.scheme, detached });
        const ok = opensslVerify(der, detached ? { content: c } : {});
        expect(ok.stderr).toBe('');
        expect(ok.status).toBe(0);
        expect(Buffer.compare(ok.out, Buffer.from(c))).toBe(0);
        expect(opensslVerify(flip(der, signatureLastByte(der)), detached ? { content: c } : {}).status).not.toBe(0);
        if (detached) expect(opensslVerify(der, { content: flip(c, 11) }).status).not.toBe(0);
        const printed = pki.openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file(der, 'der')]).stdout.toString();
        expect(printed).toContain(w.md === 'sha384' ? 'sha384' : 'sha512');
      });
    }
  }

  it('is accepted by OpenSSL with a subjectKeyIdentifier signer, with the certificate given only by -certfile', async () => {
    const s = id('P-521');
    const c = content();
    const der = await signSignedData(c, { key: s.key, certificate: s.certDer, signerIdentifier: 'subjectKeyIdentifier', omitCertificates: true });
    const printed = pki.openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file(der, 'der')]).stdout.toString();
    expect(printed).toMatch(/subjectKeyIdentifier/);
    expect(opensslVerify(der).status).not.toBe(0);
    const r = opensslVerify(der, { certfile: s.certPath });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('is accepted by OpenSSL with three of our signers (P-384, RSA-PSS-SHA512, P-256) and rejected when any one signature changes', async () => {
    const [a, b, d] = [id('P-384'), id('rsa'), id('P-256')];
    const c = content();
    const der = await signSignedData(c, {
      key: a.key,
      certificate: a.certDer,
      coSigners: [
        { key: b.key, certificate: b.certDer, scheme: 'RSASSA-PSS-SHA512' },
        { key: d.key, certificate: d.certDer, signerIdentifier: 'subjectKeyIdentifier' },
      ],
    });
    expect(signerInfos(der)).toHaveLength(3);
    const r = opensslVerify(der);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const i of [0, 1, 2]) expect(opensslVerify(flip(der, signatureLastByte(der, i))).status).not.toBe(0);
    // The digestAlgorithms SET names both digests (RFC 5652 §5.1), once each.
    const printed = pki.openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file(der, 'der')]).stdout.toString();
    const digestAlgs = printed.slice(0, printed.indexOf('encapContentInfo'));
    expect(digestAlgs.match(/sha384|sha512|sha256/g)?.sort()).toEqual(['sha256', 'sha384', 'sha512']);
  });
});

/**
 * A "cannot" cell of the table, asserted where this machine's openssl still cannot (found by trying, issue 11), and
 * skipped, the reason in its title, where it can: then the cell needs measuring again, not a failing test.
 */
const ed25519 = createOracleProbes().opensslSignsEd25519();
function itCannot(name: string, fn: () => Promise<void> | void): void {
  const title = ed25519.can
    ? `skipped (${ed25519.oracle} signs Ed25519 SignedData; the table's "OpenSSL 3.0: no" cell needs measuring again): ${name}`
    : `${ed25519.oracle} (probe: '${ed25519.refusal}') ${name}`;
  it.skipIf(ed25519.can)(title, fn);
}

describe('issue 12: what OpenSSL 3.0 cannot do in CMS (the table says so; the Python oracle covers it)', () => {
  itCannot('refuses to sign Ed25519 SignedData ("no default digest" / "invalid digest")', () => {
    const s = id('ed25519');
    const plain = pki.openssl([
      'cms',
      '-sign',
      '-binary',
      '-in',
      file(content()),
      '-signer',
      s.certPath,
      '-inkey',
      s.keyPath,
      '-outform',
      'DER',
      '-out',
      join(pki.dir, 'x.der'),
    ]);
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/no default digest/);
    const sha512 = pki.openssl([
      'cms',
      '-sign',
      '-md',
      'sha512',
      '-binary',
      '-in',
      file(content()),
      '-signer',
      s.certPath,
      '-inkey',
      s.keyPath,
      '-outform',
      'DER',
      '-out',
      join(pki.dir, 'y.der'),
    ]);
    expect(sha512.status).not.toBe(0);
  });

  itCannot('cannot verify our valid Ed25519 SignedData, which we and the Python oracle accept', async () => {
    const s = id('ed25519');
    const c = content();
    const der = await signSignedData(c, { key: s.key, certificate: s.certDer });
    expect(verifySignedData(der).allValid).toBe(true);
    expect(verifySignedData(der).signers[0]!.digestAlgorithm).toBe('SHA-512');
    const r = opensslVerify(der);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/invalid digest|not supported/);
  });
});
