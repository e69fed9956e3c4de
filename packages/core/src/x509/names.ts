/**
 * X.501 Names: building them for issuance, reading them as RFC 4514 strings, and comparing them by the
 * RFC 5280 §7.1 rules (sameName, nameWithin).
 */
import type * as asn1js from 'asn1js';
import { Oids } from '../oids.js';
import { SsmaxError } from '../errors.js';
import { DerReader } from './der-reader.js';
import { derEncode, derOid, derPrintableString, derSequence, derSetOf, derUtf8String, isPrintableString, type DerInput } from '../der/der-writer.js';

/** A subject name to issue: single-valued RDNs, encoded most general first (C, O, OU, CN). */
export interface NameSpec {
  /** Two-letter country code (ISO 3166). */
  readonly C?: string;
  readonly O?: string;
  readonly OU?: string;
  readonly CN?: string;
}

const ORDER: readonly (keyof NameSpec)[] = ['C', 'O', 'OU', 'CN'];
const SPEC_OIDS: Record<keyof NameSpec, string> = {
  C: Oids.countryName,
  O: Oids.organizationName,
  OU: Oids.organizationalUnitName,
  CN: Oids.commonName,
};

/** DER of the Name (RFC 5280 §4.1.2.4: PrintableString for C, UTF8String otherwise). */
export function encodeName(spec: NameSpec): Uint8Array {
  const rdns: DerInput[] = [];
  for (const key of ORDER) {
    const value = spec[key];
    if (value === undefined) continue;
    if (value.length === 0 || value.length > 64)
      throw new SsmaxError('USAGE', `Cannot encode the name. ${key} must be 1..64 characters (RFC 5280 Appendix A upper bounds).`);
    if (key === 'C' && !(value.length === 2 && isPrintableString(value)))
      throw new SsmaxError('USAGE', `Cannot encode the name. C must be a two-letter country code, not "${value}".`);
    rdns.push(derSetOf([derSequence(derOid(SPEC_OIDS[key]), key === 'C' ? derPrintableString(value) : derUtf8String(value))]));
  }
  if (rdns.length === 0) throw new SsmaxError('USAGE', 'Cannot encode the name. It has no attributes.');
  return derEncode(derSequence(...rdns));
}

const SHORT_NAMES: Record<string, string> = {
  [Oids.commonName]: 'CN',
  [Oids.countryName]: 'C',
  [Oids.localityName]: 'L',
  [Oids.stateOrProvinceName]: 'ST',
  [Oids.organizationName]: 'O',
  [Oids.organizationalUnitName]: 'OU',
  [Oids.domainComponent]: 'DC',
  [Oids.userId]: 'UID',
  [Oids.serialNumber]: 'serialNumber',
  [Oids.surname]: 'SN',
  [Oids.givenName]: 'GN',
  [Oids.title]: 'title',
  [Oids.emailAddress]: 'emailAddress',
};

/** RFC 4514 §2.4 escaping. */
function escapeValue(v: string): string {
  let s = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (s.startsWith(' ') || s.startsWith('#')) s = `\\${s}`;
  if (s.endsWith(' ') && s.length > 1) s = `${s.slice(0, -1)}\\ `;
  return s.replace(/\x00/g, '\\00');
}

export interface ParsedName {
  /** RFC 4514 string, most specific RDN first (as `openssl -nameopt RFC2253` prints it). */
  readonly text: string;
  /** Exact DER (compare two names with sameName, RFC 5280 §7.1, not by these bytes). */
  readonly der: Uint8Array;
  /** Values of legacy emailAddress attributes (RFC 8550 §3). */
  readonly emailAddresses: string[];
  /** Every attribute in encoding order (short name or dotted OID, and the value). */
  readonly attributes: NameAttribute[];
}

export interface NameAttribute {
  readonly type: string;
  readonly value: string;
}

export function parseName(r: DerReader, node: asn1js.AsnType | undefined, what: string): ParsedName {
  const rdns = r.sequence(node, what);
  const parts: string[] = [];
  const emailAddresses: string[] = [];
  const attributes: NameAttribute[] = [];
  for (const rdn of rdns) {
    if (!r.isUniversal(rdn, 17)) r.fail(`${what} holds an RDN that is not a SET`);
    const atvs = r.children(rdn, `${what} RDN`);
    if (atvs.length === 0) r.fail(`${what} holds an empty RDN`);
    const texts: string[] = [];
    for (const atv of atvs) {
      const [typeNode, valueNode, ...extra] = r.sequence(atv, `${what} attribute`);
      if (extra.length > 0) r.fail(`${what} attribute has extra fields`);
      const type = r.oid(typeNode, `${what} attribute type`);
      let value: string;
      const text = r.optionalString(valueNode);
      if (text !== undefined) value = text;
      else if (valueNode) value = `#${Buffer.from(r.raw(valueNode, `${what} attribute value`)).toString('hex')}`;
      else r.fail(`${what} attribute has no value`);
      if (type === Oids.emailAddress) emailAddresses.push(value);
      const label = SHORT_NAMES[type] ?? type;
      attributes.push({ type: label, value });
      texts.push(`${label}=${value.startsWith('#') && !SHORT_NAMES[type] ? value : escapeValue(value)}`);
    }
    parts.push(texts.join('+'));
  }
  return { text: parts.reverse().join(','), der: r.raw(node!, what), emailAddresses, attributes };
}

// ---------------------------------------------------------------------------------------------------
// RFC 5280 §7.1 name comparison.

// RFC 4518 §2.2 (Map): code points mapped to nothing (soft hyphens, joiners, variation selectors,
// control and format characters other than the six below, ZERO WIDTH SPACE).
const MAPPED_TO_NOTHING =
  /[\u0000-\u0008\u000e-\u001f\u007f-\u0084\u0086-\u009f\u00ad\u034f\u06dd\u070f\u1806\u180b-\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2063\u206a-\u206f\ufe00-\ufe0f\ufeff\ufff9-\ufffc\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}]/gu;
// RFC 4518 §2.2: TAB, LF, VT, FF, CR, NEL and every separator (Zs, Zl, Zp) become SPACE.
const MAPPED_TO_SPACE = /[\u0009-\u000d\u0085\p{Z}]/gu;

/**
 * The RFC 4518 string preparation RFC 5280 §7.1 asks for before caseIgnoreMatch, simplified as §7.1
 * allows: map (control characters dropped, white space to SPACE), case fold (upper then lower case, so
 * "ß" folds to "ss" as RFC 3454 B.2 does), NFKC, then insignificant space handling (leading and trailing
 * spaces removed, inner runs compressed to one). The prohibit and bidi steps are left out.
 */
export function prepareDirectoryString(value: string): string {
  const mapped = value.replace(MAPPED_TO_NOTHING, '').replace(MAPPED_TO_SPACE, ' ');
  return mapped.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC').replace(/ +/g, ' ').trim();
}

const asciiText = (b: Uint8Array): string | undefined => (b.every((x) => x < 0x80) ? Buffer.from(b).toString('latin1') : undefined);

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function utf16be(b: Uint8Array): string | undefined {
  if (b.byteLength % 2 !== 0) return undefined;
  let s = '';
  for (let i = 0; i < b.byteLength; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return LONE_SURROGATE.test(s) ? undefined : s;
}

function utf32be(b: Uint8Array): string | undefined {
  if (b.byteLength % 4 !== 0) return undefined;
  let s = '';
  for (let i = 0; i < b.byteLength; i += 4) {
    const cp = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    s += String.fromCodePoint(cp);
  }
  return s;
}

function utf8(b: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
  } catch {
    return undefined;
  }
}

/**
 * RFC 4518 §2.1 (Transcode) for the string types X.520 names use, by universal tag. TeletexString is read
 * as Latin-1, as most decoders do. RFC 5280 §7.1 makes TeletexString, BMPString and UniversalString support
 * optional; we read them so a name chains whichever of them its CA chose.
 */
const TRANSCODE: ReadonlyMap<number, (b: Uint8Array) => string | undefined> = new Map([
  [12, utf8], // UTF8String
  [18, asciiText], // NumericString
  [19, asciiText], // PrintableString
  [20, (b: Uint8Array) => Buffer.from(b).toString('latin1')], // TeletexString
  [22, asciiText], // IA5String
  [26, asciiText], // VisibleString
  [28, utf32be], // UniversalString
  [30, utf16be], // BMPString
]);

/**
 * One attribute value as a comparison key: a character string is prepared (prepareDirectoryString) so
 * values that differ only in case, white space or string type compare equal; any other value is its DER.
 * Every string-valued attribute is compared with caseIgnoreMatch: RFC 5280 §7.1 requires it for
 * DirectoryString, and the other string attributes certificates carry (countryName, serialNumber,
 * dnQualifier, domainComponent, emailAddress, uid) have case-ignoring equality rules too.
 */
function valueKey(r: DerReader, node: asn1js.AsnType): string {
  const tag = node.idBlock.tagClass === 1 && !node.idBlock.isConstructed ? TRANSCODE.get(node.idBlock.tagNumber) : undefined;
  const text = tag?.(r.primitiveContent(node, 'attribute value'));
  return text === undefined ? `#${Buffer.from(r.raw(node, 'attribute value')).toString('hex')}` : `"${prepareDirectoryString(text)}`;
}

/** Each RDN as a key: the sorted keys of its attributes, since the order inside an RDN (a SET) is not significant. */
function readComparable(der: Uint8Array): readonly string[] {
  const r: DerReader = new DerReader('MALFORMED_DER', 'a Name');
  return r.guard(() =>
    r.sequence(r.parse(der), 'Name').map((rdn) => {
      if (!r.isUniversal(rdn, 17)) r.fail('an RDN is not a SET');
      const atvs = r.children(rdn, 'RDN');
      if (atvs.length === 0) r.fail('an RDN is empty');
      const keys = atvs.map((atv) => {
        const [type, value, ...extra] = r.sequence(atv, 'AttributeTypeAndValue');
        if (!value || extra.length > 0) r.fail('an attribute has the wrong number of fields');
        return `${r.oid(type, 'attribute type')}=${valueKey(r, value)}`;
      });
      return JSON.stringify(keys.sort());
    }),
  );
}

// A pure function's results, keyed by the DER array of a parsed certificate (names are compared many
// times while paths are built); entries go when the certificate does.
const comparableCache = new WeakMap<Uint8Array, readonly string[] | null>();

/** The Name as RFC 5280 §7.1 compares it (one key per RDN, in order); undefined when the DER is not a Name. */
function comparable(der: Uint8Array): readonly string[] | undefined {
  let c = comparableCache.get(der);
  if (c === undefined) {
    try {
      c = readComparable(der);
    } catch {
      c = null;
    }
    comparableCache.set(der, c);
  }
  return c ?? undefined;
}

const sameDer = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);

/**
 * RFC 5280 §7.1: two Names (DER) match when they have the same RDNs in the same order, RDNs match when they
 * hold the same attributes in any order, and attribute values match after prepareDirectoryString. Equal DER
 * is the fast path; a Name that cannot be decoded matches only its own bytes.
 */
export function sameName(a: Uint8Array, b: Uint8Array): boolean {
  if (sameDer(a, b)) return true;
  const x = comparable(a);
  const y = comparable(b);
  return x !== undefined && y !== undefined && x.length === y.length && x.every((k, i) => k === y[i]);
}

/**
 * RFC 5280 §4.2.1.10 (directoryName): `name` is within the subtree rooted at `base` when base's RDNs are its
 * first RDNs, compared as sameName compares them. An empty base holds every name. False when either is not a Name.
 */
export function nameWithin(name: Uint8Array, base: Uint8Array): boolean {
  const n = comparable(name);
  const b = comparable(base);
  return n !== undefined && b !== undefined && b.length <= n.length && b.every((k, i) => k === n[i]);
}

/** The number of RDNs in a Name (0 for the empty name); undefined when the DER is not a Name. */
export function rdnCount(der: Uint8Array): number | undefined {
  return comparable(der)?.length;
}
