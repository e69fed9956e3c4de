/**
 * The organisation attestation (docs/PROTOCOL.md §8): a JSON document saying what an org
 * checked and did with a message, signed (CMS SignedData, RFC 5652 §5, content attached) by the org's
 * KMS signing key. It travels as an application/pkcs7-mime part and is never rewritten by later hops.
 */
import { canonicalJson, SsmaxError, signSignedData, verifySignedData, type PrivateKeyOps, type SignerVerification } from '@ssmax/core';
import { documentCheck } from './json-schema.js';

export type AttestationRole = 'sending-org' | 'receiving-org' | 'sending-esp' | 'receiving-esp';

export interface AttestationCheck {
  readonly name: string;
  readonly result: 'pass' | 'fail' | 'skip';
  readonly detail?: string;
}

/** Per-message identity-proofing notice (paper §3.2): how the sender was identified and that card + PIN signed this mail. */
export interface IdentityNotice {
  readonly sender: string;
  /** Hex serial of the user certificate that signed the mail at (3). */
  readonly certSerial: string;
  /** Hex pseudonymous trace id from the certificate (SSMAX extension). */
  readonly traceId: string;
  /** core IdentityProofingMethod, e.g. employeeCardPin. */
  readonly proofing: string;
  readonly proofedAt: string;
  /** The signature was made on the card, which requires its PIN. */
  readonly cardAndPinUsed: boolean;
  /** The user certificate (DER base64), so the receiving org can check it against {@link OrgAttestation.orgCrl}. */
  readonly certificate?: string;
}

export interface AttestedFile {
  readonly n: number;
  /** SHA-256 hex of the plaintext file entity as decrypted at this hop. */
  readonly sha256: string;
  readonly action: 're-encrypted' | 'dropped';
}

/**
 * Freshness (ssmax-plus addition 3): what the attesting hop binds besides the Message-ID, so a copy
 * cannot be replayed later or to someone else (docs/PROTOCOL.md "ssmax-plus").
 */
export interface AttestationFreshness {
  /** The message's Date field as submitted. */
  readonly date: string;
  /** The envelope recipients of this hop's transmission, lower-case, sorted. */
  readonly rcptTo: readonly string[];
  /** The validity window (ISO 8601): a receiver refuses the mail outside it. */
  readonly notBefore: string;
  readonly notAfter: string;
}

export interface OrgAttestation {
  readonly v: 1;
  readonly type: 'ssmax-attestation';
  readonly hop: number;
  readonly org: string;
  readonly domain: string;
  readonly role: AttestationRole;
  readonly messageId: string;
  readonly at: string;
  readonly checks: readonly AttestationCheck[];
  readonly inspection: {
    readonly performed: boolean;
    readonly kind: 'dlp' | 'malware' | 'none';
    readonly verdict: 'allow' | 'flag' | 'block';
    readonly reasons: readonly string[];
  };
  readonly identityNotice: IdentityNotice;
  readonly files: readonly AttestedFile[];
  /**
   * The sending org's current user CRL (DER base64, signed by its org CA), stapled so the receiving
   * org can check the sender's certificate for revocation at (7) without another round trip.
   */
  readonly orgCrl?: string;
  /** ssmax-plus addition 3; absent in the SSMAX of the paper. */
  readonly freshness?: AttestationFreshness;
}

const text = (maxLength: number) => ({ type: 'string', maxLength }) as const;
const ROLES: readonly AttestationRole[] = ['sending-org', 'receiving-org', 'sending-esp', 'receiving-esp'];

/**
 * The attestation as JSON Schema (draft 2020-12; docs/PROTOCOL.md §8), checked before any field is read.
 * Strings may be empty (a relaying hop that checked nothing writes empty serials) but must be strings;
 * bounded so a document cannot carry megabytes of "detail".
 */
export const ATTESTATION_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://ssmax.example/schemas/attestation-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'type', 'hop', 'org', 'domain', 'role', 'messageId', 'at', 'checks', 'inspection', 'identityNotice', 'files'],
  properties: {
    v: { const: 1 },
    type: { const: 'ssmax-attestation' },
    hop: { type: 'integer', minimum: 1, maximum: 64 },
    org: text(256),
    domain: text(253),
    role: { enum: ROLES },
    messageId: text(998),
    at: text(64),
    checks: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'result'],
        properties: { name: text(128), result: { enum: ['pass', 'fail', 'skip'] }, detail: text(4096) },
      },
    },
    inspection: {
      type: 'object',
      additionalProperties: false,
      required: ['performed', 'kind', 'verdict', 'reasons'],
      properties: {
        performed: { type: 'boolean' },
        kind: { enum: ['dlp', 'malware', 'none'] },
        verdict: { enum: ['allow', 'flag', 'block'] },
        reasons: { type: 'array', maxItems: 256, items: text(4096) },
      },
    },
    identityNotice: {
      type: 'object',
      additionalProperties: false,
      required: ['sender', 'certSerial', 'traceId', 'proofing', 'proofedAt', 'cardAndPinUsed'],
      properties: {
        sender: text(998),
        certSerial: { type: 'string', pattern: '^[0-9A-Fa-f]{0,64}$' },
        traceId: { type: 'string', pattern: '^[0-9A-Fa-f]{0,64}$' },
        proofing: text(64),
        proofedAt: text(64),
        cardAndPinUsed: { type: 'boolean' },
        certificate: { type: 'string', maxLength: 65536, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
      },
    },
    files: {
      type: 'array',
      maxItems: 1024,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['n', 'sha256', 'action'],
        properties: {
          n: { type: 'integer', minimum: 1, maximum: 1024 },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          action: { enum: ['re-encrypted', 'dropped'] },
        },
      },
    },
    orgCrl: { type: 'string', maxLength: 4194304, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
    freshness: {
      type: 'object',
      additionalProperties: false,
      required: ['date', 'rcptTo', 'notBefore', 'notAfter'],
      properties: {
        date: text(998),
        rcptTo: { type: 'array', maxItems: 1000, items: text(998) },
        notBefore: text(64),
        notAfter: text(64),
      },
    },
  },
} as const;

const checkAttestation = documentCheck<OrgAttestation>(ATTESTATION_SCHEMA);

/** Canonical JSON now lives in core; re-exported for this package's callers. */
export { canonicalJson };

/** Signs an attestation with the org KMS signing key; returns the DER ContentInfo(SignedData). */
export async function signAttestation(
  attestation: OrgAttestation,
  signer: { readonly key: PrivateKeyOps; readonly certificate: Uint8Array; readonly chain?: readonly Uint8Array[] },
  signingTime?: Date,
): Promise<Uint8Array> {
  return signSignedData(new TextEncoder().encode(canonicalJson(attestation)), {
    key: signer.key,
    certificate: signer.certificate,
    ...(signer.chain ? { chain: signer.chain } : {}),
    ...(signingTime ? { signingTime } : {}),
  });
}

export type AttestationVerdict =
  | { readonly valid: true; readonly attestation: OrgAttestation; readonly signerCertificate: Uint8Array; readonly certificates: readonly Uint8Array[] }
  | { readonly valid: false; readonly code: string; readonly reason: string };

/**
 * Verifies the CMS signature of an attestation, parses its JSON and checks it against
 * {@link ATTESTATION_SCHEMA}, so every field has the type its interface says. The caller still validates the
 * signer certificate's chain (root → org CA → KMS signing) and that it belongs to `attestation.org`.
 * Never throws for hostile input: a broken attestation is a verdict.
 */
export function verifyAttestation(der: Uint8Array): AttestationVerdict {
  let v;
  try {
    v = verifySignedData(der);
  } catch (e) {
    return { valid: false, code: e instanceof SsmaxError ? e.code : 'MALFORMED_CMS', reason: (e as Error).message };
  }
  const signer: SignerVerification | undefined = v.signers[0];
  if (v.signers.length !== 1 || !signer) return { valid: false, code: 'MALFORMED_CMS', reason: 'An attestation must have exactly one signer.' };
  if (!signer.valid || !signer.certificate)
    return { valid: false, code: signer.code ?? 'BAD_SIGNATURE', reason: signer.reasons.join('; ') || 'The signer certificate is missing.' };
  if (!v.content) return { valid: false, code: 'MALFORMED_CMS', reason: 'The attestation SignedData carries no content.' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(v.content));
  } catch {
    return { valid: false, code: 'MALFORMED_CMS', reason: 'The attestation content is not UTF-8 JSON.' };
  }
  const checked = checkAttestation(parsed);
  if (!checked.ok) return { valid: false, code: 'MALFORMED_CMS', reason: `The attestation JSON does not match its schema (${checked.reason}).` };
  return { valid: true, attestation: checked.value, signerCertificate: signer.certificate, certificates: v.certificates };
}
