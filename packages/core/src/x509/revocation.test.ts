/**
 * Revocation checking from CRLs (revocation.ts, RFC 5280 §6.3) and the CRL extensions it reads (crl.ts):
 * issuingDistributionPoint scopes, reason partitions, indirect CRLs, delta CRLs, CRL signers other than
 * the issuing certificate, malformed extensions and the work bound. The PKI is made here (EC P-256, a fixed
 * clock); certificates with cRLDistributionPoints or a separate CRL-signing certificate come from a small
 * builder below, since issue.ts issues the SSMAX profiles only. NIST PKITS covers the same rules in
 * pkits-limbo.test.ts; these tests pin each rule on its own.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import { encodeSignatureAlgorithm } from '../signature-algorithms.js';
import type { SoftwareKey } from '../software-key.js';
import {
  derBitString,
  derBoolean,
  derEncode,
  derExplicit,
  derImplicit,
  derInteger,
  derNamedBits,
  derOctetString,
  derOid,
  derSequence,
  derTime,
  type DerInput,
} from '../der/der-writer.js';
import { KeyUsageNames, parseCertificate, type CertificateInfo, type KeyUsageName } from './certificate-info.js';
import {
  issueCrl,
  parseCrl,
  readCrlDistributionPoints,
  ReasonFlagNames,
  type CrlInfo,
  type IssueCrlOptions,
  type ReasonFlag,
  type RevokedEntry,
} from './crl.js';
import { keyIdentifier } from './issue.js';
import { encodeName } from './names.js';
import { signWith } from './signature-algorithms.js';
import { cachedKey, opensslWorkspace, T0 } from './test-fixtures.js';
import { validateChain, type ChainValidationOptions } from './validate-chain.js';

const HOUR = 3_600_000;
const AT = new Date(T0.getTime() + HOUR);
const now = (): Date => T0;
const name = (cn: string): Uint8Array => encodeName({ C: 'JP', O: 'Revocation Test', CN: cn });
const dirName = (cn: string) => ({ form: 'directoryName' as const, der: name(cn), text: `CN=${cn},O=Revocation Test,C=JP` });

interface Party {
  readonly cert: CertificateInfo;
  readonly key: SoftwareKey;
}

interface Ext {
  readonly oid: string;
  readonly critical?: boolean;
  readonly value: DerInput;
}

let serial = 0x100;

/** A v3 certificate (EC P-256, ECDSA-SHA256); self-signed when no issuer is given. */
async function makeCert(o: {
  readonly subject: Uint8Array;
  readonly key: SoftwareKey;
  readonly issuer?: Party;
  readonly ca?: boolean;
  readonly keyUsage: readonly KeyUsageName[];
  readonly extra?: readonly Ext[];
}): Promise<CertificateInfo> {
  const signer = o.issuer?.key ?? o.key;
  const signerSpki = o.issuer?.cert.spki ?? o.key.spki;
  const alg = encodeSignatureAlgorithm('ECDSA-SHA256');
  const exts: Ext[] = [
    ...(o.ca ? [{ oid: Oids.basicConstraints, critical: true, value: derSequence(derBoolean(true)) }] : []),
    { oid: Oids.keyUsage, critical: true, value: derNamedBits(o.keyUsage.map((u) => KeyUsageNames.indexOf(u))) },
    { oid: Oids.subjectKeyIdentifier, value: derOctetString(keyIdentifier(o.key.spki)) },
    { oid: Oids.authorityKeyIdentifier, value: derSequence(derImplicit(0, false, keyIdentifier(signerSpki))) },
    ...(o.extra ?? []),
  ];
  const tbs = derEncode(
    derSequence(
      derExplicit(0, derInteger(2)),
      derInteger(serial++),
      alg,
      o.issuer?.cert.subjectDer ?? o.subject,
      derSequence(derTime(T0), derTime(new Date(T0.getTime() + 365 * 24 * HOUR))),
      o.subject,
      o.key.spki,
      derExplicit(3, derSequence(...exts.map((e) => derSequence(derOid(e.oid), ...(e.critical ? [derBoolean(true)] : []), derOctetString(e.value))))),
    ),
  );
  return parseCertificate(derEncode(derSequence(tbs, alg, derBitString(await signWith(signer, 'ECDSA-SHA256', tbs)))));
}

async function party(
  cn: string,
  slot: string,
  o: { issuer?: Party; ca?: boolean; keyUsage?: KeyUsageName[]; extra?: Ext[]; subject?: Uint8Array } = {},
): Promise<Party> {
  const key = cachedKey('EC-P256', `revocation-${slot}`);
  const cert = await makeCert({
    subject: o.subject ?? name(cn),
    key,
    ...(o.issuer ? { issuer: o.issuer } : {}),
    ...(o.ca ? { ca: true } : {}),
    keyUsage: o.keyUsage ?? (o.ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature']),
    ...(o.extra ? { extra: o.extra } : {}),
  });
  return { cert, key };
}

/** ReasonFlags re-tagged as the IMPLICIT [n] field of a DistributionPoint or issuingDistributionPoint. */
const reasonField = (n: number, flags: readonly ReasonFlag[]): Uint8Array => {
  const bits = derNamedBits(flags.map((f) => ReasonFlagNames.indexOf(f)));
  bits[0] = 0x80 | n;
  return bits;
};

/** A cRLDistributionPoints extension (RFC 5280 §4.2.1.13), directoryNames only. */
function crlDp(...points: { full?: string[]; reasons?: ReasonFlag[]; crlIssuer?: string[] }[]): Ext {
  return {
    oid: Oids.crlDistributionPoints,
    value: derSequence(
      ...points.map((p) =>
        derSequence(
          ...(p.full ? [derExplicit(0, derImplicit(0, true, ...p.full.map((cn) => derExplicit(4, name(cn)))))] : []),
          ...(p.reasons ? [reasonField(1, p.reasons)] : []),
          ...(p.crlIssuer ? [derImplicit(2, true, ...p.crlIssuer.map((cn) => derExplicit(4, name(cn))))] : []),
        ),
      ),
    ),
  };
}

const ext = (oid: string, critical: boolean, value: DerInput): DerInput =>
  derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));

/** A CRL with exactly the given extensions and entries (cRLNumber 1 first), for encodings issueCrl refuses to make. */
async function rawCrl(signer: Party, crlExts: readonly DerInput[], entries: readonly DerInput[] = []): Promise<Uint8Array> {
  const alg = encodeSignatureAlgorithm('ECDSA-SHA256');
  const tbs = derEncode(
    derSequence(
      derInteger(1),
      alg,
      signer.cert.subjectDer,
      derTime(T0),
      derTime(new Date(T0.getTime() + 168 * HOUR)),
      ...(entries.length > 0 ? [derSequence(...entries)] : []),
      derExplicit(0, derSequence(ext(Oids.crlNumber, false, derInteger(1)), ...crlExts)),
    ),
  );
  return derEncode(derSequence(tbs, alg, derBitString(await signWith(signer.key, 'ECDSA-SHA256', tbs))));
}

const entry = (serialHex: string, exts: readonly DerInput[] = []): DerInput =>
  derSequence(derInteger(new Uint8Array(Buffer.from(serialHex, 'hex'))), derTime(T0), ...(exts.length > 0 ? [derSequence(...exts)] : []));

/** A CRL from issueCrl, signed by `signer`, number 1 unless given, at T0. */
const crlBy = (signer: Party, o: Partial<Omit<IssueCrlOptions, 'issuer' | 'crlNumber'>> & { number?: number } = {}): Promise<CrlInfo> =>
  issueCrl({ now, revoked: [], ...o, issuer: { certificate: signer.cert, key: signer.key }, crlNumber: o.number ?? 1 });

const revoke = (p: Party, reason: RevokedEntry['reason'] = 'keyCompromise', more: Partial<RevokedEntry> = {}): RevokedEntry => ({
  serialNumber: p.cert.serialNumber,
  revocationDate: T0,
  ...(reason ? { reason } : {}),
  ...more,
});

let root: Party;
let ca: Party;
let rootCrl: CrlInfo;
let alice: Party;

beforeAll(async () => {
  root = await party('Root', 'root', { ca: true });
  ca = await party('CA', 'ca', { issuer: root, ca: true });
  rootCrl = await crlBy(root);
  alice = await party('alice', 'alice', { issuer: ca });
});

/** alice (or another leaf) ← CA ← Root, revocation required, the root's empty CRL always given. */
const validate = (leaf: Party, crls: readonly (CrlInfo | Uint8Array)[], o: Partial<ChainValidationOptions> = {}) =>
  validateChain({ leaf: leaf.cert, intermediates: [ca.cert], trustAnchors: [root.cert], crls: [rootCrl, ...crls], time: AT, ...o });

const warningsOf = (r: { warnings: readonly string[] }): string => r.warnings.join('\n');

describe('crl.ts: the revocation extensions', () => {
  it('reads cRLDistributionPoints from the values parseCertificate kept, without parsing the TBSCertificate again', async () => {
    // Fuzz x509-path: each module parsing the TBSCertificate once more made validateChain take four to five parses
    // per path certificate (over 2 s for two large CA certificates). A TBSCertificate that cannot be parsed shows
    // this reader does not.
    const bob = await party('bob', 'bob', { issuer: ca, extra: [crlDp({ full: ['CA'], reasons: ['keyCompromise'] })] });
    expect(readCrlDistributionPoints({ ...bob.cert, tbsDer: Uint8Array.of(0x30, 0x00) })).toEqual([
      { distributionPoint: { fullName: [dirName('CA')] }, reasons: ['keyCompromise'] },
    ]);
  });

  it('issues and reads a delta CRL with a scope and certificateIssuer entries, as openssl reads them', async () => {
    const crl = await crlBy(ca, {
      number: 7,
      baseCrlNumber: 5,
      issuingDistributionPoint: { fullName: [name('CRL1')], onlySomeReasons: ['keyCompromise', 'cACompromise'], indirectCRL: true },
      revoked: [revoke(alice, 'keyCompromise', { certificateIssuer: [dirName('Other CA')] })],
    });
    expect(crl).toMatchObject({ crlNumber: '07', baseCrlNumber: '05', unhandledCriticalExtensions: [] });
    expect(crl.issuingDistributionPoint).toMatchObject({
      distributionPoint: { fullName: [{ form: 'directoryName', text: 'CN=CRL1,O=Revocation Test,C=JP' }] },
      onlySomeReasons: ['keyCompromise', 'cACompromise'],
      indirectCRL: true,
      onlyContainsUserCerts: false,
      onlyContainsCACerts: false,
      onlyContainsAttributeCerts: false,
    });
    expect(crl.revoked[0]!.certificateIssuer).toMatchObject([{ form: 'directoryName', text: 'CN=Other CA,O=Revocation Test,C=JP' }]);
    using o = opensslWorkspace();
    const text = o.run(['crl', '-in', o.writePem('delta.pem', crl.der, 'X509 CRL'), '-noout', '-text']).out;
    expect(text).toMatch(/Delta CRL Indicator: critical\s+5/);
    expect(text).toMatch(/Issuing Distribution Point: critical\s+Full Name:\s+DirName:C = JP, O = Revocation Test, CN = CRL1\s+Indirect CRL/);
    expect(text).toMatch(/Only Some Reasons:\s+Key Compromise, CA Compromise\n/);
    expect(text).toMatch(/Certificate Issuer: critical\s+DirName:\/C=JP\/O=Revocation Test\/CN=Other CA/);
  });

  it('refuses to issue certificateIssuer entries in a CRL that is not indirect, and a delta based on its own number', async () => {
    await expect(crlBy(ca, { revoked: [revoke(alice, 'keyCompromise', { certificateIssuer: [dirName('Other CA')] })] })).rejects.toThrow(
      'Only an indirect CRL names certificate issuers',
    );
    await expect(crlBy(ca, { number: 3, baseCrlNumber: 3 })).rejects.toThrow('base CRL number must be');
  });

  const malformed: readonly [string, (p: Party) => Promise<Uint8Array>, string][] = [
    ['an empty issuingDistributionPoint', (p) => rawCrl(p, [ext(Oids.issuingDistributionPoint, true, derSequence())]), 'issuingDistributionPoint is empty'],
    [
      'an issuingDistributionPoint asserting user and CA certificates',
      (p) =>
        rawCrl(p, [
          ext(Oids.issuingDistributionPoint, true, derSequence(derImplicit(1, false, Uint8Array.of(0xff)), derImplicit(2, false, Uint8Array.of(0xff)))),
        ]),
      'asserts more than one of onlyContainsUserCerts, onlyContainsCACerts',
    ],
    [
      'issuingDistributionPoint fields out of order',
      (p) =>
        rawCrl(p, [
          ext(Oids.issuingDistributionPoint, true, derSequence(derImplicit(4, false, Uint8Array.of(0xff)), derImplicit(1, false, Uint8Array.of(0xff)))),
        ]),
      'issuingDistributionPoint has an unknown, repeated or misplaced field',
    ],
    [
      'a distributionPoint that is neither name form',
      (p) => rawCrl(p, [ext(Oids.issuingDistributionPoint, true, derSequence(derExplicit(0, derImplicit(2, true, derExplicit(4, name('x'))))))]),
      'is neither a fullName nor a nameRelativeToCRLIssuer',
    ],
    ['a negative BaseCRLNumber', (p) => rawCrl(p, [ext(Oids.deltaCrlIndicator, true, Uint8Array.of(0x02, 0x01, 0xff))]), 'BaseCRLNumber is negative'],
    [
      'a BaseCRLNumber that is not an INTEGER',
      (p) => rawCrl(p, [ext(Oids.deltaCrlIndicator, true, derOctetString(Uint8Array.of(1)))]),
      'BaseCRLNumber is not an INTEGER',
    ],
    ['two cRLNumber extensions', (p) => rawCrl(p, [ext(Oids.crlNumber, false, derInteger(2))]), `extension ${Oids.crlNumber} appears twice`],
    [
      'an empty certificateIssuer entry extension',
      (p) =>
        rawCrl(
          p,
          [ext(Oids.issuingDistributionPoint, true, derSequence(derImplicit(4, false, Uint8Array.of(0xff))))],
          [entry('05', [ext(Oids.certificateIssuer, true, derSequence())])],
        ),
      'certificateIssuer is empty',
    ],
  ];

  it.each(malformed)('treats a CRL with %s as malformed, and validateChain ignores it with the reason instead of throwing', async (_, make, reason) => {
    const der = await make(ca);
    expect(() => parseCrl(der)).toThrow(reason);
    let r: ReturnType<typeof validate> | undefined;
    expect(() => (r = validate(alice, [der]))).not.toThrow();
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(r!)).toContain('a CRL is malformed and was ignored: Cannot parse the CRL.');
    expect(warningsOf(r!)).toContain(reason);
  });

  it('makes a CRL unusable for every certificate when it has an unknown critical CRL or entry extension (RFC 5280 §5.2, §5.3)', async () => {
    const good = await rawCrl(ca, []);
    expect(validate(alice, [good]).valid).toBe(true);
    const crlExt = await rawCrl(ca, [ext('1.2.3.4', true, derSequence())]);
    // The unknown entry extension is on another certificate's entry, yet the CRL cannot be used for alice.
    const entryExt = await rawCrl(ca, [], [entry('05', [ext('1.2.3.5', true, derSequence())])]);
    for (const [der, oid] of [
      [crlExt, '1.2.3.4'],
      [entryExt, '1.2.3.5'],
    ] as const) {
      const r = validate(alice, [der]);
      expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
      expect(warningsOf(r)).toContain(`was ignored: unrecognised critical extension ${oid}`);
    }
  });

  it('leaves the status unknown, without throwing, when the certificate cRLDistributionPoints is malformed', async () => {
    const odd = await party('odd', 'odd', {
      issuer: ca,
      extra: [{ oid: Oids.crlDistributionPoints, value: derSequence(derSequence(reasonField(1, ['keyCompromise']))) }],
    });
    const r = validate(odd, [await crlBy(ca)]);
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.reasons.join('\n')).toContain('its cRLDistributionPoints extension cannot be read');
    expect(r.reasons.join('\n')).toContain('has neither a distributionPoint nor a cRLIssuer');
    expect(validate(odd, [await crlBy(ca)], { revocation: 'none' }).valid).toBe(true);
  });
});

describe('checkRevocation: issuingDistributionPoint scopes (RFC 5280 §5.2.5, §6.3.3 (b))', () => {
  it('does not use an onlyContainsUserCerts CRL for a CA certificate, nor an onlyContainsCACerts CRL for an end entity', async () => {
    const userOnlyRoot = await crlBy(root, { issuingDistributionPoint: { onlyContainsUserCerts: true } });
    const caOnlyRoot = await crlBy(root, { issuingDistributionPoint: { onlyContainsCACerts: true } });
    const plainCa = await crlBy(ca);
    const forCa = validate(alice, [], { crls: [userOnlyRoot, plainCa] });
    expect(forCa).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(forCa)).toContain('it covers only end-entity certificates and "CN=CA,O=Revocation Test,C=JP" is a CA');
    expect(validate(alice, [], { crls: [caOnlyRoot, plainCa] }).valid).toBe(true);
    const forAlice = validate(alice, [await crlBy(ca, { issuingDistributionPoint: { onlyContainsCACerts: true } })]);
    expect(forAlice).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(forAlice)).toContain('is not a CA');
    expect(validate(alice, [await crlBy(ca, { issuingDistributionPoint: { onlyContainsUserCerts: true } })]).valid).toBe(true);
  });

  it('uses a CRL with a distribution point name only for certificates that name that point', async () => {
    const bob = await party('bob', 'bob', { issuer: ca, extra: [crlDp({ full: ['CRL1'] })] });
    const crl1 = await crlBy(ca, { issuingDistributionPoint: { fullName: [name('CRL1')] } });
    const crl2 = await crlBy(ca, { issuingDistributionPoint: { fullName: [name('CRL2')] } });
    expect(validate(bob, [crl1]).valid).toBe(true);
    const other = validate(bob, [crl2]);
    expect(other).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(other)).toContain('its issuingDistributionPoint (CN=CRL2,O=Revocation Test,C=JP) is not a distribution point of "CN=bob');
    // alice names no distribution point: only a CRL without a point name (or naming her issuer) serves her.
    expect(validate(alice, [crl1])).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(validate(bob, [await crlBy(ca, { issuingDistributionPoint: { fullName: [name('CRL1')] }, revoked: [revoke(bob)] })])).toMatchObject({
      valid: false,
      code: 'CERT_REVOKED',
    });
  });

  it('needs CRLs covering every reason: two reason partitions together are enough, one alone is not', async () => {
    const compromise = await crlBy(ca, { issuingDistributionPoint: { onlySomeReasons: ['keyCompromise', 'cACompromise'] } });
    const rest: ReasonFlag[] = ['affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn', 'aACompromise'];
    const others = await crlBy(ca, { issuingDistributionPoint: { onlySomeReasons: rest } });
    expect(validate(alice, [compromise, others]).valid).toBe(true);
    const half = validate(alice, [compromise]);
    expect(half).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(half.reasons[0]).toContain('cover only the reasons keyCompromise, cACompromise, not affiliationChanged');
    const lax = validate(alice, [compromise], { revocation: 'ifAvailable' });
    expect(lax.valid).toBe(true);
    expect(warningsOf(lax)).toContain('revocation of "CN=alice,O=Revocation Test,C=JP" was not checked: the current, valid CRLs cover only the reasons');
    // The partition for the other reasons revokes alice even though the compromise partition does not list her.
    const revoking = await crlBy(ca, { issuingDistributionPoint: { onlySomeReasons: rest }, revoked: [revoke(alice, 'superseded')] });
    expect(validate(alice, [compromise, revoking])).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
  });
});

describe('checkRevocation: indirect CRLs (RFC 5280 §5.2.5 indirectCRL, §5.3.3 certificateIssuer)', () => {
  let authority: Party;
  let carol: Party;
  beforeAll(async () => {
    // A CRL issuer that is not a CA: the root certifies it for cRLSign only.
    authority = await party('CRL Authority', 'authority', { issuer: root, keyUsage: ['cRLSign'] });
    carol = await party('carol', 'carol', { issuer: ca, extra: [crlDp({ crlIssuer: ['CRL Authority'] })] });
  });
  const withAuthority = (crls: readonly (CrlInfo | Uint8Array)[], o: Partial<ChainValidationOptions> = {}) =>
    validate(carol, crls, { intermediates: [ca.cert, authority.cert], ...o });

  it('attributes an entry to the issuer its certificateIssuer names, and later entries to the last one named', async () => {
    // carol's serial, but under another CA's name: not carol.
    const elsewhere = await crlBy(authority, {
      issuingDistributionPoint: { indirectCRL: true },
      revoked: [revoke(carol, 'keyCompromise', { certificateIssuer: [dirName('Other CA')] })],
    });
    expect(withAuthority([elsewhere]).valid).toBe(true);
    // The first entry names the CA; carol's entry after it has no certificateIssuer and inherits it.
    const inherited = await crlBy(authority, {
      issuingDistributionPoint: { indirectCRL: true },
      revoked: [{ serialNumber: 'ff', revocationDate: T0, certificateIssuer: [dirName('CA')] }, revoke(carol)],
    });
    expect(withAuthority([inherited])).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    // Without any certificateIssuer, entries belong to the CRL issuer, not to carol's CA.
    const own = await crlBy(authority, { issuingDistributionPoint: { indirectCRL: true }, revoked: [revoke(carol)] });
    expect(withAuthority([own]).valid).toBe(true);
  });

  it('uses a CRL from the named cRLIssuer only when it is an indirect CRL whose signer chains to the same anchor', async () => {
    const direct = withAuthority([await crlBy(authority)]);
    expect(direct).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(direct)).toContain('names "CN=CRL Authority,O=Revocation Test,C=JP" as its cRLIssuer, but this is not an indirect CRL');
    const indirect = await crlBy(authority, { issuingDistributionPoint: { indirectCRL: true } });
    expect(withAuthority([indirect]).valid).toBe(true);
    // The root revoked the CRL authority's certificate: its CRLs no longer count.
    const revokedAuthority = withAuthority([indirect], { crls: [await crlBy(root, { number: 2, revoked: [revoke(authority)] }), indirect] });
    expect(revokedAuthority).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(revokedAuthority)).toMatch(/the CRL signer "CN=CRL Authority.*" \(serial [0-9a-f]+\) is not valid: .* was revoked/);
  });

  it('does not use a CRL that is not indirect but names certificate issuers in its entries', async () => {
    const der = await rawCrl(ca, [], [entry('05', [ext(Oids.certificateIssuer, true, derSequence(derExplicit(4, name('CA'))))])]);
    const r = validate(alice, [der]);
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(r)).toContain('it names certificate issuers in its entries but is not an indirect CRL');
  });
});

describe('checkRevocation: delta CRLs (RFC 5280 §5.2.4, §6.3.3 (a), (c), (i)-(k))', () => {
  let complete: CrlInfo;
  beforeAll(async () => {
    complete = await crlBy(ca, { number: 5 });
  });

  it('applies a delta whose BaseCRLNumber ≤ the complete CRL number < its own', async () => {
    const delta = await crlBy(ca, { number: 6, baseCrlNumber: 5, revoked: [revoke(alice)] });
    const r = validate(alice, [complete, delta]);
    expect(r).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    expect(r.reasons[0]).toContain('(delta CRL 06 from "CN=CA,O=Revocation Test,C=JP")');
    expect(validate(alice, [complete, await crlBy(ca, { number: 6, baseCrlNumber: 4, revoked: [revoke(alice)] })])).toMatchObject({ code: 'CERT_REVOKED' });
  });

  it('does not apply a delta to a complete CRL numbered below its base, nor an older delta, nor one of another scope', async () => {
    const aheadOfBase = await crlBy(ca, { number: 8, baseCrlNumber: 7, revoked: [revoke(alice)] });
    const r = validate(alice, [complete, aheadOfBase]);
    expect(r.valid).toBe(true);
    expect(warningsOf(r)).toContain('(cRLNumber 08, base 07) was ignored: it does not apply to the complete CRL with cRLNumber 05');
    const older = await crlBy(ca, { number: 4, baseCrlNumber: 3, revoked: [revoke(alice)] });
    expect(validate(alice, [complete, older]).valid).toBe(true);
    const otherScope = await crlBy(ca, { number: 6, baseCrlNumber: 5, issuingDistributionPoint: { onlyContainsUserCerts: true }, revoked: [revoke(alice)] });
    expect(validate(alice, [complete, otherScope]).valid).toBe(true);
    // A delta alone is no complete CRL (PKITS 4.15.1).
    expect(validate(alice, [await crlBy(ca, { number: 6, baseCrlNumber: 5 })])).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
  });

  it('lets removeFromCRL on the delta undo a hold on the complete CRL, and only a delta that applies', async () => {
    const onHold = await crlBy(ca, { number: 5, revoked: [revoke(alice, 'certificateHold')] });
    const held = validate(alice, [onHold]);
    expect(held).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    expect(held.reasons[0]).toContain('(certificateHold)');
    expect(validate(alice, [onHold, await crlBy(ca, { number: 6, baseCrlNumber: 5, revoked: [revoke(alice, 'removeFromCRL')] })]).valid).toBe(true);
    const notApplying = await crlBy(ca, { number: 7, baseCrlNumber: 6, revoked: [revoke(alice, 'removeFromCRL')] });
    expect(validate(alice, [onHold, notApplying])).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
  });

  it('keeps a complete CRL past its nextUpdate usable with a current delta (§6.3.3 (a)(1)(i)), and not without', async () => {
    const stale = await crlBy(ca, { number: 5, nextUpdateHours: 1 });
    const fresh = await issueCrl({
      issuer: { certificate: ca.cert, key: ca.key },
      now: () => new Date(T0.getTime() + 2 * HOUR),
      crlNumber: 6,
      baseCrlNumber: 5,
      revoked: [],
    });
    const later = { time: new Date(T0.getTime() + 3 * HOUR) };
    expect(validate(alice, [stale, fresh], later).valid).toBe(true);
    // The delta alone is not enough: it only updates the complete CRL.
    expect(validate(alice, [fresh], later)).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    const alone = validate(alice, [stale], later);
    expect(alone).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(alone)).toContain('it is not current at');
  });
});

describe('checkRevocation: CRLs signed by another certificate of the CRL issuer (RFC 5280 §6.3.3 (f))', () => {
  let signer: Party;
  beforeAll(async () => {
    // The CA's CRL-signing certificate: the CA's name, its own key, cRLSign only, certified by the root.
    signer = await party('CA', 'ca-crl-signer', { issuer: root, keyUsage: ['cRLSign'] });
  });

  it('accepts a CRL signed by a separate CRL-signing certificate of the CA, validated to the same anchor', async () => {
    const crl = await crlBy(signer);
    expect(validate(alice, [crl], { intermediates: [ca.cert, signer.cert] }).valid).toBe(true);
    const revoking = await crlBy(signer, { revoked: [revoke(alice)] });
    expect(validate(alice, [revoking], { intermediates: [ca.cert, signer.cert] })).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    const unknownSigner = validate(alice, [crl]);
    expect(unknownSigner).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(unknownSigner)).toContain('no certificate of "CN=CA,O=Revocation Test,C=JP" with its key');
  });

  it('refuses a CRL signer that is revoked, lacks cRLSign, or chains only to another trust anchor', async () => {
    const crl = await crlBy(signer);
    const revoked = validate(alice, [crl], { intermediates: [ca.cert, signer.cert], crls: [await crlBy(root, { number: 2, revoked: [revoke(signer)] }), crl] });
    expect(revoked).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(revoked)).toContain('is not valid:');
    // The same name and key usage, but certified for digitalSignature only.
    const noCrlSign = await party('CA', 'ca-crl-signer', { issuer: root, keyUsage: ['digitalSignature'] });
    const r = validate(alice, [crl], { intermediates: [ca.cert, noCrlSign.cert] });
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(r)).toContain('"CN=CA,O=Revocation Test,C=JP" lacks cRLSign');
    // A second trusted root certifies a CRL signer with the CA's name: the path's anchor is the first root.
    const root2 = await party('Root 2', 'root2', { ca: true });
    const foreign = await party('CA', 'ca-foreign-signer', { issuer: root2, keyUsage: ['cRLSign'] });
    const foreignCrl = await crlBy(foreign);
    const f = validate(alice, [foreignCrl], {
      intermediates: [ca.cert, foreign.cert],
      trustAnchors: [root.cert, root2.cert],
      crls: [rootCrl, await crlBy(root2), foreignCrl],
    });
    expect(f).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(warningsOf(f)).toMatch(/the CRL signer "CN=CA,O=Revocation Test,C=JP" \(serial [0-9a-f]+\) is not valid/);
  });

  it('follows a key rollover: the old key signs the CRL for certificates issued under the new key, and the reverse', async () => {
    // The CA's new key, certified by its old key (self-issued "new with old").
    const newKey = cachedKey('EC-P256', 'revocation-ca-new');
    const newWithOld = { cert: await makeCert({ subject: name('CA'), key: newKey, issuer: ca, ca: true, keyUsage: ['keyCertSign', 'cRLSign'] }), key: newKey };
    const dave = await party('dave', 'dave', { issuer: newWithOld });
    const byOldKey = await crlBy(ca);
    const chainOpts = { intermediates: [ca.cert, newWithOld.cert] };
    const r = validate(dave, [byOldKey], chainOpts);
    expect(r.valid).toBe(true);
    expect(r.chain.map((c) => c.subject)).toEqual([
      dave.cert.subject,
      'CN=CA,O=Revocation Test,C=JP',
      'CN=CA,O=Revocation Test,C=JP',
      'CN=Root,O=Revocation Test,C=JP',
    ]);
    expect(validate(dave, [await crlBy(ca, { revoked: [revoke(dave)] })], chainOpts)).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    // The new key signs the CRL for alice (old key): newWithOld is validated, and its own status comes from
    // that same CRL (its validation is the one under way).
    const byNewKey = await crlBy(newWithOld);
    expect(validate(alice, [byNewKey], chainOpts).valid).toBe(true);
    expect(validate(alice, [await crlBy(newWithOld, { revoked: [revoke(alice)] })], chainOpts)).toMatchObject({ valid: false, code: 'CERT_REVOKED' });
    expect(validate(alice, [byNewKey])).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
  });
});

describe('checkRevocation: the work bound', () => {
  it('gives up after maxRevocationChecks signature checks with a reason, and a larger budget gets through', async () => {
    // Look-alike CRLs: the CA's name and no authorityKeyIdentifier, signed by another key.
    const impostor = await party('CA', 'impostor', { issuer: root, ca: true });
    const junk = await Promise.all(Array.from({ length: 20 }, () => rawCrl(impostor, [])));
    const real = await crlBy(ca);
    const tight = validate(alice, [...junk, real], { maxRevocationChecks: 8 });
    expect(tight).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(tight.reasons[0]).toContain('revocation checking gave up after 8 signature checks, maxRevocationChecks');
    expect(validate(alice, [...junk, real]).valid).toBe(true);
    expect(() => validate(alice, [real], { maxRevocationChecks: 0 })).toThrow(SsmaxError);
  });
});
