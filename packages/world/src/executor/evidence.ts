/**
 * What a matrix cell is judged from: only what crossed a boundary. Sending parties' SMTP replies (and a
 * card's refusal to sign), the recipient's mailbox read through that user's own client, the journey
 * events the actors publish, the bytes the attacker obtained, and documents fetched over the simulated
 * network after procedure (12). Nothing here is a scenario id, a profile id or a capability name.
 */
import type { ObtainedItem } from '@ssmax/sim-attacker';
import type { JourneyEvent } from '@ssmax/sim-org';
import type { IdentityShown } from '../runner/types.js';
import type { DsnEvidence } from './dsn-evidence.js';

/** Whose server (or card) answered a sending attempt. */
export type Side = 'sending' | 'receiving';

/** What a sending party saw when it handed a mail over: an SMTP reply, a card's refusal, a DSN. */
export interface Attempt {
  readonly by: 'honest' | 'attacker';
  /** Message-ID of the mail handed over, when one was written. */
  readonly messageId?: string;
  /** The side whose server or card answered (the sender's MSA and card: sending; the recipient's MX: receiving). */
  readonly answeredBy: Side;
  readonly accepted: boolean;
  /** Envelope recipient the mail was handed over for. */
  readonly to?: string;
  /** The reply or refusal as the party saw it (`550 5.7.1 …`, `PIN_LOCKED: …`). */
  readonly reply: string;
}

/** Evidence in a shown mail that names someone accountable for it. */
export type SignerEvidence =
  /** A person's signature that verified (the card's manifest signature, a sponsor-validated S/MIME certificate). */
  | { readonly kind: 'person'; readonly domain: string; readonly serial?: string; readonly via: string }
  /** Only an organisation is named: a verified org signature, a DMARC pass, a mailbox-validated certificate. */
  | { readonly kind: 'org'; readonly domain: string; readonly via: string };

/** One copy of the tracked mail as the recipient's own client shows it. */
export interface RecipientView {
  /** Shown normally, shown with a warning (unverified / suspicious / bad signature), or refused by the client. */
  readonly shown: 'normal' | 'warning' | 'refused';
  readonly identityShown: IdentityShown;
  /** Bytes the client released to the user: attachments, archives opened with passwords the same sender stated. */
  readonly released: readonly Uint8Array[];
  /** Who the mail's verified signatures or authentication results name. */
  readonly signer?: SignerEvidence;
  /** What the holder of this mailbox can read of it (for a mail delivered to the wrong person). */
  readonly readable: readonly ObtainedItem[];
  /** Client's reasons (problems it found), for the report. */
  readonly reasons: readonly string[];
}

/** What the organisations' procedure (12) left observable from outside. */
export interface IncidentEvidence {
  /** The sending org's desk named a person (its answer to the registry). */
  readonly identified: boolean;
  /** The sending org's self-review found that its own hosts sent the mail (no user traced). */
  readonly ownHosts: boolean;
  /** The reported certificate's serial is on the org CA's CRL fetched over the network afterwards. */
  readonly onCrl: boolean;
  /** A new submission signed with the same card was refused by the sending org's MSA (4). */
  readonly resubmissionRefused: boolean;
}

/** Everything a cell is judged from. */
export interface CellEvidence {
  /** Sending attempts in order (honest sends and the attacker's). */
  readonly attempts: readonly Attempt[];
  /**
   * The mail that carries the cell's content (the last one handed over); `copy`: which arrival of that
   * Message-ID in the recipient's mailbox; `repeatsHandover`: an earlier hand-over by another party
   * carried the same Message-ID (this one re-sends someone else's mail).
   */
  readonly tracked?: { readonly messageId: string; readonly copy: number; readonly repeatsHandover: boolean };
  /** Published journey events of the tracked mail. */
  readonly journey: readonly JourneyEvent[];
  /** Org ids whose actors (`<org>/<service>`) sent and received, from the address plan. */
  readonly sendingOrg?: string;
  readonly receivingOrg?: string;
  /** The tracked copy as the recipient's client shows it; undefined when it is not in the mailbox. */
  readonly view?: RecipientView;
  /** Whether the attacker had nothing to hand over (it obtained no copy to replay). */
  readonly attackerHadNothing: boolean;
  readonly obtained: readonly ObtainedItem[];
  readonly incident?: IncidentEvidence;
  /** Domains accountable for their mail: registry members (directory fetched over HTTP) and domains with a verified registrant. */
  readonly accountableDomains: ReadonlySet<string>;
  /**
   * A DSN for the tracked mail in the sender's mailbox, looked for only when the mail is not in the recipient's:
   * the refusal of a server that answered 250 first, for implementations that publish no journey.
   */
  readonly dsn?: DsnEvidence;
}
