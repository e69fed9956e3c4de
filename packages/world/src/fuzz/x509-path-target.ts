/**
 * The x509-path fuzz target: RFC 5280 path processing past the signatures. Each case is a short chain (root →
 * CA (→ CA) → leaf, plus a separate cRLSign certificate of the leaf's issuer and an indirect CRL issuer) and its
 * CRLs, built field by field and signed afresh with EC P-256 keys made once at open, so validateChain gets past
 * path building into name constraints, policy processing, CRL scopes, indirect and delta CRLs, CRL-signer paths
 * and the CA-profile rules. The mutated certificates of `x509-certificate` never chain (their signatures break)
 * and the corpus carries none of these extensions, so this is the only target that reaches that code.
 *
 * The extensions are generated: nameConstraints (every GeneralName form, odd IP masks, odd DNS and rfc822 forms,
 * directoryNames in odd string types), certificatePolicies with qualifiers, policyMappings, policyConstraints,
 * inhibitAnyPolicy, subjectAltName, basicConstraints/pathLen, keyUsage, AKI/SKI, cRLDistributionPoints; in the
 * CRLs cRLNumber, deltaCRLIndicator, issuingDistributionPoint, and reasonCode and certificateIssuer entries. Each
 * value is most often well formed, else random bytes, random DER, or a byte or DER-tree mutation of a well-formed
 * one. Rare cases are built to be costly: a policy-mapping graph past the RFC 9618 bound, dozens of CRLs or CRL
 * signers against the revocation budget. The options (initialPolicySet, the inhibit flags, revocation, email) are
 * random but valid.
 *
 * A case's input (what `prepare` hands to `run`, and what a finding keeps) is JSON: the DER of the anchor,
 * intermediates, leaf and CRLs in base64, and the options, so a finding replays without this file's keys.
 *
 * Besides validateChain, `run` calls the decoders of these extensions directly, and counts an SsmaxError whose
 * cause is a JavaScript engine error raised in core's code (a TypeError, RangeError, ...) as untyped: DerReader's
 * guard turns any error inside a decoder into MALFORMED_CERTIFICATE, and validateChain turns that into a reason,
 * so a decoder's own fault would otherwise pass for a malformed input.
 */
import fc from 'fast-check';
import {
  Oids,
  SoftwareKey,
  SsmaxError,
  encodeSignatureAlgorithm,
  keyIdentifier,
  parseCertificate,
  parseCrl,
  validateChain,
  type CertificateInfo,
  type ChainValidationOptions,
  type CrlInfo,
} from '@ssmax/core';
import {
  DerValue,
  decodeCertificatePolicies,
  decodeInhibitAnyPolicy,
  decodeNameConstraints,
  decodePolicyConstraints,
  decodePolicyMappings,
  derBitString,
  derBoolean,
  derEncode,
  derInteger,
  derOid,
  derSequence,
  derSetOf,
  derTime,
  mutatedFrom,
  readCrlDistributionPoints,
  type DerInput,
} from '@ssmax/core/fuzz';
import { FUZZ_NOW } from './corpus.js';
import { derMutatedFrom } from './der-mutator.js';
import type { CaseProbe } from './outcome.js';
import type { FuzzInput, ParserTarget } from './parser-targets.js';

// ---------------------------------------------------------------------------------------------------
// DER pieces.

const tlv = (tag: number, ...parts: DerInput[]): Uint8Array => derEncode(new DerValue(tag, parts));
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** `a`'s value with odds `present` to `absent`, else undefined. */
const maybe = <T>(a: fc.Arbitrary<T>, present: number, absent: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: present, arbitrary: a }, { weight: absent, arbitrary: fc.constant(undefined) });

/** Named bits (KeyUsage, ReasonFlags) as BIT STRING contents: the unused-bits octet, then the bits, no trailing zero bits. */
function namedBitsContent(bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return Uint8Array.of(0);
  const highest = Math.max(...bits);
  const body = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const b of bits) body[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  return Uint8Array.of(7 - (highest % 8), ...body);
}

const STRING_TAGS = { utf8: 0x0c, printable: 0x13, teletex: 0x14, ia5: 0x16, visible: 0x1a, universal: 0x1c, bmp: 0x1e } as const;
type StringKind = keyof typeof STRING_TAGS;
const STRING_KINDS = Object.keys(STRING_TAGS) as StringKind[];

/** A character string of the given ASN.1 type; the text need not be in that type's repertoire. */
function stringValue(kind: StringKind, text: string): Uint8Array {
  let content: Uint8Array;
  if (kind === 'bmp') content = new Uint8Array(Buffer.from(text, 'utf16le').swap16());
  else if (kind === 'universal') {
    const cps = [...text].map((c) => c.codePointAt(0)!);
    content = new Uint8Array(cps.length * 4);
    cps.forEach((cp, i) => new DataView(content.buffer).setUint32(i * 4, cp));
  } else content = kind === 'utf8' ? utf8(text) : latin1(text);
  return tlv(STRING_TAGS[kind], content);
}

// ---------------------------------------------------------------------------------------------------
// Names. A logical name is its RDNs (most general first), each a list of attributes; it is encoded canonically
// (PrintableString C, UTF8String otherwise) or in a style: other string types, case, extra white space, which
// RFC 5280 §7.1 comparison must see through (or not, for TeletexString and the like).

type Attr = readonly [type: string, text: string];
type LogicalName = readonly (readonly Attr[])[];

const C = Oids.countryName;
const O = Oids.organizationName;
const OU = Oids.organizationalUnitName;
const CN = Oids.commonName;
const EMAIL = Oids.emailAddress;

const NAMES = {
  root: [[[C, 'JP']], [[O, 'Fuzz Root']]],
  ca1: [[[C, 'JP']], [[O, 'Fuzz']], [[OU, 'CA One']]],
  ca2: [[[C, 'JP']], [[O, 'Fuzz']], [[OU, 'CA One']], [[CN, 'CA Two']]],
  leaf: [[[C, 'JP']], [[O, 'Fuzz']], [[OU, 'CA One']], [[CN, 'Alice']]],
  indirect: [[[C, 'JP']], [[O, 'Fuzz']], [[OU, 'CRL Issuer']]],
  other: [[[C, 'JP']], [[O, 'Other']]],
} as const satisfies Record<string, LogicalName>;

interface NameStyle {
  readonly kinds: readonly StringKind[];
  readonly upper: boolean;
  readonly spaces: boolean;
}

function encodeName(name: LogicalName, style?: NameStyle): Uint8Array {
  let n = 0;
  const rdns = name.map((rdn) =>
    derSetOf(
      rdn.map(([type, text]) => {
        const kind = style ? style.kinds[n++ % style.kinds.length]! : type === C ? 'printable' : type === EMAIL ? 'ia5' : 'utf8';
        let t = style?.upper ? text.toUpperCase() : text;
        if (style?.spaces) t = ` ${t.replace(/ /g, '   ')}  `;
        return derSequence(derOid(type), stringValue(kind, t));
      }),
    ),
  );
  return derEncode(derSequence(...rdns));
}

const nameStyle: fc.Arbitrary<NameStyle> = fc.record({
  kinds: fc.array(fc.constantFrom(...STRING_KINDS), { minLength: 1, maxLength: 4 }),
  upper: fc.boolean(),
  spaces: fc.boolean(),
});

/** The name canonically, in a style, with an attribute added (emailAddress, a multi-valued RDN), or empty. */
function nameDer(name: LogicalName): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 24, arbitrary: fc.constant(encodeName(name)) },
    { weight: 4, arbitrary: nameStyle.map((s) => encodeName(name, s)) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<LogicalName>(
          [...name, [[EMAIL, 'alice@fuzz.example']]],
          [...name.slice(0, -1), [...name[name.length - 1]!, [EMAIL, 'alice@fuzz.example']]],
          [[[Oids.domainComponent, 'example']], [[Oids.domainComponent, 'fuzz']], ...name.slice(1)],
        )
        .map((n) => encodeName(n)),
    },
    { weight: 1, arbitrary: fc.constant(hex('3000')) },
  );
}

// ---------------------------------------------------------------------------------------------------
// GeneralNames (RFC 5280 §4.2.1.6), from pools that overlap the names above so constraints and scopes match
// some of the time.

/** Texts of one name form: well formed for where they are used, and odd ones (malformed, or at an edge of the syntax). */
interface Texts {
  readonly good: readonly string[];
  readonly odd: readonly string[];
}

/** Texts for a certificate's own names (subjectAltName, cRLIssuer, ...), and for name-constraint bases (RFC 5280 §4.2.1.10). */
const TEXTS: Readonly<Record<'name' | 'constraint', Readonly<Record<'rfc822' | 'dns' | 'uri' | 'ip', Texts>>>> = {
  name: {
    rfc822: {
      good: ['alice@fuzz.example', 'Alice@FUZZ.EXAMPLE', 'alice@sub.fuzz.example', 'mallory@other.example'],
      odd: ['"a b"@fuzz.example', 'alice@fuzz.example.', 'a@@fuzz.example', '@fuzz.example', 'alice@[127.0.0.1]', 'fuzz.example', ''],
    },
    dns: {
      good: ['fuzz.example', 'www.fuzz.example', 'sub.fuzz.example', 'FUZZ.Example', 'other.example', '*.fuzz.example'],
      odd: ['.fuzz.example', 'a..b', '', 'fuzz.example.', `${'x'.repeat(64)}.example`, 'fu\0zz.example', '*.*.fuzz.example', 'www.*.example'],
    },
    uri: {
      good: ['https://www.fuzz.example/x', 'http://user@host.fuzz.example:80/', 'ldap://other.example/cn=x'],
      odd: ['http://[::1]/', 'http://10.1.2.3/', 'urn:fuzz', 'fuzz.example', ''],
    },
    ip: { good: ['0a010203', 'c0a80001', '00000000000000000000000000000001', '20010db8000000000000000000000001'], odd: ['0a0102', '0a01020304', ''] },
  },
  constraint: {
    rfc822: {
      good: ['alice@fuzz.example', 'fuzz.example', '.fuzz.example', 'sub.fuzz.example', 'other.example', '.example'],
      odd: ['"a b"@fuzz.example', 'a@@fuzz.example', '@fuzz.example', '..fuzz.example', '', 'alice@'],
    },
    dns: {
      good: ['fuzz.example', 'sub.fuzz.example', 'other.example', 'FUZZ.Example', 'example', ''],
      odd: ['.fuzz.example', '*.fuzz.example', 'a..b', 'fuzz.example.'],
    },
    uri: {
      good: ['.fuzz.example', 'fuzz.example', 'host.fuzz.example', 'www.fuzz.example', 'other.example'],
      odd: ['http://fuzz.example/', '', 'a@fuzz.example'],
    },
    ip: {
      good: ['0a000000ff000000', 'c0a80000ffff0000', '0000000000000000', '20010db8000000000000000000000000ffffffff000000000000000000000000'],
      // A mask that is not contiguous, an address without a mask, a mask too short, nothing.
      odd: ['0a000000ff00ff00', '20010db8000000000000000000000000ffffffff0000000000000000000000ff', '0a010203', '0a000000ff0000', ''],
    },
  },
};

/** The CRL distribution points the certificates and the CRLs' issuingDistributionPoints name. */
const DP_URIS = ['http://crl.fuzz.example/ca.crl', 'http://crl.fuzz.example/other.crl'];
const DIRECTORY_NAMES: readonly LogicalName[] = [
  NAMES.root,
  NAMES.ca1,
  NAMES.ca2,
  NAMES.leaf,
  NAMES.indirect,
  NAMES.other,
  [[[C, 'JP']]],
  [[[C, 'JP']], [[O, 'Fuzz']]],
];

const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
/** A text of the pool: odd ones with odds `odd` in 60, and now and then any text at all. */
const text = (t: Texts, odd: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 59 - odd, arbitrary: fc.constantFrom(...t.good) },
    { weight: odd, arbitrary: fc.constantFrom(...t.odd) },
    { weight: 1, arbitrary: anyText },
  );
const directoryName = fc
  .constantFrom(...DIRECTORY_NAMES)
  .chain(nameDer)
  .map((n) => tlv(0xa4, n));
const otherForms = fc.constantFrom(
  // otherName: UPN and SmtpUTF8Mailbox (RFC 9598).
  tlv(0xa0, derOid('1.3.6.1.4.1.311.20.2.3'), tlv(0xa0, stringValue('utf8', 'alice@fuzz.example'))),
  tlv(0xa0, derOid('1.3.6.1.5.5.7.8.9'), tlv(0xa0, stringValue('utf8', 'アリス@fuzz.example'))),
  tlv(0xa0),
  tlv(0xa3, derSequence()),
  tlv(0xa5, tlv(0xa1, stringValue('utf8', 'party'))),
  tlv(0x88, hex('2a0304')),
  tlv(0x88, hex('80')),
);

/** A GeneralName of any form: a certificate's own name, or a constraint base (odd ones more often). */
function generalName(use: 'name' | 'constraint'): fc.Arbitrary<Uint8Array> {
  const t = TEXTS[use];
  const odd = use === 'name' ? 2 : 5;
  return fc.oneof(
    { weight: 4, arbitrary: text(t.rfc822, odd).map((x) => tlv(0x81, utf8(x))) },
    { weight: 4, arbitrary: text(t.dns, odd).map((x) => tlv(0x82, utf8(x))) },
    { weight: 2, arbitrary: text(t.uri, odd).map((x) => tlv(0x86, utf8(x))) },
    { weight: 3, arbitrary: directoryName },
    {
      weight: 2,
      arbitrary: fc
        .oneof({ weight: 12, arbitrary: text(t.ip, odd).map(hex) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 33 }) })
        .map((b) => tlv(0x87, b)),
    },
    { weight: 1, arbitrary: otherForms },
  );
}

const generalNames = (tag = 0x30): fc.Arbitrary<Uint8Array> => fc.array(generalName('name'), { minLength: 1, maxLength: 4 }).map((ns) => tlv(tag, ...ns));

// ---------------------------------------------------------------------------------------------------
// Extension values: well formed by default; random bytes, random DER, or a mutation of a well-formed value.

/** Random DER: a tree of low-tag-number elements, the tags of every class. */
const randomDer: fc.Arbitrary<Uint8Array> = fc.letrec<{ node: Uint8Array }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.integer({ min: 0, max: 30 }), fc.constantFrom(0x00, 0x40, 0x80, 0xc0), fc.uint8Array({ maxLength: 24 })).map(([n, cls, b]) => tlv(cls | n, b)),
    fc
      .tuple(fc.integer({ min: 0, max: 30 }), fc.constantFrom(0x20, 0x60, 0xa0, 0xe0), fc.array(tie('node'), { maxLength: 4 }))
      .map(([n, cls, kids]) => tlv(cls | n, ...kids)),
  ),
})).node;

/** DER-tree mutations of one value (core's derMutatedFrom), or the value itself when it is not readable DER. */
function derTreeMutated(v: Uint8Array): fc.Arbitrary<Uint8Array> {
  try {
    return derMutatedFrom([v]);
  } catch {
    return fc.constant(v);
  }
}

/** What replaces a well-formed extension value: random bytes, random DER, or a byte or DER-tree mutation of it. */
const damagedValue = (v: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: randomDer },
    { weight: 2, arbitrary: mutatedFrom([v]) },
    { weight: 3, arbitrary: derTreeMutated(v) },
  );

/** An INTEGER in [min, max], or (odds `odd` in 30) negative, huge, non-minimal or empty. */
const smallInt = (min: number, max: number, odd = 3): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 30 - odd, arbitrary: fc.integer({ min, max }).map((n) => derInteger(n)) },
    { weight: odd, arbitrary: fc.constantFrom(hex('0201ff'), hex('02050100000000'), hex('020200ff'), hex('0200'), hex('02090100000000000000')) },
  );

/** An INTEGER's contents re-tagged [n] IMPLICIT (SkipCerts in policyConstraints, minimum/maximum in a GeneralSubtree). */
const implicitInt = (tag: number, min: number, max: number): fc.Arbitrary<Uint8Array> => smallInt(min, max).map((der) => tlv(tag, der.subarray(2)));

const basicConstraints = (ca: boolean): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 30, arbitrary: ca ? maybe(smallInt(0, 3, 1), 1, 1).map((p) => tlv(0x30, derBoolean(true), ...(p ? [p] : []))) : fc.constant(tlv(0x30)) },
    { weight: 1, arbitrary: fc.constantFrom(tlv(0x30, derBoolean(false)), tlv(0x30, derBoolean(true), derBoolean(true)), tlv(0x30, derInteger(1))) },
  );

const KU = { digitalSignature: 0, nonRepudiation: 1, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 } as const;
const keyUsage = (bits: readonly number[]): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 30, arbitrary: fc.constant(tlv(0x03, namedBitsContent(bits))) },
    { weight: 1, arbitrary: fc.subarray([0, 1, 2, 3, 4, 5, 6, 7, 8]).map((b) => tlv(0x03, namedBitsContent(b))) },
  );

const keyIdValue = (keyId: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof({ weight: 60, arbitrary: fc.constant(keyId) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }) });

const ski = (keyId: Uint8Array): fc.Arbitrary<Uint8Array> => keyIdValue(keyId).map((k) => tlv(0x04, k));

const aki = (keyId: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 30, arbitrary: keyIdValue(keyId).map((k) => tlv(0x30, tlv(0x80, k))) },
    { weight: 1, arbitrary: generalNames(0xa1).map((g) => tlv(0x30, tlv(0x80, keyId), g, tlv(0x82, hex('10')))) },
    { weight: 1, arbitrary: fc.constant(tlv(0x30)) },
  );

const nameConstraints: fc.Arbitrary<Uint8Array> = (() => {
  const subtree = fc
    .tuple(generalName('constraint'), maybe(implicitInt(0x80, 0, 2), 1, 40), maybe(implicitInt(0x81, 0, 2), 1, 40))
    .map(([base, min, max]) => tlv(0x30, base, ...(min ? [min] : []), ...(max ? [max] : [])));
  const subtrees = (tag: number) => fc.array(subtree, { minLength: 1, maxLength: 4 }).map((s) => tlv(tag, ...s));
  return (
    fc
      .tuple(maybe(subtrees(0xa0), 3, 1), maybe(subtrees(0xa1), 2, 1))
      // RFC 5280 §4.2.1.10: never empty (a damaged value may be).
      .map(([p, x]) => tlv(0x30, ...(p || !x ? [p ?? tlv(0xa0, tlv(0x30, tlv(0x82, utf8('fuzz.example'))))] : []), ...(x ? [x] : [])))
  );
})();

const ANY_POLICY = '2.5.29.32.0';
const POLICIES = ['1.2.3.4.1', '1.2.3.4.2', '1.2.3.4.3', ANY_POLICY];
const policyOid = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...POLICIES) }, { weight: 1, arbitrary: fc.constant('1.2.3.4.99') });
const policySet = fc.subarray(POLICIES, { minLength: 1 });

const displayText = fc
  .constantFrom<StringKind>('utf8', 'visible', 'bmp', 'ia5', 'printable')
  .chain((k) => fc.oneof(fc.constantFrom('Fuzz notice', ''), fc.string({ maxLength: 300 })).map((t) => stringValue(k, t)));
const qualifier = fc.oneof(
  fc.constantFrom('https://cps.fuzz.example/', '', 'not a uri').map((u) => tlv(0x30, derOid('1.3.6.1.5.5.7.2.1'), stringValue('ia5', u))),
  fc
    .tuple(maybe(displayText, 1, 1), maybe(displayText, 1, 1), fc.array(fc.nat(5), { maxLength: 3 }))
    .map(([org, text, numbers]) =>
      tlv(
        0x30,
        derOid('1.3.6.1.5.5.7.2.2'),
        tlv(0x30, ...(org ? [tlv(0x30, org, tlv(0x30, ...numbers.map((n) => derInteger(n))))] : []), ...(text ? [text] : [])),
      ),
    ),
  randomDer.map((v) => tlv(0x30, derOid('1.2.3.4.5.6'), v)),
);
const policyInformation = fc.tuple(policyOid, maybe(fc.array(qualifier, { minLength: 1, maxLength: 2 }), 1, 2));
/** PolicyInformation entries, each policy once (RFC 5280 §4.2.1.4), or now and then one twice. */
const certificatePolicies: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    { weight: 20, arbitrary: fc.uniqueArray(policyInformation, { minLength: 1, maxLength: 4, selector: ([id]) => id }) },
    { weight: 1, arbitrary: fc.array(policyInformation, { minLength: 2, maxLength: 4 }) },
  )
  .map((infos) => tlv(0x30, ...infos.map(([id, qs]) => tlv(0x30, derOid(id), ...(qs ? [tlv(0x30, ...qs)] : [])))));

const policyMappings: fc.Arbitrary<Uint8Array> = fc
  .array(fc.tuple(policyOid, policyOid), { minLength: 1, maxLength: 4 })
  .map((ms) => tlv(0x30, ...ms.map(([a, b]) => tlv(0x30, derOid(a), derOid(b)))));

const policyConstraints: fc.Arbitrary<Uint8Array> = fc
  .tuple(maybe(implicitInt(0x80, 0, 3), 2, 1), maybe(implicitInt(0x81, 0, 3), 2, 1))
  .map(([r, i]) => tlv(0x30, ...(r ? [r] : []), ...(i ? [i] : [])));

const inhibitAnyPolicy = smallInt(0, 2);

/** ReasonFlags: all but unused (bit 0), one, or any bits. */
const reasonFlags = (tag: number): fc.Arbitrary<Uint8Array> =>
  fc
    .oneof(fc.constant([1, 2, 3, 4, 5, 6, 7, 8]), fc.constant([1]), fc.subarray([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    .map((bits) => tlv(tag, namedBitsContent(bits)));

/** A DistributionPointName in its [0] wrapper: a fullName, or an RDN relative to the CRL issuer (RFC 5280 §4.2.1.13). */
const distributionPointName: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...DP_URIS).map((u) => tlv(0xa0, tlv(0xa0, tlv(0x86, utf8(u))))) },
  { weight: 3, arbitrary: directoryName.map((d) => tlv(0xa0, tlv(0xa0, d))) },
  { weight: 2, arbitrary: generalNames(0xa0).map((g) => tlv(0xa0, g)) },
  { weight: 2, arbitrary: fc.constantFrom('Partition 1', 'Partition 2').map((p) => tlv(0xa0, tlv(0xa1, derSequence(derOid(CN), stringValue('utf8', p))))) },
);

const crlIssuerNames = fc.oneof(
  { weight: 4, arbitrary: nameDer(NAMES.indirect).map((n) => tlv(0xa2, tlv(0xa4, n))) },
  { weight: 1, arbitrary: generalNames(0xa2) },
);

const crlDistributionPoints = (indirect: boolean): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc
        .tuple(maybe(distributionPointName, 6, 1), maybe(reasonFlags(0x81), 1, 3), indirect ? crlIssuerNames : maybe(crlIssuerNames, 1, 10))
        .map(([dp, reasons, issuer]) => tlv(0x30, ...[dp, reasons, issuer].filter((x): x is Uint8Array => x !== undefined))),
      { minLength: 1, maxLength: 3 },
    )
    .map((dps) => tlv(0x30, ...dps));

const subjectAltName = generalNames();

// ---------------------------------------------------------------------------------------------------
// Certificates.

interface Ext {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** An extension with its RFC 5280 criticality, present with odds `present` in `outOf` (always when they are equal). */
function slot(oid: string, critical: boolean, value: fc.Arbitrary<Uint8Array>, present: number, outOf = 12): fc.Arbitrary<Ext | undefined> {
  const ext = value.map((v) => ({ oid, critical, value: v }));
  if (present >= outOf) return ext;
  return fc.oneof({ weight: present, arbitrary: ext }, { weight: outOf - present, arbitrary: fc.constant(undefined) });
}

/** Now and then an extension nobody processes, critical or not. */
const strayExtension: fc.Arbitrary<Ext | undefined> = maybe(
  fc
    .tuple(fc.constantFrom('1.2.3.4.5.99', Oids.issuerAltName, Oids.authorityInfoAccess), fc.boolean(), randomDer)
    .map(([oid, critical, value]) => ({ oid, critical, value })),
  1,
  40,
);

interface CertPlan {
  readonly subject: Uint8Array;
  /** The issuer field: exactly the issuer's subject, or another encoding (of the same or another name). */
  readonly issuer: Uint8Array | 'exact';
  readonly extensions: readonly Ext[];
  readonly validity: 'current' | 'expired' | 'future';
  /** Signed by the issuer's key, or by another key (the path breaks at its signature). */
  readonly wrongKey: boolean;
}

type Role = 'root' | 'ca1' | 'ca2' | 'leaf' | 'crlSigner' | 'indirect';
const ROLES: readonly Role[] = ['root', 'ca1', 'ca2', 'leaf', 'crlSigner', 'indirect'];
/** Serial numbers by role, so CRL entries can name them. */
const SERIALS: Readonly<Record<Role, number>> = { root: 1, ca1: 0x11, ca2: 0x12, leaf: 0x13, crlSigner: 0x14, indirect: 0x15 };

interface Keys {
  readonly key: Readonly<Record<Role, SoftwareKey>>;
  readonly id: Readonly<Record<Role, Uint8Array>>;
}

const compact = (xs: readonly (Ext | undefined)[]): Ext[] => xs.filter((x): x is Ext => x !== undefined);

/** A record with a value for every role. */
function byRole<T>(f: (r: Role) => T): Record<Role, T> {
  const out: Partial<Record<Role, T>> = {};
  for (const r of ROLES) out[r] = f(r);
  return out as Record<Role, T>;
}

function certPlan(o: {
  subject: LogicalName;
  /** Other subjects, as likely together as `subject` is. */
  otherSubjects?: readonly LogicalName[];
  issuer: LogicalName;
  keyId: Uint8Array;
  issuerKeyId: Uint8Array | undefined;
  ca: boolean;
  usage: readonly number[];
  /** Odds (in 12) of nameConstraints, the policy extensions and cRLDistributionPoints. */
  nc: number;
  policies: number;
  mappings: number;
  crlDp: number;
  indirectDp?: boolean;
  san: number;
}): fc.Arbitrary<CertPlan> {
  const extensions = fc
    .tuple(
      slot(Oids.basicConstraints, true, basicConstraints(o.ca), o.ca ? 12 : 6),
      slot(Oids.keyUsage, true, keyUsage(o.usage), 12),
      slot(Oids.subjectKeyIdentifier, false, ski(o.keyId), 12),
      o.issuerKeyId ? slot(Oids.authorityKeyIdentifier, false, aki(o.issuerKeyId), 12) : fc.constant(undefined),
      slot(Oids.subjectAltName, false, subjectAltName, o.san),
      slot(Oids.nameConstraints, true, nameConstraints, o.nc),
      slot(Oids.certificatePolicies, false, certificatePolicies, o.policies),
      slot(Oids.policyMappings, true, policyMappings, o.mappings),
      slot(Oids.policyConstraints, true, policyConstraints, o.mappings),
      slot(Oids.inhibitAnyPolicy, true, inhibitAnyPolicy, o.mappings),
      slot(Oids.crlDistributionPoints, false, crlDistributionPoints(o.indirectDp === true), o.crlDp),
      o.ca ? fc.constant(undefined) : slot(Oids.extKeyUsage, false, fc.constant(tlv(0x30, derOid(Oids.emailProtection))), 8),
      strayExtension,
    )
    .map(compact);
  return fc.record({
    subject: o.otherSubjects ? fc.oneof(fc.constant(o.subject), fc.constantFrom(...o.otherSubjects)).chain(nameDer) : nameDer(o.subject),
    issuer: fc.oneof({ weight: 24, arbitrary: fc.constant('exact' as const) }, { weight: 1, arbitrary: nameDer(o.issuer) }),
    extensions,
    validity: fc.oneof(
      { weight: 40, arbitrary: fc.constant('current' as const) },
      { weight: 1, arbitrary: fc.constantFrom('expired' as const, 'future' as const) },
    ),
    wrongKey: fc.oneof({ weight: 150, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });
}

// ---------------------------------------------------------------------------------------------------
// CRLs.

type Target = 'leaf' | 'ca1' | 'ca2' | 'crlSigner' | 'other';

interface EntryPlan {
  readonly target: Target;
  readonly extensions: readonly Ext[];
}

interface CrlPlan {
  /** Whose key signs it, and whose subject is its issuer name (unless `issuer` gives another). */
  readonly signer: Role;
  readonly issuer?: Uint8Array;
  readonly times: 'current' | 'stale' | 'future' | 'no-next';
  readonly entries: readonly EntryPlan[];
  /** cRLNumber, deltaCRLIndicator, issuingDistributionPoint and strays; the AKI is added for the signer when `aki`. */
  readonly extensions: readonly Ext[];
  readonly aki: boolean;
}

const reasonCode = fc
  .oneof({ weight: 40, arbitrary: fc.constantFrom(1, 2, 3, 4, 5, 6, 8, 9, 10) }, { weight: 1, arbitrary: fc.constantFrom(0, 7, 11, 255) })
  .map((n) => tlv(0x0a, n === 255 ? hex('ff') : Uint8Array.of(n)));

const entryPlan = (indirect: boolean): fc.Arbitrary<EntryPlan> =>
  fc.record({
    target: fc.constantFrom<Target>('other', 'other', 'other', 'other', 'other', 'other', 'leaf', 'leaf', 'ca1', 'ca2', 'crlSigner'),
    extensions: fc
      .tuple(
        slot(Oids.reasonCode, false, reasonCode, 6),
        slot(
          Oids.certificateIssuer,
          true,
          fc.oneof(
            directoryName.map((d) => tlv(0x30, d)),
            generalNames(),
          ),
          indirect ? 20 : 1,
          40,
        ),
        slot(Oids.invalidityDate, false, fc.constant(hex('180f32303236303130313030303030305a')), 1),
        strayExtension,
      )
      .map(compact),
  });

const crlNumber = fc.oneof(
  { weight: 40, arbitrary: fc.integer({ min: 1, max: 6 }).map((n) => derInteger(n)) },
  { weight: 1, arbitrary: fc.constantFrom(hex('020100'), hex('0201ff'), tlv(0x02, new Uint8Array(21).fill(0x7f)), tlv(0x02, new Uint8Array(22).fill(0x11))) },
);

const issuingDistributionPoint = (indirect: boolean): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(
      maybe(distributionPointName, 2, 1),
      fc.constantFrom<readonly number[]>([], [], [], [], [], [], [1], [2], [5], [1, 2]),
      maybe(reasonFlags(0x83), 1, 4),
    )
    .map(([dp, flags, reasons]) => {
      const set = new Set(indirect ? [...flags, 4] : flags);
      // RFC 5280 §5.2.5: never empty.
      if (set.size === 0 && !reasons) dp ??= tlv(0xa0, tlv(0xa0, tlv(0x86, utf8(DP_URIS[0]!))));
      const field = (n: number) => (set.has(n) ? [tlv(0x80 | n, hex('ff'))] : []);
      return tlv(0x30, ...(dp ? [dp] : []), ...field(1), ...field(2), ...(reasons ? [reasons] : []), ...field(4), ...field(5));
    });

function crlPlan(signer: fc.Arbitrary<Role>, o: { indirect?: boolean; delta?: boolean; idp?: number } = {}): fc.Arbitrary<CrlPlan> {
  return fc.record({
    signer,
    issuer: maybe(fc.constantFrom(...DIRECTORY_NAMES).chain(nameDer), 1, 20),
    times: fc.oneof(
      { weight: 30, arbitrary: fc.constant('current' as const) },
      { weight: 1, arbitrary: fc.constantFrom('stale' as const, 'future' as const, 'no-next' as const) },
    ),
    entries: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      { weight: 2, arbitrary: fc.array(entryPlan(o.indirect === true), { minLength: 1, maxLength: 4 }) },
    ),
    extensions: fc
      .tuple(
        slot(Oids.crlNumber, false, crlNumber, 39, 40),
        slot(
          Oids.deltaCrlIndicator,
          true,
          fc.integer({ min: 0, max: 5 }).map((n) => derInteger(n)),
          o.delta ? 12 : 1,
          12,
        ),
        slot(Oids.issuingDistributionPoint, true, issuingDistributionPoint(o.indirect === true), o.indirect ? 20 : (o.idp ?? 1), 20),
        strayExtension,
      )
      .map(compact),
    aki: fc.oneof({ weight: 10, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  });
}

// ---------------------------------------------------------------------------------------------------
// A whole case.

interface PathPlan {
  /** CAs below the root: root → ca1 → leaf, or root → ca1 → ca2 → leaf. */
  readonly depth: 1 | 2;
  readonly certs: Readonly<Record<Role, CertPlan>>;
  readonly crls: readonly CrlPlan[];
  readonly options: CaseOptions;
  /** A costly case: a policy graph past its bound, or a flood of CRLs or CRL signers against the revocation budget. */
  readonly flood?: { readonly kind: 'policy-graph' | 'crls' | 'crl-signers'; readonly count: number };
}

/** validateChain's options as the case's JSON holds them. */
interface CaseOptions {
  readonly initialPolicySet?: readonly string[];
  readonly initialExplicitPolicy?: boolean;
  readonly initialPolicyMappingInhibit?: boolean;
  readonly initialAnyPolicyInhibit?: boolean;
  readonly revocation: 'require' | 'ifAvailable' | 'none';
  readonly email?: string;
  readonly maxRevocationChecks?: number;
}

/** Mostly false: each inhibit flag prunes what the path's extensions would otherwise reach. */
const rarely = fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.boolean() });

const caseOptions: fc.Arbitrary<CaseOptions> = fc
  .record({
    initialPolicySet: maybe(policySet, 1, 1),
    initialExplicitPolicy: rarely,
    initialPolicyMappingInhibit: rarely,
    initialAnyPolicyInhibit: rarely,
    revocation: fc.constantFrom('require' as const, 'require' as const, 'ifAvailable' as const, 'none' as const),
    email: maybe(fc.constantFrom('alice@fuzz.example', 'alice@FUZZ.example', 'Alice@fuzz.example', 'mallory@other.example'), 1, 2),
    maxRevocationChecks: maybe(fc.integer({ min: 1, max: 12 }), 1, 10),
  })
  .map(
    ({
      revocation,
      initialPolicySet,
      initialExplicitPolicy,
      initialPolicyMappingInhibit,
      initialAnyPolicyInhibit,
      email,
      maxRevocationChecks,
    }): CaseOptions => ({
      revocation,
      ...(initialPolicySet !== undefined ? { initialPolicySet } : {}),
      ...(initialExplicitPolicy !== undefined ? { initialExplicitPolicy } : {}),
      ...(initialPolicyMappingInhibit !== undefined ? { initialPolicyMappingInhibit } : {}),
      ...(initialAnyPolicyInhibit !== undefined ? { initialAnyPolicyInhibit } : {}),
      ...(email !== undefined ? { email } : {}),
      ...(maxRevocationChecks !== undefined ? { maxRevocationChecks } : {}),
    }),
  );

function pathPlan(k: Keys): fc.Arbitrary<PathPlan> {
  return fc
    .tuple(fc.constantFrom<1 | 2>(1, 2), fc.boolean(), fc.constantFrom('plain', 'crl-signer', 'indirect', 'delta', 'scoped'), fc.boolean())
    .chain(([depth, selfIssued, revocation, policyHeavy]) => {
      const ca2Name = selfIssued ? NAMES.ca1 : NAMES.ca2;
      const leafIssuer: Role = depth === 2 ? 'ca2' : 'ca1';
      const leafIssuerName = depth === 2 ? ca2Name : NAMES.ca1;
      // Half the cases carry policies on every certificate, so explicit-policy paths can be valid.
      const ca = { ca: true, usage: [KU.keyCertSign, KU.cRLSign], nc: 4, policies: policyHeavy ? 11 : 4, mappings: policyHeavy ? 3 : 1, crlDp: 2, san: 1 };
      const certs = fc.record({
        root: certPlan({ ...ca, subject: NAMES.root, issuer: NAMES.root, keyId: k.id.root, issuerKeyId: undefined, nc: 2, mappings: 1 }),
        ca1: certPlan({ ...ca, subject: NAMES.ca1, issuer: NAMES.root, keyId: k.id.ca1, issuerKeyId: k.id.root }),
        ca2: certPlan({ ...ca, subject: ca2Name, issuer: NAMES.ca1, keyId: k.id.ca2, issuerKeyId: k.id.ca1 }),
        leaf: certPlan({
          subject: NAMES.leaf,
          // The legacy emailAddress attribute, which name constraints and the `email` option both read.
          otherSubjects: ['alice@fuzz.example', 'Alice@FUZZ.example', 'mallory@other.example'].map((m): LogicalName => [...NAMES.leaf, [[EMAIL, m]]]),
          issuer: leafIssuerName,
          keyId: k.id.leaf,
          issuerKeyId: k.id[leafIssuer],
          ca: false,
          usage: [KU.digitalSignature, KU.nonRepudiation],
          nc: 1,
          policies: policyHeavy ? 11 : 4,
          mappings: 0,
          crlDp: revocation === 'plain' ? 3 : 10,
          indirectDp: revocation === 'indirect',
          san: 10,
        }),
        crlSigner: certPlan({
          subject: leafIssuerName,
          issuer: NAMES.root,
          keyId: k.id.crlSigner,
          issuerKeyId: k.id.root,
          ca: false,
          usage: [KU.cRLSign],
          nc: 0,
          policies: 1,
          mappings: 0,
          crlDp: 1,
          san: 0,
        }),
        indirect: certPlan({
          subject: NAMES.indirect,
          issuer: NAMES.root,
          keyId: k.id.indirect,
          issuerKeyId: k.id.root,
          ca: false,
          usage: [KU.cRLSign],
          nc: 0,
          policies: 1,
          mappings: 0,
          crlDp: 1,
          san: 0,
        }),
      });
      // A complete CRL from each issuer on the path, most of the time, so 'require' can succeed; then the
      // CRLs of the revocation scenario.
      const base = (signer: Role) => maybe(crlPlan(fc.constant(signer)), 20, 1);
      const scenario: fc.Arbitrary<(CrlPlan | undefined)[]> =
        revocation === 'crl-signer'
          ? fc.array(crlPlan(fc.constant<Role>('crlSigner')), { minLength: 1, maxLength: 2 })
          : revocation === 'indirect'
            ? fc.array(crlPlan(fc.constant<Role>('indirect'), { indirect: true }), { minLength: 1, maxLength: 2 })
            : revocation === 'delta'
              ? fc.array(crlPlan(fc.constantFrom<Role>(leafIssuer, leafIssuer, 'crlSigner', 'ca1'), { delta: true }), { minLength: 1, maxLength: 2 })
              : revocation === 'scoped'
                ? fc.array(crlPlan(fc.constantFrom<Role>(leafIssuer, 'root', 'crlSigner'), { idp: 20 }), { minLength: 1, maxLength: 3 })
                : fc.array(crlPlan(fc.constantFrom(...ROLES)), { maxLength: 1 });
      const crls = fc
        .tuple(base('root'), base('ca1'), depth === 2 ? base('ca2') : fc.constant(undefined), scenario)
        .map(([a, b, c, more]) => [a, b, c, ...more].filter((x): x is CrlPlan => x !== undefined));
      const flood = maybe(
        fc.oneof(
          fc.record({ kind: fc.constant('policy-graph' as const), count: fc.integer({ min: 20, max: 70 }) }),
          fc.record({ kind: fc.constantFrom('crls' as const, 'crl-signers' as const), count: fc.integer({ min: 10, max: 60 }) }),
        ),
        1,
        40,
      );
      return fc
        .record({ depth: fc.constant(depth), certs, crls, options: caseOptions, flood })
        .map(({ flood: f, ...rest }): PathPlan => ({ ...rest, ...(f !== undefined ? { flood: f } : {}) }))
        .chain(damaged);
    });
}

/** The plan with every extension (certificates, CRLs, CRL entries, in that order) passed through `f`; undefined drops it. */
function mapExtensions(plan: PathPlan, f: (e: Ext, i: number) => Ext | undefined): PathPlan {
  let i = 0;
  const each = (xs: readonly Ext[]): Ext[] => compact(xs.map((e) => f(e, i++)));
  return {
    ...plan,
    certs: byRole((r) => ({ ...plan.certs[r], extensions: each(plan.certs[r].extensions) })),
    crls: plan.crls.map((c) => ({ ...c, extensions: each(c.extensions), entries: c.entries.map((e) => ({ ...e, extensions: each(e.extensions) })) })),
  };
}

/** Extensions the path processing reads (rather than parseCertificate, whose damage only loses a certificate). */
const PROCESSED = new Set<string>([
  Oids.nameConstraints,
  Oids.certificatePolicies,
  Oids.policyMappings,
  Oids.policyConstraints,
  Oids.inhibitAnyPolicy,
  Oids.crlDistributionPoints,
  Oids.subjectAltName,
  Oids.crlNumber,
  Oids.deltaCrlIndicator,
  Oids.issuingDistributionPoint,
  Oids.reasonCode,
  Oids.certificateIssuer,
]);

type Damage = { readonly at: number } & ({ readonly op: 'value'; readonly value: Uint8Array } | { readonly op: 'drop' | 'flip' });

/**
 * In two cases of five, one or two extensions of the case damaged: the value replaced (random bytes or DER, or a
 * mutation of it), the extension dropped, or its criticality flipped; mostly one the path processing reads. The
 * rest stay well formed, so most damage is met where the path is processed, not when a certificate is parsed.
 */
function damaged(plan: PathPlan): fc.Arbitrary<PathPlan> {
  const all: Ext[] = [];
  mapExtensions(plan, (e) => (all.push(e), e));
  const processed = all.flatMap((e, i) => (PROCESSED.has(e.oid) ? [i] : []));
  if (all.length === 0) return fc.constant(plan);
  const index =
    processed.length > 0
      ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...processed) }, { weight: 1, arbitrary: fc.nat(all.length - 1) })
      : fc.nat(all.length - 1);
  const one: fc.Arbitrary<Damage> = index.chain((at) =>
    fc.oneof(
      { weight: 8, arbitrary: damagedValue(all[at]!.value).map((value) => ({ at, op: 'value' as const, value })) },
      { weight: 1, arbitrary: fc.constantFrom('drop' as const, 'flip' as const).map((op) => ({ at, op })) },
    ),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(plan) },
    {
      weight: 2,
      arbitrary: fc.array(one, { minLength: 1, maxLength: 2 }).map((ds) => {
        const byIndex = new Map(ds.map((d) => [d.at, d]));
        return mapExtensions(plan, (e, i) => {
          const d = byIndex.get(i);
          if (!d) return e;
          if (d.op === 'value') return { ...e, value: d.value };
          return d.op === 'flip' ? { ...e, critical: !e.critical } : undefined;
        });
      }),
    },
  );
}

// ---------------------------------------------------------------------------------------------------
// Building and signing.

const DAY = 86_400_000;
const ALG = encodeSignatureAlgorithm('ECDSA-SHA256');

async function sign(tbs: Uint8Array, key: SoftwareKey): Promise<Uint8Array> {
  return derEncode(derSequence(tbs, ALG, derBitString(await key.sign('ECDSA-SHA256', tbs))));
}

/** Extensions (RFC 5280 §4.1), each value wrapped in its OCTET STRING as is. */
const encodeExtensions = (exts: readonly Ext[]): Uint8Array =>
  derEncode(derSequence(...exts.map((e) => derSequence(derOid(e.oid), ...(e.critical ? [derBoolean(true)] : []), tlv(0x04, e.value)))));

/** The extensions field of a TBSCertificate ([3]) or TBSCertList ([0]); absent when there are none. */
const extensionsField = (exts: readonly Ext[], tag: number): Uint8Array[] => (exts.length === 0 ? [] : [tlv(tag, encodeExtensions(exts))]);

const ISSUER_OF: Readonly<Record<Role, (depth: 1 | 2) => Role>> = {
  root: () => 'root',
  ca1: () => 'root',
  ca2: () => 'ca1',
  leaf: (d) => (d === 2 ? 'ca2' : 'ca1'),
  crlSigner: () => 'root',
  indirect: () => 'root',
};

/** Policy extensions whose graph outgrows the RFC 9618 bound: `n` policies, each mapped to all `n`. */
function policyGraphBomb(n: number): { policies: Ext; mappings: Ext } {
  const oids = Array.from({ length: n }, (_, i) => derOid(`1.2.3.4.${i + 1}`));
  return {
    policies: { oid: Oids.certificatePolicies, critical: false, value: tlv(0x30, ...oids.map((o) => tlv(0x30, o))) },
    mappings: { oid: Oids.policyMappings, critical: true, value: tlv(0x30, ...oids.flatMap((a) => oids.map((b) => tlv(0x30, a, b)))) },
  };
}

interface Built {
  readonly der: Readonly<Record<Role, Uint8Array>>;
  readonly subject: Readonly<Record<Role, Uint8Array>>;
}

async function buildCertificates(plan: PathPlan, k: Keys): Promise<Built> {
  const der = {} as Record<Role, Uint8Array>;
  const subject = {} as Record<Role, Uint8Array>;
  const bomb = plan.flood?.kind === 'policy-graph' ? policyGraphBomb(plan.flood.count) : undefined;
  for (const role of ROLES) {
    if (role === 'ca2' && plan.depth === 1) continue;
    const p = plan.certs[role];
    const issuerRole = ISSUER_OF[role](plan.depth);
    subject[role] = p.subject;
    let exts = p.extensions;
    if (bomb && (role === 'ca1' || role === 'ca2' || role === 'leaf')) {
      exts = [...exts.filter((e) => !POLICY_OIDS.includes(e.oid)), bomb.policies, ...(role === 'leaf' ? [] : [bomb.mappings])];
    }
    const start = p.validity === 'future' ? FUZZ_NOW.getTime() + 10 * DAY : FUZZ_NOW.getTime() - 30 * DAY;
    const end = p.validity === 'expired' ? FUZZ_NOW.getTime() - DAY : FUZZ_NOW.getTime() + 365 * DAY;
    const tbs = derEncode(
      derSequence(
        tlv(0xa0, derInteger(2)),
        derInteger(SERIALS[role]),
        ALG,
        p.issuer === 'exact' ? subject[issuerRole] : p.issuer,
        derSequence(derTime(new Date(start)), derTime(new Date(end))),
        p.subject,
        k.key[role].spki,
        ...extensionsField(exts, 0xa3),
      ),
    );
    der[role] = await sign(tbs, p.wrongKey ? k.key.leaf : k.key[issuerRole]);
  }
  return { der, subject };
}

async function buildCrl(c: CrlPlan, plan: PathPlan, built: Built, k: Keys, serial: number): Promise<Uint8Array> {
  const signer: Role = c.signer === 'ca2' && plan.depth === 1 ? 'ca1' : c.signer;
  const t = FUZZ_NOW.getTime();
  const thisUpdate = c.times === 'future' ? t + DAY : t - DAY;
  const nextUpdate = c.times === 'stale' ? t - 1000 : t + 7 * DAY;
  const entries = c.entries.map((e, i) =>
    derSequence(
      derInteger(e.target === 'other' ? 0x7e00 + serial + i : e.target === 'ca2' && plan.depth === 1 ? SERIALS.ca1 : SERIALS[e.target]),
      derTime(new Date(t - 2 * DAY)),
      ...(e.extensions.length > 0 ? [encodeExtensions(e.extensions)] : []),
    ),
  );
  const aki: Ext[] = c.aki ? [{ oid: Oids.authorityKeyIdentifier, critical: false, value: tlv(0x30, tlv(0x80, k.id[signer])) }] : [];
  const tbs = derEncode(
    derSequence(
      derInteger(1),
      ALG,
      c.issuer ?? built.subject[signer],
      derTime(new Date(thisUpdate)),
      ...(c.times === 'no-next' ? [] : [derTime(new Date(nextUpdate))]),
      ...(entries.length > 0 ? [derSequence(...entries)] : []),
      ...extensionsField([...aki, ...c.extensions], 0xa0),
    ),
  );
  return sign(tbs, k.key[signer]);
}

/** The case as `run` reads it (and a finding keeps it): DER in base64 and the options. */
interface PathCase {
  readonly anchor: string;
  readonly intermediates: readonly string[];
  readonly leaf: string;
  readonly crls: readonly string[];
  readonly options: CaseOptions;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

async function buildCase(plan: PathPlan, k: Keys): Promise<PathCase> {
  const built = await buildCertificates(plan, k);
  const crls: Uint8Array[] = [];
  for (const [i, c] of plan.crls.entries()) crls.push(await buildCrl(c, plan, built, k, i * 8));
  const intermediates = [built.der.ca1, ...(plan.depth === 2 ? [built.der.ca2] : []), built.der.crlSigner, built.der.indirect];
  if (plan.flood?.kind === 'crls' && plan.crls[0]) {
    // The same CRL signed by the wrong key, many times: each copy costs the revocation budget a signature check.
    const bad = { ...plan.crls[0], signer: 'leaf' as Role, issuer: built.subject[ISSUER_OF.leaf(plan.depth)] };
    for (let i = 0; i < plan.flood.count; i++) crls.push(await buildCrl({ ...bad, times: 'current' }, plan, built, k, 100 + i));
  } else if (plan.flood?.kind === 'crl-signers') {
    // Certificates named like the leaf's issuer with cRLSign, each a candidate CRL signer whose path is validated.
    const p = plan.certs.crlSigner;
    for (let i = 0; i < plan.flood.count; i++) {
      const tbs = derEncode(
        derSequence(
          tlv(0xa0, derInteger(2)),
          derInteger(0x1000 + i),
          ALG,
          built.subject.root,
          derSequence(derTime(new Date(FUZZ_NOW.getTime() - DAY)), derTime(new Date(FUZZ_NOW.getTime() + DAY))),
          built.subject[ISSUER_OF.leaf(plan.depth)],
          k.key[i % 2 === 0 ? 'crlSigner' : 'indirect'].spki,
          ...extensionsField(p.extensions, 0xa3),
        ),
      );
      intermediates.push(await sign(tbs, k.key.root));
    }
  }
  return { anchor: b64(built.der.root), intermediates: intermediates.map(b64), leaf: b64(built.der.leaf), crls: crls.map(b64), options: plan.options };
}

// ---------------------------------------------------------------------------------------------------
// Running a case.

const ENGINE_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/** A JavaScript engine error raised in core's own code, somewhere in the cause chain of a typed error. */
function maskedFault(e: unknown): Error | undefined {
  let c: unknown = e instanceof SsmaxError ? e.cause : undefined;
  for (let depth = 0; c instanceof Error && depth < 8; depth++, c = c.cause) {
    const frame = c.stack?.split('\n').find((l) => l.trimStart().startsWith('at ')) ?? '';
    if (ENGINE_ERRORS.some((k) => c instanceof k) && /packages\/core\//.test(frame) && !frame.includes('node_modules')) return c;
  }
  return undefined;
}

/** probe.step, with a typed error that masks a fault of core's own code counted as that fault (untyped). */
function strictStep<T>(probe: CaseProbe, fn: () => T): Promise<T | undefined> {
  return probe.step(() => {
    try {
      return fn();
    } catch (e) {
      throw maskedFault(e) ?? e;
    }
  });
}

const DECODERS: ReadonlyMap<string, readonly [mark: string, decode: (der: Uint8Array) => unknown]> = new Map([
  [Oids.nameConstraints, ['nc-decoded', decodeNameConstraints]],
  [Oids.certificatePolicies, ['policies-decoded', decodeCertificatePolicies]],
  [Oids.policyMappings, ['mappings-decoded', decodePolicyMappings]],
  [Oids.policyConstraints, ['policy-constraints-decoded', decodePolicyConstraints]],
  [Oids.inhibitAnyPolicy, ['inhibit-any-decoded', decodeInhibitAnyPolicy]],
]);

const hasExtension = (c: CertificateInfo, oids: readonly string[]): boolean => c.extensions.some((e) => oids.includes(e.oid));
const POLICY_OIDS: readonly string[] = [Oids.certificatePolicies, Oids.policyMappings, Oids.policyConstraints, Oids.inhibitAnyPolicy];

function decodeCase(bytes: Uint8Array): PathCase | undefined {
  try {
    const c = JSON.parse(Buffer.from(bytes).toString('utf8')) as PathCase;
    return typeof c.anchor === 'string' && typeof c.leaf === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

async function runCase(bytes: Uint8Array, probe: CaseProbe): Promise<void> {
  const c = decodeCase(bytes);
  if (!c) return;
  const certs = [c.anchor, ...c.intermediates, c.leaf].map(unb64);
  // Every decoder on its own, so a fault of its own shows (validateChain would turn it into a reason). What
  // parses goes to validateChain parsed, so large certificates are not parsed twice; what does not goes as DER.
  const given: (Uint8Array | CertificateInfo)[] = [];
  for (const der of certs) {
    const info = await strictStep(probe, () => parseCertificate(der));
    given.push(info ?? der);
    if (!info) continue;
    for (const e of info.extensions) {
      const decoder = DECODERS.get(e.oid);
      if (decoder && (await strictStep(probe, () => decoder[1](e.value))) !== undefined) probe.mark(decoder[0]);
    }
    if (hasExtension(info, [Oids.crlDistributionPoints]) && (await strictStep(probe, () => readCrlDistributionPoints(info)))?.length)
      probe.mark('crldp-decoded');
  }
  const crls: (Uint8Array | CrlInfo)[] = [];
  for (const der of c.crls.map(unb64)) {
    const crl = await strictStep(probe, () => parseCrl(der));
    crls.push(crl ?? der);
    if (crl?.issuingDistributionPoint) probe.mark('idp-decoded');
    if (crl?.baseCrlNumber !== undefined) probe.mark('delta-decoded');
    if (crl?.revoked.some((e) => e.certificateIssuer !== undefined)) probe.mark('certificate-issuer-decoded');
  }
  const options: ChainValidationOptions = {
    ...c.options,
    leaf: given[given.length - 1]!,
    trustAnchors: [given[0]!],
    intermediates: given.slice(1, -1),
    crls,
    time: FUZZ_NOW,
  };
  const r = await strictStep(probe, () => validateChain(options));
  if (!r) return;
  const path = r.chain;
  const anchor = path[path.length - 1];
  if (path.length < 2 || !anchor || Buffer.compare(anchor.der, certs[0]!) !== 0) return;
  probe.mark('chain-built');
  const reasons = r.reasons.join('\n');
  const notes = r.warnings.join('\n');
  if (path.some((x) => hasExtension(x, [Oids.nameConstraints]))) probe.mark('nc-checked');
  if (/constraint|subtree/.test(reasons)) probe.mark('nc-refused');
  if (path.slice(0, -1).some((x) => hasExtension(x, POLICY_OIDS))) probe.mark('policy-processed');
  if (/polic/i.test(reasons)) probe.mark('policy-refused');
  if (r.valid && r.policies?.explicitPolicyRequired) probe.mark('explicit-policy-valid');
  if (c.options.revocation !== 'none') {
    if (r.code === 'CERT_REVOKED') probe.mark('crl-revoked');
    if (r.code === 'CERT_REVOKED' || (c.options.revocation === 'require' && !/revocation of/.test(reasons))) probe.mark('crl-used');
    if (/delta CRL/.test(reasons + notes)) probe.mark('delta-considered');
    if (/CRL signer/.test(reasons + notes)) probe.mark('crl-signer-path');
    if (/gave up after/.test(reasons + notes)) probe.mark('revocation-budget');
  }
  if (/policy graph/.test(reasons)) probe.mark('policy-graph-bound');
  if (r.valid) probe.mark('valid');
}

/** The target, as parser-targets.ts lists it. */
export const x509PathTarget: ParserTarget = {
  name: 'x509-path',
  // A case signs some six certificates and CRLs and validates a path: some 60 cases a second, not thousands.
  defaultCases: 3_000,
  budgetWeight: 2,
  async open() {
    const key = byRole(() => SoftwareKey.generate('EC-P256'));
    const keys: Keys = { key, id: byRole((r) => keyIdentifier(key[r].spki)) };
    return {
      cases: pathPlan(keys).map((plan): PlannedInput => ({ kind: 'x509-path', bytes: new Uint8Array(0), plan })),
      prepare: async (input) => new Uint8Array(Buffer.from(JSON.stringify(await buildCase((input as PlannedInput).plan, keys)))),
      run: (bytes, _input, probe) => runCase(bytes, probe),
      close: async () => undefined,
    };
  },
};

interface PlannedInput extends FuzzInput {
  readonly plan: PathPlan;
}
