/**
 * What the world hands the attacker. The attacker has its own 127.x address in the simulated network and,
 * per scenario, at most the footholds listed here: it never reaches into an organisation or the registry
 * otherwise (it does not import them).
 */
import type { Card, PrivateKeyOps } from '@ssmax/core';
import type { SimNet } from '@ssmax/sim-net';

/** A service as clients name it (`mx.org-b.example`, 25); reached through the simulated network. */
export interface ServiceRef {
  readonly host: string;
  readonly port: number;
}

/** SMTP AUTH credentials (RFC 4954). */
export interface SmtpCredentials {
  readonly user: string;
  readonly pass: string;
}

/** Where the attacker stands: the network and its own address in it. */
export interface AttackerContext {
  readonly net: SimNet;
  /** The attacker's own 127.x address (default `net.address('attacker')`). */
  readonly address: string;
  /** Name it gives in EHLO (default `mail.<its own look-alike or attacker domain>`). */
  readonly heloName?: string;
  readonly now?: () => Date;
}

/** The attacker's context with defaults filled in. */
export function attackerContext(net: SimNet, options: { address?: string; heloName?: string; now?: () => Date } = {}): AttackerContext {
  return {
    net,
    address: options.address ?? net.address('attacker'),
    ...(options.heloName ? { heloName: options.heloName } : {}),
    ...(options.now ? { now: options.now } : {}),
  };
}

/** The org's KMS signing key and its certificate (what a full server takeover may also yield). */
export interface KmsSigningFoothold {
  readonly key: PrivateKeyOps;
  /** DER of the KMS signing certificate. */
  readonly certificate: Uint8Array;
  readonly chain?: readonly Uint8Array[];
}

/** Incident 1 (Emotet-style): the org's mail server is under the attacker's control. */
export interface OrgMailServerFoothold {
  readonly kind: 'org-mail-server';
  /** The server's submission or relay endpoint that the takeover lets the attacker inject into. */
  readonly smtpSubmit: ServiceRef;
  /** Credentials the takeover yielded (a service account), if the endpoint asks for AUTH. */
  readonly auth?: SmtpCredentials;
  /** Present only if the takeover reached the KMS. */
  readonly kmsSign?: KmsSigningFoothold;
}

/** §3.1: the attacker is (or controls the account of) an authenticated user of the org. */
export interface OrgAccountFoothold {
  readonly kind: 'org-account';
  readonly smtpSubmit: ServiceRef;
  readonly user: string;
  readonly password: string;
}

/**
 * The mailbox-rule contract (incident 7): set a forwarding rule, authenticated with the mailbox's own
 * credentials. sim-org's `Mailbox.addForwardingRule` has this shape; it rejects with an error whose `code`
 * is `AUTH_FAILED` or `FORWARDING_REFUSED`.
 */
export interface ForwardingRuleApi {
  addForwardingRule(address: string, credentials: { password: string }, to: string): Promise<void>;
}

/** Incident 6/7: a mailbox password phished or keylogged. */
export interface StolenPasswordFoothold {
  readonly kind: 'stolen-password';
  readonly imap: ServiceRef;
  readonly user: string;
  readonly password: string;
  /** Where forwarding rules are set, if the scenario lets the attacker reach it. */
  readonly rules?: ForwardingRuleApi;
}

/** A card (with its signing key label) the attacker holds. */
export interface CardHandle {
  readonly card: Card;
  /** Label of the signing key and of its certificate on the card. */
  readonly keyLabel: string;
  /** DER of the signing certificate, when the world does not store it on the card under `keyLabel`. */
  readonly certificate?: Uint8Array;
}

/** A stolen card, no PIN. */
export interface StolenCardFoothold extends CardHandle {
  readonly kind: 'stolen-card';
}

/** Malware on the sender's PC while the card is inserted and the PIN is keylogged. */
export interface SenderPcMalwareFoothold extends CardHandle {
  readonly kind: 'sender-pc-malware';
  readonly keyloggedPin: string;
  /** The user's own MSA and the mail-client credentials the malware reads. */
  readonly submit: ServiceRef & { readonly auth?: SmtpCredentials };
}

/** A malicious insider: their own card and PIN, their own account. */
export interface InsiderFoothold extends CardHandle {
  readonly kind: 'insider';
  readonly pin: string;
  readonly submit: ServiceRef & { readonly auth?: SmtpCredentials };
}

/** A man-in-the-middle position in front of one service (incident 4). */
export interface OnPathFoothold {
  readonly kind: 'on-path';
  /** `mx.org-b.example:25` or `{ host, port }`. */
  readonly service: string | ServiceRef;
}

/** Every foothold a scenario may grant. */
export type Foothold =
  OrgMailServerFoothold | OrgAccountFoothold | StolenPasswordFoothold | StolenCardFoothold | SenderPcMalwareFoothold | InsiderFoothold | OnPathFoothold;
