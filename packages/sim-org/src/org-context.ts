/**
 * What the org's mail services share: identity, keys, registry view, users, spools, journey, clock.
 * organisation.ts builds one per org; each service takes it instead of a dozen parameters.
 */
import type { SimNet } from '@ssmax/sim-net';
import type { ConventionalOptions, ConventionalRuntime } from './conventional.js';
import type { MalwareScanner } from './clamd.js';
import type { InspectionPolicy } from './inspection.js';
import type { JourneyLog } from './journey.js';
import type { Kms } from './kms.js';
import type { SmtpLimits } from './smtp-limits.js';
import type { RegistryClient } from './registry-client.js';
import type { Spool } from './spool.js';
import type { PlusRuntime } from './plus.js';

/**
 * The org's users as the mail services need them. The user side (user-registration.ts / org-ca.ts)
 * implements it; {@link SimpleUserDirectory} in organisation.ts is the built-in stand-in.
 */
export interface OrgUserDirectory {
  /** MSA password check (procedure (4) runs only for authenticated users). */
  authenticate(username: string, password: string): Promise<boolean>;
  /** True when `address` is a mailbox of this org. */
  has(address: string): Promise<boolean>;
  /** The certificate to encrypt files to at (9): the user's encryption (or combined) certificate, DER. */
  encryptionCertificate(address: string): Promise<Uint8Array | undefined>;
  /** The org CA's current CRL of user certificates (DER), fresh; used at (4) and stapled into attestations. */
  crl(): Promise<Uint8Array | undefined>;
}

/** The envelope of a final delivery: what the mailbox writes into `Return-Path` (RFC 5321 §4.4). */
export interface DeliveryEnvelope {
  /** The reverse-path as the MTA-in accepted it (MAIL FROM), without angle brackets; "" for the null sender of a DSN (RFC 5321 §4.5.5). */
  readonly mailFrom: string;
}

/** Delivers a finished message into a local mailbox (Dovecot over LMTP in the full world). */
export interface MailboxDelivery {
  /** `envelope.mailFrom` goes out as the LMTP MAIL FROM (RFC 2033), which the mailbox stores as `Return-Path`. */
  deliver(recipient: string, message: Uint8Array, envelope: DeliveryEnvelope): Promise<void>;
  /**
   * Whether `recipient`'s mailbox already holds the message one of whose Received fields has the id
   * clause `receivedId` (our MX's, naming the transaction). With it, delivery is exactly-once across a
   * crash (delivery.ts); without it, at-least-once.
   */
  holds?(recipient: string, receivedId: string): Promise<boolean>;
}

export interface OrgProfile {
  /** STARTTLS between organisations (RFC 3207); default true: MTA-out requires it, MTA-in offers it. */
  readonly starttls: boolean;
  /**
   * With `starttls`: whether the MTA-out requires STARTTLS (default) or uses it when offered and
   * falls back to clear text otherwise (opportunistic, RFC 3207 §4 without MTA-STS or DANE).
   */
  readonly outboundTls?: 'require' | 'opportunistic';
  /** 'paper' or 'end-to-end' (the user's manifest); the org keeps the manifest bytes in both. */
  readonly endToEnd: boolean;
  readonly inspection?: Partial<InspectionPolicy>;
  /** Largest accepted message in bytes (MSA and MTA-in; default 10 MiB). */
  readonly maxMessageBytes?: number;
  /** Limits of the MSA's and the MTA-in's sessions (sessions, recipients, timeouts; smtp-limits.ts, default `SMTP_LIMITS`). */
  readonly smtpLimits?: Partial<SmtpLimits>;
  /** What happens to outbound mail with files for a domain that is not a registry member. */
  readonly nonMemberFiles?: 'refuse-with-notice';
  /**
   * 'ssmax' (default): the SSMAX services. 'conventional': the same MSA / MTA-out / MTA-in / delivery
   * run as an ordinary mail system configured by {@link OrgProfile.conventional} (the baseline defence
   * profiles plain-ppap, best-practice, smime-e2e; see conventional.ts and README "Conventional mode").
   * No KMS, no registry: `ctx.kms` and `ctx.registry` throw.
   */
  readonly security?: 'ssmax' | 'conventional';
  /** Options of conventional mode; missing fields take the `plain-ppap` preset's values. */
  readonly conventional?: Partial<ConventionalOptions>;
  /**
   * Checks of the org's services that can be switched off. Every one is on unless set to false here,
   * which is done only for falsifiability runs (`ssmax run --ablate`, world/src/defences.ts): a
   * deployment never sets them.
   */
  readonly defences?: Partial<OrgDefences>;
  /** The `ssmax-plus` additions (issue 15; docs/PROTOCOL.md "ssmax-plus"); absent: the SSMAX of `ssmax-org`. */
  readonly plus?: OrgPlus;
}

/**
 * The `ssmax-plus` additions an org runs (issue 15). Each is off when false / 0, so `--ablate` can
 * switch each off alone.
 */
export interface OrgPlus {
  /** (1) Mail to members only over STARTTLS with the peer certificate whose SPKI the signed registry directory pins; else defer (4xx), then DSN. */
  readonly pinnedTls: boolean;
  /** (2) The whole inner message, headers included, inside the chain of encryption (RFC 9788 Header Protection). */
  readonly headerProtection: boolean;
  /** (3) Attestations bind Message-ID, Date, envelope recipients and a validity window; (7)/(8) keep a replay cache. Undefined: off. */
  readonly freshness?: { readonly windowSeconds: number; readonly cacheSize: number };
  /** (4) Seconds the MTA-out holds a submitted mail, during which the sender may cancel it; 0: no hold. */
  readonly holdSeconds: number;
  /** Seconds MTA-out keeps retrying a member it cannot reach (over pinned TLS) from the end of the hold before the DSN; default 4 h. */
  readonly retryWindowSeconds?: number;
}

/**
 * The org's defences as switches, each default true. Switched off only for falsifiability runs, so
 * a run can show which matrix cells each check decides.
 */
export interface OrgDefences {
  /** (4) The MSA verifies the user's card signature (RFC 8551 §3.5.3), its chain to the registry root (RFC 5280 §6) and the card's identity-proofing extension; only then does the identity notice say card and PIN were used. */
  readonly userSignature: boolean;
  /** From must equal the signer: MSA (certificate address and login), MTA-in (From domain of the signing org, sender certificate address). */
  readonly fromSignerBinding: boolean;
  /** CRLs are consulted at (4) and (7) (RFC 5280 §6.3). */
  readonly revocation: boolean;
  /** (5) Outbound inspection (DLP rules, uninspectable and encrypted archives) in org mode. */
  readonly outboundInspection: boolean;
  /** (7) The sending org's signature, its chain to the registry root, its registry status and its attestation. */
  readonly orgSignature: boolean;
  /** (8) Inbound inspection (malware rules, uninspectable and encrypted archives) in org mode, and a conventional MX's content inspection. */
  readonly inboundInspection: boolean;
  /** Mail from a non-member domain is marked `X-SSMAX-Verdict: unverified` for the recipient's client. */
  readonly unverifiedMarking: boolean;
  /** Files are never sent to a non-member domain (docs/PROTOCOL.md §13); off, they leave decrypted as plain attachments. */
  readonly nonMemberFilesRefusal: boolean;
  /**
   * The chain of encryption (paper §5): files cross every hop encrypted to the next key. Off (only for
   * falsifiability runs), the org hops re-wrap files as CMS id-data in the clear (RFC 5652 §4) and accept
   * such parts; with it on, a plaintext part is refused like any undecryptable one.
   */
  readonly fileEncryption: boolean;
  /**
   * The MX refuses a header section that starts with a continuation line (RFC 5322 §2.2.3), which would
   * extend the trace fields it prepends. Off (falsifiability runs only), it prepends them and reads the
   * result as the next reader will, continuation included.
   */
  readonly headerSection: boolean;
}

/** Whether the defence `name` is on for this org (default on; see {@link OrgProfile.defences}). */
export function defenceOn(ctx: { readonly profile: Pick<OrgProfile, 'defences'> }, name: keyof OrgDefences): boolean {
  return ctx.profile.defences?.[name] !== false;
}

export interface OrgContext {
  readonly id: string;
  readonly domain: string;
  readonly mode: 'org' | 'esp';
  readonly net: SimNet;
  readonly kms: Kms;
  readonly registry: RegistryClient;
  readonly users: OrgUserDirectory;
  readonly mailbox: MailboxDelivery;
  readonly outbound: Spool;
  readonly inbound: Spool;
  readonly journey: JourneyLog;
  readonly clock: () => Date;
  readonly profile: OrgProfile;
  /** The registry-assigned org id (from enrolment). */
  readonly registryOrgId: string;
  /** Addresses of the org's actors on the sim-net. */
  readonly addresses: { readonly msa: string; readonly mtaIn: string; readonly mtaOut: string };
  /** Names (DNS) the org's MX and MSA are published under. */
  readonly mxHost: string;
  /** PEM of the sim-net test CA (trust anchor for STARTTLS). */
  readonly tlsCa: string;
  /** Wakes the workers after a spool write. */
  readonly kick: (which: 'outbound' | 'inbound') => void;
  /** Present in conventional mode: resolved options, DKIM key, hold/cancel state, TLS reports. */
  readonly conventional?: ConventionalRuntime;
  /** Present with `profile.plus`: hold/cancel marks and the replay cache (plus.ts). */
  readonly plus?: PlusRuntime;
  /** The malware engine of inbound inspection (8) and of the conventional MX (clamd.ts); absent: our own rules only. */
  readonly malwareScanner?: MalwareScanner;
}

export function actor(ctx: OrgContext, service: string): string {
  return `${ctx.id}/${service}`;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}
