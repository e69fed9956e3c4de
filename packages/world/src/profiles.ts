/**
 * The seven defence profiles of the scenario matrix (issue 4), each a CONFIGURATION of the same
 * services: the same registry, MTAs, Dovecot mailboxes and DNS zone, with different switches. A
 * profile says how every org (or the sender's / recipient's org, by role) runs, what its mailbox
 * demands, which DNS records are published, and, for the three conventional baselines, the options of
 * sim-org's conventional-mail mode (SPF/DKIM/DMARC, MTA-STS, encrypted-ZIP blocking, reputation,
 * hold-then-send).
 */
import { DEFAULT_DLP_RULES, type ConventionalProfileName, type DlpRule, type InspectionPolicy } from '@ssmax/sim-org';
import { SsmaxError } from '@ssmax/core';

export type ProfileId = 'plain-ppap' | 'best-practice' | 'smime-e2e' | 'ssmax-paper' | 'ssmax-org' | 'ssmax-esp-out' | 'ssmax-esp-in' | 'ssmax-plus';

/** How the sender's mail client sends files in the conventional baselines (seed 002). */
export type ConventionalAttachments = 'ppap-zip' | 'plain' | 'smime-e2e';

/**
 * A conventional baseline: sim-org's conventional-mail preset (conventional.ts: SPF/DKIM/DMARC,
 * MTA-STS, TLS reports, encrypted-ZIP policy, reputation, hold-then-send) plus how users attach files.
 */
export interface ConventionalSettings {
  readonly preset: ConventionalProfileName;
  readonly attachments: ConventionalAttachments;
}

/** Which DNS records are published for every org domain (by the world in SSMAX mode, by sim-org's conventional mode). */
export interface ProfileDns {
  readonly spf: boolean;
  readonly dkim: boolean;
  /** DMARC policy published (RFC 7489 §6.3), or none. */
  readonly dmarc: 'none' | 'quarantine' | 'reject' | undefined;
  /** MTA-STS policy mode published and served over HTTPS (RFC 8461), or none. */
  readonly mtaSts: 'enforce' | 'testing' | undefined;
  /** TLS reporting address published (RFC 8460). */
  readonly tlsRpt: boolean;
}

/** Settings applied to every org, and per role. */
export interface ProfileOrgSettings {
  /** Forced mode for orgs of this role (profiles 6 and 7 make the sender's / recipient's side an ESP). */
  readonly mode?: 'org' | 'esp';
}

/**
 * The additions of `ssmax-plus` (issue 15) on top of `ssmax-org`, one named switch each, so every
 * service reads the one it implements and `--ablate` can turn each off alone.
 */
export interface PlusSwitches {
  /** (1) Member MTAs require STARTTLS with the certificate whose SPKI the signed registry directory pins; defer (4xx, then DSN), never downgrade. */
  readonly pinnedTls: boolean;
  /** (2) The whole inner message (body, Subject) inside the chain of encryption, with S/MIME Header Protection (RFC 9788). */
  readonly headerProtection: boolean;
  /** (3) Org attestations bind Message-ID, Date, envelope recipients and a validity window; receiving org and recipient agent keep a replay cache. */
  readonly freshness: boolean;
  /** (3) The validity window of an attestation, in seconds (the replay cache keeps entries that long). */
  readonly freshnessWindowSeconds: number;
  /** (3) Most entries a replay cache keeps (oldest evicted first; an evicted entry is outside the window by construction when the rate stays under size/window). */
  readonly replayCacheSize: number;
  /** (4) Hold at the sending org's MTA-out, during which the sender may cancel (`ssmax send --cancel`); 0 = no hold. */
  readonly holdSeconds: number;
  /** (1) How long the MTA-out retries a member it cannot reach over pinned TLS before the DSN, in seconds. */
  readonly retryWindowSeconds: number;
}

export interface DefenceProfile {
  readonly id: ProfileId;
  /** Column number in the matrix (issue 4's order). */
  readonly column: number;
  readonly title: string;
  readonly description: string;
  /** `ssmax` runs procedures (3)–(10); `conventional` runs sim-org's conventional-mail mode. */
  readonly kind: 'ssmax' | 'conventional';
  /** STARTTLS between MTAs (RFC 3207). */
  readonly starttls: boolean;
  /** SSMAX MTA-out with `starttls`: require STARTTLS or use it opportunistically (sim-org default: require). */
  readonly outboundTls?: 'require' | 'opportunistic';
  /** The sender manifest (end-to-end) on top of the paper's chain of signatures. */
  readonly endToEnd: boolean;
  /** How the recipient's user agent verifies: the paper's trust in the receiving org, or the manifest too. */
  readonly verification: 'paper' | 'end-to-end';
  /** Inspection policy overrides for `org`-mode members (ESPs never inspect). */
  readonly inspection?: Partial<InspectionPolicy>;
  readonly roles: { readonly sender?: ProfileOrgSettings; readonly recipient?: ProfileOrgSettings };
  readonly mailbox: {
    /** IMAP login needs `password:<TOTP>` (RFC 6238). */
    readonly secondFactor: boolean;
    readonly externalForwarding: 'allow' | 'deny';
  };
  readonly dns: ProfileDns;
  readonly conventional?: ConventionalSettings;
  /** The `ssmax-plus` additions (issue 15); absent in every other profile. */
  readonly plus?: PlusSwitches;
}

/** The `ssmax-plus` switches as the profile ships them. */
const PLUS_DEFAULTS: PlusSwitches = {
  pinnedTls: true,
  headerProtection: true,
  freshness: true,
  freshnessWindowSeconds: 600,
  replayCacheSize: 100_000,
  holdSeconds: 60,
  retryWindowSeconds: 4 * 3600,
};

const SSMAX_DNS: ProfileDns = { spf: true, dkim: false, dmarc: undefined, mtaSts: undefined, tlsRpt: false };
/**
 * Outbound DLP (5) of SSMAX members: a CONFIDENTIAL marking may go to a member partner (the files
 * leave re-encrypted to an accountable, inspected org) and is blocked toward anyone else
 * (scenarios/payload-kinds.json `confidential-doc`).
 */
const SSMAX_DLP_RULES: readonly DlpRule[] = DEFAULT_DLP_RULES.map((r) => (r.id === 'confidential-marking' ? { ...r, appliesTo: 'non-member' as const } : r));
const SSMAX_BASE = {
  kind: 'ssmax',
  starttls: true,
  // The paper protects headers and body only by "TLS between servers", with no MTA-STS or DANE:
  // opportunistic STARTTLS (scenarios/README.md), so a stripping relay downgrades it (incident 4).
  outboundTls: 'opportunistic',
  endToEnd: true,
  verification: 'end-to-end',
  inspection: { dlpRules: SSMAX_DLP_RULES },
  roles: {},
  mailbox: { secondFactor: false, externalForwarding: 'allow' },
  dns: SSMAX_DNS,
} as const;

/** The seven profiles, in matrix column order. */
export const PROFILES: Readonly<Record<ProfileId, DefenceProfile>> = {
  'plain-ppap': {
    id: 'plain-ppap',
    column: 1,
    title: 'Plain mail + PPAP',
    description:
      'Plain SMTP without TLS between MTAs; files go in a password-protected (ZipCrypto) ZIP and the password follows in a second mail. No SPF/DKIM/DMARC, no inspection of the archive (it cannot be opened), password-only mailbox, forwarding unrestricted.',
    kind: 'conventional',
    starttls: false,
    endToEnd: false,
    verification: 'paper',
    inspection: { encryptedZip: 'allow' },
    roles: {},
    mailbox: { secondFactor: false, externalForwarding: 'allow' },
    dns: { spf: false, dkim: false, dmarc: undefined, mtaSts: undefined, tlsRpt: false },
    conventional: { preset: 'plain-ppap', attachments: 'ppap-zip' },
  },
  'best-practice': {
    id: 'best-practice',
    column: 2,
    title: 'SPF/DKIM/DMARC + MTA-STS best practice',
    description:
      "Seed 002's countermeasures short of end-to-end encryption: SPF + DKIM + DMARC p=reject checked with mailauth, STARTTLS between MTAs with MTA-STS enforced (and TLS reports), encrypted ZIP blocked at the MSA and the receiver, domain reputation (new and look-alike domains scored), mailbox login with a TOTP second factor, external forwarding denied, hold-then-send with a 60 s cancel window. Files travel as plain attachments.",
    kind: 'conventional',
    starttls: true,
    endToEnd: false,
    verification: 'paper',
    inspection: { encryptedZip: 'block' },
    roles: {},
    mailbox: { secondFactor: true, externalForwarding: 'deny' },
    dns: { spf: true, dkim: true, dmarc: 'reject', mtaSts: 'enforce', tlsRpt: true },
    conventional: { preset: 'best-practice', attachments: 'plain' },
  },
  'smime-e2e': {
    id: 'smime-e2e',
    column: 3,
    title: 'End-to-end S/MIME',
    description:
      'Users sign and encrypt end to end with S/MIME (RFC 8551) to each other, with software keys certified by a public CA outside the registry (staff sponsor-validated by their org, ESP customers mailbox-validated; certificates from its directory); the organisations relay ciphertext they cannot inspect. Opportunistic STARTTLS between MTAs and nothing else (the sim-org preset), so the column shows what S/MIME adds by itself; the inbound MTA cannot look inside the files. Clients show a signature only when it covers the whole message and names From (RFC 8550 §3).',
    kind: 'conventional',
    starttls: true,
    endToEnd: false,
    verification: 'paper',
    roles: {},
    mailbox: { secondFactor: false, externalForwarding: 'allow' },
    dns: { spf: false, dkim: false, dmarc: undefined, mtaSts: undefined, tlsRpt: false },
    conventional: { preset: 'smime-e2e', attachments: 'smime-e2e' },
  },
  'ssmax-paper': {
    ...SSMAX_BASE,
    id: 'ssmax-paper',
    column: 4,
    title: 'SSMAX as in the paper',
    description:
      "SSMAX exactly as the paper describes: chain of signatures (user card → sending org → receiving org), chain of encryption with inspection at both orgs, registry-certified orgs, traceability. The recipient trusts only the receiving org's signature; no sender manifest.",
    endToEnd: false,
    verification: 'paper',
  },
  'ssmax-org': {
    ...SSMAX_BASE,
    id: 'ssmax-org',
    column: 5,
    title: 'SSMAX + end-to-end manifest',
    description:
      "SSMAX between two inspecting organisations, with the sender's card-signed manifest (headers, body and each file's SHA-256) and every org's attestation checked by the recipient: a hijacked org server cannot forge or swap files undetected.",
  },
  'ssmax-esp-out': {
    ...SSMAX_BASE,
    id: 'ssmax-esp-out',
    column: 6,
    title: 'SSMAX, sender at an ESP',
    description:
      "SSMAX with the sender's side run by an ESP (My Number card identity proofing): it verifies the user's signature and re-encrypts, but performs no outbound (DLP) inspection. The recipient's org inspects as usual; end-to-end manifest on.",
    roles: { sender: { mode: 'esp' } },
  },
  'ssmax-esp-in': {
    ...SSMAX_BASE,
    id: 'ssmax-esp-in',
    column: 7,
    title: 'SSMAX, recipient at an ESP',
    description:
      "SSMAX with the recipient's side run by an ESP: it verifies the sending org and its registry status and re-encrypts to the recipient, but performs no inbound (malware) inspection. The sender's org inspects as usual; end-to-end manifest on.",
    roles: { recipient: { mode: 'esp' } },
  },
  'ssmax-plus': {
    ...SSMAX_BASE,
    id: 'ssmax-plus',
    column: 8,
    title: 'SSMAX+ (issue 15)',
    description:
      "ssmax-org plus four standards-based additions: authenticated TLS between members required, pinned to the SPKI the signed registry directory publishes (MTA-STS / DANE idea, RFC 8461 / RFC 7672; defer then DSN, never downgrade); the whole message inside the chain of encryption with S/MIME Header Protection (RFC 9788); freshness (attestations bind Message-ID, Date, envelope recipients and a validity window; replay caches at the receiving org and the recipient agent); a hold at the sending org's MTA-out during which the sender can cancel.",
    plus: PLUS_DEFAULTS,
  },
};

/** Profile ids in matrix column order. */
export const PROFILE_IDS: readonly ProfileId[] = (Object.values(PROFILES) as DefenceProfile[]).sort((a, b) => a.column - b.column).map((p) => p.id);

/** Looks a profile up by id; unknown ids are a usage error listing the known ones. */
export function getProfile(id: string): DefenceProfile {
  const p = (PROFILES as Record<string, DefenceProfile | undefined>)[id];
  if (!p) throw new SsmaxError('USAGE', `Cannot use profile "${id}". Known profiles: ${PROFILE_IDS.join(', ')}.`);
  return p;
}

/** The mode an org runs in under `profile`: a role override wins over the world file's mode. */
export function modeFor(profile: DefenceProfile, org: { readonly mode?: 'org' | 'esp'; readonly role?: 'sender' | 'recipient' | 'other' }): 'org' | 'esp' {
  const byRole = org.role === 'sender' ? profile.roles.sender?.mode : org.role === 'recipient' ? profile.roles.recipient?.mode : undefined;
  return byRole ?? org.mode ?? 'org';
}
