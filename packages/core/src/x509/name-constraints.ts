/**
 * RFC 5280 name constraints for path validation: the nameConstraints extension (§4.2.1.10) and its path
 * processing, §6.1.2 (b)(c) (initial state), §6.1.3 (b)(c) (check each certificate's names) and §6.1.4 (g)
 * (narrow the state with each CA's constraints).
 *
 * The state keeps permitted_subtrees as a list of layers, one per CA certificate and name form, and a name
 * must lie in some subtree of every layer of its form: that is the intersection §6.1.4 (g)(1) asks for,
 * without computing it (an intersection that came out empty is a layer pair no name satisfies).
 * excluded_subtrees is the union of every CA's excluded subtrees. An excluded match fails the name
 * whatever the permitted subtrees say.
 *
 * Choices where RFC 5280 leaves room, each checked by a case of x509-limbo or PKITS:
 * - The trust anchor's own constraints apply (as x509-limbo expects); its own names are not checked.
 * - A non-critical nameConstraints binds the path like a critical one (criticality is a CA profile rule).
 * - nameConstraints in a certificate that is not a CA cannot constrain anything (§6.1.4 (g) is for CAs), so
 *   the path is refused rather than the issuer's intent ignored (limbo rfc5280::nc::not-allowed-in-ee-*).
 * - otherName, x400Address, ediPartyName and registeredID constraints are not processed: a path fails only
 *   when a certificate subject to such a constraint has a name of that form (§4.2.1.10: "process the
 *   constraint or reject the certificate"; limbo rfc5280::nc::nc-forbids-othername and -noop).
 * - A constraint that is not a well-formed name of its form fails the path (a dNSName constraint with a
 *   leading period or a wildcard, an iPAddress without a CIDR mask, an rfc822Name with two "@"), and so
 *   does a name of a constrained form that is malformed (it cannot be shown to lie inside a subtree).
 * - The subject's emailAddress attributes (PKCS #9) are checked as rfc822Names even when a subjectAltName
 *   is present (§4.2.1.10 requires it only without one): validateChain's `email` option accepts them.
 * - A subject that is the empty name is not checked against directoryName constraints (its names are in
 *   the subjectAltName, §4.1.2.6; PKITS 4.13.14).
 */
import type * as asn1js from 'asn1js';
import { isIPv4 } from 'node:net';
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import type { CertificateInfo } from './certificate-info.js';
import { DerReader, decodeOid } from './der-reader.js';
import { nameWithin, parseName, rdnCount } from './names.js';

/** The GeneralName forms by context tag (RFC 5280 §4.2.1.6). */
export const GeneralNameForms = [
  'otherName',
  'rfc822Name',
  'dNSName',
  'x400Address',
  'directoryName',
  'ediPartyName',
  'uniformResourceIdentifier',
  'iPAddress',
  'registeredID',
] as const;
export type GeneralNameForm = (typeof GeneralNameForms)[number];

/** Forms whose constraints this module does not evaluate (RFC 5280 defines no matching rule for them). */
type OpaqueForm = 'otherName' | 'x400Address' | 'ediPartyName' | 'registeredID';

/** A GeneralName as read, without judging its syntax (that depends on whether a constraint applies). */
export type GeneralName =
  | { readonly form: 'rfc822Name' | 'dNSName' | 'uniformResourceIdentifier'; readonly text: string }
  | { readonly form: 'directoryName'; readonly der: Uint8Array }
  | { readonly form: 'iPAddress'; readonly bytes: Uint8Array }
  | { readonly form: OpaqueForm; readonly label: string };

/** A decoded nameConstraints extension; every base is well formed for its form. */
export interface NameConstraints {
  readonly permitted: readonly GeneralName[];
  readonly excluded: readonly GeneralName[];
}

const isOpaque = (form: GeneralNameForm): form is OpaqueForm =>
  form === 'otherName' || form === 'x400Address' || form === 'ediPartyName' || form === 'registeredID';

/** IA5String content as text; undefined when a byte is outside IA5 (7 bits). */
const ia5 = (b: Uint8Array): string | undefined => (b.every((x) => x < 0x80) ? Buffer.from(b).toString('latin1') : undefined);

function readGeneralName(r: DerReader, node: asn1js.AsnType | undefined, what: string): GeneralName {
  if (!node || node.idBlock.tagClass !== 3 || node.idBlock.tagNumber > 8) r.fail(`${what} is not a GeneralName`);
  const form = GeneralNameForms[node.idBlock.tagNumber]!;
  switch (form) {
    case 'rfc822Name':
    case 'dNSName':
    case 'uniformResourceIdentifier': {
      const text = ia5(r.primitiveContent(node, `${what} ${form}`));
      if (text === undefined) r.fail(`${what} ${form} is not an IA5String`);
      return { form, text };
    }
    case 'directoryName': {
      const [name, ...extra] = r.children(node, `${what} directoryName`);
      if (!name || extra.length > 0) r.fail(`${what} directoryName does not hold one Name`);
      parseName(r, name, `${what} directoryName`);
      return { form, der: r.raw(name, `${what} directoryName`) };
    }
    case 'iPAddress':
      return { form, bytes: r.primitiveContent(node, `${what} iPAddress`) };
    case 'registeredID': {
      const all = r.raw(node, `${what} registeredID`);
      const oid = decodeOid(all.subarray(all.byteLength - node.lenBlock.length));
      if (oid === undefined || node.idBlock.isConstructed) r.fail(`${what} registeredID is not an OBJECT IDENTIFIER`);
      return { form, label: oid };
    }
    case 'otherName': {
      const [typeId] = r.children(node, `${what} otherName`);
      return { form, label: r.oid(typeId, `${what} otherName type-id`) };
    }
    default:
      r.children(node, `${what} ${form}`);
      return { form, label: form };
  }
}

// ---------------------------------------------------------------------------------------------------
// Syntax of names and constraints.

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/** A host or domain name in preferred name syntax (RFC 1034 §3.5, underscores tolerated): no empty label, no trailing dot. */
const isDnsName = (s: string): boolean => s.length > 0 && s.length <= 253 && s.split('.').every((l) => LABEL.test(l));

/** RFC 5321 §4.1.2 Local-part: a dot-atom or a quoted string (RFC 5280 §4.2.1.6 uses the RFC 5321 Mailbox). */
const LOCAL_PART = /^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")$/i;

interface Mailbox {
  readonly local: string;
  readonly domain: string;
}

/** An RFC 5321 Mailbox with a domain name (address literals are not accepted); undefined when malformed. */
function parseMailbox(s: string): Mailbox | undefined {
  const at = s.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  return LOCAL_PART.test(local) && isDnsName(domain) ? { local, domain: domain.toLowerCase() } : undefined;
}

/** RFC 5280 §4.2.1.10: an rfc822Name constraint names a mailbox, a host ("example.com") or a domain (".example.com"). */
type MailConstraint = { readonly kind: 'mailbox'; readonly mailbox: Mailbox } | { readonly kind: 'host' | 'domain'; readonly name: string };

function parseMailConstraint(s: string): MailConstraint | undefined {
  if (s.includes('@')) {
    const mailbox = parseMailbox(s);
    return mailbox && { kind: 'mailbox', mailbox };
  }
  const domain = s.startsWith('.');
  const name = domain ? s.slice(1) : s;
  return isDnsName(name) ? { kind: domain ? 'domain' : 'host', name: name.toLowerCase() } : undefined;
}

/** A host/domain constraint: "host.example.com" is that host, ".example.com" any host below example.com (not itself). */
function hostMatches(host: string, c: { readonly kind: 'host' | 'domain'; readonly name: string }): boolean {
  return c.kind === 'host' ? host === c.name : host.endsWith(`.${c.name}`);
}

/**
 * The host of a URI with an authority (RFC 3986 §3.2.2), lower-cased; undefined when it has none or it is
 * an IP literal (a URI constraint names hosts by domain name, §4.2.1.10).
 */
function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri);
  if (!m) return undefined;
  const authority = m[1]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostPort.startsWith('[')) return undefined;
  const host = hostPort.replace(/:\d*$/, '');
  return isDnsName(host) && !isIPv4(host) ? host.toLowerCase() : undefined;
}

/** An iPAddress constraint (address and mask) is valid when the mask is contiguous ones then zeros. */
function contiguousMask(mask: Uint8Array): boolean {
  let zeros = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      if (one && zeros) return false;
      if (!one) zeros = true;
    }
  }
  return true;
}

/** Why a constraint base is not usable, or undefined when it is well formed for its form. */
function constraintProblem(base: GeneralName): string | undefined {
  switch (base.form) {
    case 'dNSName':
      // §4.2.1.10: "host.example.com"; the empty name is the root, so every DNS name is below it.
      return base.text === '' || isDnsName(base.text) ? undefined : `the dNSName constraint "${base.text}" is not a DNS name (no wildcard or leading period)`;
    case 'rfc822Name':
      return parseMailConstraint(base.text) ? undefined : `the rfc822Name constraint "${base.text}" is not a mailbox, host or .domain`;
    case 'uniformResourceIdentifier':
      return !base.text.includes('@') && parseMailConstraint(base.text) ? undefined : `the URI constraint "${base.text}" is not a host or .domain`;
    case 'iPAddress':
      return (base.bytes.byteLength === 8 || base.bytes.byteLength === 32) && contiguousMask(base.bytes.subarray(base.bytes.byteLength / 2))
        ? undefined
        : `the iPAddress constraint (${base.bytes.byteLength} octets) is not an IPv4 or IPv6 address with a CIDR mask`;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// Decoding the extension.

function readSubtrees(r: DerReader, node: asn1js.AsnType, what: string): GeneralName[] {
  const subtrees = r.children(node, what);
  if (subtrees.length === 0) r.fail(`${what} is empty`);
  return subtrees.map((subtree) => {
    const [base, ...rest] = r.sequence(subtree, `a GeneralSubtree of ${what}`);
    // §4.2.1.10: minimum MUST be zero (so, in DER, absent) and maximum MUST be absent.
    if (rest.length > 0) r.fail(`a GeneralSubtree of ${what} has minimum or maximum, which RFC 5280 §4.2.1.10 does not allow`);
    const name = readGeneralName(r, base, `the base of a GeneralSubtree of ${what}`);
    const problem = constraintProblem(name);
    if (problem !== undefined) r.fail(problem);
    return name;
  });
}

/**
 * Decodes a nameConstraints extension value (RFC 5280 §4.2.1.10). Throws SsmaxError MALFORMED_CERTIFICATE
 * when it is not one, is empty, uses minimum or maximum, or holds a base that is malformed for its form.
 */
export function decodeNameConstraints(der: Uint8Array): NameConstraints {
  return new DerReader('MALFORMED_CERTIFICATE', 'the nameConstraints extension').guard((r) => {
    const fields = r.sequence(r.parse(der), 'NameConstraints');
    let permitted: GeneralName[] = [];
    let excluded: GeneralName[] = [];
    let i = 0;
    if (fields[i] && r.isContext(fields[i]!, 0)) permitted = readSubtrees(r, fields[i++]!, 'permittedSubtrees');
    if (fields[i] && r.isContext(fields[i]!, 1)) excluded = readSubtrees(r, fields[i++]!, 'excludedSubtrees');
    if (i !== fields.length) r.fail('NameConstraints has unexpected fields');
    if (i === 0) r.fail('NameConstraints is empty (RFC 5280 §4.2.1.10: permittedSubtrees or excludedSubtrees MUST be present)');
    return { permitted, excluded };
  });
}

/** A certificate's extension values by OID, as parseCertificate read them. */
const extensionValues = (c: CertificateInfo): Map<string, Uint8Array> => new Map(c.extensions.map((e) => [e.oid, e.value]));

/** The subjectAltName entries of a certificate, every form. */
function subjectAltNames(r: DerReader, san: Uint8Array | undefined): GeneralName[] {
  return san === undefined ? [] : r.sequence(r.parse(san), 'subjectAltName').map((n) => readGeneralName(r, n, 'a subjectAltName entry'));
}

/** Names §6.1.3 (b)(c) checks: the subject (unless empty), every subjectAltName, the subject's emailAddress values. */
function namesOf(c: CertificateInfo, values: Map<string, Uint8Array>): GeneralName[] {
  const r = new DerReader('MALFORMED_CERTIFICATE', 'the subjectAltName extension');
  const names: GeneralName[] = r.guard(() => subjectAltNames(r, values.get(Oids.subjectAltName)));
  if ((rdnCount(c.subjectDer) ?? 1) > 0) names.unshift({ form: 'directoryName', der: c.subjectDer });
  for (const a of c.subjectAttributes) if (a.type === 'emailAddress') names.push({ form: 'rfc822Name', text: a.value });
  return names;
}

// ---------------------------------------------------------------------------------------------------
// Matching.

/** What a subtree says about a name: inside it, outside it, or the name is malformed for its form. */
type Fit = 'inside' | 'outside' | 'malformed';

function ipText(b: Uint8Array): string {
  if (b.byteLength === 4) return [...b].join('.');
  if (b.byteLength !== 16) return `0x${Buffer.from(b).toString('hex')}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  // The WHATWG URL parser prints an IPv6 host in RFC 5952 form ("::1").
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** A name or constraint base as text for a reason. */
function describeGeneralName(n: GeneralName, constraint = false): string {
  switch (n.form) {
    case 'rfc822Name':
    case 'dNSName':
    case 'uniformResourceIdentifier':
      return `"${n.text}"`;
    case 'directoryName':
      try {
        const r = new DerReader('MALFORMED_DER', 'a directoryName');
        return `"${r.guard(() => parseName(r, r.parse(n.der), 'directoryName').text)}"`;
      } catch {
        return 'an undecodable directoryName';
      }
    case 'iPAddress': {
      if (!constraint || n.bytes.byteLength % 2 !== 0) return ipText(n.bytes);
      const half = n.bytes.byteLength / 2;
      const prefix = [...n.bytes.subarray(half)].reduce((sum, byte) => sum + byte.toString(2).replaceAll('0', '').length, 0);
      return `${ipText(n.bytes.subarray(0, half))}/${prefix}`;
    }
    default:
      return n.label;
  }
}

function dnsFit(name: string, base: string, mode: 'permitted' | 'excluded'): Fit {
  const n = name.toLowerCase();
  const b = base.toLowerCase();
  const within = (host: string): boolean => b === '' || host === b || host.endsWith(`.${b}`);
  if (n.startsWith('*.')) {
    // A wildcard stands for any one label: permitted only if every such name is, excluded if any is
    // (limbo rfc5280::nc::nc-forbids-dnsname-wildcard-san).
    const parent = n.slice(2);
    if (!isDnsName(parent)) return 'malformed';
    if (within(parent)) return 'inside';
    return mode === 'excluded' && b.slice(b.indexOf('.') + 1) === parent && b.includes('.') ? 'inside' : 'outside';
  }
  if (!isDnsName(n)) return 'malformed';
  return within(n) ? 'inside' : 'outside';
}

function fit(name: GeneralName, base: GeneralName, mode: 'permitted' | 'excluded'): Fit {
  switch (base.form) {
    case 'dNSName':
      return name.form === 'dNSName' ? dnsFit(name.text, base.text, mode) : 'outside';
    case 'rfc822Name': {
      if (name.form !== 'rfc822Name') return 'outside';
      const mailbox = parseMailbox(name.text);
      const c = parseMailConstraint(base.text);
      if (!mailbox || !c) return 'malformed';
      // RFC 5280 §7.5 / RFC 5321 §2.4: the local part is case-sensitive, the domain is not.
      if (c.kind === 'mailbox') return mailbox.local === c.mailbox.local && mailbox.domain === c.mailbox.domain ? 'inside' : 'outside';
      return hostMatches(mailbox.domain, c) ? 'inside' : 'outside';
    }
    case 'uniformResourceIdentifier': {
      if (name.form !== 'uniformResourceIdentifier') return 'outside';
      const host = uriHost(name.text);
      const c = parseMailConstraint(base.text);
      if (host === undefined || !c || c.kind === 'mailbox') return 'malformed';
      return hostMatches(host, c) ? 'inside' : 'outside';
    }
    case 'iPAddress': {
      if (name.form !== 'iPAddress') return 'outside';
      const n = name.bytes;
      if (n.byteLength !== 4 && n.byteLength !== 16) return 'malformed';
      const half = base.bytes.byteLength / 2;
      if (n.byteLength !== half) return 'outside';
      for (let i = 0; i < half; i++) if ((n[i]! & base.bytes[half + i]!) !== (base.bytes[i]! & base.bytes[half + i]!)) return 'outside';
      return 'inside';
    }
    case 'directoryName':
      if (name.form !== 'directoryName') return 'outside';
      if (rdnCount(name.der) === undefined) return 'malformed';
      return nameWithin(name.der, base.der) ? 'inside' : 'outside';
    default:
      return 'outside';
  }
}

// ---------------------------------------------------------------------------------------------------
// The state (§6.1.2 (b)(c)) and its processing.

interface Layer {
  readonly form: GeneralNameForm;
  readonly subtrees: readonly GeneralName[];
  /** The subject of the CA that imposed it, for reasons. */
  readonly from: string;
}

/**
 * permitted_subtrees and excluded_subtrees of RFC 5280 §6.1.2 (b)(c). Starts unbounded and empty; `add`
 * narrows it with one CA's constraints (§6.1.4 (g)), `check` judges one certificate's names (§6.1.3 (b)(c)).
 */
export class NameConstraintsState {
  private readonly permitted: Layer[] = [];
  private readonly excluded: { readonly base: GeneralName; readonly from: string }[] = [];

  /** §6.1.4 (g): intersect permitted_subtrees per form (forms the CA leaves out are unchanged), unite excluded_subtrees. */
  add(nc: NameConstraints, from: string): void {
    for (const form of GeneralNameForms) {
      const subtrees = nc.permitted.filter((b) => b.form === form);
      if (subtrees.length > 0) this.permitted.push({ form, subtrees, from });
    }
    for (const base of nc.excluded) this.excluded.push({ base, from });
  }

  /** §6.1.3 (b)(c): the reasons `names` of the certificate `who` break the state (empty when they do not). */
  check(names: readonly GeneralName[], who: string): string[] {
    const reasons: string[] = [];
    for (const name of names) {
      const constrainedBy = [
        ...this.permitted.filter((l) => l.form === name.form).map((l) => l.from),
        ...this.excluded.filter((e) => e.base.form === name.form).map((e) => e.from),
      ];
      if (constrainedBy.length === 0) continue;
      const label = `${name.form} ${describeGeneralName(name)}`;
      if (isOpaque(name.form)) {
        reasons.push(
          `${who} has the ${label} and "${constrainedBy[0]}" constrains ${name.form} names, which this validator does not process (RFC 5280 §4.2.1.10: process the constraint or reject the certificate)`,
        );
        continue;
      }
      for (const e of this.excluded) {
        if (e.base.form !== name.form) continue;
        const f = fit(name, e.base, 'excluded');
        if (f === 'malformed') reasons.push(`${who} has the malformed ${label}, which cannot be checked against the name constraints of "${e.from}"`);
        else if (f === 'inside') reasons.push(`${who} has the ${label}, inside the excluded subtree ${describeGeneralName(e.base, true)} of "${e.from}"`);
        if (f !== 'outside') break;
      }
      for (const layer of this.permitted) {
        if (layer.form !== name.form) continue;
        const fits = layer.subtrees.map((b) => fit(name, b, 'permitted'));
        if (fits.includes('inside')) continue;
        const within = layer.subtrees.map((b) => describeGeneralName(b, true)).join(', ');
        reasons.push(
          fits.includes('malformed')
            ? `${who} has the malformed ${label}, which cannot be checked against the name constraints of "${layer.from}"`
            : `${who} has the ${label}, outside the permitted ${name.form} subtrees of "${layer.from}" (${within})`,
        );
      }
    }
    return [...new Set(reasons)];
  }
}

/**
 * Name constraints over a whole path (leaf first, trust anchor last): the reasons it fails them, empty when
 * it does not. Never throws for bad input: a malformed extension or name is a reason.
 */
export function nameConstraintProblems(path: readonly CertificateInfo[]): string[] {
  // Nothing to do (nor to parse again) on a path without the extension, as SSMAX paths are.
  if (!path.some((c) => c.extensions.some((e) => e.oid === Oids.nameConstraints))) return [];
  const state = new NameConstraintsState();
  const reasons: string[] = [];
  for (let k = path.length - 1; k >= 0; k--) {
    const c = path[k]!;
    const who = `"${c.subject}"`;
    const values = extensionValues(c);
    // §6.1.3 (b)(c): every certificate below the anchor, except self-issued ones that are not the leaf.
    if (k < path.length - 1 && (k === 0 || !c.selfIssued)) {
      let names: GeneralName[] | undefined;
      try {
        names = namesOf(c, values);
      } catch (e) {
        // Only a malformed name is a reason; any other error is a fault here and must not pass for one (fuzz x509-path).
        if (!(e instanceof SsmaxError)) throw e;
        reasons.push(`${who} has names that cannot be read for name constraints: ${e.message}`);
      }
      if (names) reasons.push(...state.check(names, who));
    }
    const ncDer = values.get(Oids.nameConstraints);
    if (ncDer === undefined) continue;
    if (c.basicConstraints?.ca !== true) {
      reasons.push(`${who} carries a nameConstraints extension but is not a CA (RFC 5280 §4.2.1.10: only CA certificates may), so it cannot apply`);
      continue;
    }
    if (k === 0) continue; // §6.1.4 (g) is for CA certificates below which the path goes on.
    try {
      state.add(decodeNameConstraints(ncDer), c.subject);
    } catch (e) {
      if (!(e instanceof SsmaxError)) throw e;
      reasons.push(`${who} has a malformed nameConstraints extension: ${e.message.replace(/^Cannot parse [^.]*\. /, '').replace(/\.$/, '')}`);
    }
  }
  return reasons;
}
