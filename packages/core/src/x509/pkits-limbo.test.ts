/**
 * validateChain against two outside conformance corpora (vectors/x509-limbo/README.md says where they
 * come from and what was kept):
 *
 * - NIST PKITS 1.0.1 (all 223 path-validation tests of PKITS §4, with the certificates and CRLs PKITS
 *   gives for each), at PKITS's default inputs: user-initial-policy-set anyPolicy, no explicit policy, no
 *   policy-mapping or anyPolicy inhibit. Every CA in PKITS publishes a CRL, so revocation is 'require'.
 *   PKITS §4.8-§4.12 give some tests other initial inputs too (user-initial-policy-set, initial-explicit-
 *   policy, ...): PKITS_RUNS runs those, each with the outcome and user-constrained-policy-set PKITS gives.
 * - x509-limbo's rfc5280::, pathlen:: and crl:: cases. We match no host name, so a case that fails only
 *   because of its expected_peer_name is out of scope; the rest run as given (trusted_certs as anchors,
 *   untrusted_intermediates, crls with 'require' when there are any, else 'none', extended_key_usage).
 *
 * Every case lands in one of three classes, and the test pins the class of each one:
 * - agree: SUCCESS and valid, or FAILURE and invalid;
 * - fail-closed (SUCCESS expected, we reject): only for a feature the validator documents as not
 *   implemented and refuses rather than ignores; FAIL_CLOSED below gives each case's reason;
 * - out-of-scope (FAILURE expected, we accept): only where the failure needs an input or feature this
 *   validator does not have (no host-name matching); OUT_OF_SCOPE gives each case's reason.
 * A case outside both tables must agree, and a case in a table must still behave as the table says, so
 * a regression in either direction, or a fix that makes an entry stale, fails this test.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Oids } from '../oids.js';
import { integerHex } from './certificate-info.js';
import type { PolicyInputs } from './policy-tree.js';
import { validateChain, type ChainValidationOptions, type ChainValidationResult } from './validate-chain.js';

type Expected = 'SUCCESS' | 'FAILURE';
type Verdict = 'agree' | 'fail-closed' | 'out-of-scope';

interface PkitsFile {
  readonly trustAnchor: string;
  readonly validationTime: string;
  readonly certs: Readonly<Record<string, string>>;
  readonly crls: Readonly<Record<string, string>>;
  readonly cases: readonly {
    readonly id: string;
    readonly ee: string;
    readonly intermediates: readonly string[];
    readonly crls: readonly string[];
    readonly expected: Expected;
  }[];
}

interface LimboCase {
  readonly id: string;
  readonly trusted: readonly string[];
  readonly intermediates: readonly string[];
  readonly peer: string;
  readonly crls: readonly string[];
  readonly validationTime: string | null;
  readonly extendedKeyUsage: readonly string[] | null;
  readonly maxChainDepth: number | null;
  readonly expected: Expected;
}

const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./vectors/x509-limbo/${name}`, import.meta.url), 'utf8')) as T;
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const pkitsFile = load<PkitsFile>('pkits.json');

const pkitsCase = (n: string) => pkitsFile.cases.find((c) => c.id.startsWith(`pkits::${n}::`))!;
const pkitsIds = (reason: string, ...numbers: string[]): [string, string][] => numbers.map((n) => [pkitsCase(n).id, reason]);
const limboIds = (reason: string, ...ids: string[]): [string, string][] => ids.map((id) => [id, reason]);

const PROFILE = 'a certificate-profile rule for issuing CAs (RFC 5280 §4), not a §6.1 path-validation step, that ca-profile.ts does not check';
const HOST_NAME = 'fails only on the DNS host name or DNS SAN syntax; an e-mail validator matches no host name';

/** Expected SUCCESS, refused: a feature the validator does not implement and fails closed on. */
const FAIL_CLOSED: Readonly<Record<string, string>> = Object.fromEntries([
  ...pkitsIds('DSA (with SHA-1) signatures are refused by signature-algorithms.ts', '4.1.4', '4.1.5'),
]);

/** Expected FAILURE, accepted: the failure needs something this validator deliberately does not do. */
const OUT_OF_SCOPE: Readonly<Record<string, string>> = Object.fromEntries([
  ...limboIds(
    PROFILE,
    // RFC 5280 §4.2.1.9 asks CAs for a critical basicConstraints, but NIST PKITS 4.6.4 expects an intermediate
    // with a non-critical one to validate: ca-profile.ts does not check criticality.
    'rfc5280::root-non-critical-basic-constraints',
  ),
  ...limboIds(`${PROFILE}; x509-limbo marks this case pedantic`, 'rfc5280::aki::cross-signed-root-missing-aki', 'rfc5280::serial::zero'),
  ...limboIds(HOST_NAME, 'rfc5280::san::underscore-dns', 'rfc5280::san::ip-in-dns', 'rfc5280::ca-as-leaf-wrong-san'),
  // §4.2.1.11 "Conforming CAs MUST mark this extension as critical"; its requireExplicitPolicy (3) binds the path all
  // the same and is not reached. PKITS's valid paths (4.10.1, 4.12.2, ...) carry non-critical policyConstraints too.
  ...limboIds(PROFILE, 'rfc5280::pc::ica-noncritical-pc'),
]);

interface Outcome {
  readonly id: string;
  readonly expected: Expected;
  readonly valid: boolean;
  readonly detail: string;
}

/** validateChain throws only for a leaf or anchor that is not a certificate: that too is a rejection. */
function judge(id: string, expected: Expected, options: ChainValidationOptions): Outcome {
  let result: ChainValidationResult;
  try {
    result = validateChain(options);
  } catch (e) {
    return { id, expected, valid: false, detail: `threw ${(e as Error).message}` };
  }
  return { id, expected, valid: result.valid, detail: result.valid ? 'valid' : `${result.code}: ${result.reasons.join('; ')}` };
}

/** What the case did: a FAILURE case we accept is out of scope only if OUT_OF_SCOPE lists it (else a bug). */
const classify = (o: Outcome): Verdict => ((o.expected === 'SUCCESS') === o.valid ? 'agree' : o.expected === 'SUCCESS' ? 'fail-closed' : 'out-of-scope');

const tableVerdict = (id: string): Verdict => (id in FAIL_CLOSED ? 'fail-closed' : id in OUT_OF_SCOPE ? 'out-of-scope' : 'agree');

function pkitsOptions(c: PkitsFile['cases'][number]): ChainValidationOptions {
  const cert = (name: string): Uint8Array => b64(pkitsFile.certs[name]!);
  return {
    leaf: cert(c.ee),
    intermediates: c.intermediates.map(cert),
    trustAnchors: [cert(pkitsFile.trustAnchor)],
    crls: c.crls.map((n) => b64(pkitsFile.crls[n]!)),
    time: new Date(pkitsFile.validationTime),
    revocation: 'require',
  };
}

const runPkits = (): Outcome[] => pkitsFile.cases.map((c) => judge(c.id, c.expected, pkitsOptions(c)));

const EKU: Readonly<Record<string, string>> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: Oids.clientAuth,
  emailProtection: Oids.emailProtection,
  anyExtendedKeyUsage: Oids.anyExtendedKeyUsage,
};

// Limbo leaves most validation times open; its generated certificates run from 1970 to 2969.
const LIMBO_DEFAULT_TIME = '2024-01-01T00:00:00Z';

const limboFile = load<{ testcases: LimboCase[] }>('limbo.json');

function limboOptions(c: LimboCase): ChainValidationOptions {
  const eku = c.extendedKeyUsage ?? [];
  if (eku.length > 1) throw new Error(`${c.id}: more than one required EKU`);
  return {
    leaf: b64(c.peer),
    intermediates: c.intermediates.map(b64),
    trustAnchors: c.trusted.map(b64),
    crls: c.crls.map(b64),
    time: new Date(c.validationTime ?? LIMBO_DEFAULT_TIME),
    revocation: c.crls.length > 0 ? 'require' : 'none',
    ...(eku[0] !== undefined ? { requiredExtKeyUsage: EKU[eku[0]] ?? eku[0] } : {}),
    // Limbo's max_chain_depth counts the intermediates; maxPathLength counts leaf and anchor too.
    ...(c.maxChainDepth !== null ? { maxPathLength: c.maxChainDepth + 2 } : {}),
  };
}

const runLimbo = (): Outcome[] => limboFile.testcases.map((c) => judge(c.id, c.expected, limboOptions(c)));
const limboCase = (id: string): LimboCase => limboFile.testcases.find((c) => c.id === id)!;

function summary(name: string, outcomes: readonly Outcome[]): string {
  const n = (v: Verdict): number => outcomes.filter((o) => tableVerdict(o.id) === v).length;
  return `${name}: ${outcomes.length} cases, ${n('agree')} agree, ${n('fail-closed')} fail-closed, ${n('out-of-scope')} out-of-scope`;
}

function mismatches(outcomes: readonly Outcome[]): string[] {
  return outcomes
    .filter((o) => classify(o) !== tableVerdict(o.id))
    .map((o) => `${o.id}: expected ${o.expected}, got ${o.detail} (table: ${tableVerdict(o.id)})`);
}

const pkits = runPkits();
const limbo = runLimbo();

describe('RFC 5280 path validation against outside corpora', () => {
  const pkitsTitle = summary('NIST PKITS', pkits);
  const limboTitle = summary('x509-limbo', limbo);
  console.log(`${pkitsTitle}\n${limboTitle}`);

  it(pkitsTitle, () => {
    expect(pkits).toHaveLength(223);
    expect(mismatches(pkits)).toEqual([]);
  });

  it(limboTitle, () => {
    expect(limbo.length).toBeGreaterThan(100);
    expect(mismatches(limbo)).toEqual([]);
  });

  it('every table entry names a vendored case', () => {
    const ids = new Set([...pkits, ...limbo].map((o) => o.id));
    expect([...Object.keys(FAIL_CLOSED), ...Object.keys(OUT_OF_SCOPE)].filter((id) => !ids.has(id))).toEqual([]);
  });
});

/** The validator bugs this corpus found; each check fails on the code before its fix. */
describe('fixes found by the corpora', () => {
  const pk = (n: string) => validateChain(pkitsOptions(pkitsCase(n)));
  const lb = (id: string, patch: Partial<ChainValidationOptions> = {}) => validateChain({ ...limboOptions(limboCase(id)), ...patch });

  it('keeps a negative serial number apart from the positive one with the same low byte (PKITS 4.4.14, 4.4.15)', () => {
    expect(integerHex(new Uint8Array([0xff]))).toBe('-01');
    expect(integerHex(new Uint8Array([0x00, 0xff]))).toBe('ff');
    expect(integerHex(new Uint8Array([0x80]))).toBe('-80');
    expect(integerHex(new Uint8Array([0xff, 0x7f]))).toBe('-81');
    // The CA revoked serial -1; the EE with serial 255 (00 ff) was reported revoked.
    expect(pk('4.4.14')).toMatchObject({ valid: true });
    expect(pk('4.4.15')).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
  });

  it('applies a non-critical requireExplicitPolicy (PKITS 4.8.4, limbo rfc5280::pc::ica-noncritical-pc)', () => {
    // Good subCA's non-critical requireExplicitPolicy 0 makes the EE's policy, which no CA asserts, fail the path.
    const r = pk('4.8.4');
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.reasons).toEqual([
      expect.stringMatching(/^an explicit certificate policy is required, and none is valid for the path at "CN=Different Policies EE/),
    ]);
    // requireExplicitPolicy 3 in the intermediate is not reached on a path of two certificates.
    expect(lb('rfc5280::pc::ica-noncritical-pc')).toMatchObject({ valid: true, policies: { explicitPolicyRequired: false, userConstrainedPolicySet: [] } });
    expect(lb('rfc5280::pc::ica-noncritical-pc', { initialExplicitPolicy: true }).reasons).toEqual([
      expect.stringMatching(/^an explicit certificate policy is required, and none is valid for the path at "[^"]*x509-limbo-intermediate-pathlen-None/),
    ]);
  });

  it('does not count self-issued intermediates against maxPathLength (limbo pathlen::max-chain-depth-1-self-issued)', () => {
    const id = 'pathlen::max-chain-depth-1-self-issued';
    const r = lb(id);
    expect(r).toMatchObject({ valid: true });
    // root -> ICA' -> ICA' (self-issued) -> leaf: four certificates, three of them counted.
    expect(r.chain.map((c) => c.selfIssued)).toEqual([false, true, false, true]);
    expect(lb(id, { maxPathLength: 2 })).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
  });

  it('refuses each CA-profile break x509-limbo tests, for that rule (ca-profile.ts, RFC 5280 §4)', () => {
    const rules: [string, RegExp][] = [
      ['rfc5280::aki::critical-aki', /"CN=x509-limbo-root" marks its authorityKeyIdentifier critical/],
      ['rfc5280::aki::leaf-missing-aki', /"CN=example.com" has no authorityKeyIdentifier/],
      ['rfc5280::aki::intermediate-missing-aki', /"CN=x509-limbo-intermediate[^"]*" has no authorityKeyIdentifier/],
      ['rfc5280::ski::root-missing-ski', /"CN=x509-limbo-root" is a CA certificate without a subjectKeyIdentifier/],
      ['rfc5280::ski::intermediate-missing-ski', /"CN=x509-limbo-intermediate[^"]*" is a CA certificate without a subjectKeyIdentifier/],
      ['rfc5280::ca-empty-subject', /is a CA certificate with an empty subject/],
      ['rfc5280::san::noncritical-with-empty-subject', /has an empty subject and no critical subjectAltName/],
      ['rfc5280::leaf-ku-keycertsign', /"CN=example.com" asserts keyCertSign without basicConstraints cA/],
    ];
    for (const [id, reason] of rules) {
      const r = lb(id);
      expect(r.valid, id).toBe(false);
      expect(r.reasons.join('; '), id).toMatch(reason);
    }
    // A conforming self-signed root needs no AKI (limbo's own SUCCESS case).
    expect(lb('rfc5280::aki::self-signed-root-missing-aki')).toMatchObject({ valid: true });
  });

  it('refuses a non-critical name constraint and name constraints in an end-entity certificate (limbo rfc5280::nc)', () => {
    // §4.2.1.10: conforming CAs mark it critical (ca-profile.ts).
    expect(lb('rfc5280::nc::permitted-dns-match-noncritical').reasons).toEqual([
      '"CN=x509-limbo-root" has a non-critical nameConstraints (RFC 5280 §4.2.1.10: MUST be critical)',
    ]);
    for (const id of ['rfc5280::nc::not-allowed-in-ee-noncritical', 'rfc5280::nc::not-allowed-in-ee-critical']) {
      const r = lb(id);
      expect(r, id).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
      expect(r.reasons[0], id).toBe(
        '"CN=example.com" carries a nameConstraints extension but is not a CA (RFC 5280 §4.2.1.10: only CA certificates may), so it cannot apply',
      );
    }
  });

  it('applies the delta CRL that revokes the EE (PKITS 4.15.4), under ifAvailable too', () => {
    const c = pkitsCase('4.15.4');
    const r = pk('4.15.4');
    expect(r).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    expect(r.reasons.join('; ')).toContain('(delta CRL 05 from "CN=deltaCRL CA1');
    expect(validateChain({ ...pkitsOptions(c), revocation: 'ifAvailable' })).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    // The complete CRL alone does not list the EE: the delta is what revokes it.
    const completeOnly = c.crls.filter((n) => !n.endsWith('deltaCRL.crl')).map((n) => b64(pkitsFile.crls[n]!));
    expect(validateChain({ ...pkitsOptions(c), crls: completeOnly }).valid).toBe(true);
  });

  it('ignores a CRL without a cRLNumber or with a critical one (limbo crl::crlnumber-missing, crl::crlnumber-critical)', () => {
    const missing = lb('crl::crlnumber-missing');
    expect(missing).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(missing.warnings.join('; ')).toContain('it has no cRLNumber');
    const critical = lb('crl::crlnumber-critical');
    expect(critical).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(critical.warnings.join('; ')).toContain('its cRLNumber is marked critical');
  });

  it('treats notAfter as covering its whole second (limbo rfc5280::validity::notafter-fractional)', () => {
    const id = 'rfc5280::validity::notafter-fractional';
    expect(lb(id)).toMatchObject({ valid: true });
    expect(lb(id, { time: new Date('2024-04-01T00:00:01.000Z') })).toMatchObject({ valid: false, code: 'CERT_EXPIRED' });
  });
});

const [P1, P2, P3, P6] = [1, 2, 3, 6].map((k) => `2.16.840.1.101.3.2.1.48.${k}`) as [string, string, string, string];
const ANY = '2.5.29.32.0';

interface PkitsRun {
  /** PKITS section and subpart ("4.8.1.3": §4.8.1, third procedure). */
  readonly run: string;
  /** The PKITS test whose certification path the run validates. */
  readonly test: string;
  readonly inputs: PolicyInputs;
  /** PKITS's expected user-constrained-policy-set; undefined: the path must not validate. */
  readonly userConstrained?: readonly string[];
  /** A text the qualifier of the (only) leaf policy must hold, where PKITS says which notice to display. */
  readonly notice?: string;
}

/**
 * The procedures of PKITS §4.8-§4.12 that set initial inputs, with PKITS's expected results (NIST PKITS,
 * "Public Key Interoperability Test Suite Certification Path Validation", §4.8-§4.12; the subparts are
 * the numbered procedures of each test). Default-input subparts are here too, for their expected
 * user-constrained-policy-set. 4.8.1 uses the path of 4.1.1 (same EE, see the vectors README).
 */
const PKITS_RUNS: readonly PkitsRun[] = [
  // §4.8.1 All Certificates Same Policy Test1.
  { run: '4.8.1.1', test: '4.1.1', inputs: { initialExplicitPolicy: true }, userConstrained: [P1] },
  { run: '4.8.1.2', test: '4.1.1', inputs: { initialExplicitPolicy: true, initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.8.1.3', test: '4.1.1', inputs: { initialExplicitPolicy: true, initialPolicySet: [P2] } },
  { run: '4.8.1.4', test: '4.1.1', inputs: { initialExplicitPolicy: true, initialPolicySet: [P1, P2] }, userConstrained: [P1] },
  // §4.8.2 All Certificates No Policies Test2.
  { run: '4.8.2.1', test: '4.8.2', inputs: {}, userConstrained: [] },
  { run: '4.8.2.2', test: '4.8.2', inputs: { initialExplicitPolicy: true } },
  // §4.8.3 Different Policies Test3.
  { run: '4.8.3.1', test: '4.8.3', inputs: {}, userConstrained: [] },
  { run: '4.8.3.2', test: '4.8.3', inputs: { initialExplicitPolicy: true } },
  { run: '4.8.3.3', test: '4.8.3', inputs: { initialExplicitPolicy: true, initialPolicySet: [P1, P2] } },
  // §4.8.6 Overlapping Policies Test6.
  { run: '4.8.6.1', test: '4.8.6', inputs: {}, userConstrained: [P1] },
  { run: '4.8.6.2', test: '4.8.6', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.8.6.3', test: '4.8.6', inputs: { initialPolicySet: [P2] } },
  // §4.8.10 All Certificates Same Policies Test10.
  { run: '4.8.10.1', test: '4.8.10', inputs: {}, userConstrained: [P1, P2] },
  { run: '4.8.10.2', test: '4.8.10', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.8.10.3', test: '4.8.10', inputs: { initialPolicySet: [P2] }, userConstrained: [P2] },
  // §4.8.11 All Certificates AnyPolicy Test11.
  { run: '4.8.11.1', test: '4.8.11', inputs: {}, userConstrained: [ANY] },
  { run: '4.8.11.2', test: '4.8.11', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  // §4.8.13 All Certificates Same Policies Test13.
  { run: '4.8.13.1', test: '4.8.13', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.8.13.2', test: '4.8.13', inputs: { initialPolicySet: [P2] }, userConstrained: [P2] },
  { run: '4.8.13.3', test: '4.8.13', inputs: { initialPolicySet: [P3] }, userConstrained: [P3] },
  // §4.8.14 AnyPolicy Test14.
  { run: '4.8.14.1', test: '4.8.14', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.8.14.2', test: '4.8.14', inputs: { initialPolicySet: [P2] } },
  // §4.8.17 User Notice Qualifier Test17: the notice of the EE's anyPolicy is displayed.
  { run: '4.8.17', test: '4.8.17', inputs: {}, userConstrained: [P1], notice: 'q3:  This is the user notice from qualifier 3.' },
  // §4.8.18 User Notice Qualifier Test18: the notice of NIST-test-policy-1, then that of anyPolicy.
  { run: '4.8.18.1', test: '4.8.18', inputs: { initialPolicySet: [P1] }, userConstrained: [P1], notice: 'q4:  This is the user notice from qualifier 4' },
  { run: '4.8.18.2', test: '4.8.18', inputs: { initialPolicySet: [P2] }, userConstrained: [P2], notice: 'q5:  This is the user notice from qualifier 5' },
  // §4.8.20 CPS Pointer Qualifier Test20, with the initial-explicit-policy indicator PKITS recommends.
  { run: '4.8.20', test: '4.8.20', inputs: { initialExplicitPolicy: true }, userConstrained: [P1] },
  // §4.10.1 Valid Policy Mapping Test1.
  { run: '4.10.1.1', test: '4.10.1', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.10.1.2', test: '4.10.1', inputs: { initialPolicySet: [P2] } },
  { run: '4.10.1.3', test: '4.10.1', inputs: { initialPolicyMappingInhibit: true } },
  // §4.10.2 Invalid Policy Mapping Test2.
  { run: '4.10.2.1', test: '4.10.2', inputs: {} },
  { run: '4.10.2.2', test: '4.10.2', inputs: { initialPolicyMappingInhibit: true } },
  // §4.10.3 Valid Policy Mapping Test3.
  { run: '4.10.3.1', test: '4.10.3', inputs: { initialPolicySet: [P1] } },
  { run: '4.10.3.2', test: '4.10.3', inputs: { initialPolicySet: [P2] }, userConstrained: [P2] },
  // §4.10.5, §4.10.6 Valid Policy Mapping Test5, Test6.
  { run: '4.10.5.1', test: '4.10.5', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.10.5.2', test: '4.10.5', inputs: { initialPolicySet: [P6] } },
  { run: '4.10.6.1', test: '4.10.6', inputs: { initialPolicySet: [P1] }, userConstrained: [P1] },
  { run: '4.10.6.2', test: '4.10.6', inputs: { initialPolicySet: [P6] } },
  // §4.10.12 Valid Policy Mapping Test12: the notice of NIST-test-policy-3 (mapped from 1), then that of anyPolicy.
  { run: '4.10.12.1', test: '4.10.12', inputs: { initialPolicySet: [P1] }, userConstrained: [P1], notice: 'q7:  This is the user notice from qualifier 7' },
  { run: '4.10.12.2', test: '4.10.12', inputs: { initialPolicySet: [P2] }, userConstrained: [P2], notice: 'q8:  This is the user notice from qualifier 8' },
  // §4.10.13 Valid Policy Mapping Test13: valid when the initial-policy-set includes NIST-test-policy-1, else rejected.
  { run: '4.10.13', test: '4.10.13', inputs: {}, userConstrained: [P1] },
  { run: '4.10.13 {1,2}', test: '4.10.13', inputs: { initialPolicySet: [P1, P2] }, userConstrained: [P1] },
  { run: '4.10.13 {2}', test: '4.10.13', inputs: { initialPolicySet: [P2] } },
  // §4.11.4 Valid inhibitPolicyMapping Test4: authorities-constrained {NIST-test-policy-2}.
  { run: '4.11.4', test: '4.11.4', inputs: {}, userConstrained: [P2] },
  // §4.12.3 inhibitAnyPolicy Test3.
  { run: '4.12.3.1', test: '4.12.3', inputs: {}, userConstrained: [P1] },
  { run: '4.12.3.2', test: '4.12.3', inputs: { initialAnyPolicyInhibit: true } },
];

const qualifierText = (r: ChainValidationResult): string =>
  (r.policies?.leafPolicies ?? []).flatMap((p) => p.qualifiers.map((q) => Buffer.from(q.qualifier).toString('latin1'))).join(' | ');

describe('NIST PKITS §4.8-§4.12 with the initial inputs PKITS gives', () => {
  const runs = PKITS_RUNS.map((run) => ({ run, result: validateChain({ ...pkitsOptions(pkitsCase(run.test)), ...run.inputs }) }));
  const agree = runs.filter(({ run, result }) => result.valid === (run.userConstrained !== undefined)).length;
  console.log(`NIST PKITS other initial inputs: ${runs.length} runs, ${agree} agree`);

  for (const { run, result } of runs) {
    it(`pkits ${run.run}: ${JSON.stringify(run.inputs)} ${run.userConstrained ? `validates, user-constrained {${run.userConstrained.join(', ')}}` : 'does not validate'}`, () => {
      if (run.userConstrained === undefined) {
        expect(result).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
        // It fails on policy, not on anything else.
        expect(result.reasons).toEqual([expect.stringMatching(/^an explicit certificate policy is required/)]);
        return;
      }
      expect(result.reasons).toEqual([]);
      expect(result.policies?.userConstrainedPolicySet).toEqual(run.userConstrained);
      if (run.notice !== undefined) {
        expect(result.policies?.leafPolicies).toHaveLength(1);
        expect(qualifierText(result)).toContain(run.notice);
      }
    });
  }

  it('fails every §4.8-§4.12 FAILURE case on a policy rule, also without revocation checking', () => {
    const failures = pkitsFile.cases.filter((c) => /^pkits::4\.(8|9|10|11|12)\./.test(c.id) && c.expected === 'FAILURE');
    expect(failures).toHaveLength(29);
    for (const c of failures) {
      const r = validateChain({ ...pkitsOptions(c), revocation: 'none' });
      expect(r.valid, c.id).toBe(false);
      expect(r.reasons.join('; '), c.id).toMatch(/explicit certificate policy is required|maps anyPolicy in its policyMappings/);
    }
  });

  it('accepts the self-issued policy paths on policy grounds, also without revocation checking (PKITS 4.9.6, 4.11.7, 4.12.7, 4.12.9)', () => {
    const expected: Record<string, readonly string[]> = { '4.9.6': [], '4.11.7': [P1], '4.12.7': [P1], '4.12.9': [P1] };
    for (const [n, set] of Object.entries(expected)) {
      const r = validateChain({ ...pkitsOptions(pkitsCase(n)), revocation: 'none' });
      expect(r, n).toMatchObject({ valid: true, policies: { userConstrainedPolicySet: set } });
      expect(
        r.chain.some((c) => c.selfIssued && c !== r.chain[r.chain.length - 1]),
        n,
      ).toBe(true);
    }
  });
});
