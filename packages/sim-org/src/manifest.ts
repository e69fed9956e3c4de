/**
 * The end-to-end sender manifest (docs/PROTOCOL.md §7): canonical JSON naming the outer headers,
 * the SHA-256 of the body text and of each plaintext file, signed on the sender's card as CMS SignedData
 * (RFC 5652 §5, attached, eContentType id-ssmax-ct-manifest). Organisations carry it byte for byte; the
 * recipient checks it against what arrived, so a hop that swaps or alters a file, the body or a header
 * is caught even if it holds a valid org key.
 */
import { createHash } from 'node:crypto';
import {
  SsmaxError,
  SsmaxOids,
  normaliseAddress,
  parseCertificate,
  signSignedData,
  validateChain,
  verifySignedData,
  type CertificateInfo,
  type PrivateKeyOps,
} from '@ssmax/core';
import { canonicalJson } from './attestation.js';
import { documentCheck } from './json-schema.js';

export interface ManifestFile {
  readonly n: number;
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  /** Hex SHA-256 of the decoded file content. */
  readonly sha256: string;
}

export interface Manifest {
  readonly v: 1;
  readonly type: 'ssmax-manifest';
  /** With angle brackets, as in the Message-ID header. */
  readonly messageId: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly subject: string;
  /** The Date header value, verbatim. */
  readonly date: string;
  /** Hex SHA-256 of the decoded text/plain body (the bytes after Content-Transfer-Encoding decoding, CRLF lines). */
  readonly bodySha256: string;
  readonly files: readonly ManifestFile[];
}

/** What arrived, to compare the manifest with. */
export interface ManifestExpectation {
  readonly messageId: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly subject: string;
  readonly date: string;
  /** Decoded body bytes. */
  readonly body: Uint8Array;
  /** Files as decrypted at the recipient: n → SHA-256 hex and name. Files absent here were not received. */
  readonly files: readonly { readonly n: number; readonly name: string; readonly sha256: string }[];
  /** Files an org attested it dropped (not an error when absent). */
  readonly droppedFiles?: readonly number[];
}

export interface ManifestVerification {
  readonly valid: boolean;
  readonly manifest?: Manifest;
  readonly signerCertificate?: CertificateInfo;
  /** Per file n: the received file matches the manifest. */
  readonly fileOk: ReadonlyMap<number, boolean>;
  readonly problems: readonly string[];
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** core's {@link normaliseAddress} (RFC 5321 §2.4: only the domain is case-insensitive), the one every service compares with. */
export { normaliseAddress };

const sortedAddresses = (l: readonly string[]): string[] => [...l].map(normaliseAddress).sort();

/** The manifest's exact signed bytes: canonical JSON (keys sorted, no whitespace), UTF-8. */
export function encodeManifest(m: Manifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson({ ...m, to: sortedAddresses(m.to), cc: sortedAddresses(m.cc), from: normaliseAddress(m.from) }));
}

/** Signs the manifest with the card key; the org CA certificate goes along so the path can be built. */
export async function signManifest(
  m: Manifest,
  signer: { readonly key: PrivateKeyOps; readonly certificate: Uint8Array; readonly chain?: readonly Uint8Array[] },
  signingTime?: Date,
): Promise<Uint8Array> {
  return signSignedData(encodeManifest(m), {
    key: signer.key,
    certificate: signer.certificate,
    contentType: SsmaxOids.ctManifest,
    ...(signer.chain ? { chain: signer.chain } : {}),
    ...(signingTime ? { signingTime } : {}),
  });
}

export interface VerifyManifestOptions {
  /** Trust anchors for the sender's certificate: the registry root. */
  readonly trustAnchors: readonly Uint8Array[];
  /** CRLs of the sending org (e.g. stapled in its attestation); revocation is checked when given. */
  readonly crls?: readonly Uint8Array[];
  readonly time: Date;
  readonly expected: ManifestExpectation;
  /** The signer certificate must name the From address (default true; false only in falsifiability runs). */
  readonly fromSignerBinding?: boolean;
}

const addressList = { type: 'array', maxItems: 1024, items: { type: 'string', maxLength: 998 } } as const;

/** The manifest as JSON Schema (draft 2020-12; docs/PROTOCOL.md §7), checked before any field is read. */
export const MANIFEST_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://ssmax.example/schemas/manifest-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'type', 'messageId', 'from', 'to', 'cc', 'subject', 'date', 'bodySha256', 'files'],
  properties: {
    v: { const: 1 },
    type: { const: 'ssmax-manifest' },
    messageId: { type: 'string', maxLength: 998 },
    from: { type: 'string', maxLength: 998 },
    to: addressList,
    cc: addressList,
    subject: { type: 'string', maxLength: 65536 },
    date: { type: 'string', maxLength: 998 },
    bodySha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    files: {
      type: 'array',
      maxItems: 1024,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['n', 'name', 'contentType', 'size', 'sha256'],
        properties: {
          n: { type: 'integer', minimum: 1, maximum: 1024 },
          name: { type: 'string', maxLength: 1024 },
          contentType: { type: 'string', maxLength: 256 },
          size: { type: 'integer', minimum: 0 },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        },
      },
    },
  },
} as const;

const checkManifest = documentCheck<Manifest>(MANIFEST_SCHEMA);

function parseManifest(bytes: Uint8Array): Manifest | string {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return 'the manifest is not UTF-8 JSON';
  }
  const checked = checkManifest(v);
  return checked.ok ? checked.value : `the manifest does not match its schema (${checked.reason})`;
}

/**
 * Verifies the manifest SignedData (signature, eContentType, signer chain to the registry root, signer
 * address = From) and compares it with what arrived. Never throws on hostile input: problems are data.
 */
export function verifyManifest(der: Uint8Array, o: VerifyManifestOptions): ManifestVerification {
  const problems: string[] = [];
  const fileOk = new Map<number, boolean>();
  const fail = (p: string): ManifestVerification => ({ valid: false, fileOk, problems: [...problems, p] });
  let v;
  try {
    v = verifySignedData(der);
  } catch (e) {
    return fail(`the manifest is not valid CMS (${e instanceof SsmaxError ? e.code : 'error'})`);
  }
  const signer = v.signers[0];
  if (v.signers.length !== 1 || !signer?.valid || !signer.certificate)
    return fail(`the manifest signature does not verify${signer?.code ? ` (${signer.code})` : ''}`);
  if (v.contentType !== SsmaxOids.ctManifest) problems.push('the manifest SignedData is not of content type id-ssmax-ct-manifest');
  if (!v.content) return fail('the manifest SignedData carries no content');
  let cert: CertificateInfo;
  try {
    cert = parseCertificate(signer.certificate);
  } catch (e) {
    return fail(`the manifest signer's certificate is malformed (${e instanceof SsmaxError ? e.code : 'error'})`);
  }
  const chain = validateChain({
    leaf: cert,
    intermediates: v.certificates,
    trustAnchors: o.trustAnchors,
    time: o.time,
    revocation: o.crls && o.crls.length > 0 ? 'ifAvailable' : 'none',
    ...(o.crls ? { crls: o.crls } : {}),
    requiredExtKeyUsage: '1.3.6.1.5.5.7.3.4',
    requiredKeyUsage: ['digitalSignature'],
  });
  if (!chain.valid) problems.push(`the manifest signer's certificate is not trusted (${chain.code}: ${chain.reasons[0] ?? ''})`);
  if (cert.identityProofing === undefined) problems.push("the manifest signer's certificate is not an SSMAX card certificate (no identity-proofing extension)");
  const parsed = parseManifest(v.content);
  if (typeof parsed === 'string') return { valid: false, fileOk, signerCertificate: cert, problems: [...problems, parsed] };
  const m = parsed;
  const e = o.expected;
  const from = normaliseAddress(e.from);
  if (o.fromSignerBinding !== false && !cert.emailAddresses.map(normaliseAddress).includes(from))
    problems.push(`the manifest is signed by ${cert.emailAddresses.join(', ')}, not by the From address ${from}`);
  if (normaliseAddress(m.from) !== from) problems.push(`the manifest names sender ${m.from}, the mail says ${e.from}`);
  if (m.messageId !== e.messageId) problems.push('the Message-ID differs from the manifest');
  if (m.subject !== e.subject) problems.push('the Subject differs from the manifest');
  if (m.date !== e.date) problems.push('the Date differs from the manifest');
  if (sortedAddresses(m.to).join(',') !== sortedAddresses(e.to).join(',')) problems.push('the To addresses differ from the manifest');
  if (sortedAddresses(m.cc).join(',') !== sortedAddresses(e.cc).join(',')) problems.push('the Cc addresses differ from the manifest');
  if (m.bodySha256 !== sha256Hex(e.body)) problems.push('the body text differs from the manifest');
  const dropped = new Set(e.droppedFiles ?? []);
  for (const f of m.files) {
    const got = e.files.find((x) => x.n === f.n);
    if (!got) {
      if (!dropped.has(f.n)) problems.push(`file ${f.n} (${f.name}) of the manifest did not arrive`);
      continue;
    }
    const ok = got.sha256 === f.sha256 && got.name === f.name;
    fileOk.set(f.n, ok);
    if (!ok) problems.push(`file ${f.n} (${got.name}) differs from what the sender signed`);
  }
  for (const got of e.files) {
    if (!m.files.some((f) => f.n === got.n)) {
      fileOk.set(got.n, false);
      problems.push(`file ${got.n} (${got.name}) is not in the sender's manifest`);
    }
  }
  return { valid: problems.length === 0, manifest: m, signerCertificate: cert, fileOk, problems };
}
