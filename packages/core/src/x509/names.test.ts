/**
 * RFC 5280 §7.1 name comparison (sameName, nameWithin): what chains an issuer to a subject and what
 * directoryName constraints compare. Names are built here byte by byte, so each test controls string
 * types, white space and the order of attributes inside an RDN.
 */
import { describe, expect, it } from 'vitest';
import { DerValue, derEncode, derOid, derPrintableString, derSequence, derSetOf, derUtf8String, derIa5String } from '../der/der-writer.js';
import { Oids } from '../oids.js';
import { nameWithin, prepareDirectoryString, sameName } from './names.js';

type Atv = readonly [oid: string, value: DerValue];
const atv = ([oid, value]: Atv): DerValue => derSequence(derOid(oid), value);
/** A Name of RDNs in the order given; each RDN a DER-sorted SET. */
const dn = (...rdns: readonly Atv[][]): Uint8Array => derEncode(derSequence(...rdns.map((rdn) => derSetOf(rdn.map(atv)))));
/** An RDN SET with its attributes in the order given (not DER-sorted), as a BER encoder may write it. */
const unsortedRdn = (...atvs: Atv[]): DerValue => new DerValue(0x31, atvs.map(atv));

const C = (v: string): Atv => [Oids.countryName, derPrintableString(v)];
const O = (v: string): Atv => [Oids.organizationName, derPrintableString(v)];
const OU = (v: string): Atv => [Oids.organizationalUnitName, derPrintableString(v)];
const CN = (v: string): Atv => [Oids.commonName, derPrintableString(v)];
const CNutf8 = (v: string): Atv => [Oids.commonName, derUtf8String(v)];
const bmp = (s: string): DerValue => new DerValue(0x1e, [new Uint8Array(Buffer.from(s, 'utf16le').swap16())]);

describe('prepareDirectoryString', () => {
  it('folds case and removes insignificant white space when preparing a value (RFC 4518 §2)', () => {
    expect(prepareDirectoryString('  Good \t\n  CA  ')).toBe('good ca');
    expect(prepareDirectoryString('Stra\u00dfe')).toBe('strasse');
    // Soft hyphen and zero width space are mapped to nothing, NO-BREAK SPACE to SPACE.
    expect(prepareDirectoryString('Ex\u00adam\u200bple\u00a0Corp')).toBe('example corp');
    // NFKC: the full-width letters are the ASCII ones.
    expect(prepareDirectoryString('\uff21\uff22')).toBe('ab');
  });
});

describe('sameName (RFC 5280 §7.1)', () => {
  const good = dn([C('US')], [O('Test Certificates 2011')], [CN('Good CA')]);

  it('matches names that differ only in case or white space', () => {
    expect(sameName(good, dn([C('us')], [O('Test  Certificates 2011')], [CN('GOOD CA')]))).toBe(true);
    expect(sameName(good, dn([C('US')], [O('Test Certificates 2011   ')], [CN('   Good CA')]))).toBe(true);
  });

  it('matches a value whatever its string type (PrintableString, UTF8String, BMPString)', () => {
    expect(sameName(good, dn([C('US')], [O('Test Certificates 2011')], [CNutf8('good ca')]))).toBe(true);
    expect(sameName(good, dn([C('US')], [O('Test Certificates 2011')], [[Oids.commonName, bmp('Good CA')]]))).toBe(true);
  });

  it('does not match names whose values differ in more than case and white space', () => {
    expect(sameName(good, dn([C('US')], [O('Test Certificates 2011')], [CN('Good CA Root')]))).toBe(false);
    expect(sameName(good, dn([C('US')], [O('Test Certificates 2011')], [CN('GoodCA')]))).toBe(false);
    // The same value under another attribute type.
    expect(sameName(good, dn([C('US')], [O('Test Certificates 2011')], [OU('Good CA')]))).toBe(false);
  });

  it('keeps the order of RDNs significant (PKITS 4.3.2)', () => {
    const a = dn([C('US')], [OU('Unit 1')], [OU('Unit 2')]);
    const b = dn([C('US')], [OU('Unit 2')], [OU('Unit 1')]);
    expect(sameName(a, b)).toBe(false);
  });

  it('ignores the order of attributes inside a multi-valued RDN, and a multi-valued RDN is not two RDNs', () => {
    const sorted = dn([C('US')], [OU('alpha'), CN('beta')]);
    const reordered = derEncode(derSequence(derSetOf([atv(C('US'))]), unsortedRdn(CN('Beta'), OU('ALPHA'))));
    expect(sameName(sorted, reordered)).toBe(true);
    expect(sameName(sorted, dn([C('US')], [OU('alpha')], [CN('beta')]))).toBe(false);
  });

  it('compares a value that is not a character string by its encoding', () => {
    const bytes = (b: number): Atv => ['2.5.4.45', new DerValue(0x03, [new Uint8Array([0, b])])]; // x500UniqueIdentifier BIT STRING
    expect(sameName(dn([bytes(1)]), dn([bytes(1)]))).toBe(true);
    expect(sameName(dn([bytes(1)]), dn([bytes(2)]))).toBe(false);
  });

  it('compares emailAddress and domainComponent case-insensitively', () => {
    const mail = (v: string): Atv => [Oids.emailAddress, derIa5String(v)];
    const dc = (v: string): Atv => [Oids.domainComponent, derIa5String(v)];
    expect(sameName(dn([dc('Example')], [mail('CA@Example.com')]), dn([dc('example')], [mail('ca@example.com')]))).toBe(true);
  });
});

describe('nameWithin (RFC 5280 §4.2.1.10 directoryName subtrees)', () => {
  const base = dn([C('US')], [O('Alpha Corp')]);

  it('holds a name whose first RDNs match the base by the §7.1 rules', () => {
    expect(nameWithin(dn([C('US')], [O('ALPHA  corp')], [CN('alice')]), base)).toBe(true);
    expect(nameWithin(base, base)).toBe(true);
  });

  it('does not hold a name that is shorter, differs, or has the base RDNs elsewhere', () => {
    expect(nameWithin(dn([C('US')]), base)).toBe(false);
    expect(nameWithin(dn([C('US')], [O('Alpha Corporation')], [CN('alice')]), base)).toBe(false);
    expect(nameWithin(dn([CN('alice')], [C('US')], [O('Alpha Corp')]), base)).toBe(false);
  });

  it('holds every name under the empty base', () => {
    expect(nameWithin(dn([CN('anyone')]), derEncode(derSequence()))).toBe(true);
  });
});
