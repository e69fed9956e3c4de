/**
 * Revocation status from CRLs (RFC 5280 §6.3), for validateChain: one certificate of a path at a time.
 *
 * - Scope (§6.3.3 (b)): each of the certificate's cRLDistributionPoints in turn, then a point standing for
 *   its issuer (for CRLs no distribution point names). A CRL serves a point when its issuer is the
 *   point's cRLIssuer (then it must be an indirect CRL) or else the certificate's issuer, and its
 *   issuingDistributionPoint, if any, names the point and covers this kind of certificate (user, CA,
 *   never attribute certificates).
 * - Reasons (§6.3.3 (d), (e), (l)): a CRL counts for the reasons both its onlySomeReasons and the point's
 *   reasons allow; the status is known once the CRLs used cover every reason, or one of them revokes.
 * - Indirect CRLs (§5.3.3): an entry belongs to the issuer its certificateIssuer extension names, else to
 *   the last one named above it, else to the CRL issuer.
 * - Delta CRLs (§5.2.4, §6.3.3 (a), (c), (h)-(k)): the newest current delta of the same issuer, scope and
 *   key whose BaseCRLNumber ≤ the complete CRL's number < its own number is read first; its
 *   removeFromCRL entry undoes a hold on the complete CRL. It also keeps a complete CRL past its nextUpdate
 *   usable (§6.3.3 (a)(1)(i)). A delta that does not apply is ignored with a warning, not failed on: whoever
 *   can add a CRL to the input can leave one out, so refusing would protect nothing.
 * - Signer (§6.3.3 (f), (g)): the CRL's key may belong to any certificate named as the CRL issuer with
 *   cRLSign: the issuing CA's own, a certificate above on the path (self-issued key rollover), or another
 *   one among the candidates, whose own path to the same trust anchor is then validated with validateChain
 *   (revocation included). A signer whose validation needs a CRL it signs itself (PKITS 4.14.30) is taken
 *   as valid inside that validation.
 * - Work (CRLs and certificates come from the message) is bounded per validateChain call: CRL signature
 *   checks and the candidate issuers of signer paths count against `maxRevocationChecks`, signer paths
 *   nest at most MAX_SIGNER_DEPTH deep, and results are cached per CRL and key and per signer.
 * - A CRL is unusable with a critical CRL or entry extension not read here (§5.2, §5.3), without a
 *   non-critical cRLNumber (§5.2.3), or with certificateIssuer entries when it is not indirect (§5.3.3).
 */
import { SsmaxError } from '../errors.js';
import { sameBytes, type CertificateInfo } from './certificate-info.js';
import {
  compareCrlNumbers,
  readCrlDistributionPoints,
  ReasonFlagNames,
  type CrlGeneralName,
  type CrlInfo,
  type DistributionPoint,
  type DistributionPointName,
  type ReasonFlag,
  type RevokedEntry,
} from './crl.js';
import { derEncode, derSequence } from '../der/der-writer.js';
import { sameName } from './names.js';
import { verifySignature } from './signature-algorithms.js';
import type { ChainValidationOptions, ChainValidationResult } from './validate-chain.js';

/** A problem revocation checking adds to the path's. */
export interface RevocationProblem {
  readonly code: 'CERT_REVOKED' | 'UNTRUSTED_CHAIN';
  readonly reason: string;
}

export const DEFAULT_MAX_REVOCATION_CHECKS = 128;
/** CRL-signer paths validated inside a CRL-signer path validation, at most. */
const MAX_SIGNER_DEPTH = 3;

/** ReasonFlags bits 1-8 (bit i is 1 << i); bit 0, unused, is no reason. */
const ALL_REASONS = 0x1fe;
const reasonMask = (flags: readonly ReasonFlag[] | undefined): number =>
  flags === undefined ? ALL_REASONS : flags.reduce((m, f) => m | (1 << ReasonFlagNames.indexOf(f)), 0) & ALL_REASONS;
const reasonNames = (mask: number): string => ReasonFlagNames.filter((_, i) => (mask & (1 << i)) !== 0).join(', ');

type Verified = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const cacheKey = (...ders: Uint8Array[]): string => ders.map((d) => Buffer.from(d).toString('base64')).join('|');

/**
 * Work and results shared by one validateChain call and the CRL-signer validations it starts: the
 * signature-check budget, caches, and the signers whose validation is under way.
 */
export class RevocationSession {
  private spent = 0;
  private readonly signatures = new Map<CrlInfo, Map<string, Verified>>();
  private readonly signers = new Map<string, Verified>();
  private readonly inProgress: CertificateInfo[] = [];

  constructor(
    /** The call's trust anchors and intermediates: the candidate CRL signers. */
    readonly candidates: readonly CertificateInfo[],
    readonly maxChecks: number,
  ) {}

  get exhausted(): boolean {
    return this.spent >= this.maxChecks;
  }

  private budgetReason(): string {
    return `revocation checking gave up after ${this.spent} signature checks (maxRevocationChecks)`;
  }

  /** RFC 5280 §6.3.3 (g), (h): the CRL's signature with this key; cached, and counted once. */
  verify(crl: CrlInfo, spki: Uint8Array): Verified {
    let byKey = this.signatures.get(crl);
    if (!byKey) this.signatures.set(crl, (byKey = new Map()));
    const key = cacheKey(spki);
    const known = byKey.get(key);
    if (known) return known;
    if (this.exhausted) return { ok: false, reason: this.budgetReason() };
    this.spent++;
    const result = verifySignature(crl.signatureAlgorithm, spki, crl.tbsDer, crl.signatureValue);
    const v: Verified = result.ok ? { ok: true } : { ok: false, reason: result.reason };
    byKey.set(key, v);
    return v;
  }

  /** RFC 5280 §6.3.3 (f): a CRL signer off the path, validated to the path's trust anchor. */
  validateSigner(signer: CertificateInfo, anchor: CertificateInfo, check: RevocationCheck): Verified {
    // Its validation is the one under way (PKITS 4.14.30: the cRLIssuer's CRL covers its own certificate).
    if (this.inProgress.some((c) => sameBytes(c.der, signer.der))) return { ok: true };
    const key = cacheKey(signer.der, anchor.der);
    const known = this.signers.get(key);
    if (known) return known;
    const who = `the CRL signer "${signer.subject}" (serial ${signer.serialNumber})`;
    if (this.inProgress.length >= MAX_SIGNER_DEPTH)
      return { ok: false, reason: `${who} would need CRL-signer paths nested more than ${MAX_SIGNER_DEPTH} deep` };
    if (this.exhausted) return { ok: false, reason: this.budgetReason() };
    const o = check.options;
    // Only the path-building and revocation options carry over: the leaf's purpose, usage, address and
    // policy inputs are the message's, not the CRL signer's.
    const sub: ChainValidationOptions = {
      leaf: signer,
      intermediates: this.candidates,
      // RFC 5280 §6.3.3 (f): the same trust anchor as the path.
      trustAnchors: [anchor],
      crls: check.crls,
      time: o.time,
      ...(o.revocation !== undefined ? { revocation: o.revocation } : {}),
      ...(o.maxPathLength !== undefined ? { maxPathLength: o.maxPathLength } : {}),
      maxCandidates: Math.max(1, Math.min(o.maxCandidates ?? 64, this.maxChecks - this.spent)),
    };
    linkedSessions.set(sub, this);
    this.inProgress.push(signer);
    let r: ChainValidationResult;
    try {
      r = check.validate(sub);
    } catch (e) {
      // A typed refusal of the signer is a reason; any other error is a fault and must not pass for one.
      if (!(e instanceof SsmaxError)) throw e;
      return { ok: false, reason: `${who} could not be validated: ${e.message}` };
    } finally {
      this.inProgress.pop();
    }
    this.spent += r.candidatesTried;
    const v: Verified = r.valid ? { ok: true } : { ok: false, reason: `${who} is not valid: ${r.reasons[0] ?? r.code ?? 'unknown'}` };
    // A verdict reached while an outer signer was taken as valid holds only inside that validation.
    if (this.inProgress.length === 0) this.signers.set(key, v);
    return v;
  }
}

const linkedSessions = new WeakMap<ChainValidationOptions, RevocationSession>();

/**
 * The revocation session of a validateChain call: its parent's when the call validates a CRL signer,
 * else a new one over the call's candidate certificates. Throws USAGE for a bad maxRevocationChecks.
 */
export function revocationSession(o: ChainValidationOptions, candidates: readonly CertificateInfo[]): RevocationSession {
  const parent = linkedSessions.get(o);
  if (parent) return parent;
  const max = o.maxRevocationChecks ?? DEFAULT_MAX_REVOCATION_CHECKS;
  if (!Number.isInteger(max) || max < 1)
    throw new SsmaxError('USAGE', `Cannot validate the chain. maxRevocationChecks must be a positive integer, got ${max}.`);
  return new RevocationSession(candidates, max);
}

export interface RevocationCheck {
  /** The path, leaf first, trust anchor last. */
  readonly path: readonly CertificateInfo[];
  /** The certificate checked is path[index]; path[index + 1] issued it. */
  readonly index: number;
  readonly options: ChainValidationOptions;
  readonly crls: readonly CrlInfo[];
  readonly session: RevocationSession;
  /** validateChain, for CRL-signer paths (passed in so this module does not import validate-chain.ts). */
  readonly validate: (o: ChainValidationOptions) => ChainValidationResult;
}

/** A distribution point with its names resolved (RFC 5280 §4.2.1.13). */
interface Point {
  readonly names?: readonly CrlGeneralName[];
  readonly crlIssuer?: readonly CrlGeneralName[];
  readonly reasons: number;
}

/** The DER content of a Name (its RDNs), after the SEQUENCE header. */
function nameContent(der: Uint8Array): Uint8Array {
  const len = der[1] ?? 0;
  return der.subarray(len < 0x80 ? 2 : 2 + (len & 0x7f));
}

/** nameRelativeToCRLIssuer appended to a Name, as a directoryName. */
function appendRdn(base: Uint8Array, baseText: string, rdn: Uint8Array, rdnText: string): CrlGeneralName {
  return { form: 'directoryName', der: derEncode(derSequence(nameContent(base), rdn)), text: baseText ? `${rdnText},${baseText}` : rdnText };
}

function pointNames(name: DistributionPointName, bases: readonly { der: Uint8Array; text: string }[]): CrlGeneralName[] {
  if ('fullName' in name) return [...name.fullName];
  return bases.map((b) => appendRdn(b.der, b.text, name.nameRelativeToCRLIssuer, name.text));
}

function resolvePoint(dp: DistributionPoint, cert: CertificateInfo): Point {
  const crlIssuer = dp.cRLIssuer;
  // RFC 5280 §4.2.1.13: a relative name extends the cRLIssuer's name when there is one, else the issuer's.
  const bases = crlIssuer ? crlIssuer.filter((n) => n.form === 'directoryName') : [{ der: cert.issuerDer, text: cert.issuer }];
  return {
    ...(dp.distributionPoint ? { names: pointNames(dp.distributionPoint, bases) } : {}),
    ...(crlIssuer ? { crlIssuer } : {}),
    reasons: reasonMask(dp.reasons),
  };
}

// Each certificate's points, read once (paths share certificates); an Error when they cannot be read.
const pointsCache = new WeakMap<CertificateInfo, readonly Point[] | Error>();

function pointsOf(cert: CertificateInfo): readonly Point[] | Error {
  let points = pointsCache.get(cert);
  if (points === undefined) {
    try {
      points = readCrlDistributionPoints(cert).map((dp) => resolvePoint(dp, cert));
    } catch (e) {
      // A malformed extension leaves the status unknown; any other error is a fault and must not pass for that.
      if (!(e instanceof SsmaxError)) throw e;
      points = e;
    }
    pointsCache.set(cert, points);
  }
  return points;
}

/** RFC 5280 §6.3.3, last paragraph: for CRLs no distribution point names, the issuer's name and every reason. */
const issuerPoint = (cert: CertificateInfo): Point => ({
  names: [{ form: 'directoryName', der: cert.issuerDer, text: cert.issuer }],
  reasons: ALL_REASONS,
});

function sameGeneralName(a: CrlGeneralName, b: CrlGeneralName): boolean {
  if (a.form === 'directoryName' || b.form === 'directoryName') return a.form === b.form && sameName(a.der, b.der);
  return a.tag === b.tag && sameBytes(a.der, b.der);
}

const namesDirectory = (names: readonly CrlGeneralName[], der: Uint8Array): boolean => names.some((n) => n.form === 'directoryName' && sameName(n.der, der));

/** Why a CRL (complete or delta) cannot be used at all, or undefined. */
function unusable(crl: CrlInfo): string | undefined {
  // RFC 5280 §5.2.3: conforming CRL issuers include a non-critical cRLNumber.
  if (crl.crlNumber === undefined) return 'it has no cRLNumber';
  if (crl.crlNumberCritical) return 'its cRLNumber is marked critical';
  // RFC 5280 §5.2, §5.3: a critical extension the application cannot process.
  if (crl.unhandledCriticalExtensions.length > 0) return `unrecognised critical extension ${crl.unhandledCriticalExtensions.join(', ')}`;
  if (crl.issuingDistributionPoint?.indirectCRL !== true && crl.revoked.some((e) => e.certificateIssuer !== undefined))
    return 'it names certificate issuers in its entries but is not an indirect CRL (RFC 5280 §5.3.3)';
  return undefined;
}

const isCurrent = (crl: CrlInfo, t: number): boolean => crl.thisUpdate.getTime() <= t && crl.nextUpdate !== undefined && crl.nextUpdate.getTime() >= t;

/** RFC 5280 §5.3.3: the entry for the certificate, by serial number and the issuer the entry is attributed to. */
function findEntry(crl: CrlInfo, cert: CertificateInfo): RevokedEntry | undefined {
  const indirect = crl.issuingDistributionPoint?.indirectCRL === true;
  let inForce: readonly CrlGeneralName[] | undefined;
  for (const e of crl.revoked) {
    if (indirect && e.certificateIssuer !== undefined) inForce = e.certificateIssuer;
    if (e.serialNumber !== cert.serialNumber) continue;
    if (inForce === undefined ? sameName(crl.issuerDer, cert.issuerDer) : namesDirectory(inForce, cert.issuerDer)) return e;
  }
  return undefined;
}

/** Whether two CRLs have the same scope: the same issuingDistributionPoint, or neither has one (RFC 5280 §6.3.3 (c)(2)). */
const sameScope = (a: CrlInfo, b: CrlInfo): boolean => {
  const x = a.issuingDistributionPoint?.der;
  const y = b.issuingDistributionPoint?.der;
  return x === undefined || y === undefined ? x === y : sameBytes(x, y);
};

/** Delta CRLs of the complete CRL's issuer, scope and key (RFC 5280 §6.3.3 (c)), before any signature check. */
const deltasFor = (crls: readonly CrlInfo[], complete: CrlInfo): CrlInfo[] =>
  crls.filter(
    (d) =>
      d.baseCrlNumber !== undefined &&
      sameName(d.issuerDer, complete.issuerDer) &&
      sameScope(d, complete) &&
      d.authorityKeyIdentifier === complete.authorityKeyIdentifier,
  );

type Signer = { readonly signer: CertificateInfo } | { readonly reason: string };

/** RFC 5280 §6.3.3 (f), (g): a valid certificate of the CRL issuer with cRLSign whose key verifies the CRL. */
function findSigner(check: RevocationCheck, crl: CrlInfo): Signer {
  const { path, index, session } = check;
  const anchor = path[path.length - 1]!;
  // The certificates above on the path are validated by the path itself.
  const above = path.slice(index + 1);
  const others = session.candidates.filter((c) => !above.some((p) => sameBytes(p.der, c.der)));
  const reasons: string[] = [];
  for (const cand of [...above, ...others]) {
    if (!sameName(cand.subjectDer, crl.issuerDer)) continue;
    if (crl.authorityKeyIdentifier !== undefined && cand.subjectKeyIdentifier !== undefined && crl.authorityKeyIdentifier !== cand.subjectKeyIdentifier)
      continue;
    if (cand.keyUsage !== undefined && !cand.keyUsage.includes('cRLSign')) {
      reasons.push(`"${cand.subject}" lacks cRLSign`);
      continue;
    }
    const sig = session.verify(crl, cand.spki);
    if (!sig.ok) {
      reasons.push(`the signature does not verify with the key of "${cand.subject}" (serial ${cand.serialNumber}): ${sig.reason}`);
      if (session.exhausted) break;
      continue;
    }
    if (above.includes(cand)) return { signer: cand };
    const valid = session.validateSigner(cand, anchor, check);
    if (valid.ok) return { signer: cand };
    reasons.push(valid.reason);
  }
  return {
    reason:
      reasons.length > 0
        ? reasons.join('; ')
        : `no certificate of "${crl.issuer}" with its key (authorityKeyIdentifier ${crl.authorityKeyIdentifier ?? 'absent'}) is known`,
  };
}

/** RFC 5280 §6.3.3 (c), (h), §5.2.4: the newest usable delta CRL for the complete CRL. */
function findDelta(check: RevocationCheck, complete: CrlInfo, signer: CertificateInfo, notes: Set<string>): CrlInfo | undefined {
  const t = check.options.time.getTime();
  let best: CrlInfo | undefined;
  for (const d of deltasFor(check.crls, complete)) {
    const skip = (why: string): void => {
      notes.add(`the delta CRL from "${d.issuer}" (cRLNumber ${d.crlNumber ?? 'absent'}, base ${d.baseCrlNumber}) was ignored: ${why}`);
    };
    const problem = unusable(d);
    if (problem) {
      skip(problem);
      continue;
    }
    // RFC 5280 §5.2.4: it updates complete CRLs numbered from its BaseCRLNumber up to below its own number.
    if (compareCrlNumbers(d.baseCrlNumber!, complete.crlNumber!) > 0 || compareCrlNumbers(d.crlNumber!, complete.crlNumber!) <= 0) {
      skip(`it does not apply to the complete CRL with cRLNumber ${complete.crlNumber}`);
      continue;
    }
    if (!isCurrent(d, t)) {
      skip(`it is not current at ${check.options.time.toISOString()}`);
      continue;
    }
    const sig = check.session.verify(d, signer.spki);
    if (!sig.ok) {
      skip(`its signature does not verify with the key of "${signer.subject}": ${sig.reason}`);
      continue;
    }
    if (!best || compareCrlNumbers(d.crlNumber!, best.crlNumber!) > 0) best = d;
  }
  return best;
}

type Used = { readonly reasons: number; readonly revoked?: string } | undefined;

/** RFC 5280 §6.3.3 (a)-(k) for one complete CRL and one distribution point; undefined when the CRL is not used. */
function useCrl(check: RevocationCheck, crl: CrlInfo, point: Point, covered: number, notes: Set<string>): Used {
  const cert = check.path[check.index]!;
  const t = check.options.time.getTime();
  // (b)(1)
  if (point.crlIssuer ? !namesDirectory(point.crlIssuer, crl.issuerDer) : !sameName(crl.issuerDer, cert.issuerDer)) return undefined;
  const ignore = (why: string): undefined => {
    notes.add(`the CRL from "${crl.issuer}" (thisUpdate ${crl.thisUpdate.toISOString()}) was ignored: ${why}`);
    return undefined;
  };
  const idp = crl.issuingDistributionPoint;
  if (point.crlIssuer && idp?.indirectCRL !== true) return ignore(`"${cert.subject}" names "${crl.issuer}" as its cRLIssuer, but this is not an indirect CRL`);
  const problem = unusable(crl);
  if (problem) return ignore(problem);
  // (b)(2)
  if (idp) {
    if (idp.distributionPoint) {
      const idpNames = pointNames(idp.distributionPoint, [{ der: crl.issuerDer, text: crl.issuer }]);
      const dpNames = point.names ?? point.crlIssuer ?? [];
      if (!idpNames.some((a) => dpNames.some((b) => sameGeneralName(a, b))))
        return ignore(`its issuingDistributionPoint (${idpNames.map((n) => n.text).join('; ')}) is not a distribution point of "${cert.subject}"`);
    }
    if (idp.onlyContainsUserCerts && cert.basicConstraints?.ca === true) return ignore(`it covers only end-entity certificates and "${cert.subject}" is a CA`);
    if (idp.onlyContainsCACerts && cert.basicConstraints?.ca !== true) return ignore(`it covers only CA certificates and "${cert.subject}" is not a CA`);
    if (idp.onlyContainsAttributeCerts) return ignore('it covers only attribute certificates');
  }
  // (d), (e): a CRL that adds no reason is not needed.
  const reasons = reasonMask(idp?.onlySomeReasons) & point.reasons;
  if ((reasons & ~covered) === 0) return undefined;
  // (a), before any signature work: a CRL past its nextUpdate needs a current delta (§6.3.3 (a)(1)(i)).
  if (crl.thisUpdate.getTime() > t || (!isCurrent(crl, t) && !deltasFor(check.crls, crl).some((d) => isCurrent(d, t))))
    return ignore(`it is not current at ${check.options.time.toISOString()}`);
  // (f), (g)
  const found = findSigner(check, crl);
  if ('reason' in found) return ignore(found.reason);
  // (c), (h)
  const delta = findDelta(check, crl, found.signer, notes);
  if (!isCurrent(crl, t) && !delta) return ignore(`it is not current at ${check.options.time.toISOString()} and no current delta CRL applies to it`);
  // (i), (j), (k): the delta's entry first; removeFromCRL there undoes a hold on the complete CRL.
  const fromDelta = delta ? findEntry(delta, cert) : undefined;
  const entry = fromDelta ?? findEntry(crl, cert);
  if (entry && entry.reason !== 'removeFromCRL') {
    const source = fromDelta ? ` (delta CRL ${delta!.crlNumber} from "${delta!.issuer}")` : '';
    return {
      reasons,
      revoked: `"${cert.subject}" (serial ${cert.serialNumber}) was revoked at ${entry.revocationDate.toISOString()}${entry.reason ? ` (${entry.reason})` : ''}${source}`,
    };
  }
  return { reasons };
}

/**
 * RFC 5280 §6.3: the revocation status of path[index] from the CRLs. A revoked certificate is CERT_REVOKED;
 * an unknown status is UNTRUSTED_CHAIN under 'require' and a warning under 'ifAvailable'. Never throws
 * for bad input: a malformed cRLDistributionPoints leaves the status unknown.
 */
export function checkRevocation(check: RevocationCheck): { problems: RevocationProblem[]; notes: string[] } {
  const cert = check.path[check.index]!;
  const issuer = check.path[check.index + 1]!;
  const notes = new Set<string>();
  const unknown = (detail: string): { problems: RevocationProblem[]; notes: string[] } =>
    check.options.revocation === 'ifAvailable'
      ? { problems: [], notes: [...notes, `revocation of "${cert.subject}" was not checked: ${detail}`] }
      : { problems: [{ code: 'UNTRUSTED_CHAIN', reason: `revocation of "${cert.subject}" is unknown: ${detail}` }], notes: [...notes] };
  const points = pointsOf(cert);
  if (points instanceof Error) return unknown(`its cRLDistributionPoints extension cannot be read: ${points.message}`);
  const complete = check.crls.filter((c) => c.baseCrlNumber === undefined);
  let covered = 0;
  for (const point of [...points, issuerPoint(cert)]) {
    for (const crl of complete) {
      if (covered === ALL_REASONS) break;
      const used = useCrl(check, crl, point, covered, notes);
      if (!used) continue;
      if (used.revoked !== undefined) return { problems: [{ code: 'CERT_REVOKED', reason: used.revoked }], notes: [...notes] };
      covered |= used.reasons;
    }
  }
  if (covered === ALL_REASONS) return { problems: [], notes: [...notes] };
  const budget = check.session.exhausted ? ` (revocation checking gave up after ${check.session.maxChecks} signature checks, maxRevocationChecks)` : '';
  if (covered === 0) return unknown(`no current, valid CRL from "${issuer.subject}"${budget}`);
  return unknown(`the current, valid CRLs cover only the reasons ${reasonNames(covered)}, not ${reasonNames(ALL_REASONS & ~covered)}${budget}`);
}
