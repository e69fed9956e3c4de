/**
 * The organisation-side transform of docs/PROTOCOL.md §5, used at (5)+(6) by the sending org and
 * (8)+(9) by the receiving org: decrypt each file part with the KMS encryption key, inspect (org mode
 * only; ESPs never look, paper §4), re-encrypt to the next party, keep the body and manifest parts byte
 * for byte, append a signed attestation (with the identity notice and each file's SHA-256) and sign the
 * new entity with the KMS signing key.
 */
import { createHash } from 'node:crypto';
import {
  buildMultipartSigned,
  encryptContent,
  findTextBody,
  getHeader,
  makeBoundary,
  MemorySink,
  parseMimeEntity,
  protectedFileHop,
  SsmaxError,
  wholeContent,
  type MimeHeader,
  type MimePart,
  type ProtectedFileHop,
  encodePlainData,
  readPlainData,
} from '@ssmax/core';
import {
  signAttestation,
  type AttestationCheck,
  type AttestationFreshness,
  type AttestationRole,
  type IdentityNotice,
  type OrgAttestation,
} from './attestation.js';
import { type InspectionDirection, type InspectionPolicy, type InspectionVerdict } from './inspection.js';
import { inspectOffThread } from './inspection-pool.js';
import type { MalwareScanner } from './clamd.js';
import type { Kms } from './kms.js';
import { prependFields } from './trace-fields.js';
import { envelopeFor, hopProtection, protectEntity } from './header-protection.js';

export const MANIFEST_FILENAME = 'ssmax-manifest.p7m';
export const ATTESTATION_PREFIX = 'ssmax-attestation-';

/** A file part of an SSMAX mail: `X-SSMAX-File: <n>`, CMS (Auth)EnvelopedData as base64. */
export interface SsmaxFilePart {
  readonly n: number;
  readonly part: MimePart;
  readonly der: Uint8Array;
}

/** The parts of an SSMAX signed entity (multipart/mixed), by role. */
export interface SsmaxParts {
  readonly root: MimePart;
  /** The first text/plain part that is not an attachment (the description of the files). */
  readonly body: MimePart | undefined;
  readonly files: readonly SsmaxFilePart[];
  readonly manifest: MimePart | undefined;
  readonly attestations: readonly { readonly k: number; readonly part: MimePart }[];
  /** Anything else (kept, in order, after the files). */
  readonly other: readonly MimePart[];
}

/** Sorts the parts of a signed entity into body, files, manifest and attestations. Throws MALFORMED_MIME. */
export function classifyParts(entity: Uint8Array): SsmaxParts {
  const root = parseMimeEntity(entity);
  const leaves = root.parts.length > 0 ? root.parts : [root];
  let body: MimePart | undefined;
  const files: SsmaxFilePart[] = [];
  const attestations: { k: number; part: MimePart }[] = [];
  const other: MimePart[] = [];
  let manifest: MimePart | undefined;
  for (const p of leaves) {
    const fileIdx = getHeader(p.headers, 'X-SSMAX-File');
    const name = p.filename ?? p.contentType.params['name'] ?? '';
    if (fileIdx !== undefined && /^\s*\d{1,4}\s*$/.test(fileIdx)) files.push({ n: Number(fileIdx), part: p, der: p.body });
    else if (name === MANIFEST_FILENAME && manifest === undefined) manifest = p;
    else if (name.startsWith(ATTESTATION_PREFIX)) attestations.push({ k: Number(name.slice(ATTESTATION_PREFIX.length).replace(/\.p7m$/, '')) || 0, part: p });
    else if (body === undefined && p.contentType.mediaType === 'text/plain' && p.disposition?.mediaType !== 'attachment') body = p;
    else other.push(p);
  }
  return { root, body, files, manifest, attestations, other };
}

/** What a part looks like in a refusal: "part 3 (text/csv, customers.csv)". */
function describePart(p: MimePart, i: number): string {
  const name = p.filename ?? p.contentType.params['name'];
  return `part ${i + 1} (${p.contentType.mediaType}${name ? `, ${name.slice(0, 80)}` : ''})`;
}

/**
 * Why an entity is not an SSMAX entity (docs/PROTOCOL.md §4, §5), or undefined when it is one: a
 * multipart/mixed of exactly one text/plain body, file parts (application/pkcs7-mime, each index once),
 * at most one manifest and the attestations `attestations` allows (none from a user at (4); hops 1..k in
 * order at (7) and (10)). A part in no role — a second text, a plain attachment, a nested multipart, a
 * message/rfc822 — would pass (5), (8) and the non-member rule unseen, so it is refused, not carried
 * (issue 10 item 2).
 */
export function structureProblem(parts: SsmaxParts, o: { readonly attestations: 'none' | 'in-order' }): string | undefined {
  const { root } = parts;
  if (root.contentType.mediaType !== 'multipart/mixed') return `the signed entity is ${root.contentType.mediaType}, not multipart/mixed`;
  const roles = new Set<MimePart>([
    ...(parts.body ? [parts.body] : []),
    ...parts.files.map((f) => f.part),
    ...(parts.manifest ? [parts.manifest] : []),
    ...parts.attestations.map((a) => a.part),
  ]);
  const stray = root.parts.findIndex((p) => !roles.has(p));
  if (stray >= 0) return `${describePart(root.parts[stray]!, stray)} is none of body, file, manifest or attestation`;
  if (!parts.body) return 'there is no text/plain body';
  const pkcs7 = (p: MimePart): boolean => /^application\/(x-)?pkcs7-mime$/.test(p.contentType.mediaType);
  const seen = new Set<number>();
  for (const f of parts.files) {
    if (!pkcs7(f.part)) return `file ${f.n} is ${f.part.contentType.mediaType}, not an encrypted file part`;
    if (seen.has(f.n)) return `file index ${f.n} appears twice`;
    seen.add(f.n);
  }
  if (parts.manifest && !pkcs7(parts.manifest)) return `the manifest part is ${parts.manifest.contentType.mediaType}, not CMS`;
  if (o.attestations === 'none' && parts.attestations.length > 0) return 'a user mail carries an organisation attestation part';
  const ks = parts.attestations.map((a) => a.k);
  if (o.attestations === 'in-order' && ks.some((k, i) => k !== i + 1)) return `the attestation parts are hops ${ks.join(', ')}, not 1..${ks.length} in order`;
  for (const a of parts.attestations) if (!pkcs7(a.part)) return `attestation ${a.k} is ${a.part.contentType.mediaType}, not CMS`;
  return undefined;
}

/**
 * Every leaf of the parts in no SSMAX role (nested multiparts and attached messages opened), as the
 * inspection server sees a file: where (4) or (7) is switched off such parts reach (5) and (8), and
 * inspection must see them too.
 */
export function leavesOutsideRoles(parts: SsmaxParts): { name: string; contentType: string; bytes: Uint8Array }[] {
  const out: { name: string; contentType: string; bytes: Uint8Array }[] = [];
  const walk = (p: MimePart, path: string, depth: number): void => {
    if (p.parts.length > 0) {
      p.parts.forEach((c, i) => walk(c, `${path}/${i + 1}`, depth));
      return;
    }
    if (p.contentType.mediaType === 'message/rfc822' && depth < 8) {
      try {
        walk(parseMimeEntity(p.body), `${path}/message`, depth + 1);
        return;
      } catch {
        // Not a parseable message: inspected as the bytes it is.
      }
    }
    out.push({ name: p.filename ?? p.contentType.params['name'] ?? path, contentType: p.contentType.mediaType, bytes: p.body });
  };
  parts.other.forEach((p, i) => walk(p, `part-${i + 1}`, 0));
  return out;
}

/** One base64 body with 76-character lines (RFC 2045 §6.8). */
function base64Lines(der: Uint8Array): string {
  return (
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
}

/** A file part as docs/PROTOCOL.md §4 describes it. */
export function buildFilePart(n: number, der: Uint8Array): Uint8Array {
  return new TextEncoder().encode(
    `Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="${n}.p7m"\r\n` +
      'Content-Transfer-Encoding: base64\r\n' +
      `Content-Disposition: attachment; filename="${n}.p7m"\r\n` +
      `X-SSMAX-File: ${n}\r\n\r\n` +
      base64Lines(der),
  );
}

/** An attestation part (§2): SignedData with the attestation JSON, named ssmax-attestation-<k>.p7m. */
export function buildAttestationPart(k: number, der: Uint8Array): Uint8Array {
  const name = `${ATTESTATION_PREFIX}${k}.p7m`;
  return new TextEncoder().encode(
    `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="${name}"\r\n` +
      'Content-Transfer-Encoding: base64\r\n' +
      `Content-Disposition: attachment; filename="${name}"\r\n\r\n` +
      base64Lines(der),
  );
}

/** multipart/mixed around already-canonical body parts (RFC 2046 §5.1.1), each kept byte for byte. */
export function assembleMixed(parts: readonly Uint8Array[], random?: (n: number) => Uint8Array): Uint8Array {
  let boundary = makeBoundary(random);
  const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
  while (all.includes(`--${boundary}`, 0, 'latin1')) boundary = makeBoundary(random);
  const chunks: (string | Uint8Array)[] = [`Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`];
  for (const p of parts) chunks.push(`--${boundary}\r\n`, p, '\r\n');
  chunks.push(`--${boundary}--\r\n`);
  return new Uint8Array(
    Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : Buffer.from(c.buffer, c.byteOffset, c.byteLength)))),
  );
}

/** Header fields carried from one hop's outer message to the next (the rest are the transport's). */
const CARRIED = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'reply-to', 'in-reply-to', 'references'];

export interface OrgHopOptions {
  readonly kms: Kms;
  readonly mode: 'org' | 'esp';
  /** outbound: (5)+(6); inbound: (8)+(9). */
  readonly direction: InspectionDirection;
  /** The signed entity (multipart/mixed) as verified. */
  readonly entity: Uint8Array;
  /** The outer header fields of the arriving message. */
  readonly headers: readonly MimeHeader[];
  /** DER certificates to re-encrypt the files to (receiving org's KMS encryption certificate, or the recipient's). */
  readonly recipients: readonly Uint8Array[];
  readonly org: string;
  readonly domain: string;
  readonly hop: number;
  readonly messageId: string;
  readonly checks: readonly AttestationCheck[];
  readonly identityNotice: IdentityNotice;
  readonly orgCrl?: Uint8Array;
  /** ssmax-plus addition 3: bound into the attestation (plus.ts `freshnessFor`). */
  readonly freshness?: AttestationFreshness;
  readonly policy?: Partial<InspectionPolicy>;
  /** Outbound: the recipient domain is a registry member (DLP rules scoped to non-members skip it). */
  readonly recipientMember?: boolean;
  /** Run inspection (default true in org mode, false in ESP mode). */
  readonly inspect?: boolean;
  /** The malware engine of inbound inspection (clamd.ts); without it inbound inspection runs our own rules only. */
  readonly malwareScanner?: MalwareScanner;
  readonly clock: () => Date;
  readonly extraHeaders?: readonly MimeHeader[];
  /**
   * The arriving message's Received fields, raw (trace-fields.ts `receivedFieldsOf`): they stay on top of the rebuilt
   * message, outside the signed entity, so the hops before this one remain on record (RFC 5321 §4.4).
   */
  readonly trace?: Uint8Array;
  /** Files in the clear (id-data) in and out: the file-encryption defence switched off (falsifiability runs only). */
  readonly plainFiles?: boolean;
  /** The per-file hop; default {@link orgFileHop}. A test passes a wrapper to watch what each file part goes through. */
  readonly fileHop?: ProtectedFileHop;
  /**
   * ssmax-plus addition 2 (header-protection.ts): the new entity carries the protected header fields (RFC 9788,
   * hp="cipher") and the message leaves enveloped to `recipients` under hcp_baseline outer fields. No effect
   * without recipients (a non-member): nobody could open the envelope.
   */
  readonly headerProtection?: boolean;
  /** The outer header fields as the envelope arrived (header-protection.ts `openForOrg`), carried as they are. */
  readonly arrivedOuter?: readonly MimeHeader[];
}

export interface OrgHopFile {
  readonly n: number;
  readonly name: string;
  readonly contentType: string;
  readonly sha256: string;
  readonly size: number;
}

export type OrgHopResult =
  | {
      readonly blocked: false;
      readonly message: Uint8Array;
      readonly verdict: InspectionVerdict;
      readonly files: readonly OrgHopFile[];
      readonly attestation: OrgAttestation;
      readonly inspected: boolean;
    }
  | { readonly blocked: true; readonly verdict: InspectionVerdict; readonly files: readonly OrgHopFile[]; readonly inspected: boolean };

function role(mode: 'org' | 'esp', direction: InspectionDirection): AttestationRole {
  return `${direction === 'outbound' ? 'sending' : 'receiving'}-${mode}` as AttestationRole;
}

/**
 * What an organisation runs for each protected file at (5)+(6) and (8)+(9): core's one hop, the very
 * function the bench times (bench/src/org-hop.ts). An SSMAX file part is carried content (a MIME entity
 * under the organisation's encryption certificate); the signatures are the mail's, made and checked
 * around it, so no signed-content layer is asked for.
 */
export const orgFileHop: ProtectedFileHop = protectedFileHop;

/**
 * (6)/(9) for one file part: the KMS encryption key decrypts it and `fileHop` re-encrypts it to
 * `recipients` in one pass. The file's plaintext is handed out for the mail's inspection only once the
 * part authenticated (the GCM tag checked): the inspection of (5)/(8) sees all files and the body
 * together, so the re-encrypted part is kept until its verdict and dropped if it blocks.
 */
async function reencryptFilePart(
  fileHop: ProtectedFileHop,
  kms: Kms,
  der: Uint8Array,
  recipients: readonly Uint8Array[],
): Promise<{ entity: Uint8Array; sealed: Uint8Array }> {
  let entity: Uint8Array | undefined;
  const sink = new MemorySink();
  const r = await fileHop([der], sink, {
    key: kms.encryptionKey,
    certificate: kms.certificates.encryption,
    recipients,
    inspect: wholeContent((content) => {
      entity = content;
      return { allow: true, reasons: [] };
    }),
  });
  if (!r.committed || !entity) throw new SsmaxError('INTERNAL', 'Cannot re-encrypt the file part. The hop kept no output.');
  return { entity, sealed: sink.result() };
}

/** Opens a file part with the KMS; a plaintext id-data part is read only where `plainAllowed` (file encryption switched off). */
export async function openFilePart(kms: Kms, der: Uint8Array, plainAllowed: boolean): Promise<Uint8Array> {
  const plain = plainAllowed ? readPlainData(der) : undefined;
  return plain ?? (await kms.decrypt(der)).content;
}

/** Encrypts a file entity to `recipients`, or wraps it as id-data in the clear when `plain` (file encryption switched off). */
export async function sealFilePart(entity: Uint8Array, recipients: readonly Uint8Array[], plain: boolean): Promise<Uint8Array> {
  return plain ? encodePlainData(entity) : encryptContent(entity, { recipients });
}

/**
 * Decrypts, inspects, re-encrypts and re-signs one message. Hostile input throws SsmaxError
 * (MALFORMED_MIME / MALFORMED_CMS / DECRYPTION_FAILED …) for the caller's reply table; an inspection
 * block is returned as data.
 */
export async function orgHop(o: OrgHopOptions): Promise<OrgHopResult> {
  const parts = classifyParts(o.entity);
  const plainFiles = o.plainFiles === true;
  const fileHop = o.fileHop ?? orgFileHop;
  const decrypted: { n: number; entity: Uint8Array; part: MimePart; sealed: Uint8Array | undefined }[] = [];
  for (const f of parts.files) {
    // With file encryption switched off there is nothing to re-encrypt: the file is read as it came and sealed in the clear.
    const { entity, sealed } = plainFiles
      ? { entity: await openFilePart(o.kms, f.der, true), sealed: undefined }
      : await reencryptFilePart(fileHop, o.kms, f.der, o.recipients);
    decrypted.push({ n: f.n, entity, part: parseMimeEntity(entity), sealed });
  }
  const files: OrgHopFile[] = decrypted.map((d) => ({
    n: d.n,
    name: d.part.filename ?? `${d.n}`,
    contentType: d.part.contentType.mediaType,
    // The manifest's sha256 is over the decoded file content (docs/PROTOCOL.md §7).
    sha256: createHash('sha256').update(d.part.body).digest('hex'),
    size: d.part.body.byteLength,
  }));
  const doInspect = o.inspect ?? o.mode === 'org';
  const bodyText = parts.body ? (findTextBody(parts.body) ?? '') : '';
  const verdict: InspectionVerdict = doInspect
    ? await inspectOffThread(
        o.direction,
        [
          ...decrypted.map((d) => ({ name: d.part.filename ?? `${d.n}`, contentType: d.part.contentType.mediaType, bytes: d.part.body })),
          ...leavesOutsideRoles(parts),
        ],
        bodyText,
        o.policy,
        o.recipientMember !== undefined ? { recipientMember: o.recipientMember } : {},
        o.malwareScanner ? { scanner: o.malwareScanner } : {},
      )
    : { action: 'allow', reasons: [] };
  if (verdict.action === 'block') return { blocked: true, verdict, files, inspected: doInspect };

  const reencrypted: Uint8Array[] = [];
  for (const d of decrypted) reencrypted.push(buildFilePart(d.n, d.sealed ?? (await sealFilePart(d.entity, o.recipients, plainFiles))));

  const attestation: OrgAttestation = {
    v: 1,
    type: 'ssmax-attestation',
    hop: o.hop,
    org: o.org,
    domain: o.domain,
    role: role(o.mode, o.direction),
    messageId: o.messageId,
    at: o.clock().toISOString(),
    checks: o.checks,
    inspection: doInspect
      ? {
          performed: true,
          kind: o.direction === 'outbound' ? 'dlp' : 'malware',
          verdict: verdict.action,
          reasons: verdict.reasons.map((r) => `${r.rule}: ${r.detail}${r.file ? ` (${r.file})` : ''}`),
        }
      : { performed: false, kind: 'none', verdict: 'allow', reasons: [] },
    identityNotice: o.identityNotice,
    files: files.map((f) => ({ n: f.n, sha256: f.sha256, action: 're-encrypted' as const })),
    ...(o.orgCrl ? { orgCrl: Buffer.from(o.orgCrl).toString('base64') } : {}),
    ...(o.freshness ? { freshness: o.freshness } : {}),
  };
  const c = o.kms.certificates;
  const attDer = await signAttestation(attestation, { key: o.kms.signingKey, certificate: c.signing, chain: [c.org] }, o.clock());

  const newParts: Uint8Array[] = [];
  if (parts.body) newParts.push(parts.body.raw);
  newParts.push(...reencrypted);
  for (const p of parts.other) newParts.push(p.raw);
  if (parts.manifest) newParts.push(parts.manifest.raw);
  for (const a of parts.attestations) newParts.push(a.part.raw);
  newParts.push(buildAttestationPart(o.hop, attDer));
  const hp = o.headerProtection === true && o.recipients.length > 0 ? hopProtection(o.entity, o.headers, o.arrivedOuter) : undefined;
  const entity = hp ? protectEntity(assembleMixed(newParts), hp) : assembleMixed(newParts);
  const signature = await o.kms.signDetached(entity, o.clock());
  const carried = o.headers.filter((h) => CARRIED.includes(h.name.toLowerCase()));
  const transport = [{ name: 'X-SSMAX-Hop', value: String(o.hop) }, ...(o.extraHeaders ?? [])];
  const built = hp
    ? await envelopeFor(buildMultipartSigned(entity, signature), o.recipients, hp, transport)
    : buildMultipartSigned(entity, signature, { headers: { extra: [...carried, ...transport] } });
  const message = o.trace && o.trace.byteLength > 0 ? prependFields(o.trace, built) : built;
  return { blocked: false, message, verdict, files, attestation, inspected: doInspect };
}

/** Message-ID of a header list, with angle brackets, or "". */
export function messageIdOf(headers: readonly MimeHeader[]): string {
  const v = getHeader(headers, 'Message-ID')?.trim() ?? '';
  return v.slice(0, 998);
}
