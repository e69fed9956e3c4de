/**
 * RFC 5280 name constraints (name-constraints.ts): decoding the extension, the matching rule of each name
 * form, the path state, and validateChain over certificates made here with those extensions.
 */
import { describe, expect, it } from 'vitest';
import {
  derBoolean,
  derEncode,
  derExplicit,
  derIa5String,
  derImplicit,
  derInteger,
  derNamedBits,
  derOctetString,
  derOid,
  derPrintableString,
  derSequence,
  derSetOf,
  derTime,
  derUtf8String,
  derBitString,
  encodeOidContent,
  type DerInput,
  type DerValue,
} from '../der/der-writer.js';
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import { encodeSignatureAlgorithm } from '../signature-algorithms.js';
import type { SoftwareKey } from '../software-key.js';
import { parseCertificate, type CertificateInfo } from './certificate-info.js';
import { decodeNameConstraints, nameConstraintProblems, NameConstraintsState, type GeneralName } from './name-constraints.js';
import { keyIdentifier } from './issue.js';
import { chooseScheme, signWith } from './signature-algorithms.js';
import { cachedKey } from './test-fixtures.js';
import { validateChain } from './validate-chain.js';

// --- GeneralNames and NameConstraints, DER ------------------------------------------------------------

const ia5 = (s: string): Uint8Array => derEncode(derIa5String(s)).subarray(2);
const gn = {
  email: (s: string): DerValue => derImplicit(1, false, ia5(s)),
  dns: (s: string): DerValue => derImplicit(2, false, ia5(s)),
  dir: (name: Uint8Array): DerValue => derExplicit(4, name),
  uri: (s: string): DerValue => derImplicit(6, false, ia5(s)),
  ip: (...octets: number[]): DerValue => derImplicit(7, false, new Uint8Array(octets)),
  other: (oid: string): DerValue => derImplicit(0, true, derOid(oid), derExplicit(0, derUtf8String('x'))),
  registeredId: (oid: string): DerValue => derImplicit(8, false, encodeOidContent(oid)),
};
const subtrees = (tag: 0 | 1, bases: readonly DerInput[]): DerValue => derImplicit(tag, true, ...bases.map((b) => derSequence(b)));
function ncDer(permitted: readonly DerInput[] = [], excluded: readonly DerInput[] = []): Uint8Array {
  return derEncode(derSequence(...(permitted.length ? [subtrees(0, permitted)] : []), ...(excluded.length ? [subtrees(1, excluded)] : [])));
}
type Atv = readonly [string, DerValue];
const dn = (...atvs: Atv[]): Uint8Array => derEncode(derSequence(...atvs.map(([oid, v]) => derSetOf([derSequence(derOid(oid), v)]))));
const O = (v: string): Atv => [Oids.organizationName, derUtf8String(v)];
const CN = (v: string): Atv => [Oids.commonName, derUtf8String(v)];
const EMAIL = (v: string): Atv => [Oids.emailAddress, derIa5String(v)];

// --- The state over names ------------------------------------------------------------------------------

const name = {
  email: (text: string): GeneralName => ({ form: 'rfc822Name', text }),
  dns: (text: string): GeneralName => ({ form: 'dNSName', text }),
  uri: (text: string): GeneralName => ({ form: 'uniformResourceIdentifier', text }),
  ip: (...octets: number[]): GeneralName => ({ form: 'iPAddress', bytes: new Uint8Array(octets) }),
  dir: (der: Uint8Array): GeneralName => ({ form: 'directoryName', der }),
};

/** The reasons `names` break the constraints of CAs given as NameConstraints DER, topmost first. */
function judge(names: readonly GeneralName[], ...cas: Uint8Array[]): string[] {
  const state = new NameConstraintsState();
  cas.forEach((der, i) => state.add(decodeNameConstraints(der), `CA${i + 1}`));
  return state.check(names, '"leaf"');
}
const ok = (names: readonly GeneralName[], ...cas: Uint8Array[]): boolean => judge(names, ...cas).length === 0;

describe('decodeNameConstraints', () => {
  it('reads permitted and excluded subtrees of every processed form', () => {
    const nc = decodeNameConstraints(
      ncDer(
        [gn.dns('example.com'), gn.email('.example.com'), gn.uri('host.example.com'), gn.ip(192, 0, 2, 0, 255, 255, 255, 0), gn.dir(dn(O('Alpha')))],
        [gn.other('1.3.6.1.5.5.7.8.9'), gn.registeredId('1.2.3.4')],
      ),
    );
    expect(nc.permitted.map((b) => b.form)).toEqual(['dNSName', 'rfc822Name', 'uniformResourceIdentifier', 'iPAddress', 'directoryName']);
    expect(nc.excluded).toEqual([
      { form: 'otherName', label: '1.3.6.1.5.5.7.8.9' },
      { form: 'registeredID', label: '1.2.3.4' },
    ]);
  });

  const malformed: [string, Uint8Array, RegExp][] = [
    ['an empty NameConstraints', derEncode(derSequence()), /is empty/],
    ['empty permittedSubtrees', derEncode(derSequence(derImplicit(0, true))), /permittedSubtrees is empty/],
    [
      'a minimum',
      derEncode(derSequence(derImplicit(0, true, derSequence(gn.dns('a.example'), derImplicit(0, false, new Uint8Array([1])))))),
      /minimum or maximum/,
    ],
    [
      'a maximum',
      derEncode(derSequence(derImplicit(1, true, derSequence(gn.dns('a.example'), derImplicit(1, false, new Uint8Array([2])))))),
      /minimum or maximum/,
    ],
    ['a wildcard dNSName', ncDer([gn.dns('*.example.com')]), /not a DNS name/],
    ['a dNSName with a leading period', ncDer([gn.dns('.example.com')]), /not a DNS name/],
    ['an iPAddress without a mask', ncDer([gn.ip(192, 0, 2, 1)]), /CIDR mask/],
    ['an iPAddress with a non-contiguous mask', ncDer([gn.ip(192, 0, 2, 0, 255, 0, 255, 0)]), /CIDR mask/],
    ['an rfc822Name with two "@"', ncDer([], [gn.email('a@b@example.com')]), /not a mailbox, host or .domain/],
    ['a URI constraint that is a URI', ncDer([gn.uri('https://example.com/')]), /not a host or .domain/],
  ];
  it.each(malformed)('refuses %s with a reason', (_what, der, reason) => {
    expect(() => decodeNameConstraints(der)).toThrow(SsmaxError);
    expect(() => decodeNameConstraints(der)).toThrow(reason);
  });
});

describe('NameConstraintsState: dNSName (RFC 5280 §4.2.1.10)', () => {
  const permitted = ncDer([gn.dns('example.com')]);

  it('permits the name itself and any name made by adding labels on the left', () => {
    expect(ok([name.dns('example.com')], permitted)).toBe(true);
    expect(ok([name.dns('a.b.EXAMPLE.com')], permitted)).toBe(true);
  });

  it('does not permit a name that merely ends with the same characters', () => {
    expect(judge([name.dns('notexample.com')], permitted)).toEqual([
      '"leaf" has the dNSName "notexample.com", outside the permitted dNSName subtrees of "CA1" ("example.com")',
    ]);
    expect(ok([name.dns('example.com.evil.test')], permitted)).toBe(false);
  });

  it('refuses a malformed dNSName of a constrained form, which a suffix test would let through', () => {
    expect(judge([name.dns('.example.com')], permitted)[0]).toContain('malformed dNSName ".example.com"');
    // The same name is nobody's business when no dNSName constraint applies.
    expect(ok([name.dns('.example.com')], ncDer([gn.email('example.com')]))).toBe(true);
  });

  it('treats a wildcard name as every name it stands for: excluded if any is, permitted only if all are', () => {
    expect(ok([name.dns('*.example.com')], permitted)).toBe(true);
    expect(ok([name.dns('*.example.com')], ncDer([gn.dns('foo.example.com')]))).toBe(false);
    expect(ok([name.dns('*.example.com')], ncDer([], [gn.dns('bar.example.com')]))).toBe(false);
    expect(ok([name.dns('*.example.com')], ncDer([], [gn.dns('a.bar.example.com')]))).toBe(true);
  });
});

describe('NameConstraintsState: rfc822Name (RFC 5280 §4.2.1.10)', () => {
  it('reads "example.com" as the one host and ".example.com" as the hosts below it, unlike dNSName', () => {
    const host = ncDer([gn.email('example.com')]);
    const domain = ncDer([gn.email('.example.com')]);
    expect(ok([name.email('alice@example.com')], host)).toBe(true);
    expect(ok([name.email('alice@mail.example.com')], host)).toBe(false);
    expect(ok([name.email('alice@mail.example.com')], domain)).toBe(true);
    expect(ok([name.email('alice@example.com')], domain)).toBe(false);
  });

  it('matches a mailbox constraint with a case-sensitive local part and a case-insensitive domain', () => {
    const mailbox = ncDer([gn.email('Alice@Example.COM')]);
    expect(ok([name.email('Alice@example.com')], mailbox)).toBe(true);
    expect(ok([name.email('alice@example.com')], mailbox)).toBe(false);
    expect(ok([name.email('Alice@mail.example.com')], mailbox)).toBe(false);
  });

  it('takes an asterisk literally (limbo nc-permits-email-literal-*)', () => {
    const star = ncDer([gn.email('*@example.com')]);
    expect(ok([name.email('*@example.com')], star)).toBe(true);
    expect(ok([name.email('user@example.com')], star)).toBe(false);
  });

  it('refuses a malformed address under an rfc822Name constraint', () => {
    expect(judge([name.email('invalid@address@example.com')], ncDer([gn.email('example.com')]))[0]).toContain('malformed rfc822Name');
  });
});

describe('NameConstraintsState: URI, iPAddress, directoryName', () => {
  it('constrains the host of a URI, a leading period meaning the hosts below (PKITS 4.13.34, 4.13.35)', () => {
    const domain = ncDer([gn.uri('.example.com')]);
    expect(ok([name.uri('https://www.example.com:8443/x')], domain)).toBe(true);
    expect(ok([name.uri('https://example.com/x')], domain)).toBe(false);
    expect(ok([name.uri('http://user@evil.test/.example.com')], domain)).toBe(false);
    // No host to check: refused rather than let through.
    expect(judge([name.uri('urn:example:com')], domain)[0]).toContain('malformed uniformResourceIdentifier');
  });

  it('applies the IPv4 mask to the address, and keeps IPv4 and IPv6 apart', () => {
    const v4 = ncDer([gn.ip(192, 0, 2, 0, 255, 255, 254, 0)]); // 192.0.2.0/23
    expect(ok([name.ip(192, 0, 3, 255)], v4)).toBe(true);
    expect(judge([name.ip(192, 0, 4, 0)], v4)).toEqual([
      '"leaf" has the iPAddress 192.0.4.0, outside the permitted iPAddress subtrees of "CA1" (192.0.2.0/23)',
    ]);
    expect(ok([name.ip(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1)], v4)).toBe(false);
    expect(judge([name.ip(192, 0, 2)], v4)[0]).toContain('malformed iPAddress');
  });

  it('compares directoryName subtrees by the RFC 5280 §7.1 rules', () => {
    const alpha = ncDer([gn.dir(dn(O('Alpha Corp')))], [gn.dir(dn(O('Alpha Corp'), [Oids.organizationalUnitName, derPrintableString('Sales')]))]);
    expect(ok([name.dir(dn(O('ALPHA  corp'), CN('alice')))], alpha)).toBe(true);
    expect(ok([name.dir(dn(O('Alpha Corporation'), CN('alice')))], alpha)).toBe(false);
    expect(ok([name.dir(dn(O('alpha corp'), [Oids.organizationalUnitName, derUtf8String('SALES')], CN('bob')))], alpha)).toBe(false);
  });
});

describe('NameConstraintsState: the state along a path (RFC 5280 §6.1.4 (g))', () => {
  it('lets an excluded subtree win over a permitted one that also holds the name', () => {
    expect(judge([name.dns('a.example.com')], ncDer([gn.dns('example.com')], [gn.dns('a.example.com')]))).toEqual([
      '"leaf" has the dNSName "a.example.com", inside the excluded subtree "a.example.com" of "CA1"',
    ]);
  });

  it("intersects permitted subtrees of one form: a name must be in both CAs' (limbo restrictive-permits-*)", () => {
    const upper = ncDer([gn.dns('foo.example.com'), gn.dns('bar.example.com')]);
    const lower = ncDer([gn.dns('bar.example.com')]);
    expect(ok([name.dns('x.bar.example.com')], upper, lower)).toBe(true);
    expect(judge([name.dns('foo.example.com')], upper, lower)).toEqual([
      '"leaf" has the dNSName "foo.example.com", outside the permitted dNSName subtrees of "CA2" ("bar.example.com")',
    ]);
  });

  it('leaves other forms unconstrained when a CA constrains one form', () => {
    expect(ok([name.dns('anything.test'), name.email('x@anywhere.test')], ncDer([gn.ip(192, 0, 2, 0, 255, 255, 255, 0)]))).toBe(true);
  });

  it('unites excluded subtrees of every CA', () => {
    expect(ok([name.email('x@b.test')], ncDer([], [gn.email('a.test')]), ncDer([], [gn.email('b.test')]))).toBe(false);
  });

  it('refuses a name of a form it cannot process only when that form is constrained (limbo nc-forbids-othername)', () => {
    const other: GeneralName = { form: 'otherName', label: '1.3.6.1.5.5.7.8.9' };
    const forbidsOther = ncDer([gn.dns('example.com')], [gn.other('1.3.6.1.5.5.7.8.9')]);
    expect(judge([other], forbidsOther)[0]).toContain('constrains otherName names, which this validator does not process');
    expect(ok([name.dns('example.com')], forbidsOther)).toBe(true);
    expect(ok([other], ncDer([gn.dns('example.com')]))).toBe(true);
  });
});

// --- validateChain over made certificates ---------------------------------------------------------------

const TIME = new Date('2025-06-01T00:00:00Z');
const ext = (oid: string, critical: boolean, value: DerInput): DerValue =>
  derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));
let serial = 1;

async function makeCert(o: {
  issuer: { name: Uint8Array; key: SoftwareKey };
  subject: Uint8Array;
  key: SoftwareKey;
  ca: boolean;
  extensions?: readonly DerValue[];
}): Promise<CertificateInfo> {
  const scheme = chooseScheme(o.issuer.key, undefined);
  const algId = encodeSignatureAlgorithm(scheme);
  const tbs = derEncode(
    derSequence(
      derExplicit(0, derInteger(2)),
      derInteger(serial++),
      algId,
      o.issuer.name,
      derSequence(derTime(new Date('2025-01-01T00:00:00Z')), derTime(new Date('2026-01-01T00:00:00Z'))),
      o.subject,
      o.key.spki,
      derExplicit(
        3,
        derSequence(
          ext(Oids.basicConstraints, true, o.ca ? derSequence(derBoolean(true)) : derSequence()),
          ext(Oids.keyUsage, true, derNamedBits(o.ca ? [5, 6] : [0])),
          // RFC 5280 §4.2.1.1, §4.2.1.2: as a conforming CA writes them (ca-profile.ts refuses paths without).
          ext(Oids.subjectKeyIdentifier, false, derOctetString(keyIdentifier(o.key.spki))),
          ext(Oids.authorityKeyIdentifier, false, derSequence(derImplicit(0, false, keyIdentifier(o.issuer.key.spki)))),
          ...(o.extensions ?? []),
        ),
      ),
    ),
  );
  const signature = await signWith(o.issuer.key, scheme, tbs);
  return parseCertificate(derEncode(derSequence(tbs, algId, derBitString(signature))));
}

const san = (...names: DerValue[]): DerValue => ext(Oids.subjectAltName, false, derSequence(...names));
const nameConstraints = (critical: boolean, der: Uint8Array): DerValue => ext(Oids.nameConstraints, critical, der);

/** root → CA (with `caExtensions`) → leaf (`leafSubject`, `leafExtensions`), validated without revocation. */
async function chain(caExtensions: readonly DerValue[], leafSubject: Uint8Array, leafExtensions: readonly DerValue[] = []) {
  const rootKey = cachedKey('EC-P256', 'nc-root');
  const caKey = cachedKey('EC-P256', 'nc-ca');
  const rootName = dn(CN('NC Test Root'));
  const caName = dn(O('Alpha Corp'), CN('Alpha CA'));
  const root = await makeCert({ issuer: { name: rootName, key: rootKey }, subject: rootName, key: rootKey, ca: true });
  const ca = await makeCert({ issuer: { name: rootName, key: rootKey }, subject: caName, key: caKey, ca: true, extensions: caExtensions });
  const leaf = await makeCert({
    issuer: { name: caName, key: caKey },
    subject: leafSubject,
    key: cachedKey('EC-P256', 'nc-leaf'),
    ca: false,
    extensions: leafExtensions,
  });
  return (email?: string) =>
    validateChain({ leaf, intermediates: [ca], trustAnchors: [root], time: TIME, revocation: 'none', ...(email !== undefined ? { email } : {}) });
}

describe('validateChain with name constraints', () => {
  it('enforces an excluded constraint, and refuses a non-critical nameConstraints while still reporting what it excludes', async () => {
    const excluded = ncDer([], [gn.email('evil.example')]);
    const mallory = '"CN=Mallory" has the rfc822Name "mallory@evil.example", inside the excluded subtree "evil.example" of "CN=Alpha CA,O=Alpha Corp"';
    const bad = await chain([nameConstraints(true, excluded)], dn(CN('Mallory')), [san(gn.email('mallory@evil.example'))]);
    expect(bad()).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(bad().reasons).toEqual([mallory]);
    const good = await chain([nameConstraints(true, excluded)], dn(CN('Alice')), [san(gn.email('alice@alpha.example'))]);
    expect(good()).toMatchObject({ valid: true });
    // RFC 5280 §4.2.1.10: conforming CAs mark it critical (ca-profile.ts); the constraint binds all the same.
    const lax = await chain([nameConstraints(false, excluded)], dn(CN('Mallory')), [san(gn.email('mallory@evil.example'))]);
    expect(lax().reasons).toEqual([mallory, '"CN=Alpha CA,O=Alpha Corp" has a non-critical nameConstraints (RFC 5280 §4.2.1.10: MUST be critical)']);
  });

  it('reads the extensions parseCertificate kept, without parsing the TBSCertificate again', async () => {
    // Fuzz x509-path: each module parsing the TBSCertificate once more made validateChain take four to five parses
    // per path certificate (over 2 s for two large CA certificates). A TBSCertificate that cannot be parsed shows
    // this module does not.
    const rootKey = cachedKey('EC-P256', 'nc-root');
    const caKey = cachedKey('EC-P256', 'nc-ca');
    const rootName = dn(CN('NC Test Root'));
    const caName = dn(O('Alpha Corp'), CN('Alpha CA'));
    const root = await makeCert({ issuer: { name: rootName, key: rootKey }, subject: rootName, key: rootKey, ca: true });
    const ca = await makeCert({
      issuer: { name: rootName, key: rootKey },
      subject: caName,
      key: caKey,
      ca: true,
      extensions: [nameConstraints(true, ncDer([], [gn.email('evil.example')]))],
    });
    const leaf = await makeCert({
      issuer: { name: caName, key: caKey },
      subject: dn(CN('Mallory')),
      key: cachedKey('EC-P256', 'nc-leaf'),
      ca: false,
      extensions: [san(gn.email('mallory@evil.example'))],
    });
    const garbled = (c: CertificateInfo): CertificateInfo => ({ ...c, tbsDer: Uint8Array.of(0x30, 0x00) });
    expect(nameConstraintProblems([leaf, ca, root].map(garbled))).toEqual([
      '"CN=Mallory" has the rfc822Name "mallory@evil.example", inside the excluded subtree "evil.example" of "CN=Alpha CA,O=Alpha Corp"',
    ]);
  });

  it('checks the subject emailAddress against rfc822Name constraints even beside a subjectAltName', async () => {
    // validateChain's `email` option accepts the legacy attribute, so an unchecked one would slip an
    // address past the CA's constraint.
    const nc = nameConstraints(true, ncDer([gn.email('alpha.example')]));
    const check = await chain([nc], dn(CN('Mallory'), EMAIL('mallory@evil.example')), [san(gn.email('alice@alpha.example'))]);
    const r = check('mallory@evil.example');
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.reasons.join('; ')).toContain('has the rfc822Name "mallory@evil.example", outside the permitted rfc822Name subtrees');
  });

  it('refuses a subject in an excluded directoryName subtree that differs only in case and spacing', async () => {
    const nc = nameConstraints(true, ncDer([], [gn.dir(dn(O('Alpha Corp'), CN('Root Admin')))]));
    const check = await chain([nc], dn(O('alpha  CORP'), CN(' root admin ')));
    expect(check().reasons.join('; ')).toContain('inside the excluded subtree "CN=Root Admin,O=Alpha Corp"');
  });

  it('gives a reason for a malformed nameConstraints instead of throwing', async () => {
    const withMaximum = derEncode(derSequence(derImplicit(0, true, derSequence(gn.dns('alpha.example'), derImplicit(1, false, new Uint8Array([1]))))));
    const check = await chain([nameConstraints(true, withMaximum)], dn(CN('Alice')));
    expect(check()).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(check().reasons).toEqual([
      '"CN=Alpha CA,O=Alpha Corp" has a malformed nameConstraints extension: a GeneralSubtree of permittedSubtrees has minimum or maximum, which RFC 5280 §4.2.1.10 does not allow',
    ]);
  });

  it('chains a leaf whose issuer name differs from the CA subject in case and spacing (RFC 5280 §7.1)', async () => {
    const rootKey = cachedKey('EC-P256', 'nc-root');
    const caKey = cachedKey('EC-P256', 'nc-ca');
    const rootName = dn(CN('NC Test Root'));
    const root = await makeCert({ issuer: { name: rootName, key: rootKey }, subject: rootName, key: rootKey, ca: true });
    const ca = await makeCert({ issuer: { name: dn(CN('nc  TEST root ')), key: rootKey }, subject: dn(O('Alpha Corp')), key: caKey, ca: true });
    const leaf = await makeCert({
      issuer: { name: dn(O('ALPHA CORP')), key: caKey },
      subject: dn(CN('Alice')),
      key: cachedKey('EC-P256', 'nc-leaf'),
      ca: false,
    });
    const r = validateChain({ leaf, intermediates: [ca], trustAnchors: [root], time: TIME, revocation: 'none' });
    expect(r).toMatchObject({ valid: true });
    expect(r.chain).toHaveLength(3);
  });
});
