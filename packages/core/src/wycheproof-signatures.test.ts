/**
 * Our signature verifiers against the C2SP/wycheproof signature-verification vectors, as an outside oracle.
 *
 * Vectors: C2SP/wycheproof testvectors_v1 at commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166 (Apache-2.0),
 * vendored unmodified in vectors/wycheproof/ (its README.md lists them with their git blob ids).
 *
 * Each vector runs through our verifiers the way our readers call them, from the bytes up. The signature
 * AlgorithmIdentifier a signer would write for the group's scheme (hash; PSS hash, MGF1 hash and salt length)
 * is DER-encoded and read back, and the group's publicKeyDer (a SubjectPublicKeyInfo) is the key:
 * - cms: readAlgorithmIdentifier, interpretSignatureAlgorithm with the matching SignerInfo digestAlgorithm,
 *   then checkSignerSignature, as verify-signed-data.ts does for a SignerInfo;
 * - cms-legacy-oid: the same with the key-type OIDs CMS also allows as signatureAlgorithm (rsaEncryption,
 *   RFC 3370 §3.2, as OpenSSL writes it; id-ecPublicKey) for the PKCS#1 v1.5 and ECDSA files;
 * - x509: readSignatureAlgorithm and verifySignature, as certificate and CRL checks do.
 *
 * Expected on every path: a "valid" vector verifies, an "invalid" one is refused. PINNED holds, per case id,
 * what we do with every "acceptable" vector and with any valid vector we refuse for a documented policy
 * (key size, curve), with the reason. An invalid vector that any path accepts is a bug and cannot be pinned.
 * A pinned case must still behave as pinned, and a case outside PINNED must behave as expected, so a
 * regression in either direction, or a fix that makes an entry stale, fails this test.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { digestAlgorithmOid, encodeAlgorithmIdentifier, readAlgorithmIdentifier, type DigestAlgorithm } from './cms/common/algorithm-identifier.js';
import { interpretSignatureAlgorithm } from './cms/signed/signature-algorithms.js';
import type { SignerDigestAlgorithm } from './cms/signed/signer-digests.js';
import { checkSignerSignature } from './cms/signed/verify-signed-data.js';
import { readBer } from './der/ber-reader.js';
import { derExplicit, derInteger, derNull, derSequence } from './der/der-writer.js';
import { Oids } from './oids.js';
import { DerReader } from './x509/der-reader.js';
import { readSignatureAlgorithm, verifySignature } from './x509/signature-algorithms.js';

type Result = 'valid' | 'invalid' | 'acceptable';
interface Case {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly msg: string;
  readonly sig: string;
  readonly result: Result;
}
interface Group {
  readonly type: string;
  readonly publicKeyDer: string;
  readonly publicKey?: { readonly modulus?: string };
  readonly sha?: string;
  readonly mgf?: string;
  readonly mgfSha?: string;
  readonly sLen?: number;
  readonly tests: readonly Case[];
}
interface VectorFile {
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly testGroups: readonly Group[];
}

type Scheme = 'ecdsa' | 'rsa-pkcs1' | 'rsa-pss' | 'Ed25519' | 'Ed448';
const FILES: readonly (readonly [string, Scheme])[] = [
  ['ecdsa_secp256r1_sha256_test.json', 'ecdsa'],
  ['ecdsa_secp256r1_sha512_test.json', 'ecdsa'],
  ['ecdsa_secp384r1_sha384_test.json', 'ecdsa'],
  ['ecdsa_secp521r1_sha512_test.json', 'ecdsa'],
  ['rsa_signature_2048_sha256_test.json', 'rsa-pkcs1'],
  ['rsa_pss_2048_sha256_mgf1_32_test.json', 'rsa-pss'],
  ['rsa_pss_2048_sha256_mgf1_0_test.json', 'rsa-pss'],
  ['rsa_pss_2048_sha256_mgf1_32_params_test.json', 'rsa-pss'],
  ['rsa_pss_2048_sha384_mgf1_48_test.json', 'rsa-pss'],
  ['ed25519_test.json', 'Ed25519'],
  ['ed448_test.json', 'Ed448'],
];

const load = (name: string): VectorFile => JSON.parse(readFileSync(new URL(`./vectors/wycheproof/${name}`, import.meta.url), 'utf8')) as VectorFile;
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

const HASHES: Readonly<Record<string, DigestAlgorithm>> = { 'SHA-256': 'SHA-256', 'SHA-384': 'SHA-384', 'SHA-512': 'SHA-512' };
const ECDSA_OIDS: Readonly<Record<string, string>> = {
  'SHA-256': Oids.ecdsaWithSHA256,
  'SHA-384': Oids.ecdsaWithSHA384,
  'SHA-512': Oids.ecdsaWithSHA512,
};
const PKCS1_OIDS: Readonly<Record<string, string>> = {
  'SHA-256': Oids.sha256WithRSAEncryption,
  'SHA-384': Oids.sha384WithRSAEncryption,
  'SHA-512': Oids.sha512WithRSAEncryption,
};

function hashOf(g: Group): DigestAlgorithm {
  const h = HASHES[g.sha ?? ''];
  if (!h) throw new Error(`group hash ${g.sha} is not one this test maps`);
  return h;
}

/**
 * The DER signature AlgorithmIdentifier for a group, the key-type OID form CMS also reads (PKCS#1 v1.5 and
 * ECDSA only), and the SignerInfo digestAlgorithm that goes with them.
 */
function algorithmFor(scheme: Scheme, g: Group): { readonly algId: Uint8Array; readonly legacyAlgId?: Uint8Array; readonly digest: SignerDigestAlgorithm } {
  switch (scheme) {
    case 'Ed25519':
      return { algId: encodeAlgorithmIdentifier(Oids.ed25519), digest: 'SHA-512' };
    case 'Ed448':
      return { algId: encodeAlgorithmIdentifier(Oids.ed448), digest: 'SHAKE256' };
    case 'ecdsa':
      return { algId: encodeAlgorithmIdentifier(ECDSA_OIDS[hashOf(g)]!), legacyAlgId: encodeAlgorithmIdentifier(Oids.ecPublicKey), digest: hashOf(g) };
    case 'rsa-pkcs1':
      return {
        algId: encodeAlgorithmIdentifier(PKCS1_OIDS[hashOf(g)]!, derNull()),
        legacyAlgId: encodeAlgorithmIdentifier(Oids.rsaEncryption, derNull()),
        digest: hashOf(g),
      };
    case 'rsa-pss': {
      // RFC 4055 §3.1 RSASSA-PSS-params, every field explicit; trailerField left at its DEFAULT 1.
      if (g.mgf !== 'MGF1' || g.sLen === undefined) throw new Error(`PSS group with ${g.mgf} / ${g.sLen} is not one this test maps`);
      const h = encodeAlgorithmIdentifier(digestAlgorithmOid(hashOf(g)));
      const mgfHash = encodeAlgorithmIdentifier(digestAlgorithmOid(HASHES[g.mgfSha ?? '']!));
      const params = derSequence(derExplicit(0, h), derExplicit(1, encodeAlgorithmIdentifier(Oids.mgf1, mgfHash)), derExplicit(2, derInteger(g.sLen)));
      return { algId: encodeAlgorithmIdentifier(Oids.rsassaPss, params), digest: hashOf(g) };
    }
  }
}

/** The ways our code verifies a signature (see the top of this file). */
type Path = 'cms' | 'cms-legacy-oid' | 'x509';

/** What one verifier said: accepted, or refused with its reason. */
type Verdict = { readonly accept: true } | { readonly accept: false; readonly reason: string };

const refusal = (e: unknown): Verdict => ({ accept: false, reason: e instanceof Error ? e.message : String(e) });

function viaCms(algId: Uint8Array, digest: SignerDigestAlgorithm, spki: Uint8Array, msg: Uint8Array, sig: Uint8Array): Verdict {
  try {
    const alg = interpretSignatureAlgorithm(readAlgorithmIdentifier(readBer(algId, 'the signatureAlgorithm'), 'the signatureAlgorithm'), digest);
    if (!alg.ok) return { accept: false, reason: alg.reason };
    const r = checkSignerSignature(alg.alg, spki, msg, sig);
    return r === true ? { accept: true } : { accept: false, reason: `${r.code}: ${r.reason}` };
  } catch (e) {
    return refusal(e);
  }
}

function viaX509(algId: Uint8Array, spki: Uint8Array, msg: Uint8Array, sig: Uint8Array): Verdict {
  try {
    const r = new DerReader('MALFORMED_CERTIFICATE', 'the certificate');
    const alg = r.guard((reader) => readSignatureAlgorithm(reader, reader.parse(algId), 'signatureAlgorithm'));
    const v = verifySignature(alg, spki, msg, sig);
    return v.ok ? { accept: true } : { accept: false, reason: v.reason };
  } catch (e) {
    return refusal(e);
  }
}

interface Outcome {
  readonly id: string;
  readonly result: Result;
  readonly comment: string;
  readonly paths: readonly (readonly [Path, Verdict])[];
}

function run(file: string, scheme: Scheme): { readonly data: VectorFile; readonly outcomes: Outcome[] } {
  const data = load(file);
  const stem = file.replace(/\.json$/, '');
  const outcomes = data.testGroups.flatMap((g) => {
    const { algId, legacyAlgId, digest } = algorithmFor(scheme, g);
    const spki = hex(g.publicKeyDer);
    return g.tests.map((c): Outcome => {
      const msg = hex(c.msg);
      const sig = hex(c.sig);
      const paths: [Path, Verdict][] = [
        ['cms', viaCms(algId, digest, spki, msg, sig)],
        ['x509', viaX509(algId, spki, msg, sig)],
      ];
      if (legacyAlgId) paths.push(['cms-legacy-oid', viaCms(legacyAlgId, digest, spki, msg, sig)]);
      return { id: `${stem}#${c.tcId}`, result: c.result, comment: c.comment, paths };
    });
  });
  return { data, outcomes };
}

const MISSING_NULL =
  'DigestInfo without the NULL hash parameters (Wycheproof MissingNull, "legacy"): refused. OpenSSL, under node:crypto, compares ' +
  'the decrypted block with the one DER encoding of the DigestInfo, which carries NULL (the encodings T of RFC 8017 §9.2 note 1), and we add no fallback';

/**
 * What we do with a vector whose verdict Wycheproof leaves open ("acceptable"), or a valid one we refuse for a
 * documented policy, and why. Every path must do the same.
 */
const PINNED: Readonly<Record<string, { readonly accept: boolean; readonly why: string }>> = {
  'rsa_signature_2048_sha256_test#8': { accept: false, why: MISSING_NULL },
};

type CaseClass = 'as expected' | 'pinned' | 'mismatch';

/** The class of an outcome, and what was wrong if it is a mismatch. */
function judge(o: Outcome): { readonly verdict: CaseClass; readonly detail?: string } {
  const said = o.paths.map(([p, v]) => `${p}: ${show(v)}`).join('; ');
  const pin = PINNED[o.id];
  if (o.result === 'invalid' && o.paths.some(([, v]) => v.accept)) return { verdict: 'mismatch', detail: `ACCEPTS AN INVALID SIGNATURE (${said})` };
  if (pin) {
    if (o.result === 'invalid') return { verdict: 'mismatch', detail: 'an invalid vector cannot be pinned' };
    if (o.result === 'valid' && pin.accept) return { verdict: 'mismatch', detail: 'stale pin: a valid vector we accept needs no pin' };
    return o.paths.every(([, v]) => v.accept === pin.accept)
      ? { verdict: 'pinned' }
      : { verdict: 'mismatch', detail: `pinned ${pin.accept ? 'accept' : 'refuse'}, got ${said}` };
  }
  if (o.result === 'acceptable') return { verdict: 'mismatch', detail: `acceptable vector not pinned (${said})` };
  const want = o.result === 'valid';
  return o.paths.every(([, v]) => v.accept === want) ? { verdict: 'as expected' } : { verdict: 'mismatch', detail: `expected ${o.result}, got ${said}` };
}

const show = (v: Verdict): string => (v.accept ? 'accept' : `refuse (${v.reason})`);

function summary(stem: string, outcomes: readonly Outcome[]): string {
  const n = (r: Result): number => outcomes.filter((o) => o.result === r).length;
  const c = (v: CaseClass): number => outcomes.filter((o) => judge(o).verdict === v).length;
  const paths = outcomes[0]?.paths.length ?? 0;
  return (
    `${stem}: ${outcomes.length} vectors (${n('valid')} valid, ${n('invalid')} invalid, ${n('acceptable')} acceptable) on ${paths} paths, ` +
    `${c('as expected')} as expected, ${c('pinned')} pinned, ${c('mismatch')} mismatches`
  );
}

const runs = FILES.map(([file, scheme]) => ({ stem: file.replace(/\.json$/, ''), ...run(file, scheme) }));

describe('Wycheproof signature vectors through the CMS and X.509 verifiers', () => {
  const titles = runs.map((r) => summary(r.stem, r.outcomes));
  console.log(titles.join('\n'));

  runs.forEach(({ data, outcomes }, i) => {
    it(titles[i]!, () => {
      expect(outcomes).toHaveLength(data.numberOfTests);
      expect(outcomes.flatMap((o) => (judge(o).verdict === 'mismatch' ? [`${o.id} (${o.comment}): ${judge(o).detail}`] : []))).toEqual([]);
    });
  });

  it('no path accepts a vector Wycheproof calls invalid', () => {
    const all = runs.flatMap((r) => r.outcomes);
    expect(all.filter((o) => o.result === 'invalid')).toHaveLength(1_801);
    expect(all.filter((o) => o.result === 'invalid' && o.paths.some(([, v]) => v.accept)).map((o) => o.id)).toEqual([]);
  });

  it('every PINNED entry names a vendored case', () => {
    const ids = new Set(runs.flatMap((r) => r.outcomes.map((o) => o.id)));
    expect(Object.keys(PINNED).filter((id) => !ids.has(id))).toEqual([]);
  });
});

/**
 * Three files share one 2048-bit modulus: rsa_signature_2048_sha256 (group 0) and rsa_pss_2048_sha256_mgf1_0
 * under an rsaEncryption key, rsa_pss_2048_sha256_mgf1_32_params under an id-RSASSA-PSS key whose parameters
 * say SHA-256, MGF1-SHA-256, salt length 32. Their valid signatures, moved under the parameterised key, must
 * be refused: the key parameters bind what the key may sign.
 */
describe('an id-RSASSA-PSS key with parameters binds its signatures (vectors moved between files)', () => {
  const group = (file: string, i = 0): Group => load(file).testGroups[i]!;
  const pssKey = group('rsa_pss_2048_sha256_mgf1_32_params_test.json');
  const valid = (g: Group): readonly Case[] => g.tests.filter((c) => c.result === 'valid');
  const underPssKey = (scheme: Scheme, from: Group, c: Case): Verdict[] => {
    const { algId, digest } = algorithmFor(scheme, from);
    const spki = hex(pssKey.publicKeyDer);
    return [viaCms(algId, digest, spki, hex(c.msg), hex(c.sig)), viaX509(algId, spki, hex(c.msg), hex(c.sig))];
  };

  it('is the same modulus in the three files', () => {
    const modulus = (g: Group): string | undefined => g.publicKey?.modulus;
    expect(modulus(pssKey)).toMatch(/^00a2b451/);
    expect(modulus(group('rsa_signature_2048_sha256_test.json'))).toBe(modulus(pssKey));
    expect(modulus(group('rsa_pss_2048_sha256_mgf1_0_test.json'))).toBe(modulus(pssKey));
  });

  it('refuses a PSS signature with a salt shorter than the key allows (RFC 4055 §3.3), though it verifies under rsaEncryption', () => {
    const salt0 = group('rsa_pss_2048_sha256_mgf1_0_test.json');
    expect(valid(salt0)).toHaveLength(61);
    // OpenSSL holds the key to its parameters ("pss saltlen too small"); checkSignature reports the throw as a failed check.
    for (const c of valid(salt0)) {
      expect(underPssKey('rsa-pss', salt0, c).map(show)).toEqual([
        'refuse (BAD_SIGNATURE: the RSA-PSS signature does not verify with the key of the signer certificate)',
        'refuse (the RSA-PSS signature does not verify with the key of the issuer)',
      ]);
    }
  });

  it('refuses a PKCS#1 v1.5 signature from an id-RSASSA-PSS key (RFC 4055 §1.2)', () => {
    const pkcs1 = group('rsa_signature_2048_sha256_test.json');
    expect(valid(pkcs1)).toHaveLength(7);
    for (const c of valid(pkcs1)) {
      expect(underPssKey('rsa-pkcs1', pkcs1, c).map(show)).toEqual([
        'refuse (UNSUPPORTED_ALGORITHM: the id-RSASSA-PSS key of the signer certificate cannot make PKCS#1 v1.5 signatures)',
        'refuse (the id-RSASSA-PSS key of the issuer cannot make PKCS#1 v1.5 signatures)',
      ]);
    }
  });
});
