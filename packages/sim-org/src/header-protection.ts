/**
 * ssmax-plus addition 2 (issue 15, docs/PROTOCOL.md "Header protection"): the whole inner message travels
 * inside the chain of encryption. Between two parties the mail is application/pkcs7-mime authEnveloped-data
 * (RFC 8551 §3.4) to the next key (the sender's org KMS, the receiving org's KMS, the recipient's card);
 * inside is the SSMAX multipart/signed whose signed entity carries the real header fields, injected per
 * RFC 9788 §2.1 with hp="cipher" and HP-Outer records. Outside stand only the hcp_baseline fields (Subject
 * `[...]`) and the transport's. Every service that verifies opens the envelope first and reads the message
 * underneath as before, so (4), (5), (7), (8) and (10) see what they saw in ssmax-org; the spools keep the
 * envelope.
 */
import {
  SsmaxError,
  getHeader,
  injectProtectedHeaders,
  isEnvelopedMessage,
  parseSmime,
  openHeaderProtected,
  outerHeadersFor,
  readProtectedHeaders,
  wrapHeaderProtected,
  type MimeHeader,
  type OpenedHeaderProtected,
  type OuterHeaderDifference,
} from '@ssmax/core';
import type { Kms } from './kms.js';
import type { OrgProfile } from './org-context.js';

/** Whether this org runs addition 2 (ssmax-plus `headerProtection`). */
export function headerProtectionOn(ctx: { readonly profile: Pick<OrgProfile, 'plus'> }): boolean {
  return ctx.profile.plus?.headerProtection === true;
}

/** What an org service reads: the message under the envelope, or the raw message when it came without one. */
export type OrgOpened =
  | { readonly ok: true; readonly message: Uint8Array; readonly opened?: OpenedHeaderProtected }
  | {
      readonly ok: false;
      readonly code: 'MALFORMED_CMS' | 'MALFORMED_MIME';
      readonly detail: string;
      /** The outer Message-ID (hcp_baseline keeps it outside), for the journal; "" when absent. */
      readonly messageId: string;
    };

/**
 * Opens a header-protected mail with the org's KMS encryption key (the envelope is for this org): any envelope
 * a user submits (`from` 'user'), an org hop's envelope from a peer ('peer'). A mail without an envelope, or an
 * org without the addition, is read as it came. A failure is data for the
 * reply table, never an exception: hostile input is refused in the session.
 */
export async function openForOrg(
  ctx: { readonly kms: Kms; readonly profile: Pick<OrgProfile, 'plus'> },
  raw: Uint8Array,
  from: 'user' | 'peer' = 'user',
): Promise<OrgOpened> {
  // Anything that is not an envelope (unparseable mail included) goes on as it came: the service's own checks refuse it with their own reason.
  if (!headerProtectionOn(ctx) || !isEnvelopedMessage(raw)) return { ok: true, message: raw };
  // From a peer only an org hop's envelope (X-SSMAX-Hop outside) is opened: S/MIME from outside, encrypted to a
  // person, goes on as outside mail, as in ssmax-org.
  if (from === 'peer' && getHeader(parseSmime(raw).headers, 'X-SSMAX-Hop') === undefined) return { ok: true, message: raw };
  try {
    const opened = await openHeaderProtected(raw, async (der) => (await ctx.kms.decrypt(der)).content);
    return opened ? { ok: true, message: opened.message, opened } : { ok: true, message: raw };
  } catch (e) {
    if (e instanceof SsmaxError && e.category === 'infrastructure') throw e;
    const code = e instanceof SsmaxError && e.code === 'MALFORMED_MIME' ? 'MALFORMED_MIME' : 'MALFORMED_CMS';
    const why =
      e instanceof SsmaxError && e.code === 'NO_MATCHING_RECIPIENT'
        ? 'the header-protected envelope is encrypted to another party, not to this org'
        : 'the header-protected envelope cannot be opened by this org';
    const outerId = getHeader(parseSmime(raw).headers, 'Message-ID')?.trim() ?? '';
    return { ok: false, code, detail: `${why}: ${(e as Error).message}`.slice(0, 300), messageId: outerId.slice(0, 998) };
  }
}

/**
 * A spooled mail the org's own service accepted: its envelope opened at (4)/(7), so a failure now is the
 * KMS's or the spool's, not the sender's. Throws SsmaxError MALFORMED_CMS.
 */
export async function openSpooled(
  ctx: { readonly kms: Kms; readonly profile: Pick<OrgProfile, 'plus'> },
  entry: { readonly id: string; readonly bytes: Uint8Array },
): Promise<{ readonly message: Uint8Array; readonly opened?: OpenedHeaderProtected }> {
  const o = await openForOrg(ctx, entry.bytes);
  if (!o.ok) throw new SsmaxError('MALFORMED_CMS', `Cannot process spool entry ${entry.id}. ${o.detail}.`);
  return o;
}

/** One line per outer field that differs from what the sender put outside, for journeys and the reader. */
export function describeDifferences(d: readonly OuterHeaderDifference[]): string[] {
  const q = (v: readonly string[]): string => (v.length === 0 ? '(absent)' : v.map((x) => `"${x.slice(0, 120)}"`).join(', '));
  return d.map(
    (x) => `the outer ${x.name} ${q(x.outer)} is not what the sender put outside (${q(x.expected)}); shown: the protected ${x.name} ${q(x.protectedValue)}`,
  );
}

/** The protected fields a hop re-injects, the HP-Outer record it keeps, and the outer fields it sends. */
export interface HopProtection {
  readonly fields: readonly MimeHeader[];
  readonly hpOuter: readonly MimeHeader[];
  readonly outer: readonly MimeHeader[];
}

/**
 * What an org hop carries over (RFC 9788 §2.1, §2.2): the sender's protected fields and HP-Outer record as
 * they are in the arriving payload, and the outer user-facing fields as they arrived (a change made on the
 * way stays visible to the recipient's agent). A payload without hp (a sender without the addition) is
 * protected by the hop itself from the fields it verified, outside per hcp_baseline.
 */
export function hopProtection(entity: Uint8Array, verifiedHeaders: readonly MimeHeader[], arrivedOuter: readonly MimeHeader[] | undefined): HopProtection {
  const p = readProtectedHeaders(entity);
  if (p && p.hp === 'cipher' && arrivedOuter) {
    return { fields: p.fields, hpOuter: p.hpOuter, outer: outerHeadersFor(arrivedOuter, (_n, v) => v) };
  }
  const fields = p ? p.fields : verifiedHeaders;
  const outer = outerHeadersFor(fields);
  return { fields, hpOuter: outer, outer };
}

/** The new signed entity of a hop with the protected fields injected (hp="cipher"). */
export function protectEntity(entity: Uint8Array, hp: HopProtection): Uint8Array {
  return injectProtectedHeaders(entity, hp.fields, { hp: 'cipher', outer: hp.hpOuter });
}

/** The envelope to the next party around the hop's multipart/signed, under the outer fields and `transport` (X-SSMAX-Hop, ...). */
export function envelopeFor(
  signedMessage: Uint8Array,
  recipients: readonly Uint8Array[],
  hp: HopProtection,
  transport: readonly MimeHeader[],
): Promise<Uint8Array> {
  return wrapHeaderProtected(signedMessage, { recipients, outer: [...hp.outer, ...transport] });
}
