/**
 * Object identifiers used by the test bed. The SSMAX arc is minted once, here, under the UUID-based
 * arc of ITU-T X.667 (2.25.<UUID as integer>), UUID 819fc4ad-5866-4c89-8818-e5ddf9f482fb.
 * docs/PROTOCOL.md is the human-readable register of everything under it; keep the two in step.
 */
export const SSMAX_ARC = '2.25.172299975742873968627403492381854827259';

export const SsmaxOids = {
  /** Certificate extensions. */
  extIdentityProofing: `${SSMAX_ARC}.1.1`,
  extTraceId: `${SSMAX_ARC}.1.2`,
  extOrgRole: `${SSMAX_ARC}.1.3`,
  /** CMS content types and attributes (extended by later layers; registered in docs/PROTOCOL.md). */
  ctManifest: `${SSMAX_ARC}.2.1`,
  ctOrgAttestation: `${SSMAX_ARC}.2.2`,
  attrIdentityNotice: `${SSMAX_ARC}.3.1`,
} as const;

/** Standard OIDs (RFC 5652, 5083, 5084, 8017, 5480, 5753, 3565, 5280, 4055, 5758, 4519): the one register for core. */
export const Oids = {
  // CMS content types (RFC 5652 §4-§6, RFC 5083)
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  // Signed attributes (RFC 5652 §11, RFC 8551)
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  countersignature: '1.2.840.113549.1.9.6',
  smimeCapabilities: '1.2.840.113549.1.9.15',
  // Digests
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  // Signatures
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  rsaesOaep: '1.2.840.113549.1.1.7',
  pSpecified: '1.2.840.113549.1.1.9',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  // Content encryption (RFC 3565, RFC 5084)
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  aes256Gcm: '2.16.840.1.101.3.4.1.46',
  aes128Gcm: '2.16.840.1.101.3.4.1.6',
  aes256Wrap: '2.16.840.1.101.3.4.1.45',
  aes128Wrap: '2.16.840.1.101.3.4.1.5',
  // Key agreement (RFC 5753 §7.1.4, RFC 8418)
  dhSinglePassStdDhSha256Kdf: '1.3.132.1.11.1',
  dhSinglePassStdDhSha1Kdf: '1.3.133.16.840.63.0.2',
  // Issue 12 (EnvelopedData interop): more content ciphers, KDFs, curves and RecipientInfo algorithms.
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes192Cbc: '2.16.840.1.101.3.4.1.22',
  aes192Gcm: '2.16.840.1.101.3.4.1.26',
  desEde3Cbc: '1.2.840.113549.3.7', // RFC 3370 §5.1 (legacy)
  chacha20Poly1305: '1.2.840.113549.1.9.16.3.18', // RFC 8103 §3 id-alg-AEADChaCha20Poly1305
  aes192Wrap: '2.16.840.1.101.3.4.1.25',
  dhSinglePassStdDhSha224Kdf: '1.3.132.1.11.0',
  dhSinglePassStdDhSha384Kdf: '1.3.132.1.11.2',
  dhSinglePassStdDhSha512Kdf: '1.3.132.1.11.3',
  dhSinglePassCofactorDhSha1Kdf: '1.3.133.16.840.63.0.3',
  dhSinglePassCofactorDhSha224Kdf: '1.3.132.1.14.0',
  dhSinglePassCofactorDhSha256Kdf: '1.3.132.1.14.1',
  dhSinglePassCofactorDhSha384Kdf: '1.3.132.1.14.2',
  dhSinglePassCofactorDhSha512Kdf: '1.3.132.1.14.3',
  dhSinglePassStdDhHkdfSha256: '1.2.840.113549.1.9.16.3.19', // RFC 8418 §2.2 dhSinglePass-stdDH-hkdf-sha256-scheme
  dhSinglePassStdDhHkdfSha384: '1.2.840.113549.1.9.16.3.20',
  dhSinglePassStdDhHkdfSha512: '1.2.840.113549.1.9.16.3.21',
  sha224: '2.16.840.1.101.3.4.2.4',
  x25519: '1.3.101.110', // RFC 8410 §3
  x448: '1.3.101.111',
  pwriKek: '1.2.840.113549.1.9.16.3.9', // RFC 3211 §2.3 id-alg-PWRI-KEK
  pbkdf2: '1.2.840.113549.1.5.12', // RFC 8018 §A.2
  hmacWithSha1: '1.2.840.113549.2.7',
  hmacWithSha224: '1.2.840.113549.2.8',
  hmacWithSha256: '1.2.840.113549.2.9',
  hmacWithSha384: '1.2.840.113549.2.10',
  hmacWithSha512: '1.2.840.113549.2.11',
  rsaesPkcs1v15: '1.2.840.113549.1.1.1', // rsaEncryption as a key-transport algorithm (RFC 3370 §4.2.1)
  // X.509 (RFC 5280)
  emailProtection: '1.3.6.1.5.5.7.3.4',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailAddress: '1.2.840.113549.1.9.1',
  // Certificate extensions (RFC 5280 §4.2.1)
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  // CA/Browser Forum S/MIME Baseline Requirements §7.1.6.1: validation type, multipurpose generation.
  smimeBrMailboxValidated: '2.23.140.1.5.1.2',
  smimeBrOrganizationValidated: '2.23.140.1.5.2.2',
  smimeBrSponsorValidated: '2.23.140.1.5.3.2',
  smimeBrIndividualValidated: '2.23.140.1.5.4.2',
  policyConstraints: '2.5.29.36',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  crlDistributionPoints: '2.5.29.31',
  inhibitAnyPolicy: '2.5.29.54',
  policyMappings: '2.5.29.33',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  // CRL and CRL entry extensions (RFC 5280 §5.2, §5.3)
  crlNumber: '2.5.29.20',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  reasonCode: '2.5.29.21',
  invalidityDate: '2.5.29.24',
  certificateIssuer: '2.5.29.29',
  // Signature algorithms (RFC 4055 §5, RFC 5758 §3.2)
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
  // EdDSA (RFC 8410 §3, RFC 8419 §2) and SHAKE256 (RFC 8419 §2.3: 512-bit output with Ed448)
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  shake256: '2.16.840.1.101.3.4.2.12',
  // Name attributes (RFC 4519, RFC 5280 Appendix A)
  commonName: '2.5.4.3',
  surname: '2.5.4.4',
  serialNumber: '2.5.4.5',
  countryName: '2.5.4.6',
  localityName: '2.5.4.7',
  stateOrProvinceName: '2.5.4.8',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  title: '2.5.4.12',
  givenName: '2.5.4.42',
  domainComponent: '0.9.2342.19200300.100.1.25',
  userId: '0.9.2342.19200300.100.1.1',
} as const;

/**
 * The X.509 layer's OIDs, now part of {@link Oids}; kept as an alias because it is public API.
 * @deprecated Use {@link Oids}.
 */
export const X509Oids = Oids;
