/**
 * RFC 5280 §6.1 policy processing (policy-tree.ts): each rule on plain certificate data, where a broken
 * implementation (a mapping to anyPolicy accepted, a self-issued CA using up a counter, inhibitAnyPolicy
 * honoured for the leaf's self-issue exemption, ...) gets a different answer; the extension decoders on
 * hand-made DER; and, through validateChain with certificates openssl makes, a malformed extension and a
 * policy graph over the bound, both refused with a reason instead of a throw.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePem } from '../pem.js';
import { parseCertificate, type CertificateInfo } from './certificate-info.js';
import {
  ANY_POLICY,
  decodeCertificatePolicies,
  decodeInhibitAnyPolicy,
  decodePolicyConstraints,
  decodePolicyMappings,
  MAX_POLICY_GRAPH_SIZE,
  processPolicies,
  readPolicyCertificate,
  type PolicyCertificate,
  type PolicyOutcome,
  type PolicyQualifier,
} from './policy-tree.js';
import { validateChain } from './validate-chain.js';

const [P1, P2, P3, P5] = ['1.3.6.1.4.1.55555.1', '1.3.6.1.4.1.55555.2', '1.3.6.1.4.1.55555.3', '1.3.6.1.4.1.55555.5'] as const;
const CPS: PolicyQualifier = { policyQualifierId: '1.3.6.1.5.5.7.2.1', qualifier: new Uint8Array([0x16, 0x01, 0x61]) };
const NOTICE: PolicyQualifier = { policyQualifierId: '1.3.6.1.5.5.7.2.2', qualifier: new Uint8Array([0x30, 0x00]) };

const cert = (name: string, o: Partial<PolicyCertificate> = {}): PolicyCertificate => ({ name, selfIssued: false, ...o });
const pols = (...ps: string[]) => ps.map((policy) => ({ policy, qualifiers: [] }));
const ok = (r: PolicyOutcome) => {
  if (!r.ok) throw new Error(`expected a valid path, got: ${r.reason}`);
  return r.policies;
};
const reason = (r: PolicyOutcome): string => (r.ok ? 'valid' : r.reason);
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));

describe('processPolicies', () => {
  it('accepts a path without policies when none is required, with empty policy sets (§6.1.3 (e))', () => {
    const p = ok(processPolicies([cert('CA'), cert('EE')]));
    expect(p).toEqual({ authorityConstrainedPolicySet: [], userConstrainedPolicySet: [], explicitPolicyRequired: false, leafPolicies: [] });
  });

  it('fails a path without policies once a CA requires an explicit policy (requireExplicitPolicy 0, §6.1.3 (f))', () => {
    const r = processPolicies([cert('CA', { requireExplicitPolicy: 0 }), cert('EE')]);
    expect(reason(r)).toBe('an explicit certificate policy is required, and none is valid for the path at "EE" (RFC 5280 §6.1.3 (f))');
    // The same path with a policy all along is valid, and says an explicit policy was required.
    const p = ok(processPolicies([cert('CA', { requireExplicitPolicy: 0, policies: pols(P1) }), cert('EE', { policies: pols(P1) })]));
    expect(p).toMatchObject({ userConstrainedPolicySet: [P1], explicitPolicyRequired: true });
  });

  it("applies the leaf's own requireExplicitPolicy 0 (§6.1.5 (b))", () => {
    expect(reason(processPolicies([cert('CA'), cert('EE', { requireExplicitPolicy: 0 })]))).toMatch(
      /^an explicit certificate policy is required.*§6\.1\.5 \(g\)/,
    );
    // requireExplicitPolicy 1 in the leaf means nothing: it would bind certificates below it.
    expect(processPolicies([cert('CA'), cert('EE', { requireExplicitPolicy: 1 })]).ok).toBe(true);
  });

  it('counts requireExplicitPolicy down over CA certificates that are not self-issued only (§6.1.4 (h))', () => {
    // requireExplicitPolicy 2 at CA: CA2 uses one, the leaf (§6.1.5 (a)) the other.
    const path = (selfIssued: boolean) => processPolicies([cert('CA', { requireExplicitPolicy: 2 }), cert('CA2', { selfIssued }), cert('EE')]);
    expect(path(true).ok).toBe(true);
    expect(reason(path(false))).toMatch(/^an explicit certificate policy is required, and no policy is valid for the path/);
  });

  it('takes the smaller requireExplicitPolicy only (§6.1.4 (i))', () => {
    const certs = [cert('CA', { requireExplicitPolicy: 0, policies: pols(P1) }), cert('CA2', { requireExplicitPolicy: 5 }), cert('EE')];
    expect(reason(processPolicies(certs))).toContain('none is valid for the path at "CA2"');
  });

  it('follows anyPolicy for any policy expected above it, and gives the new node the qualifiers of that anyPolicy (§6.1.3 (d)(2))', () => {
    const p = ok(processPolicies([cert('CA', { policies: pols(P1, P2) }), cert('EE', { policies: [{ policy: ANY_POLICY, qualifiers: [CPS] }] })]));
    expect(p.authorityConstrainedPolicySet).toEqual([P1, P2]);
    expect(p.leafPolicies).toEqual([
      { policy: P1, qualifiers: [CPS] },
      { policy: P2, qualifiers: [CPS] },
    ]);
    // A policy the leaf names keeps its own qualifiers.
    const q = ok(
      processPolicies(
        [
          cert('CA', { policies: pols(P1, P2) }),
          cert('EE', {
            policies: [
              { policy: P1, qualifiers: [NOTICE] },
              { policy: ANY_POLICY, qualifiers: [CPS] },
            ],
          }),
        ],
        { initialPolicySet: [P1] },
      ),
    );
    expect(q.leafPolicies).toEqual([{ policy: P1, qualifiers: [NOTICE] }]);
  });

  it('stops following anyPolicy in the certificate after inhibitAnyPolicy 0, but not in a self-issued CA certificate (§6.1.3 (d)(2), §6.1.4 (h), (j))', () => {
    const path = (selfIssued: boolean) =>
      processPolicies(
        [
          cert('CA', { policies: pols(ANY_POLICY), inhibitAnyPolicy: 0 }),
          cert('CA2', { policies: pols(ANY_POLICY), selfIssued }),
          cert('EE', { policies: pols(P1) }),
        ],
        { initialExplicitPolicy: true },
      );
    expect(reason(path(false))).toBe('an explicit certificate policy is required, and none is valid for the path at "CA2" (RFC 5280 §6.1.3 (f))');
    expect(ok(path(true)).userConstrainedPolicySet).toEqual([P1]);
    // Without the inhibit the non-self-issued path is valid: the refusal above is inhibitAnyPolicy's.
    expect(
      ok(
        processPolicies([cert('CA', { policies: pols(ANY_POLICY) }), cert('CA2', { policies: pols(ANY_POLICY) }), cert('EE', { policies: pols(P1) })], {
          initialExplicitPolicy: true,
        }),
      ).userConstrainedPolicySet,
    ).toEqual([P1]);
  });

  it('gives a self-issued leaf no anyPolicy exemption (§6.1.3 (d)(2): i < n)', () => {
    const r = processPolicies([cert('CA', { policies: pols(P1), inhibitAnyPolicy: 0 }), cert('EE', { policies: pols(ANY_POLICY), selfIssued: true })], {
      initialExplicitPolicy: true,
    });
    expect(reason(r)).toContain('none is valid for the path at "EE"');
  });

  it('does not use up inhibitAnyPolicy in a self-issued CA certificate (§6.1.4 (h))', () => {
    // inhibitAnyPolicy 1: the next certificate that is not self-issued may still use anyPolicy.
    const path = (selfIssued: boolean) =>
      processPolicies(
        [
          cert('CA', { policies: pols(ANY_POLICY), inhibitAnyPolicy: 1 }),
          cert('CA2', { policies: pols(P1), selfIssued }),
          cert('CA3', { policies: pols(ANY_POLICY) }),
          cert('EE', { policies: pols(P1) }),
        ],
        { initialExplicitPolicy: true },
      );
    expect(ok(path(true)).userConstrainedPolicySet).toEqual([P1]);
    expect(reason(path(false))).toContain('none is valid for the path at "CA3"');
  });

  it('applies initialAnyPolicyInhibit to the first certificate', () => {
    const certs = [cert('CA', { policies: pols(ANY_POLICY) }), cert('EE', { policies: pols(P1) })];
    expect(ok(processPolicies(certs, { initialExplicitPolicy: true })).userConstrainedPolicySet).toEqual([P1]);
    expect(processPolicies(certs, { initialExplicitPolicy: true, initialAnyPolicyInhibit: true }).ok).toBe(false);
  });

  it('refuses a mapping to or from anyPolicy even when no explicit policy is required (§6.1.4 (a))', () => {
    for (const m of [
      { issuerDomainPolicy: P1, subjectDomainPolicy: ANY_POLICY },
      { issuerDomainPolicy: ANY_POLICY, subjectDomainPolicy: P1 },
    ]) {
      const r = processPolicies([cert('CA', { policies: pols(P1, ANY_POLICY), mappings: [m] }), cert('EE', { policies: pols(P1) })]);
      expect(reason(r)).toBe('"CA" maps anyPolicy in its policyMappings extension, which RFC 5280 §6.1.4 (a) forbids');
    }
  });

  it('maps an issuer-domain policy to its subject-domain policies and reports the user set in the trust anchor domain (§6.1.4 (b)(1))', () => {
    const certs = [cert('CA', { policies: pols(P1), mappings: [{ issuerDomainPolicy: P1, subjectDomainPolicy: P2 }] }), cert('EE', { policies: pols(P2) })];
    const p = ok(processPolicies(certs, { initialPolicySet: [P1], initialExplicitPolicy: true }));
    expect(p).toEqual({ authorityConstrainedPolicySet: [P1], userConstrainedPolicySet: [P1], explicitPolicyRequired: true, leafPolicies: pols(P2) });
    // P2 is a leaf-domain name: asking for it finds nothing.
    expect(reason(processPolicies(certs, { initialPolicySet: [P2], initialExplicitPolicy: true }))).toBe(
      `an explicit certificate policy is required, and the path is valid only for ${P1}, none of them in the initial policy set (RFC 5280 §6.1.5 (g))`,
    );
  });

  it('maps a policy a CA names only through anyPolicy (§6.1.4 (b)(1))', () => {
    const certs = (policy: string) => [
      cert('CA', { policies: [{ policy, qualifiers: [NOTICE] }], mappings: [{ issuerDomainPolicy: P1, subjectDomainPolicy: P3 }] }),
      cert('EE', { policies: pols(P3) }),
    ];
    const p = ok(processPolicies(certs(ANY_POLICY), { initialPolicySet: [P1], initialExplicitPolicy: true }));
    expect(p).toEqual({ authorityConstrainedPolicySet: [P1], userConstrainedPolicySet: [P1], explicitPolicyRequired: true, leafPolicies: pols(P3) });
    expect(reason(processPolicies(certs(P2), { initialPolicySet: [P1], initialExplicitPolicy: true }))).toContain('none is valid for the path at "EE"');
  });

  it('deletes the mapped policies when mapping is inhibited (initialPolicyMappingInhibit, inhibitPolicyMapping; §6.1.4 (b)(2))', () => {
    const mapped = (o: Partial<PolicyCertificate> = {}) => [
      cert('CA', { policies: pols(P1, P2), ...o }),
      cert('CA2', { policies: pols(P1, P2), mappings: [{ issuerDomainPolicy: P1, subjectDomainPolicy: P3 }] }),
      cert('EE', { policies: pols(P2, P3) }),
    ];
    expect(ok(processPolicies(mapped(), { initialExplicitPolicy: true })).userConstrainedPolicySet).toEqual([P1, P2]);
    expect(ok(processPolicies(mapped(), { initialExplicitPolicy: true, initialPolicyMappingInhibit: true })).userConstrainedPolicySet).toEqual([P2]);
    expect(ok(processPolicies(mapped({ inhibitPolicyMapping: 0 }), { initialExplicitPolicy: true })).userConstrainedPolicySet).toEqual([P2]);
    expect(ok(processPolicies(mapped({ inhibitPolicyMapping: 1 }), { initialExplicitPolicy: true })).userConstrainedPolicySet).toEqual([P1, P2]);
  });

  it('does not use up inhibitPolicyMapping in a self-issued CA certificate (§6.1.4 (h))', () => {
    const path = (selfIssued: boolean) =>
      processPolicies(
        [
          cert('CA', { policies: pols(P1), inhibitPolicyMapping: 1 }),
          cert('CA2', { policies: pols(P1), selfIssued }),
          cert('CA3', { policies: pols(P1), mappings: [{ issuerDomainPolicy: P1, subjectDomainPolicy: P2 }] }),
          cert('EE', { policies: pols(P2) }),
        ],
        { initialExplicitPolicy: true },
      );
    expect(ok(path(true)).userConstrainedPolicySet).toEqual([P1]);
    expect(reason(path(false))).toContain('none is valid for the path at "EE"');
  });

  it('intersects with the user set: anyPolicy at the leaf stands for each wanted policy, with its qualifiers (§6.1.5 (g)(iii))', () => {
    const certs = [cert('CA', { policies: pols(ANY_POLICY) }), cert('EE', { policies: [{ policy: ANY_POLICY, qualifiers: [CPS] }] })];
    expect(ok(processPolicies(certs)).userConstrainedPolicySet).toEqual([ANY_POLICY]);
    const p = ok(processPolicies(certs, { initialPolicySet: [P5], initialExplicitPolicy: true }));
    expect(p).toEqual({
      authorityConstrainedPolicySet: [ANY_POLICY],
      userConstrainedPolicySet: [P5],
      explicitPolicyRequired: true,
      leafPolicies: [{ policy: P5, qualifiers: [CPS] }],
    });
  });

  it('keeps a leaf policy reached from a wanted policy only (§6.1.5 (g)(iii)(2))', () => {
    const certs = [
      cert('CA', {
        policies: pols(P1, P2),
        mappings: [
          { issuerDomainPolicy: P1, subjectDomainPolicy: P3 },
          { issuerDomainPolicy: P2, subjectDomainPolicy: P5 },
        ],
      }),
      cert('EE', { policies: pols(P3, P5) }),
    ];
    expect(ok(processPolicies(certs, { initialPolicySet: [P2] })).leafPolicies).toEqual(pols(P5));
    expect(ok(processPolicies(certs)).leafPolicies).toEqual(pols(P3, P5));
  });

  it('refuses a certificate that lists a policy twice (RFC 5280 §4.2.1.4)', () => {
    expect(reason(processPolicies([cert('CA', { policies: pols(P1, P2, P1) }), cert('EE')]))).toBe(
      `"CA" lists the certificate policy ${P1} twice (RFC 5280 §4.2.1.4)`,
    );
  });

  it('accepts a path of the trust anchor alone for any wanted policy', () => {
    expect(ok(processPolicies([], { initialExplicitPolicy: true, initialPolicySet: [P1] })).userConstrainedPolicySet).toEqual([P1]);
  });

  it('throws USAGE for an empty or malformed initialPolicySet', () => {
    expect(() => processPolicies([], { initialPolicySet: [] })).toThrow(/initialPolicySet is empty/);
    expect(() => processPolicies([], { initialPolicySet: ['NIST-test-policy-1'] })).toThrow(/not a dotted OID/);
  });

  describe('hostile input (CVE-2023-0464, RFC 9618)', () => {
    /** CAs that each assert k policies and anyPolicy and map every policy to every policy: a tree of k^depth nodes. */
    const hostile = (k: number, depth: number): PolicyCertificate[] => {
      const ps = Array.from({ length: k }, (_, i) => `1.3.6.1.4.1.55555.9.${i}`);
      const mappings = ps.flatMap((from) => ps.map((to) => ({ issuerDomainPolicy: from, subjectDomainPolicy: to })));
      return [
        ...Array.from({ length: depth }, (_, i) => cert(`CA${i}`, { policies: pols(...ps, ANY_POLICY), mappings })),
        cert('EE', { policies: pols(ps[0]!) }),
      ];
    };

    it('keeps the graph linear in the certificates: 8 CAs of 16 policies each mapped to all (a 16^8 tree)', () => {
      const r = processPolicies(hostile(16, 8), { initialExplicitPolicy: true });
      if (!r.ok) throw new Error(r.reason);
      expect(r.policies.userConstrainedPolicySet).toHaveLength(16);
      // Per CA: 17 nodes, 256 edges, 256 mapped policies, and the bookkeeping; 16^8 is 4.3e9.
      expect(r.graphSize).toBeGreaterThan(8 * 2 * 256);
      expect(r.graphSize).toBeLessThan(8 * 700);
    });

    it('refuses a graph over the bound with a reason, not slowly', () => {
      const r = processPolicies(hostile(40, 8));
      expect(reason(r)).toBe(
        `the certificate policies and mappings of the path make a policy graph of more than ${MAX_POLICY_GRAPH_SIZE} nodes and edges; such a path is refused (RFC 9618 policy graph bound)`,
      );
      // The bound is the bound: the same path is processed under a larger one.
      expect(processPolicies(hostile(40, 8), {}, 200_000).ok).toBe(true);
    });
  });
});

describe('policy extension decoders', () => {
  const der = (node: asn1js.AsnType): Uint8Array => new Uint8Array(node.toBER());
  const oid = (value: string) => new asn1js.ObjectIdentifier({ value });
  const seq = (...value: asn1js.AsnType[]) => new asn1js.Sequence({ value });

  it('reads certificatePolicies with their qualifiers as DER', () => {
    const ia5 = new asn1js.IA5String({ value: 'https://cps.example/' });
    const ps = decodeCertificatePolicies(der(seq(seq(oid(P1)), seq(oid(ANY_POLICY), seq(seq(oid('1.3.6.1.5.5.7.2.1'), ia5))))));
    expect(ps).toEqual([
      { policy: P1, qualifiers: [] },
      { policy: ANY_POLICY, qualifiers: [{ policyQualifierId: '1.3.6.1.5.5.7.2.1', qualifier: der(ia5) }] },
    ]);
    expect(() => decodeCertificatePolicies(der(seq()))).toThrow(/It is empty/);
    expect(() => decodeCertificatePolicies(der(seq(seq(oid(P1)), seq(oid(P1)))))).toThrow(/lists 1\.3\.6\.1\.4\.1\.55555\.1 twice/);
    expect(() => decodeCertificatePolicies(der(seq(seq(oid(P1), seq()))))).toThrow(/policyQualifiers is empty/);
    expect(() => decodeCertificatePolicies(der(seq(seq(oid(P1), seq(seq(oid('1.3.6.1.5.5.7.2.1')))))))).toThrow(/exactly two fields/);
  });

  it('reads policyMappings, anyPolicy included (refusing it is §6.1.4 (a)’s job)', () => {
    expect(decodePolicyMappings(der(seq(seq(oid(P1), oid(ANY_POLICY)))))).toEqual([{ issuerDomainPolicy: P1, subjectDomainPolicy: ANY_POLICY }]);
    expect(() => decodePolicyMappings(der(seq()))).toThrow(/It is empty/);
    expect(() => decodePolicyMappings(der(seq(seq(oid(P1), oid(P2), oid(P3)))))).toThrow(/extra fields/);
  });

  it('reads policyConstraints: [0] and [1] in order, at least one, non-negative', () => {
    expect(decodePolicyConstraints(hex('3003 800100'))).toEqual({ requireExplicitPolicy: 0 });
    expect(decodePolicyConstraints(hex('3003 810103'))).toEqual({ inhibitPolicyMapping: 3 });
    expect(decodePolicyConstraints(hex('3006 800102 810105'))).toEqual({ requireExplicitPolicy: 2, inhibitPolicyMapping: 5 });
    expect(decodePolicyConstraints(hex('300b 8009 00ffffffffffffffff'))).toEqual({ requireExplicitPolicy: 2 ** 31 });
    expect(() => decodePolicyConstraints(hex('3000'))).toThrow(/It is empty \(RFC 5280 §4\.2\.1\.11\)/);
    expect(() => decodePolicyConstraints(hex('3006 810100 800100'))).toThrow(/in that order/);
    expect(() => decodePolicyConstraints(hex('3003 8001ff'))).toThrow(/requireExplicitPolicy is empty or negative/);
    expect(() => decodePolicyConstraints(hex('3004 80020001'))).toThrow(/not minimally encoded/);
  });

  it('reads inhibitAnyPolicy as an INTEGER only', () => {
    expect(decodeInhibitAnyPolicy(hex('020100'))).toBe(0);
    expect(decodeInhibitAnyPolicy(hex('020105'))).toBe(5);
    expect(() => decodeInhibitAnyPolicy(hex('040100'))).toThrow(/It is not an INTEGER/);
  });
});

describe('validateChain policy processing (certificates from openssl)', () => {
  let dir: string;
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const load = (name: string): CertificateInfo => parseCertificate(decodePem(readFileSync(join(dir, name), 'latin1'), 'CERTIFICATE'));
  const hostilePolicies = Array.from({ length: 50 }, (_, i) => `1.3.6.1.4.1.55555.9.${i}`);
  let root: CertificateInfo;
  let leafOf: (ca: string) => CertificateInfo;
  let caNamed: (name: string) => CertificateInfo;
  const TIME = new Date(Date.now() + 24 * 3600 * 1000);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ssmax-policy-tree-'));
    const caBase = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign'];
    writeFileSync(
      join(dir, 'x.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        '[root]',
        ...caBase,
        '[badpc]',
        ...caBase,
        'certificatePolicies = 1.3.6.1.4.1.55555.1',
        '2.5.29.36 = critical,DER:30:00',
        '[toany]',
        ...caBase,
        'certificatePolicies = 1.3.6.1.4.1.55555.1',
        'policyMappings = critical,1.3.6.1.4.1.55555.1:2.5.29.32.0',
        '[hostile]',
        ...caBase,
        `certificatePolicies = ${[...hostilePolicies, '2.5.29.32.0'].join(', ')}`,
        `policyMappings = ${hostilePolicies.flatMap((a) => hostilePolicies.map((b) => `${a}:${b}`)).join(', ')}`,
        '[ee]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature',
        `certificatePolicies = ${hostilePolicies[0]!}, 1.3.6.1.4.1.55555.1`,
        '',
      ].join('\n'),
    );
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    ssl([
      'req',
      '-x509',
      '-config',
      'x.cnf',
      '-extensions',
      'root',
      ...ec,
      '-keyout',
      'root.key',
      '-out',
      'root.pem',
      '-subj',
      '/CN=Policy Root',
      '-days',
      '30',
    ]);
    const issue = (name: string, issuer: string, section: string): void => {
      ssl(['req', '-new', '-config', 'x.cnf', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
      const ca = ['-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-set_serial', '7', '-days', '30'];
      ssl(['x509', '-req', '-in', `${name}.csr`, ...ca, '-extfile', 'x.cnf', '-extensions', section, '-out', `${name}.pem`]);
    };
    for (const [name, section] of [
      ['badpc', 'badpc'],
      ['toany', 'toany'],
      ['hostile1', 'hostile'],
    ] as const)
      issue(name, 'root', section);
    issue('hostile2', 'hostile1', 'hostile');
    issue('hostile3', 'hostile2', 'hostile');
    for (const ca of ['badpc', 'toany', 'hostile3']) issue(`ee-${ca}`, ca, 'ee');
    root = load('root.pem');
    leafOf = (ca) => load(`ee-${ca}.pem`);
    caNamed = (name) => load(`${name}.pem`);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const validate = (ca: string, intermediates: string[]) =>
    validateChain({ leaf: leafOf(ca), intermediates: intermediates.map(caNamed), trustAnchors: [root], time: TIME, revocation: 'none' });

  it('throws USAGE for an empty initialPolicySet before building a path', () => {
    expect(() => validateChain({ leaf: leafOf('badpc'), trustAnchors: [root], time: TIME, initialPolicySet: [] })).toThrow(
      'Cannot validate the chain. initialPolicySet is empty; give anyPolicy (2.5.29.32.0) to accept any policy.',
    );
  });

  it('refuses a path with a malformed policyConstraints with a reason, without throwing', () => {
    const r = validate('badpc', ['badpc']);
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.reasons).toEqual(['Cannot parse the policyConstraints extension of "CN=badpc". It is empty (RFC 5280 §4.2.1.11).']);
  });

  it('refuses a CA that maps a policy to anyPolicy (PKITS 4.10.8 without its requireExplicitPolicy)', () => {
    const r = validate('toany', ['toany']);
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.reasons).toEqual(['"CN=toany" maps anyPolicy in its policyMappings extension, which RFC 5280 §6.1.4 (a) forbids']);
  });

  it('reads the policy extensions parseCertificate kept, without parsing the TBSCertificate again', () => {
    // Fuzz x509-path found cases over 2 s on root → two CAs with thousands of policy mappings each: validateChain
    // alone took 1.6 s on two of 4,356 mappings (62 KB), whose one parse takes some 0.2 s, because name constraints,
    // policies and CRL distribution points each parsed the TBSCertificate once more (0.7 s now). A TBSCertificate
    // that cannot be parsed shows this module does not.
    const read = readPolicyCertificate({ ...caNamed('hostile1'), tbsDer: Uint8Array.of(0x30, 0x00) });
    if (!read.ok) throw new Error(read.reason);
    expect(read.value.policies).toHaveLength(51);
    expect(read.value.mappings).toHaveLength(2500);
  });

  it('refuses three CAs of 50 policies each mapped to all, over the policy graph bound, with a reason', () => {
    const r = validate('hostile3', ['hostile1', 'hostile2', 'hostile3']);
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.reasons).toEqual([expect.stringMatching(/^the certificate policies and mappings of the path make a policy graph of more than 10000 nodes/)]);
    // Two such CAs below the first as trust anchor stay under the bound: the leaf's first policy is reached
    // from all 50 policies of the first CA, the other one through its anyPolicy.
    const two = validateChain({
      leaf: leafOf('hostile3'),
      intermediates: [caNamed('hostile3'), caNamed('hostile2')],
      trustAnchors: [caNamed('hostile1')],
      time: TIME,
      revocation: 'none',
    });
    expect(two).toMatchObject({ valid: true });
    expect(two.policies?.authorityConstrainedPolicySet).toEqual([...hostilePolicies, '1.3.6.1.4.1.55555.1'].sort());
  });
});
