/**
 * Certification path building and validation for the test bed (RFC 5280 §6.1, with revocation per
 * §6.3 from CRLs). The outcome is data (ChainValidationResult), never an exception: a bad chain is a
 * verdict the SMTP edge and the journey log report. Only a leaf or trust anchor that is not a
 * certificate at all throws (MALFORMED_*), because that is a caller or configuration fault.
 *
 * Certificate policies (§6.1.2 (a)(d)-(f), §6.1.3 (d)-(f), §6.1.4 (a)(b)(h)-(j), §6.1.5 (a)(b)(g)) are
 * processed by policy-tree.ts, as the bounded policy graph of RFC 9618, with the §6.1.1 policy inputs as
 * options (PolicyInputs) and the policy sets of a valid path in the result; a non-critical
 * policyConstraints binds the path like a critical one (NIST PKITS 4.8.4).
 *
 * Name constraints (§6.1.2 (b)(c), §6.1.3 (b)(c), §6.1.4 (g)) are processed by name-constraints.ts for
 * directoryName, rfc822Name, dNSName, URI and iPAddress, the trust anchor's included; a non-critical
 * nameConstraints binds the path like a critical one, one in a certificate that is not a CA fails it, and
 * so does a name of another form (otherName, ...) under a constraint of that form. Names are compared by
 * the RFC 5280 §7.1 rules (names.ts sameName: case, white space, string type, attribute order within an
 * RDN) when an issuer is chained to a subject, a CRL to its issuer, and in directoryName constraints.
 *
 * Revocation (§6.3) is read from CRLs by revocation.ts: the scopes of cRLDistributionPoints and
 * issuingDistributionPoint, CRLs partitioned by reason, indirect CRLs (cRLIssuer, certificateIssuer), delta
 * CRLs, and CRLs signed by another certificate of the CRL issuer (a separate cRLSign certificate, a
 * self-issued key rollover), whose own path to the same trust anchor is validated; `maxRevocationChecks`
 * bounds that work. A malformed CRL is ignored with a warning that says why.
 *
 * Not implemented: OCSP.
 * Tested against NIST PKITS and x509-limbo in pkits-limbo.test.ts.
 */
import { SsmaxError, type ErrorCode } from '../errors.js';
import { Oids, SsmaxOids } from '../oids.js';
import { parseCertificate, sameBytes, type CertificateInfo, type KeyUsageName } from './certificate-info.js';
import { parseCrl, type CrlInfo } from './crl.js';
import { profileProblems } from './ca-profile.js';
import { nameConstraintProblems } from './name-constraints.js';
import { checkRevocation, revocationSession, type RevocationSession } from './revocation.js';
import { sameName } from './names.js';
import { checkPolicyInputs, processPathPolicies, type PathPolicies, type PolicyInputs } from './policy-tree.js';
import { verifySignature } from './signature-algorithms.js';

export type ChainVerdictCode = Extract<ErrorCode, 'UNTRUSTED_CHAIN' | 'CERT_EXPIRED' | 'CERT_NOT_YET_VALID' | 'CERT_REVOKED' | 'CERT_USAGE' | 'BAD_SIGNATURE'>;

export interface ChainValidationResult {
  readonly valid: boolean;
  /** The most serious problem when `valid` is false. */
  readonly code?: ChainVerdictCode;
  /** Every problem found on the reported path, most serious first. Empty when valid. */
  readonly reasons: readonly string[];
  /** Facts that did not fail the path (e.g. revocation not checked for a certificate). */
  readonly warnings: readonly string[];
  /** The path, leaf first, trust anchor last (as far as it was built). */
  readonly chain: readonly CertificateInfo[];
  /** Candidate issuers whose signature the path builder checked (bounded by `maxCandidates`). */
  readonly candidatesTried: number;
  /** The certificate policies the path is valid for (RFC 5280 §6.1.6); present when `valid`. */
  readonly policies?: PathPolicies;
}

export type RevocationPolicy = 'require' | 'ifAvailable' | 'none';

/** The policy inputs (initialPolicySet, initialExplicitPolicy, ...) are RFC 5280 §6.1.1's, see PolicyInputs. */
export interface ChainValidationOptions extends PolicyInputs {
  readonly leaf: Uint8Array | CertificateInfo;
  /** Candidate intermediate CAs (untrusted; malformed ones are skipped). */
  readonly intermediates?: readonly (Uint8Array | CertificateInfo)[];
  readonly trustAnchors: readonly (Uint8Array | CertificateInfo)[];
  /** Candidate CRLs (malformed ones are skipped with a warning). */
  readonly crls?: readonly (Uint8Array | CrlInfo)[];
  /** The validation time. */
  readonly time: Date;
  /**
   * `require` (default): every non-anchor certificate needs a current CRL signed by its issuer, else
   * the path is UNTRUSTED_CHAIN. `ifAvailable`: use CRLs when present. `none`: skip revocation.
   */
  readonly revocation?: RevocationPolicy;
  /** The leaf must carry an extKeyUsage extension listing this purpose (or anyExtendedKeyUsage). */
  readonly requiredExtKeyUsage?: string;
  /** The leaf must carry a keyUsage extension with at least one of these bits. */
  readonly requiredKeyUsage?: readonly KeyUsageName[];
  /** The leaf must name this address (SAN rfc822Name or legacy emailAddress; domain case-insensitive). */
  readonly email?: string;
  /**
   * Longest path tried: leaf, anchor and the intermediates that are not self-issued (they do not count,
   * as in RFC 5280 §6.1.4 (l); `maxCandidates` bounds them); default 6.
   */
  readonly maxPathLength?: number;
  /**
   * Most candidate issuers the path builder checks in all (one signature check each); default 64. The
   * certificates come from the message, so without a bound a few dozen look-alikes make path building
   * exponential. When it is reached the result is UNTRUSTED_CHAIN unless a path was already found.
   */
  readonly maxCandidates?: number;
  /**
   * Most signature checks revocation checking makes in all (CRLs and delta CRLs, and the candidate issuers
   * of CRL-signer paths); default 128. The CRLs come from the message too. When it is reached, a
   * certificate whose status is not yet known is treated as having no usable CRL.
   */
  readonly maxRevocationChecks?: number;
}

const SEVERITY: readonly ChainVerdictCode[] = ['BAD_SIGNATURE', 'UNTRUSTED_CHAIN', 'CERT_REVOKED', 'CERT_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_USAGE'];

/** Extensions this validator processes; any other critical extension fails the path (RFC 5280 §4.2). */
const HANDLED = new Set<string>([
  Oids.basicConstraints,
  Oids.keyUsage,
  Oids.extKeyUsage,
  Oids.subjectAltName,
  Oids.subjectKeyIdentifier,
  Oids.authorityKeyIdentifier,
  Oids.certificatePolicies,
  Oids.policyConstraints,
  Oids.policyMappings,
  Oids.inhibitAnyPolicy,
  Oids.nameConstraints,
  SsmaxOids.extIdentityProofing,
  SsmaxOids.extTraceId,
  SsmaxOids.extOrgRole,
]);

interface Issue {
  readonly code: ChainVerdictCode;
  readonly reason: string;
}

const asCert = (c: Uint8Array | CertificateInfo): CertificateInfo => (c instanceof Uint8Array ? parseCertificate(c) : c);

function normaliseEmail(addr: string): string {
  const at = addr.lastIndexOf('@');
  // RFC 5321 §2.4: the local part is case-sensitive, the domain is not.
  return at < 0 ? addr : `${addr.slice(0, at)}@${addr.slice(at + 1).toLowerCase()}`;
}

/** Keeps the first of certificates with identical DER. */
function dedupe(certs: readonly CertificateInfo[], also: readonly CertificateInfo[] = []): CertificateInfo[] {
  const out: CertificateInfo[] = [];
  for (const c of certs) if (!out.some((x) => sameBytes(x.der, c.der)) && !also.some((x) => sameBytes(x.der, c.der))) out.push(c);
  return out;
}

/**
 * Builds candidate paths from the leaf to a trust anchor and validates them; returns the first valid one.
 * Path building (RFC 4158) is bounded: duplicates are dropped, a candidate issuer is followed only when its
 * key verifies the signature below it, a path never holds the same subject and key twice (RFC 4158 §5.2),
 * and at most `maxCandidates` candidate issuers are checked in all.
 */
export function validateChain(o: ChainValidationOptions): ChainValidationResult {
  const leaf = asCert(o.leaf);
  const anchors = dedupe(
    o.trustAnchors.map((a) => {
      try {
        return asCert(a);
      } catch (cause) {
        throw new SsmaxError('MALFORMED_CERTIFICATE', 'Cannot validate the chain. A trust anchor is not a certificate.', { cause });
      }
    }),
  );
  const warnings: string[] = [];
  const given: CertificateInfo[] = [];
  for (const c of o.intermediates ?? []) {
    try {
      given.push(asCert(c));
    } catch {
      warnings.push('a candidate intermediate certificate is malformed and was ignored');
    }
  }
  const intermediates = dedupe(given, anchors);
  const crls: CrlInfo[] = [];
  for (const c of o.crls ?? []) {
    try {
      crls.push(c instanceof Uint8Array ? parseCrl(c) : c);
    } catch (e) {
      warnings.push(`a CRL is malformed and was ignored: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const max = o.maxPathLength ?? 6;
  const maxCandidates = o.maxCandidates ?? 64;
  if (!Number.isInteger(maxCandidates) || maxCandidates < 1)
    throw new SsmaxError('USAGE', `Cannot validate the chain. maxCandidates must be a positive integer, got ${maxCandidates}.`);
  checkPolicyInputs(o);
  const isAnchor = (c: CertificateInfo): boolean => anchors.some((a) => a === c || sameBytes(a.der, c.der));
  const pool = [...anchors, ...intermediates];
  const session = revocationSession(o, pool);

  const complete: CertificateInfo[][] = [];
  let longest: CertificateInfo[] = [leaf];
  let tried = 0;
  let exhausted = false;
  // The first candidate that matched by name and key identifier but whose key did not verify the
  // signature: with no path at all, that (a forged or damaged certificate) is the verdict to report.
  let badSignature: { path: CertificateInfo[]; reason: string } | undefined;
  const walk = (path: CertificateInfo[]): void => {
    if (complete.length >= 16 || exhausted) return;
    const cert = path[path.length - 1]!;
    if (path.length > longest.length) longest = path;
    if (isAnchor(cert)) {
      complete.push(path);
      return;
    }
    if (path.filter((p, i) => i === 0 || !p.selfIssued).length >= max) return;
    for (const cand of pool) {
      if (complete.length >= 16) return;
      const matches =
        sameName(cand.subjectDer, cert.issuerDer) &&
        // RFC 5280 §4.2.1.1: the AKI picks among issuers with the same name (key rollover).
        (cert.authorityKeyIdentifier === undefined || cand.subjectKeyIdentifier === undefined || cert.authorityKeyIdentifier === cand.subjectKeyIdentifier) &&
        // RFC 4158 §5.2: no subject + key twice on one path (this also excludes the same certificate).
        !path.some((p) => sameName(p.subjectDer, cand.subjectDer) && sameBytes(p.spki, cand.spki));
      if (!matches) continue;
      if (tried >= maxCandidates) {
        exhausted = true;
        return;
      }
      tried++;
      const sig = verifySignature(cert.signatureAlgorithm, cand.spki, cert.tbsDer, cert.signatureValue);
      if (!sig.ok) {
        badSignature ??= { path: [...path, cand], reason: `the signature on "${cert.subject}" by "${cand.subject}" is invalid: ${sig.reason}` };
        continue;
      }
      walk([...path, cand]);
    }
  };
  walk([leaf]);

  if (complete.length === 0) {
    const top = longest[longest.length - 1]!;
    if (exhausted) {
      return {
        valid: false,
        code: 'UNTRUSTED_CHAIN',
        reasons: [`no path to a trust anchor: path building gave up after ${tried} candidate issuers (maxCandidates) without reaching one`],
        warnings,
        chain: longest,
        candidatesTried: tried,
      };
    }
    if (badSignature)
      return { valid: false, code: 'BAD_SIGNATURE', reasons: [badSignature.reason], warnings, chain: badSignature.path, candidatesTried: tried };
    return {
      valid: false,
      code: 'UNTRUSTED_CHAIN',
      reasons: [`no path to a trust anchor: no trusted or candidate issuer named "${top.issuer}" for "${top.subject}"`],
      warnings,
      chain: longest,
      candidatesTried: tried,
    };
  }
  let first: ChainValidationResult | undefined;
  for (const path of complete) {
    const issues = checkPath(path, o, crls, session);
    if (issues.problems.length === 0)
      return {
        valid: true,
        reasons: [],
        warnings: [...warnings, ...issues.notes],
        chain: path,
        candidatesTried: tried,
        ...(issues.policies && { policies: issues.policies }),
      };
    if (!first) {
      const sorted = [...issues.problems].sort((a, b) => SEVERITY.indexOf(a.code) - SEVERITY.indexOf(b.code));
      first = {
        valid: false,
        code: sorted[0]!.code,
        reasons: sorted.map((p) => p.reason),
        warnings: [...warnings, ...issues.notes],
        chain: path,
        candidatesTried: tried,
      };
    }
  }
  return first!;
}

function checkPath(
  path: readonly CertificateInfo[],
  o: ChainValidationOptions,
  crls: readonly CrlInfo[],
  session: RevocationSession,
): { problems: Issue[]; notes: string[]; policies?: PathPolicies } {
  const problems: Issue[] = [];
  const notes: string[] = [];
  const t = o.time.getTime();
  const n = path.length;
  for (let k = n - 1; k >= 0; k--) {
    const c = path[k]!;
    const who = `"${c.subject}"`;
    // RFC 5280 §6.1.3 (a)(2): validity at the validation time (checked for the anchor too, as openssl does).
    // notAfter is inclusive and has whole seconds: 00:00:00Z covers that whole second (x509-limbo
    // rfc5280::validity::notafter-fractional).
    if (Math.floor(t / 1000) * 1000 > c.notAfter.getTime()) problems.push({ code: 'CERT_EXPIRED', reason: `${who} expired at ${c.notAfter.toISOString()}` });
    if (t < c.notBefore.getTime()) problems.push({ code: 'CERT_NOT_YET_VALID', reason: `${who} is not valid before ${c.notBefore.toISOString()}` });
    for (const e of c.extensions) {
      if (e.critical && !HANDLED.has(e.oid)) problems.push({ code: 'UNTRUSTED_CHAIN', reason: `${who} has the unrecognised critical extension ${e.oid}` });
    }
    if (k > 0) {
      // RFC 5280 §6.1.4 (k), (n): an issuer must be a CA with keyCertSign.
      if (c.basicConstraints?.ca !== true)
        problems.push({ code: 'CERT_USAGE', reason: `${who} issued "${path[k - 1]!.subject}" but is not a CA (basicConstraints cA is not TRUE)` });
      if (c.keyUsage !== undefined && !c.keyUsage.includes('keyCertSign'))
        problems.push({ code: 'CERT_USAGE', reason: `${who} issued a certificate but lacks the keyCertSign key usage` });
      // RFC 5280 §6.1.4 (l), (m): pathLenConstraint counts the non-self-issued intermediates below.
      const pathLen = c.basicConstraints?.pathLen;
      if (pathLen !== undefined) {
        const below = path.slice(1, k).filter((x) => !x.selfIssued).length;
        if (below > pathLen) problems.push({ code: 'CERT_USAGE', reason: `${who} allows ${pathLen} intermediate CA(s) below it, the path has ${below}` });
      }
    }
    if (k === n - 1) continue;
    const issuer = path[k + 1]!;
    // RFC 5280 §6.1.3 (a)(1).
    const sig = verifySignature(c.signatureAlgorithm, issuer.spki, c.tbsDer, c.signatureValue);
    if (!sig.ok) problems.push({ code: 'BAD_SIGNATURE', reason: `the signature on ${who} by "${issuer.subject}" is invalid: ${sig.reason}` });
    // RFC 5280 §6.3 (revocation.ts).
    if (o.revocation !== 'none') {
      const status = checkRevocation({ path, index: k, options: o, crls, session, validate: validateChain });
      problems.push(...status.problems);
      notes.push(...status.notes);
    }
  }
  // RFC 5280 §6.1.3 (b)(c), §6.1.4 (g).
  for (const reason of nameConstraintProblems(path)) problems.push({ code: 'UNTRUSTED_CHAIN', reason });
  // RFC 5280 §4 rules no conforming CA breaks (ca-profile.ts).
  for (const reason of profileProblems(path)) problems.push({ code: 'UNTRUSTED_CHAIN', reason });
  // RFC 5280 §6.1.3 (d)-(f), §6.1.4 (a)(b)(h)-(j), §6.1.5 (a)(b)(g): policy-tree.ts.
  const policy = processPathPolicies(path, o);
  if (!policy.ok) problems.push({ code: 'UNTRUSTED_CHAIN', reason: policy.reason });
  const leaf = path[0]!;
  if (o.requiredExtKeyUsage !== undefined) {
    const eku = leaf.extKeyUsage;
    if (eku === undefined) problems.push({ code: 'CERT_USAGE', reason: `"${leaf.subject}" has no extKeyUsage; ${o.requiredExtKeyUsage} is required` });
    else if (!eku.includes(o.requiredExtKeyUsage) && !eku.includes(Oids.anyExtendedKeyUsage)) {
      problems.push({ code: 'CERT_USAGE', reason: `"${leaf.subject}" extKeyUsage (${eku.join(', ')}) does not include ${o.requiredExtKeyUsage}` });
    }
  }
  if (o.requiredKeyUsage !== undefined && o.requiredKeyUsage.length > 0) {
    const ku = leaf.keyUsage;
    if (ku === undefined || !o.requiredKeyUsage.some((u) => ku.includes(u))) {
      problems.push({ code: 'CERT_USAGE', reason: `"${leaf.subject}" keyUsage (${ku?.join(', ') ?? 'absent'}) has none of ${o.requiredKeyUsage.join(', ')}` });
    }
  }
  if (o.email !== undefined) {
    const want = normaliseEmail(o.email);
    // RFC 8550 §3: compare with the SAN rfc822Name entries and the legacy emailAddress attribute.
    if (!leaf.emailAddresses.some((a) => normaliseEmail(a) === want)) {
      problems.push({
        code: 'CERT_USAGE',
        reason: `"${leaf.subject}" is not issued for ${o.email} (it names ${leaf.emailAddresses.join(', ') || 'no address'})`,
      });
    }
  }
  return { problems, notes, ...(policy.ok && { policies: policy.policies }) };
}
