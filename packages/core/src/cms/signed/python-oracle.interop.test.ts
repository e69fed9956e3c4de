/**
 * Issue 12: where OpenSSL 3.0 cannot act as the oracle (Ed25519 and Ed448 in CMS: `openssl cms -sign` answers
 * "no default digest" / "invalid digest", see openssl-issue12.interop.test.ts), a second implementation
 * checks our SignedData and we check its: testing/cms_oracle.py, asn1crypto (Debian python3-asn1crypto 1.5)
 * for the ASN.1 and pyca/cryptography 38 (Debian python3-cryptography 38.0.4) for the signatures, run with
 * /usr/bin/python3 (scripts/bootstrap.sh installs both). It shares no code with ours. Keys and certificates
 * come from the openssl command line.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpensslPki, type OpensslIdentity, type OpensslKeyAlgorithm, type OpensslPki } from '../../testing/openssl-pki.js';
import { probeOracleVersion } from '../../testing/oracle-versions.js';
import { readBer } from '../common/index.js';
import { signSignedData, type SignerInput } from './sign-signed-data.js';
import { verifySignedData } from './verify-signed-data.js';

const ORACLE = fileURLToPath(new URL('../../testing/cms_oracle.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

let pki: OpensslPki;
let n = 0;
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

type Id = OpensslIdentity;

/** An end-entity certificate from the openssl test CA for a new key. */
function identity(alg: OpensslKeyAlgorithm): Id {
  return pki.issueKey(`py-${alg}-${++n}`, alg);
}

function file(bytes: Uint8Array, ext = 'bin'): string {
  const p = join(pki.dir, `f${++n}.${ext}`);
  writeFileSync(p, bytes);
  return p;
}

interface OracleVerdict {
  valid: boolean;
  signers: Array<{ valid: boolean; reason: string; sid: string; digest: string; signature: string }>;
}

function pyVerify(sig: Uint8Array, o: { content?: Uint8Array; certs?: string[] } = {}): OracleVerdict {
  const args = [
    ORACLE,
    'verify',
    '--in',
    file(sig, 'der'),
    ...(o.content ? ['--content', file(o.content)] : []),
    ...(o.certs ?? []).flatMap((c) => ['--cert', c]),
  ];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as OracleVerdict;
}

function pySign(content: Uint8Array, signers: Id[], flags: string[] = []): Uint8Array {
  const out = join(pki.dir, `py${++n}.der`);
  const r = spawnSync(
    PYTHON,
    [ORACLE, 'sign', '--in', file(content), '--out', out, ...signers.flatMap((s) => ['--key', s.keyPath, '--cert', s.certPath]), ...flags],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return new Uint8Array(readFileSync(out));
}

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at] = c[at]! ^ 0x01;
  return c;
}

/** Offset of the last byte of signature value `i` (in signerInfos order). */
function signatureLastByte(der: Uint8Array, i = 0): number {
  const sd = readBer(der, 't').children[1]!.children[0]!;
  const si = sd.children[sd.children.length - 1]!.children[i]!;
  return si.children.filter((c) => c.tagClass === 0 && c.tagNumber === 4).at(-1)!.contentEnd - 1;
}

const content = (): Uint8Array => {
  const c = new Uint8Array(randomBytes(3000));
  c.set(Buffer.from('line one\r\nline two\n\x00\xff'), 0);
  return c;
};

// The oracle named with the versions it runs with here (issue 11; written against Debian's cryptography 38.0.4).
const PY = `Python ${probeOracleVersion('python3')}, asn1crypto ${probeOracleVersion('python3-asn1crypto')} + cryptography ${probeOracleVersion('python3-cryptography')}`;

describe(`issue 12: our SignedData checked by Python (${PY})`, () => {
  const algs = [
    { alg: 'ed25519', digest: 'sha512', signature: 'ed25519' },
    { alg: 'ed448', digest: 'shake256', signature: 'ed448' },
  ] as const;
  for (const a of algs) {
    for (const detached of [false, true]) {
      for (const sid of ['issuerAndSerialNumber', 'subjectKeyIdentifier'] as const) {
        it(`is valid for Python when we sign ${a.alg} ${detached ? 'detached' : 'attached'} with ${sid}, and invalid with one byte changed`, async () => {
          const id = identity(a.alg);
          const c = content();
          const der = await signSignedData(c, { key: id.key, certificate: id.certDer, detached, signerIdentifier: sid });
          const ok = pyVerify(der, detached ? { content: c } : {});
          expect(ok.signers).toHaveLength(1);
          expect(ok.signers[0]).toMatchObject({
            valid: true,
            digest: a.digest,
            signature: a.signature,
            sid: sid === 'subjectKeyIdentifier' ? 'subject_key_identifier' : 'issuer_and_serial_number',
          });
          expect(ok.valid).toBe(true);
          expect(pyVerify(flip(der, signatureLastByte(der)), detached ? { content: c } : {}).valid).toBe(false);
          const badContent = pyVerify(
            detached ? der : flip(der, Buffer.from(der).indexOf(Buffer.from(c.subarray(0, 64))) + 40),
            detached ? { content: flip(c, 40) } : {},
          );
          expect(badContent.signers[0]!.reason).toMatch(/messageDigest/);
        });
      }
    }
  }

  it('is valid for Python when we sign with three signers (Ed25519, Ed448, RSA-PSS-SHA512), and names the one whose signature we break', async () => {
    const [e1, e2, r] = [identity('ed25519'), identity('ed448'), identity('rsa')];
    const c = content();
    const coSigners: SignerInput[] = [
      { key: e2.key, certificate: e2.certDer },
      { key: r.key, certificate: r.certDer, scheme: 'RSASSA-PSS-SHA512' },
    ];
    const der = await signSignedData(c, { key: e1.key, certificate: e1.certDer, coSigners });
    const v = pyVerify(der);
    expect(v.signers.map((s) => [s.signature, s.digest, s.valid])).toEqual(
      // DER SET OF orders the SignerInfos by encoding, so compare as a set.
      expect.arrayContaining([
        ['ed25519', 'sha512', true],
        ['ed448', 'shake256', true],
        ['rsassa_pss', 'sha512', true],
      ]),
    );
    expect(v.valid).toBe(true);
    const broken = pyVerify(flip(der, signatureLastByte(der, 1)));
    expect(broken.valid).toBe(false);
    expect(broken.signers.filter((s) => !s.valid)).toHaveLength(1);
  });

  it('is valid for Python when the certificates travel out of band (--nocerts) and not without them', async () => {
    const id = identity('ed25519');
    const c = content();
    const der = await signSignedData(c, { key: id.key, certificate: id.certDer, omitCertificates: true });
    expect(pyVerify(der).signers[0]!.reason).toMatch(/no certificate/);
    expect(pyVerify(der, { certs: [id.certPath] }).valid).toBe(true);
  });
});

describe(`issue 12: Python-made SignedData checked by us (${PY})`, () => {
  for (const alg of ['ed25519', 'ed448'] as const) {
    for (const flags of [[], ['--noattr'], ['--detached', '--ski'], ['--noattr', '--detached', '--ski']]) {
      it(`reports valid for Python's ${alg} SignedData ${flags.join(' ') || 'with signed attributes'}, and invalid with a changed byte`, () => {
        const id = identity(alg);
        const c = content();
        const der = pySign(c, [id], flags);
        const detached = flags.includes('--detached');
        const v = verifySignedData(der, detached ? { detachedContent: c } : {});
        expect(v.signers[0]!.reasons).toEqual([]);
        expect(v.signers[0]).toMatchObject({
          valid: true,
          scheme: alg === 'ed25519' ? 'Ed25519' : 'Ed448',
          digestAlgorithm: alg === 'ed25519' ? 'SHA-512' : 'SHAKE256',
        });
        expect(v.signers[0]!.signedAttributes.length > 0).toBe(!flags.includes('--noattr'));
        expect('subjectKeyIdentifier' in v.signers[0]!.sid).toBe(flags.includes('--ski'));
        expect(Buffer.compare(Buffer.from(v.signers[0]!.certificate!), Buffer.from(id.certDer))).toBe(0);
        expect(verifySignedData(flip(der, signatureLastByte(der)), detached ? { detachedContent: c } : {}).signers[0]!.code).toBe('BAD_SIGNATURE');
        const changed = detached
          ? verifySignedData(der, { detachedContent: flip(c, 7) })
          : verifySignedData(flip(der, Buffer.from(der).indexOf(Buffer.from(c.subarray(0, 64))) + 7));
        // With signed attributes the messageDigest catches it; without, the EdDSA signature over the content does.
        expect(changed.signers[0]!.code).toBe(flags.includes('--noattr') ? 'BAD_SIGNATURE' : 'CONTENT_MISMATCH');
      });
    }
  }

  it("reports each of Python's three signers (Ed25519, Ed448, ECDSA P-521) valid, and all invalid when the content changes", () => {
    const ids = [identity('ed25519'), identity('ed448'), identity('P-521')];
    const c = content();
    const der = pySign(c, ids);
    const v = verifySignedData(der);
    expect(v.signers.map((s) => s.scheme).sort()).toEqual(['ECDSA', 'Ed25519', 'Ed448']);
    expect(v.allValid).toBe(true);
    const at = Buffer.from(der).indexOf(Buffer.from(c.subarray(0, 64)));
    expect(verifySignedData(flip(der, at + 1)).signers.map((s) => s.code)).toEqual(['CONTENT_MISMATCH', 'CONTENT_MISMATCH', 'CONTENT_MISMATCH']);
  });

  it("finds the signer certificate of Python's --nocerts SignedData only among the certificates given", () => {
    const id = identity('ed448');
    const other = identity('ed448');
    const c = content();
    const der = pySign(c, [id], ['--nocerts', '--ski']);
    expect(verifySignedData(der).signers[0]!.code).toBe('SIGNER_CERTIFICATE_MISSING');
    expect(verifySignedData(der, { certificates: [other.certDer] }).signers[0]!.code).toBe('SIGNER_CERTIFICATE_MISSING');
    expect(verifySignedData(der, { certificates: [other.certDer, id.certDer] }).allValid).toBe(true);
  });
});
