/**
 * The defences of the test bed that can be switched off, one row each: a stable id, what it does (the
 * paper's procedure or the RFC), the profiles where it is active, and the real configuration options
 * that switch it off. `ssmax run --ablate` runs the matrix cells that credit a defence once per row,
 * with that row switched off in the world (World.create `ablate`), to show that each cell can fail.
 *
 * Every switch is an ordinary option of the service it belongs to, on by default and documented
 * "switched off only for falsifiability runs": sim-org `OrgProfile.defences` (MSA, MTA-out, MTA-in,
 * delivery), sim-org `ConventionalOptions` and `Mailbox` options, the SSMAX inspection policy, core
 * `CardOptions.pinLockout`, the user agent's options, the S/MIME client's policy and sim-registry
 * `RegistryOptions.domainControl`.
 */
import { SsmaxError } from '@ssmax/core';
import type { ConventionalOptions, InspectionPolicy, OrgDefences } from '@ssmax/sim-org';
import type { ProfileId } from './profiles.js';
import type { SmimeClientPolicy } from './smime-client.js';

/** What a world changes when defences are switched off; each group is handed to one service. */
export interface WorldSwitches {
  /** sim-org `OrgProfile.defences` of every org (SSMAX and conventional). */
  readonly org: Partial<OrgDefences>;
  /** Overrides of the conventional preset (`ConventionalOptions`) of every conventional org. */
  readonly conventional: Partial<ConventionalOptions>;
  /** Overrides of the SSMAX inspection policy (`InspectionPolicy`) of every inspecting org. */
  readonly inspection: Partial<InspectionPolicy>;
  /** `Mailbox` options (Dovecot passdb second factor, external forwarding). */
  readonly mailbox: { readonly secondFactor?: false; readonly externalForwarding?: 'allow' };
  /** STARTTLS between MTAs (every org's MTA-in offers none; SSMAX MTA-outs send in clear). */
  readonly starttls?: false;
  /** core `CardOptions` of every card issued. */
  readonly card: { readonly pinLockout?: false };
  /** sim-org `UserAgentOptions` of every SSMAX user. */
  readonly userAgent: { readonly mode?: 'paper'; readonly fromSignerBinding?: false; readonly fileEncryption?: false };
  /** The smime-e2e client's policy (smime-client.ts). */
  readonly smime: Partial<SmimeClientPolicy>;
  /** sim-registry `RegistryOptions` (procedure (1) at the world's registry). */
  readonly registry: { readonly domainControl?: false };
  /** The `ssmax-plus` additions (profiles.ts `PlusSwitches`, sim-org `OrgProfile.plus`). */
  readonly plus: { readonly pinnedTls?: false; readonly headerProtection?: false; readonly freshness?: false; readonly holdSeconds?: 0 };
}

/** One row of {@link DEFENCES}. */
export interface DefenceSpec {
  readonly id: string;
  readonly description: string;
  /** Profiles where the defence acts in the matrix world. */
  readonly profiles: readonly ProfileId[];
  /** What switching it off sets (merged into {@link WorldSwitches}). */
  readonly off: { readonly [K in keyof WorldSwitches]?: WorldSwitches[K] };
  /** Where the switch lives, for readers of the report. */
  readonly switchedOffBy: string;
  /**
   * A layered row: these defences switched off together. Some cells are stopped by two or three
   * defences standing behind each other, so no single switch can show that the cell can fail; the
   * layer can.
   */
  readonly layers?: readonly string[];
}

const SSMAX: readonly ProfileId[] = ['ssmax-paper', 'ssmax-org', 'ssmax-esp-out', 'ssmax-esp-in', 'ssmax-plus'];

/** The defences, in report order. Ids are stable: reports and scripts refer to them. */
export const DEFENCES = [
  {
    id: 'msa-signer-check',
    description:
      "(4) The sending org's MSA verifies the user's card signature (RFC 8551 §3.5.3), its chain user → org CA → registry root (RFC 5280 §6) and the card's identity-proofing extension before it accepts a mail; only then does its identity notice say card and PIN were used. Off, it relays what an authenticated user submits.",
    profiles: SSMAX,
    off: { org: { userSignature: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.userSignature = false (msa.ts verifyUserMail; mta-out.ts relays unsigned submissions)',
  },
  {
    id: 'outbound-inspection',
    description:
      "(5) The sending org's inspection server decrypts the files with its KMS and applies the DLP rules and the archive rules (uninspectable or encrypted archives) before (6); ESPs never inspect.",
    profiles: ['ssmax-paper', 'ssmax-org', 'ssmax-esp-in', 'ssmax-plus'],
    off: { org: { outboundInspection: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.outboundInspection = false (mta-out.ts: orgHop inspect false)',
  },
  {
    id: 'org-signature-check',
    description:
      "(7) The receiving org's MTA-in verifies the sending org's signature, its chain to the registry root, the signer's registry status (admitted) and its attestation, and refuses unsigned mail that claims a member domain.",
    profiles: SSMAX,
    off: { org: { orgSignature: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.orgSignature = false (mta-in.ts verifyOrgMail)',
  },
  {
    id: 'inbound-inspection',
    description:
      "(8) The receiving org's inspection server decrypts the files with its KMS and applies the malware and archive rules, to SSMAX mail and to outside mail; in the conventional profiles the receiving MX's content inspection of attachments.",
    profiles: ['plain-ppap', 'best-practice', 'smime-e2e', 'ssmax-paper', 'ssmax-org', 'ssmax-esp-out', 'ssmax-plus'],
    off: { org: { inboundInspection: false } },
    switchedOffBy:
      'sim-org OrgProfile.defences.inboundInspection = false (mta-in.ts session and outside mail, delivery.ts (9), conventional.ts analyseConventionalMail)',
  },
  {
    id: 'manifest-check',
    description:
      "(10) The recipient's user agent verifies the sender manifest signed on the sender's card (docs/PROTOCOL.md §7) and every org attestation against it, end to end. Off, the agent runs the paper's verification (trust in the receiving org only).",
    profiles: ['ssmax-org', 'ssmax-esp-out', 'ssmax-esp-in', 'ssmax-plus'],
    off: { userAgent: { mode: 'paper' } },
    switchedOffBy: "sim-org UserAgentOptions.mode = 'paper' (world.ts WorldUser.agent)",
  },
  {
    id: 'from-signer-binding',
    description:
      "From must be the signer: the MSA (4) checks From against the card certificate's address and the login, the MTA-in (7) the From domain against the signing member and the sender certificate, the user agent (10) the identity notice and the manifest signer, and the S/MIME client the signer certificate (RFC 8550 §3).",
    profiles: ['smime-e2e', ...SSMAX],
    off: { org: { fromSignerBinding: false }, userAgent: { fromSignerBinding: false }, smime: { fromSignerBinding: false } },
    switchedOffBy:
      'sim-org OrgProfile.defences.fromSignerBinding, UserAgentOptions.fromSignerBinding (manifest.ts VerifyManifestOptions.fromSignerBinding), smime-client.ts SmimeClientPolicy.fromSignerBinding = false',
  },
  {
    id: 'revocation-check',
    description: '(4) and (7) consult the CRLs of the org CA and the registry (RFC 5280 §6.3), so a card revoked after (12) cannot sign again.',
    profiles: SSMAX,
    off: { org: { revocation: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.revocation = false (msa.ts, mta-in.ts)',
  },
  {
    id: 'card-pin-lockout',
    description:
      "The card locks after 3 consecutive wrong PINs (the chip's retry counter, kept by core's Card because SoftHSM2 never locks), so a stolen card cannot be brute-forced.",
    profiles: SSMAX,
    off: { card: { pinLockout: false } },
    switchedOffBy: 'core CardOptions.pinLockout = false (sim-org UserRegistrationOptions.pinLockout)',
  },
  {
    id: 'non-member-files-refusal',
    description:
      '(6) Files are never sent to a domain that is not a registry member (docs/PROTOCOL.md §13): the sender gets a notice. Off, the sending org decrypts the files and sends them as plain attachments (after (5) in org mode).',
    profiles: SSMAX,
    off: { org: { nonMemberFilesRefusal: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.nonMemberFilesRefusal = false (mta-out.ts sendDowngraded)',
  },
  {
    id: 'file-encryption',
    description:
      "The chain of encryption (paper §5): the sender's agent encrypts each file to its org's KMS (3), each org hop re-encrypts it to the next key ((6) to the receiving org, (9) to the recipient's card), so files are ciphertext on every link and in every mailbox and spool. Off, files travel and are stored as CMS id-data in the clear (RFC 5652 §4).",
    profiles: SSMAX,
    off: { org: { fileEncryption: false }, userAgent: { fileEncryption: false } },
    switchedOffBy:
      'sim-org OrgProfile.defences.fileEncryption = false (org-hop.ts sealFilePart/openFilePart, mta-in.ts, mta-out.ts) and UserAgentOptions.fileEncryption = false',
  },
  {
    id: 'unverified-marking',
    description:
      'Mail from a domain that is not a registry member is delivered marked "not SSMAX-verified" (X-SSMAX-Verdict: unverified) for the recipient\'s client.',
    profiles: SSMAX,
    off: { org: { unverifiedMarking: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.unverifiedMarking = false (mta-in.ts)',
  },
  {
    id: 'mta-starttls',
    description: 'STARTTLS between MTAs (RFC 3207): every MTA-in offers it and the MTA-outs use it.',
    profiles: ['best-practice', 'smime-e2e', ...SSMAX],
    off: { starttls: false },
    switchedOffBy: 'sim-org OrgProfile.starttls = false for every org (MTA-in offers no STARTTLS; SSMAX MTA-out sends in clear)',
  },
  {
    id: 'mta-sts',
    description:
      'MTA-STS (RFC 8461) in enforce mode: orgs publish a policy and MTA-outs deliver only over validated TLS to a listed MX, else keep the mail (with TLS reports, RFC 8460).',
    profiles: ['best-practice'],
    off: { conventional: { mtaSts: 'off' } },
    switchedOffBy: "sim-org ConventionalOptions.mtaSts = 'off'",
  },
  {
    id: 'dmarc-enforcement',
    description:
      'The receiving MX refuses mail whose DMARC evaluation fails for a From domain publishing p=reject (RFC 7489 §6.7), and mail without exactly one From field naming one mailbox or whose DMARC domain is not the From the client shows (§6.6.1). Off, it still evaluates and records Authentication-Results.',
    profiles: ['best-practice'],
    off: { conventional: { mailAuth: 'record' } },
    switchedOffBy: "sim-org ConventionalOptions.mailAuth = 'record' (was 'enforce')",
  },
  {
    id: 'domain-authentication',
    description:
      'The sending orgs publish SPF (RFC 7208) and DMARC p=reject (RFC 7489) and DKIM-sign every mail (RFC 6376), so receivers can tie mail to the domain.',
    profiles: ['best-practice'],
    off: { conventional: { publishAuth: false, dkimSign: false } },
    switchedOffBy: 'sim-org ConventionalOptions.publishAuth = false, dkimSign = false',
  },
  {
    id: 'ppap-zip-block',
    description:
      'Encrypted ZIP archives (PPAP) cannot be inspected and are refused: at the MSA and the receiving MX in best-practice, by the inspection servers (5)/(8) in SSMAX.',
    profiles: ['best-practice', ...SSMAX],
    off: { conventional: { msaEncryptedZip: 'allow', mxEncryptedZip: 'allow' }, inspection: { encryptedZip: 'allow' } },
    switchedOffBy: "sim-org ConventionalOptions.msaEncryptedZip / mxEncryptedZip = 'allow', InspectionPolicy.encryptedZip = 'allow'",
  },
  {
    id: 'reputation',
    description:
      'The receiving MX scores the From domain (new, look-alike, homograph, mixed-script; reputation.ts) and flags suspicious mail (X-SSMAX-Reputation).',
    profiles: ['best-practice'],
    off: { conventional: { reputation: undefined } },
    switchedOffBy: 'sim-org ConventionalOptions.reputation = undefined',
  },
  {
    id: 'mailbox-second-factor',
    description: 'IMAP login needs the password and a TOTP code (RFC 6238).',
    profiles: ['best-practice'],
    off: { mailbox: { secondFactor: false } },
    switchedOffBy: 'sim-org Mailbox option secondFactor = false (users get no TOTP secret)',
  },
  {
    id: 'external-forwarding-denial',
    description: "The mailbox refuses forwarding rules' copies to addresses outside the org.",
    profiles: ['best-practice'],
    off: { mailbox: { externalForwarding: 'allow' } },
    switchedOffBy: "sim-org Mailbox option externalForwarding = 'allow'",
  },
  {
    id: 'hold-then-send',
    description: 'Submitted mail waits 60 s before it leaves, and the sender may cancel it meanwhile (seed 002, incident 8).',
    profiles: ['best-practice'],
    off: { conventional: { holdSeconds: 0 } },
    switchedOffBy: 'sim-org ConventionalOptions.holdSeconds = 0',
  },
  {
    id: 'pinned-member-tls',
    description:
      'ssmax-plus (1): mail to a member leaves only over STARTTLS with the TLS key the signed registry directory pins for that member (RFC 7469 pin-sha256 of the SPKI; the MTA-STS / DANE idea, RFC 8461 / RFC 7672, anchored in the registry); any failure defers (4xx, retry), and after the retry window the sender gets a DSN. Off, the MTA-out sends as ssmax-org does: opportunistic STARTTLS.',
    profiles: ['ssmax-plus'],
    off: { plus: { pinnedTls: false } },
    switchedOffBy: 'world PlusSwitches.pinnedTls = false (sim-org OrgProfile.plus.pinnedTls; mta-out.ts processSubmission)',
  },
  {
    id: 'header-protection',
    description:
      'ssmax-plus (2): the whole message, Subject and body included, travels inside the chain of encryption with S/MIME Header Protection (RFC 9788); the outer Subject is [...] and the recipient agent shows the protected fields and flags outer ones that differ.',
    profiles: ['ssmax-plus'],
    off: { plus: { headerProtection: false } },
    switchedOffBy: 'world PlusSwitches.headerProtection = false (sim-org OrgProfile.plus.headerProtection, UserAgentOptions.headerProtection)',
  },
  {
    id: 'freshness',
    description:
      "ssmax-plus (3): each org attestation binds Message-ID, Date, the envelope recipients and a validity window; the receiving org's MTA-in (7) and the recipient agent (10) keep a replay cache for the window and refuse a copy seen before, for an unbound recipient (replay) or outside the window (stale).",
    profiles: ['ssmax-plus'],
    off: { plus: { freshness: false } },
    switchedOffBy: 'world PlusSwitches.freshness = false (sim-org OrgProfile.plus.freshness; mta-in.ts checkFreshness, UserAgentOptions.replayCache)',
  },
  {
    id: 'hold-and-cancel',
    description:
      "ssmax-plus (4): the sending org's MTA-out holds each submission (default 60 s) and the sender may cancel it meanwhile (ssmax send --cancel), as best practice's hold-then-send does for conventional mail.",
    profiles: ['ssmax-plus'],
    off: { plus: { holdSeconds: 0 } },
    switchedOffBy: 'world PlusSwitches.holdSeconds = 0 (sim-org OrgProfile.plus.holdSeconds; msa.ts, mta-out.ts processSubmission)',
  },
  {
    id: 'smime-signing',
    description: "The smime-e2e client signs every mail with the sender's public-CA certificate (RFC 8551 §3.5).",
    profiles: ['smime-e2e'],
    off: { smime: { sign: false } },
    switchedOffBy: 'smime-client.ts SmimeClientPolicy.sign = false',
  },
  {
    id: 'smime-encryption',
    description:
      "The smime-e2e client encrypts every mail to each recipient's certificate from the CA directory and refuses a recipient without one (RFC 8551 §3.3); off, it sends the signed mail in the clear.",
    profiles: ['smime-e2e'],
    off: { smime: { encrypt: false } },
    switchedOffBy: 'smime-client.ts SmimeClientPolicy.encrypt = false',
  },
  {
    id: 'smime-signer-trust',
    description:
      'The smime-e2e client shows a signature as valid only when the signer certificate chains to a root in its trust store with emailProtection (RFC 5280 §6, RFC 8550 §4).',
    profiles: ['smime-e2e'],
    off: { smime: { signerTrust: false } },
    switchedOffBy: 'smime-client.ts SmimeClientPolicy.signerTrust = false',
  },
  {
    id: 'smime-whole-message',
    description:
      'The smime-e2e client counts a signature only when it covers the whole message, so a signed part wrapped in an unsigned message is not shown as signed (Müller et al., "Johnny, you are fired", USENIX Security 2019).',
    profiles: ['smime-e2e'],
    off: { smime: { wholeMessage: false } },
    switchedOffBy: 'smime-client.ts SmimeClientPolicy.wholeMessage = false',
  },
  {
    id: 'registry-domain-control',
    description:
      "(1) The registry admits a domain only for an applicant that published, in the domain's DNS, a TXT record with a registry token bound to its org CA key (ACME dns-01, RFC 8555 §8.4). Off, it admits any applicant for any domain no member holds, so an attacker can enrol a partner company's domain and sign as that company.",
    profiles: SSMAX,
    off: { registry: { domainControl: false } },
    switchedOffBy: 'sim-registry RegistryOptions.domainControl = false (domain-control.ts; criterion E11-domain-control not checked)',
  },
  {
    id: 'header-section-integrity',
    description:
      "The receiving MX refuses a header section that starts with a continuation line (RFC 5322 §2.2.3): prepended behind the MX's own trace fields it would extend them, e.g. add a dmarc=pass to its Authentication-Results. The SSMAX MX refuses it too (off, it reads the mail behind its own Received field, where (7) still refuses a member From without the org signature: see receiving-side-checks).",
    profiles: ['plain-ppap', 'best-practice', 'smime-e2e'],
    off: { org: { headerSection: false } },
    switchedOffBy: 'sim-org OrgProfile.defences.headerSection = false (mta-in.ts)',
  },
  {
    id: 'receiving-side-checks',
    description:
      "Layered: the receiving side's checks together: (7) the sending org's signature and registry status at the MTA-in, (8) inbound inspection, (10) the recipient agent's manifest check, the MX's refusal of a header section that starts with a continuation line, and (ssmax-plus) the attestation's freshness. A forged, swapped or spoofed part fails each of them (a rogue org's attestation carries no validity window, so with (7) off ssmax-plus still refuses it as stale), so each alone stands behind the others; switched off together they show what the receiving side stops.",
    profiles: SSMAX,
    off: {},
    layers: ['org-signature-check', 'inbound-inspection', 'manifest-check', 'header-section-integrity', 'freshness'],
    switchedOffBy: 'the switches of org-signature-check, inbound-inspection, manifest-check, header-section-integrity and freshness',
  },
  {
    id: 'sending-side-checks',
    description:
      "Layered: the sending org's checks together: (4) the MSA's card-signature check and (5) outbound inspection. A mail submitted with a stolen password and no card carries no card signature, which (4) refuses; relayed unsigned, its encrypted archive is refused by (5)'s archive rule where (5) reads it (ssmax-plus). Each stands behind the other; switched off together they show what the sending side stops.",
    profiles: ['ssmax-paper', 'ssmax-org', 'ssmax-esp-in', 'ssmax-plus'],
    off: {},
    layers: ['msa-signer-check', 'outbound-inspection'],
    switchedOffBy: 'the switches of msa-signer-check and outbound-inspection',
  },
  {
    id: 'dmarc-and-zip-block',
    description:
      "Layered: best practice's two inbound filters together, DMARC p=reject enforcement (RFC 7489 §6.6.2) and the encrypted-ZIP block: a spoofed partner mail carrying an encrypted archive is refused by either.",
    profiles: ['best-practice'],
    off: {},
    layers: ['dmarc-enforcement', 'ppap-zip-block'],
    switchedOffBy: 'the switches of dmarc-enforcement and ppap-zip-block',
  },
  {
    id: 'dmarc-and-header-section',
    description:
      "Layered: best practice's MX refuses a header section that starts with a continuation line, and read behind its own Received the same mail names the spoofed partner in From, which DMARC p=reject refuses: a header injection is stopped by either.",
    profiles: ['best-practice'],
    off: {},
    layers: ['dmarc-enforcement', 'header-section-integrity'],
    switchedOffBy: 'the switches of dmarc-enforcement and header-section-integrity',
  },
] as const satisfies readonly DefenceSpec[];

export type DefenceId = (typeof DEFENCES)[number]['id'];

/** The ids in report order. */
export const DEFENCE_IDS: readonly DefenceId[] = DEFENCES.map((d) => d.id);

/** The row of `id`; unknown ids are a usage error listing the known ones. */
export function getDefence(id: string): DefenceSpec & { readonly id: DefenceId } {
  const d = (DEFENCES as readonly DefenceSpec[]).find((x) => x.id === id);
  if (!d) throw new SsmaxError('USAGE', `Cannot switch off defence "${id}". Known defences: ${DEFENCE_IDS.join(', ')}.`);
  return d as DefenceSpec & { readonly id: DefenceId };
}

/** Checks `ids` against the table; unknown ids are a usage error. */
export function parseDefenceIds(ids: readonly string[]): DefenceId[] {
  return [...new Set(ids.map((id) => getDefence(id).id))];
}

const NO_SWITCHES: WorldSwitches = { org: {}, conventional: {}, inspection: {}, mailbox: {}, card: {}, userAgent: {}, smime: {}, registry: {}, plus: {} };

/** The world's settings with the defences `ids` switched off (none: every defence on). Unknown ids are a usage error. */
export function switchesFor(ids: readonly string[]): WorldSwitches {
  let s: WorldSwitches = NO_SWITCHES;
  // A layered row stands for its layers.
  const expanded = parseDefenceIds(ids).flatMap((id) => [id, ...((getDefence(id).layers ?? []) as readonly string[])]);
  for (const id of parseDefenceIds(expanded)) {
    const off = getDefence(id).off;
    s = {
      org: { ...s.org, ...off.org },
      conventional: { ...s.conventional, ...off.conventional },
      inspection: { ...s.inspection, ...off.inspection },
      mailbox: { ...s.mailbox, ...off.mailbox },
      card: { ...s.card, ...off.card },
      userAgent: { ...s.userAgent, ...off.userAgent },
      smime: { ...s.smime, ...off.smime },
      registry: { ...s.registry, ...off.registry },
      plus: { ...s.plus, ...off.plus },
      ...(off.starttls === false || s.starttls === false ? { starttls: false as const } : {}),
    };
  }
  return s;
}
