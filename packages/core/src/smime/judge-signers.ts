/**
 * The relying party's judgement of every signer of one SignedData: its signature (verifySignedData) and its
 * certificate's path to the caller's trust anchors, at the caller's time, with the caller's CRLs. One
 * function for `ssmax cms verify` and the mail judgement (judge-smime-message.ts), so the two never disagree
 * about a signer (ssmax issue 10 item 7).
 */
import { SsmaxError, type ErrorCode } from '../errors.js';
import { Oids } from '../oids.js';
import type { SignedDataVerification } from '../cms/index.js';
import { parseCertificate, validateChain, type CertificateInfo } from '../x509/index.js';
import { normaliseAddress } from './address.js';

export interface JudgeSignersOptions {
  /**
   * Roots the caller trusts. `'skip'` checks the signatures only (`ssmax cms verify --no-chain`): then a
   * valid signer says nothing about who signed.
   */
  readonly trustAnchors: readonly Uint8Array[] | 'skip';
  /** Further candidate intermediates (DER), after the certificates the message carries. */
  readonly intermediates?: readonly Uint8Array[];
  /**
   * The caller's CRLs, and only those: CRLs embedded in the message are the signer's choice (an old one,
   * still inside its nextUpdate, would hide a revocation). With any CRL given, revocation is required.
   */
  readonly crls?: readonly Uint8Array[];
  /** Now or a time the caller chose; never the signingTime in the message, which the signer chose. */
  readonly time: Date;
  /**
   * `'smime'`: RFC 8550 §4.4 for a mail signer: an extKeyUsage, when present, lists emailProtection (or
   * anyExtendedKeyUsage); a keyUsage, when present, has digitalSignature or nonRepudiation.
   */
  readonly purpose?: 'smime';
}

/** One signer as the relying party judged it. */
export interface SignerJudgement {
  readonly valid: boolean;
  /** The first failed check, when not valid. */
  readonly code?: ErrorCode;
  /** Every failed check, in words. Empty when valid. */
  readonly reasons: string[];
  readonly subject: string | null;
  /** The first e-mail address of the certificate (as written in it). */
  readonly email: string | null;
  /** Every e-mail address of the certificate (RFC 8550 §3), normalised: local part as written, domain lower-case. */
  readonly emailAddresses: string[];
  readonly serial: string | null;
  readonly identityProofing: string | null;
  readonly traceId: string | null;
  readonly signingTime: string | null;
  /** The signature scheme (RSASSA-PKCS1-v1_5, RSASSA-PSS, ECDSA, Ed25519, Ed448), when understood. */
  readonly scheme: string | null;
  /** The SignerInfo digestAlgorithm (SHA-256, …, SHAKE256), or its OID when not understood. */
  readonly digestAlgorithm: string;
  /** How the SignerInfo names its certificate (RFC 5652 §5.3). */
  readonly sid: 'issuerAndSerialNumber' | 'subjectKeyIdentifier';
  /** The parsed signer certificate, when the message carried a readable one (not for JSON output). */
  readonly certificate?: CertificateInfo;
}

const KU_SIGNING = ['digitalSignature', 'nonRepudiation'] as const;

/** Judges each signer of `v`; never throws for what the message carries. */
export function judgeSigners(v: SignedDataVerification, o: JudgeSignersOptions): SignerJudgement[] {
  return v.signers.map((signer) => {
    const reasons = [...signer.reasons];
    let code: ErrorCode | undefined = signer.valid ? undefined : (signer.code ?? 'BAD_SIGNATURE');
    let info: CertificateInfo | undefined;
    try {
      info = signer.certificate ? parseCertificate(signer.certificate) : undefined;
    } catch (e) {
      if (!SsmaxError.is(e)) throw e;
      code ??= 'MALFORMED_CERTIFICATE';
      reasons.push(`the signer certificate cannot be read: ${e.message}`);
    }
    if (!code && o.trustAnchors !== 'skip') {
      if (!info) {
        code = 'UNTRUSTED_CHAIN';
        reasons.push('the signer certificate is not in the message');
      } else {
        const crls = o.crls ?? [];
        const chain = validateChain({
          leaf: info,
          intermediates: [...v.certificates, ...(o.intermediates ?? [])],
          trustAnchors: o.trustAnchors,
          crls,
          time: o.time,
          revocation: crls.length > 0 ? 'require' : 'none',
        });
        if (!chain.valid) {
          code = chain.code ?? 'UNTRUSTED_CHAIN';
          reasons.push(...chain.reasons);
        }
      }
    }
    if (!code && info && o.purpose === 'smime') {
      // RFC 8550 §4.4.2 and §4.4.4: the extensions restrict the key only when they are present.
      const eku = info.extKeyUsage;
      if (eku !== undefined && !eku.includes(Oids.emailProtection) && !eku.includes(Oids.anyExtendedKeyUsage)) {
        code = 'CERT_USAGE';
        reasons.push(`the signer certificate's extKeyUsage (${eku.join(', ')}) does not include emailProtection (RFC 8550 §4.4.4)`);
      } else if (info.keyUsage !== undefined && !KU_SIGNING.some((u) => info!.keyUsage!.includes(u))) {
        code = 'CERT_USAGE';
        reasons.push(
          `the signer certificate's keyUsage (${info.keyUsage.join(', ') || 'none'}) has neither digitalSignature nor nonRepudiation (RFC 8550 §4.4.2)`,
        );
      }
    }
    return {
      valid: code === undefined,
      ...(code ? { code } : {}),
      reasons,
      subject: info?.subject ?? null,
      email: info?.emailAddresses[0] ?? null,
      emailAddresses: [...new Set((info?.emailAddresses ?? []).map(normaliseAddress))],
      serial: info?.serialNumber ?? null,
      identityProofing: info?.identityProofing?.method ?? null,
      traceId: info?.traceId ? Buffer.from(info.traceId).toString('hex') : null,
      signingTime: signer.signingTime?.toISOString() ?? null,
      scheme: signer.scheme ?? null,
      digestAlgorithm: signer.digestAlgorithm,
      sid: 'subjectKeyIdentifier' in signer.sid ? 'subjectKeyIdentifier' : 'issuerAndSerialNumber',
      ...(info ? { certificate: info } : {}),
    };
  });
}
