/** One attacker capability as scenario files name it. */
export interface AttackerCapability {
  /** Stable id used in `scenarios/*` attacker steps. */
  readonly name: string;
  readonly description: string;
  /** The foothold kind it needs (`network` = only the attacker's own address). */
  readonly foothold:
    | 'network'
    | 'org-mail-server'
    | 'org-account'
    | 'stolen-password'
    | 'stolen-card'
    | 'sender-pc-malware'
    | 'insider'
    | 'on-path'
    | 'wire-tap'
    | 'captured-mail';
  /** Parameters in one line: `name: type` (`?` optional). */
  readonly params: string;
  /** The exported function or class that implements it. */
  readonly implementation: string;
}

/**
 * The canonical capability list (scenarios/capabilities.json mirrors its name and description). Incident
 * 8 (misdelivery) is deliberately absent: it is the sender's mistake, not an attacker's act.
 */
export const ATTACKER_CAPABILITIES = [
  {
    name: 'spoof-direct',
    description: 'Send straight to the receiving MX from the attacker’s own address with a forged From address or display name (pattern A, incident 2).',
    foothold: 'network',
    params: 'spoofedFrom: address; displayName?: string; to: address[]; envelopeFrom?: address; subject, text, attachments?',
    implementation: 'sendSpoofedDirect',
  },
  {
    name: 'look-alike-domain',
    description:
      'Own a homograph/IDN or near-miss domain with valid SPF, DKIM and DMARC and an S/MIME certificate from the attacker’s own CA, and mail from it (pattern A, incident 3).',
    foothold: 'network',
    params: 'domain: string (U- or A-label); smimeLocalPart?: string; smime?: boolean; fromLocal?, displayName?, to: address[], subject, text, attachments?',
    implementation: 'LookAlikeDomain.register + LookAlikeDomain.send (names from lookAlikeDomains)',
  },
  {
    name: 'registry-enrolment',
    description:
      'Apply to the SSMAX registry as a company for a domain no member holds yet (a partner not yet enrolled, or a look-alike), with keys of its own but no control of the domain’s DNS; if admitted, sign SSMAX mail as that company (procedure (1)).',
    foothold: 'network',
    params:
      'registryUrl; domain: string (A-label); name: string; then, if admitted, SSMAX mail from the domain: fromLocal?, to: address, subject, text, files?',
    implementation: 'applyForMembership',
  },
  {
    name: 'org-server-takeover',
    description:
      'Inject mail through a taken-over member org’s real mail server as any address, optionally signed with the org KMS key if the takeover reached it (pattern B, incident 1).',
    foothold: 'org-mail-server',
    params: 'from: address; displayName?; to: address[]; signWithKms?: boolean; subject, text, attachments?',
    implementation: 'sendViaTakenOverServer',
  },
  {
    name: 'spoof-colleague',
    description: 'As an authenticated user of the org, submit through the real MSA with a colleague’s From address (§3.1, pattern B).',
    foothold: 'org-account',
    params: 'colleague: address; displayName?; to: address[]; envelopeFrom?: own|colleague; subject, text, attachments?',
    implementation: 'spoofColleague',
  },
  {
    name: 'stolen-password-imap',
    description: 'Log in to the victim’s mailbox over IMAP with a stolen password and fetch mail; a second factor makes it fail (incident 6).',
    foothold: 'stolen-password',
    params: 'mailbox?: string; limit?: number',
    implementation: 'readMailboxWithStolenPassword',
  },
  {
    name: 'forwarding-rule',
    description: 'Plant a forwarding rule to the attacker’s address with the stolen mailbox password (incident 7).',
    foothold: 'stolen-password',
    params: 'forwardTo: address',
    implementation: 'plantForwardingRule',
  },
  {
    name: 'on-path-mta',
    description:
      'Sit on the path to a receiving MX as an SMTP relay that strips STARTTLS, reads each message and optionally swaps or alters attached files (incident 4).',
    foothold: 'on-path',
    params: 'service: host:port; tamper?: {kind: swap, filename?, replacement} | {kind: alter, filename?, transform}',
    implementation: 'OnPathMta.insert',
  },
  {
    name: 'passive-capture',
    description:
      'Read the captured traffic of a link and extract what is readable: envelopes, bodies, attachments, PPAP password mails and the ZIPs they open; TLS is ciphertext (incident 5).',
    foothold: 'wire-tap',
    params: 'service?: host:port; since?: date',
    implementation: 'capturePassively',
  },
  {
    name: 'stolen-card',
    description: 'Hold a stolen card without its PIN: signing is refused and PIN guesses lock the card after three tries.',
    foothold: 'stolen-card',
    params: 'guesses?: string[]',
    implementation: 'useStolenCard',
  },
  {
    name: 'sender-pc-malware',
    description:
      'Malware on the sender’s PC with the card inserted and the PIN keylogged signs and submits mail as the user through the real MSA (paper §6 (12)).',
    foothold: 'sender-pc-malware',
    params: 'to: address[]; subject, text, attachments?; build?: (signer) => mail',
    implementation: 'sendAsUserViaMalware',
  },
  {
    name: 'malicious-insider',
    description: 'A malicious insider with their own card and PIN sends malware the legitimate way (delivered, but traceable).',
    foothold: 'insider',
    params: 'to: address[]; subject, text, attachments?; build?: (signer) => mail',
    implementation: 'sendAsInsider',
  },
  {
    name: 'replay',
    description: 'Re-send a captured signed mail byte for byte to the MX later or to another recipient.',
    foothold: 'captured-mail',
    params: 'raw: bytes; to?: address[]; envelopeFrom?: address',
    implementation: 'replayCapturedMail',
  },
  {
    name: 'rewrap-signed',
    description:
      'Re-wrap a validly signed mail: swap its From, wrap it in multipart/mixed under attacker text, or attach it as message/rfc822 (“Johnny, you are fired”).',
    foothold: 'captured-mail',
    params: 'signedRaw: bytes; technique: from-swap|wrap-mixed|attach-rfc822; from: address; to?; subject?; attackerText?',
    implementation: 'sendRewrapped (rewrapSignedMail builds without sending)',
  },
] as const satisfies readonly AttackerCapability[];

/** A capability name. */
export type AttackerCapabilityName = (typeof ATTACKER_CAPABILITIES)[number]['name'];
