/**
 * The SSMAX certificate extensions (docs/PROTOCOL.md §3). All are non-critical: a relying party that
 * does not know SSMAX still validates the certificate as an ordinary S/MIME certificate.
 */
import { randomBytes } from 'node:crypto';
import { SsmaxError } from '../errors.js';
import { DerReader } from './der-reader.js';
import { derEncode, derEnumerated, derGeneralizedTime, derIa5String, derOctetString, derSequence, derUtf8String, type DerInput } from '../der/der-writer.js';

/** How the holder's identity was proved before the certificate was issued (SSMAX paper §3.2, §4 (2)). */
export const IdentityProofingMethods = ['none', 'employeeCardPin', 'myNumberCardPin', 'remoteVideo', 'inPersonDocument'] as const;
export type IdentityProofingMethod = (typeof IdentityProofingMethods)[number];

export interface IdentityProofing {
  readonly method: IdentityProofingMethod;
  /** When the check was made (whole seconds). */
  readonly proofedAt: Date;
  /** Who made the check (a registration desk, an officer's role); never the holder's personal data. */
  readonly proofedBy?: string;
}

const MAX_PROOFED_BY = 128;

/** DER of `SsmaxIdentityProofing` (the extnValue content). */
export function encodeIdentityProofing(p: IdentityProofing): Uint8Array {
  const code = IdentityProofingMethods.indexOf(p.method);
  if (code < 0) throw new SsmaxError('USAGE', `Cannot encode the identity-proofing extension. Unknown method "${String(p.method)}".`);
  if (p.proofedBy !== undefined && (p.proofedBy.length === 0 || p.proofedBy.length > MAX_PROOFED_BY)) {
    throw new SsmaxError('USAGE', `Cannot encode the identity-proofing extension. proofedBy must be 1..${MAX_PROOFED_BY} characters.`);
  }
  const parts: DerInput[] = [derEnumerated(code), derGeneralizedTime(p.proofedAt)];
  if (p.proofedBy !== undefined) parts.push(derUtf8String(p.proofedBy));
  return derEncode(derSequence(...parts));
}

/** Decodes `SsmaxIdentityProofing`; throws SsmaxError MALFORMED_CERTIFICATE (or MALFORMED_DER) on bad input. */
export function decodeIdentityProofing(der: Uint8Array): IdentityProofing {
  const r: DerReader = new DerReader('MALFORMED_CERTIFICATE', 'the SSMAX identity-proofing extension');
  const items = r.sequence(r.parse(der), 'SsmaxIdentityProofing');
  if (items.length < 2 || items.length > 3) r.fail(`SsmaxIdentityProofing has ${items.length} fields, expected 2 or 3`);
  const code = r.smallInt(items[0], 'method', true);
  const method = IdentityProofingMethods[code];
  if (method === undefined) r.fail(`method ${code} is not a known identity-proofing method`);
  if (!r.isUniversal(items[1]!, 24)) r.fail('proofedAt is not a GeneralizedTime');
  const proofedAt = r.time(items[1], 'proofedAt');
  if (items[2] === undefined) return { method, proofedAt };
  if (!r.isUniversal(items[2], 12)) r.fail('proofedBy is not a UTF8String');
  const proofedBy = r.string(items[2], 'proofedBy');
  if (proofedBy.length === 0 || proofedBy.length > MAX_PROOFED_BY) r.fail(`proofedBy must be 1..${MAX_PROOFED_BY} characters`);
  return { method, proofedAt, proofedBy };
}

/** Length of a trace id in bytes (docs/PROTOCOL.md §3.2). */
export const TRACE_ID_LENGTH = 16;

/**
 * A fresh pseudonymous trace id: random bytes, never derived from the employee number, so it can be
 * neither reversed nor linked across certificates; only the issuing org's sealed table resolves it.
 */
export function newTraceId(random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): Uint8Array {
  const id = random(TRACE_ID_LENGTH);
  if (id.byteLength !== TRACE_ID_LENGTH)
    throw new SsmaxError('USAGE', `Cannot make a trace id. The random source returned ${id.byteLength} bytes, expected ${TRACE_ID_LENGTH}.`);
  return id;
}

/** DER of `SsmaxTraceId` (OCTET STRING (SIZE (16))). */
export function encodeTraceId(traceId: Uint8Array): Uint8Array {
  if (traceId.byteLength !== TRACE_ID_LENGTH) {
    throw new SsmaxError('USAGE', `Cannot encode the trace id. It is ${traceId.byteLength} bytes, expected ${TRACE_ID_LENGTH}.`);
  }
  return derEncode(derOctetString(traceId));
}

export function decodeTraceId(der: Uint8Array): Uint8Array {
  const r: DerReader = new DerReader('MALFORMED_CERTIFICATE', 'the SSMAX trace-id extension');
  const id = r.octets(r.parse(der), 'SsmaxTraceId');
  if (id.byteLength !== TRACE_ID_LENGTH) r.fail(`SsmaxTraceId is ${id.byteLength} bytes, expected ${TRACE_ID_LENGTH}`);
  return id;
}

/** What kind of member an org certificate certifies (docs/PROTOCOL.md §3.3). */
export const OrgKinds = ['organisation', 'esp'] as const;
export type OrgKind = (typeof OrgKinds)[number];

export interface OrgRole {
  readonly kind: OrgKind;
  /** The org's mail domain (A-label), e.g. `example.co.jp`. */
  readonly mailDomain: string;
}

export function encodeOrgRole(role: OrgRole): Uint8Array {
  const code = OrgKinds.indexOf(role.kind);
  if (code < 0) throw new SsmaxError('USAGE', `Cannot encode the org-role extension. Unknown kind "${String(role.kind)}".`);
  if (!isDomainName(role.mailDomain))
    throw new SsmaxError('USAGE', `Cannot encode the org-role extension. "${role.mailDomain}" is not a domain name in A-label form.`);
  return derEncode(derSequence(derEnumerated(code), derIa5String(role.mailDomain.toLowerCase())));
}

export function decodeOrgRole(der: Uint8Array): OrgRole {
  const r: DerReader = new DerReader('MALFORMED_CERTIFICATE', 'the SSMAX org-role extension');
  const items = r.sequence(r.parse(der), 'SsmaxOrgRole');
  if (items.length !== 2) r.fail(`SsmaxOrgRole has ${items.length} fields, expected 2`);
  const kind = OrgKinds[r.smallInt(items[0], 'kind', true)];
  if (kind === undefined) r.fail('kind is not a known org kind');
  if (!r.isUniversal(items[1]!, 22)) r.fail('mailDomain is not an IA5String');
  const mailDomain = r.string(items[1], 'mailDomain');
  if (!isDomainName(mailDomain)) r.fail('mailDomain is not a domain name');
  return { kind, mailDomain };
}

/** LDH domain name in A-label form (RFC 5890 §2.3.1), at least two labels. */
export function isDomainName(s: string): boolean {
  return s.length <= 253 && /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$/.test(s);
}
