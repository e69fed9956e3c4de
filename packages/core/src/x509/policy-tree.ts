/**
 * Certificate policy processing for path validation (RFC 5280 §6.1.2 (a)(d)(e)(f), §6.1.3 (d)-(f),
 * §6.1.4 (a)(b)(h)-(j), §6.1.5 (a)(b)(g)), used by validateChain.
 *
 * The valid_policy_tree is kept in the RFC 9618 form, a policy graph: at each depth there is at most one
 * node per policy OID, and a node has every node above it whose expected_policy_set names its policy as a
 * parent. RFC 9618 shows this gives the tree's outcome, but its size grows with the size of the
 * certificates, not exponentially with the path length: the tree of a path whose CAs each assert k
 * policies and map each to all k (CVE-2023-0464) has k^n nodes, the graph k nodes and k^2 edges a level.
 * On top of that the graph is bounded (MAX_POLICY_GRAPH_SIZE nodes, edges and expected policies in all);
 * a path over the bound is refused with a reason, never processed slowly.
 *
 * The outcome is data: a malformed policy extension, a mapping of anyPolicy, or a path that needs an
 * explicit policy and has none is a reason, not an exception. Only a bad caller input (initialPolicySet)
 * throws (USAGE).
 */
import type * as asn1js from 'asn1js';
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import type { CertificateInfo } from './certificate-info.js';
import { DerReader } from './der-reader.js';

/** anyPolicy (RFC 5280 §4.2.1.4). */
export const ANY_POLICY = '2.5.29.32.0';

/** Nodes, parent edges and expected-policy entries a path's policy graph may hold in all. */
export const MAX_POLICY_GRAPH_SIZE = 10_000;

/** A PolicyQualifierInfo (RFC 5280 §4.2.1.4): the id (e.g. id-qt-cps, id-qt-unotice) and the qualifier's DER. */
export interface PolicyQualifier {
  readonly policyQualifierId: string;
  readonly qualifier: Uint8Array;
}

/** A policy with the qualifier set RFC 5280 §6.1.3 (d) gives it. */
export interface QualifiedPolicy {
  readonly policy: string;
  readonly qualifiers: readonly PolicyQualifier[];
}

export interface PolicyMapping {
  readonly issuerDomainPolicy: string;
  readonly subjectDomainPolicy: string;
}

/** What §6.1.3-§6.1.5 read from one certificate; undefined fields are absent extensions. */
export interface PolicyCertificate {
  /** For reasons, e.g. the subject. */
  readonly name: string;
  readonly selfIssued: boolean;
  /** certificatePolicies, in the certificate's order. */
  readonly policies?: readonly QualifiedPolicy[];
  readonly mappings?: readonly PolicyMapping[];
  readonly requireExplicitPolicy?: number;
  readonly inhibitPolicyMapping?: number;
  readonly inhibitAnyPolicy?: number;
}

/** The policy inputs of RFC 5280 §6.1.1 (c), (e), (f), (g); absent means the default. */
export interface PolicyInputs {
  /** user-initial-policy-set: the policies acceptable to the caller; default [anyPolicy] (any). */
  readonly initialPolicySet?: readonly string[];
  /** initial-explicit-policy: the path must be valid for at least one policy of initialPolicySet; default false. */
  readonly initialExplicitPolicy?: boolean;
  /** initial-policy-mapping-inhibit: policy mapping is not permitted in the path; default false. */
  readonly initialPolicyMappingInhibit?: boolean;
  /** initial-any-policy-inhibit: anyPolicy asserted by a CA is not processed; default false. */
  readonly initialAnyPolicyInhibit?: boolean;
}

/** The policy outputs of a valid path (RFC 5280 §6.1.6; PKITS reports the same three). */
export interface PathPolicies {
  /**
   * authorities-constrained-policy-set: the policies (in the trust anchor's policy domain) for which the
   * CAs made the path valid; anyPolicy when they left it open. Empty when the valid_policy_tree is NULL.
   */
  readonly authorityConstrainedPolicySet: readonly string[];
  /** user-constrained-policy-set: the authorities-constrained set intersected with initialPolicySet. */
  readonly userConstrainedPolicySet: readonly string[];
  /** explicit-policy-indicator: explicit_policy reached 0, so the path had to be valid for a policy. */
  readonly explicitPolicyRequired: boolean;
  /**
   * The leaf-depth policies left after the intersection (RFC 5280 §6.1.5 (g)): each policy as the leaf
   * names it (after mappings), with its qualifiers, those of the leaf's anyPolicy when the policy came
   * through it. What an application shows (user notices, CPS pointers).
   */
  readonly leafPolicies: readonly QualifiedPolicy[];
}

export type PolicyOutcome =
  { readonly ok: true; readonly policies: PathPolicies; readonly graphSize: number } | { readonly ok: false; readonly reason: string };

interface PolicyNode {
  readonly policy: string;
  readonly qualifiers: readonly PolicyQualifier[];
  expected: readonly string[];
  /** Nodes at the depth above; empty only at depth 0. */
  readonly parents: readonly PolicyNode[];
}

/** One depth of the graph: valid_policy → node (RFC 9618: one node per policy per depth). */
type Level = Map<string, PolicyNode>;

const OID_TEXT = /^[0-2](\.(0|[1-9][0-9]*))+$/;

/** Throws USAGE for a policy input no path could be validated against. */
export function checkPolicyInputs(inputs: PolicyInputs): void {
  const set = inputs.initialPolicySet;
  if (set === undefined) return;
  if (set.length === 0)
    throw new SsmaxError('USAGE', 'Cannot validate the chain. initialPolicySet is empty; give anyPolicy (2.5.29.32.0) to accept any policy.');
  const bad = set.find((p) => !OID_TEXT.test(p));
  if (bad !== undefined) throw new SsmaxError('USAGE', `Cannot validate the chain. initialPolicySet holds "${bad}", which is not a dotted OID.`);
}

/**
 * Runs RFC 5280 §6.1 policy processing over `certs`, in path order: certificate 1 (issued by the trust
 * anchor) first, the leaf last. The trust anchor itself is not a path certificate (§6.1) and is not given.
 */
export function processPolicies(certs: readonly PolicyCertificate[], inputs: PolicyInputs = {}, limit = MAX_POLICY_GRAPH_SIZE): PolicyOutcome {
  checkPolicyInputs(inputs);
  const n = certs.length;
  // §6.1.2 (a), (d), (e), (f).
  let explicitPolicy = inputs.initialExplicitPolicy === true ? 0 : n + 1;
  let inhibitAnyPolicy = inputs.initialAnyPolicyInhibit === true ? 0 : n + 1;
  let policyMapping = inputs.initialPolicyMappingInhibit === true ? 0 : n + 1;
  let levels: Level[] | null = [new Map([[ANY_POLICY, { policy: ANY_POLICY, qualifiers: [], expected: [ANY_POLICY], parents: [] }]])];
  let size = 1;
  const tooBig = (): PolicyOutcome => ({
    ok: false,
    reason: `the certificate policies and mappings of the path make a policy graph of more than ${limit} nodes and edges; such a path is refused (RFC 9618 policy graph bound)`,
  });

  for (let i = 1; i <= n; i++) {
    const c = certs[i - 1]!;
    const who = `"${c.name}"`;
    const anyQualifiers = c.policies?.find((p) => p.policy === ANY_POLICY)?.qualifiers;
    if (c.policies !== undefined && levels !== null) {
      // §6.1.3 (d) as RFC 9618 restates it for the graph.
      const above = levels[i - 1]!;
      const parentsOf = new Map<string, PolicyNode[]>();
      for (const node of above.values()) {
        for (const e of node.expected) {
          const list = parentsOf.get(e);
          if (list) list.push(node);
          else parentsOf.set(e, [node]);
        }
      }
      const anyAbove = above.get(ANY_POLICY);
      const level: Level = new Map();
      const seen = new Set<string>();
      for (const p of c.policies) {
        if (seen.has(p.policy)) return { ok: false, reason: `${who} lists the certificate policy ${p.policy} twice (RFC 5280 §4.2.1.4)` };
        seen.add(p.policy);
        if (p.policy === ANY_POLICY) continue;
        // (d)(1)(i), else (d)(1)(ii).
        const parents = parentsOf.get(p.policy) ?? (anyAbove ? [anyAbove] : undefined);
        if (parents === undefined) continue;
        level.set(p.policy, { policy: p.policy, qualifiers: p.qualifiers, expected: [p.policy], parents });
        size += 2 + parents.length;
      }
      // (d)(2): anyPolicy stands for every policy expected above, unless inhibited; a self-issued CA
      // certificate (not the leaf) is exempt.
      if (anyQualifiers !== undefined && (inhibitAnyPolicy > 0 || (i < n && c.selfIssued))) {
        for (const [policy, parents] of parentsOf) {
          if (level.has(policy)) continue;
          level.set(policy, { policy, qualifiers: anyQualifiers, expected: [policy], parents });
          size += 2 + parents.length;
        }
      }
      if (size > limit) return tooBig();
      levels.push(level);
      // (d)(3).
      levels = prune(levels, i - 1);
    } else if (c.policies === undefined) {
      // (e).
      levels = null;
    }
    // (f).
    if (explicitPolicy <= 0 && levels === null)
      return { ok: false, reason: `an explicit certificate policy is required, and none is valid for the path at ${who} (RFC 5280 §6.1.3 (f))` };
    if (i === n) break;

    // §6.1.4 (a): anyPolicy may be neither side of a mapping.
    if (c.mappings?.some((m) => m.issuerDomainPolicy === ANY_POLICY || m.subjectDomainPolicy === ANY_POLICY))
      return { ok: false, reason: `${who} maps anyPolicy in its policyMappings extension, which RFC 5280 §6.1.4 (a) forbids` };
    // §6.1.4 (b).
    if (c.mappings !== undefined && levels !== null) {
      const level = levels[i]!;
      const mapped = new Map<string, Set<string>>();
      for (const m of c.mappings) {
        const to = mapped.get(m.issuerDomainPolicy);
        if (to) to.add(m.subjectDomainPolicy);
        else mapped.set(m.issuerDomainPolicy, new Set([m.subjectDomainPolicy]));
      }
      if (policyMapping > 0) {
        // (b)(1).
        const anyHere = level.get(ANY_POLICY);
        const anyAbove = levels[i - 1]!.get(ANY_POLICY);
        for (const [issuerPolicy, to] of mapped) {
          const subjectPolicies = [...to];
          const node = level.get(issuerPolicy);
          if (node) node.expected = subjectPolicies;
          else if (anyHere && anyAbove)
            level.set(issuerPolicy, { policy: issuerPolicy, qualifiers: anyQualifiers ?? [], expected: subjectPolicies, parents: [anyAbove] });
          else continue;
          size += subjectPolicies.length + 2;
        }
        if (size > limit) return tooBig();
      } else {
        // (b)(2).
        for (const issuerPolicy of mapped.keys()) level.delete(issuerPolicy);
        levels = prune(levels, i - 1);
      }
    }
    // (h): a self-issued certificate uses up none of the counters.
    if (!c.selfIssued) {
      if (explicitPolicy > 0) explicitPolicy--;
      if (policyMapping > 0) policyMapping--;
      if (inhibitAnyPolicy > 0) inhibitAnyPolicy--;
    }
    // (i), (j).
    if (c.requireExplicitPolicy !== undefined && c.requireExplicitPolicy < explicitPolicy) explicitPolicy = c.requireExplicitPolicy;
    if (c.inhibitPolicyMapping !== undefined && c.inhibitPolicyMapping < policyMapping) policyMapping = c.inhibitPolicyMapping;
    if (c.inhibitAnyPolicy !== undefined && c.inhibitAnyPolicy < inhibitAnyPolicy) inhibitAnyPolicy = c.inhibitAnyPolicy;
  }

  // §6.1.5 (a), (b) (for certificate n: a path of the trust anchor alone has none).
  if (n > 0 && explicitPolicy > 0) explicitPolicy--;
  if (n > 0 && certs[n - 1]!.requireExplicitPolicy === 0) explicitPolicy = 0;
  const policies = intersect(levels, inputs.initialPolicySet ?? [ANY_POLICY], explicitPolicy === 0);
  // §6.1.5 (g): the path is valid if no explicit policy is required or one survived the intersection.
  if (explicitPolicy === 0 && policies.userConstrainedPolicySet.length === 0) {
    const why =
      policies.authorityConstrainedPolicySet.length === 0
        ? 'no policy is valid for the path'
        : `the path is valid only for ${policies.authorityConstrainedPolicySet.join(', ')}, none of them in the initial policy set`;
    return { ok: false, reason: `an explicit certificate policy is required, and ${why} (RFC 5280 §6.1.5 (g))` };
  }
  return { ok: true, policies, graphSize: size };
}

/** §6.1.3 (d)(3) and §6.1.4 (b)(2)(ii): drop nodes at depth ≤ `from` that have no child; NULL when none is left. */
function prune(levels: Level[], from: number): Level[] | null {
  for (let d = from; d >= 0; d--) {
    const referenced = new Set<PolicyNode>();
    for (const child of levels[d + 1]!.values()) for (const p of child.parents) referenced.add(p);
    for (const [policy, node] of levels[d]!) if (!referenced.has(node)) levels[d]!.delete(policy);
  }
  return levels[0]!.size === 0 || levels[levels.length - 1]!.size === 0 ? null : levels;
}

/**
 * §6.1.5 (g): the authorities-constrained set is the valid_policy_node_set (nodes whose parent is
 * anyPolicy) plus anyPolicy when it reaches the leaf; after pruning, every node has a descendant at the
 * leaf's depth. A non-anyPolicy node with an anyPolicy parent has no other parent, so whether a leaf-depth
 * node survives the user set is one pass down the graph.
 */
function intersect(levels: readonly Level[] | null, userSet: readonly string[], explicitPolicyRequired: boolean): PathPolicies {
  if (levels === null) return { authorityConstrainedPolicySet: [], userConstrainedPolicySet: [], explicitPolicyRequired, leafPolicies: [] };
  const nodeSet = new Set<string>();
  for (const level of levels)
    for (const node of level.values()) if (node.policy !== ANY_POLICY && node.parents.every((p) => p.policy === ANY_POLICY)) nodeSet.add(node.policy);
  const leafLevel = levels[levels.length - 1]!;
  const anyAtLeaf = leafLevel.get(ANY_POLICY);
  const authority = [...nodeSet, ...(anyAtLeaf ? [ANY_POLICY] : [])].sort();
  const leafPolicies = (nodes: Iterable<PolicyNode>): QualifiedPolicy[] => [...nodes].map((x) => ({ policy: x.policy, qualifiers: x.qualifiers }));
  if (userSet.includes(ANY_POLICY))
    return {
      authorityConstrainedPolicySet: authority,
      userConstrainedPolicySet: authority,
      explicitPolicyRequired,
      leafPolicies: leafPolicies(leafLevel.values()),
    };

  const wanted = new Set(userSet);
  let alive = new Set<PolicyNode>();
  for (const level of levels.slice(1)) {
    const next = new Set<PolicyNode>();
    for (const node of level.values()) {
      if (node.policy === ANY_POLICY) continue;
      const inNodeSet = node.parents.every((p) => p.policy === ANY_POLICY);
      if (inNodeSet ? wanted.has(node.policy) : node.parents.some((p) => alive.has(p))) next.add(node);
    }
    alive = next;
  }
  const survivors = leafPolicies(levels.length > 1 ? alive : []);
  // (g)(iii)(3): anyPolicy at the leaf's depth stands for each wanted policy the CAs did not name.
  const extra = anyAtLeaf ? [...wanted].filter((p) => !nodeSet.has(p)).sort() : [];
  for (const policy of extra) survivors.push({ policy, qualifiers: anyAtLeaf!.qualifiers });
  return {
    authorityConstrainedPolicySet: authority,
    userConstrainedPolicySet: [...new Set([...[...nodeSet].filter((p) => wanted.has(p)), ...extra])].sort(),
    explicitPolicyRequired,
    leafPolicies: survivors,
  };
}

const POLICY_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  [Oids.certificatePolicies, 'certificatePolicies'],
  [Oids.policyMappings, 'policyMappings'],
  [Oids.policyConstraints, 'policyConstraints'],
  [Oids.inhibitAnyPolicy, 'inhibitAnyPolicy'],
]);

/** SkipCerts ::= INTEGER (0..MAX), from the content octets; values past 2^31 are as good as infinite. */
function skipCerts(r: DerReader, node: asn1js.AsnType | undefined, name: string): number {
  const content = r.primitiveContent(node, name);
  if (content.byteLength === 0 || (content[0]! & 0x80) !== 0) r.fail(`Its ${name} is empty or negative`);
  if (content.byteLength > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) r.fail(`Its ${name} is not minimally encoded`);
  let v = 0;
  for (const b of content) v = Math.min(v * 256 + b, 2 ** 31);
  return v;
}

/** certificatePolicies (RFC 5280 §4.2.1.4), qualifiers kept as DER. */
export function decodeCertificatePolicies(der: Uint8Array, what = 'a certificatePolicies extension'): QualifiedPolicy[] {
  return new DerReader('MALFORMED_CERTIFICATE', what).guard((r) => {
    const items = r.sequence(r.parse(der), 'certificatePolicies');
    if (items.length === 0) r.fail('It is empty');
    const out: QualifiedPolicy[] = [];
    const seen = new Set<string>();
    for (const info of items) {
      const [idNode, qualifiersNode, ...extra] = r.sequence(info, 'PolicyInformation');
      if (extra.length > 0) r.fail('A PolicyInformation has extra fields');
      const policy = r.oid(idNode, 'policyIdentifier');
      if (seen.has(policy)) r.fail(`It lists ${policy} twice (RFC 5280 §4.2.1.4)`);
      seen.add(policy);
      const qualifiers: PolicyQualifier[] = [];
      if (qualifiersNode !== undefined) {
        const list = r.sequence(qualifiersNode, 'policyQualifiers');
        if (list.length === 0) r.fail('Its policyQualifiers is empty');
        for (const q of list) {
          const [qid, value, ...qx] = r.sequence(q, 'PolicyQualifierInfo');
          if (value === undefined || qx.length > 0) r.fail('A PolicyQualifierInfo does not have exactly two fields');
          qualifiers.push({ policyQualifierId: r.oid(qid, 'policyQualifierId'), qualifier: r.raw(value!, 'qualifier') });
        }
      }
      out.push({ policy, qualifiers });
    }
    return out;
  });
}

/** policyMappings (RFC 5280 §4.2.1.5). */
export function decodePolicyMappings(der: Uint8Array, what = 'a policyMappings extension'): PolicyMapping[] {
  return new DerReader('MALFORMED_CERTIFICATE', what).guard((r) => {
    const items = r.sequence(r.parse(der), 'policyMappings');
    if (items.length === 0) r.fail('It is empty');
    return items.map((m) => {
      const [from, to, ...extra] = r.sequence(m, 'a mapping');
      if (extra.length > 0) r.fail('A mapping has extra fields');
      return { issuerDomainPolicy: r.oid(from, 'issuerDomainPolicy'), subjectDomainPolicy: r.oid(to, 'subjectDomainPolicy') };
    });
  });
}

/** policyConstraints (RFC 5280 §4.2.1.11): [0] requireExplicitPolicy, [1] inhibitPolicyMapping, at least one. */
export function decodePolicyConstraints(
  der: Uint8Array,
  what = 'a policyConstraints extension',
): { requireExplicitPolicy?: number; inhibitPolicyMapping?: number } {
  return new DerReader('MALFORMED_CERTIFICATE', what).guard((r) => {
    const items = r.sequence(r.parse(der), 'policyConstraints');
    let i = 0;
    const out: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number } = {};
    if (items[i] && r.isContext(items[i]!, 0)) out.requireExplicitPolicy = skipCerts(r, items[i++], 'requireExplicitPolicy');
    if (items[i] && r.isContext(items[i]!, 1)) out.inhibitPolicyMapping = skipCerts(r, items[i++], 'inhibitPolicyMapping');
    if (i !== items.length) r.fail('It has fields other than [0] requireExplicitPolicy and [1] inhibitPolicyMapping, in that order');
    // RFC 5280 §4.2.1.11: conforming CAs MUST NOT issue an empty sequence.
    if (i === 0) r.fail('It is empty (RFC 5280 §4.2.1.11)');
    return out;
  });
}

/** inhibitAnyPolicy (RFC 5280 §4.2.1.14): a SkipCerts INTEGER. */
export function decodeInhibitAnyPolicy(der: Uint8Array, what = 'an inhibitAnyPolicy extension'): number {
  return new DerReader('MALFORMED_CERTIFICATE', what).guard((r) => {
    const node = r.parse(der);
    if (!r.isUniversal(node, 2)) r.fail('It is not an INTEGER');
    return skipCerts(r, node, 'inhibitAnyPolicy');
  });
}

/** The four policy extensions of a certificate, decoded; a malformed one is a reason. */
export function readPolicyCertificate(cert: CertificateInfo): { ok: true; value: PolicyCertificate } | { ok: false; reason: string } {
  const base = { name: cert.subject, selfIssued: cert.selfIssued };
  if (!cert.extensions.some((e) => POLICY_EXTENSIONS.has(e.oid))) return { ok: true, value: base };
  // The values as parseCertificate read them (parsing the TBSCertificate again would double the cost of a large one).
  const values = new Map(cert.extensions.filter((e) => POLICY_EXTENSIONS.has(e.oid)).map((e) => [e.oid, e.value]));
  const out: { -readonly [K in keyof PolicyCertificate]: PolicyCertificate[K] } = { ...base };
  for (const [oid, der] of values) {
    const what = `the ${POLICY_EXTENSIONS.get(oid)!} extension of "${cert.subject}"`;
    try {
      if (oid === Oids.certificatePolicies) out.policies = decodeCertificatePolicies(der, what);
      else if (oid === Oids.policyMappings) out.mappings = decodePolicyMappings(der, what);
      else if (oid === Oids.inhibitAnyPolicy) out.inhibitAnyPolicy = decodeInhibitAnyPolicy(der, what);
      else Object.assign(out, decodePolicyConstraints(der, what));
    } catch (e) {
      // Only a malformed extension is a reason; any other error is a fault here and must not pass for one.
      if (!(e instanceof SsmaxError)) throw e;
      return { ok: false, reason: e.message };
    }
  }
  return { ok: true, value: out };
}

/** Policy processing for a built path, leaf first and trust anchor last (as validateChain holds it). */
export function processPathPolicies(path: readonly CertificateInfo[], inputs: PolicyInputs): PolicyOutcome {
  const certs: PolicyCertificate[] = [];
  for (const c of path.slice(0, -1).reverse()) {
    const read = readPolicyCertificate(c);
    if (!read.ok) return read;
    certs.push(read.value);
  }
  return processPolicies(certs, inputs);
}
