/**
 * X.501 Names: building them for issuance and reading them as RFC 4514 strings.
 */
import type * as asn1js from 'asn1js';
import { Oids } from '../oids.js';
import { SsmaxError } from '../errors.js';
import type { DerReader } from './der-reader.js';
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
  /** Exact DER, for name chaining (RFC 5280 §7.1 compares names; we compare the encodings). */
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
