/**
 * What an attack did and what it obtained, as data. A failed attack (a 5xx reply, TLS required, a second
 * factor, a locked card) is an outcome with `error`, never an exception: the scenario runner compares
 * outcomes across defence profiles, and the leak checks read `obtained`.
 */

/** How much of the protected mail the attacker saw, ordered from least to most. */
export type LeakLevel = 'none' | 'metadata' | 'body' | 'files';

/** One thing the attacker obtained: the exact bytes it saw where there are any. */
export interface ObtainedItem {
  readonly kind: 'files' | 'body' | 'metadata' | 'credentials';
  /** The bytes as the attacker holds them (a file's decoded content, a body, a header block, a PIN). */
  readonly bytes?: Uint8Array;
  /** Attachment file name, when `kind` is 'files'. */
  readonly filename?: string;
  /** One line for readers. */
  readonly note: string;
}

/** The mail an attack put on the wire, and the reply it got. */
export interface SentRecord {
  readonly messageId: string;
  /** The final SMTP reply, e.g. `250 2.0.0 Ok: queued`. */
  readonly smtpReply: string;
  /** The exact message bytes sent (DATA content before dot-stuffing). */
  readonly raw: Uint8Array;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
}

/** Why the attack (or one step of it) did not get through. */
export interface AttackFailure {
  /**
   * `SMTP_REJECTED` (a 4xx/5xx reply), `TLS_REQUIRED`, `AUTH_FAILED` (also a second factor the attacker
   * lacks), `PIN_INCORRECT`, `PIN_LOCKED`, `PIN_REQUIRED`, `FORWARDING_REFUSED`, `CONNECTION_FAILED`,
   * `NOTHING_CAPTURED`, `SIGNATURE_INVALID`, or an error code reported by the world's interface.
   */
  readonly code: string;
  readonly message: string;
  /** The SMTP reply that refused, when there was one. */
  readonly smtpReply?: string;
}

/** The record every capability returns. */
export interface AttackOutcome {
  readonly capability: string;
  /** What the attacker did, step by step, in words. */
  readonly actions: string[];
  readonly obtained: ObtainedItem[];
  readonly sent?: SentRecord;
  readonly error?: AttackFailure;
}

const ORDER: readonly LeakLevel[] = ['none', 'metadata', 'body', 'files'];

/** The most the attacker obtained of the mail's content (credentials do not count as content). */
export function leakLevel(outcome: Pick<AttackOutcome, 'obtained'>): LeakLevel {
  let best = 0;
  for (const o of outcome.obtained) {
    if (o.kind === 'credentials') continue;
    best = Math.max(best, ORDER.indexOf(o.kind));
  }
  return ORDER[best] ?? 'none';
}

/** Builds an {@link AttackOutcome} step by step. */
export class OutcomeRecorder {
  readonly actions: string[] = [];
  readonly obtained: ObtainedItem[] = [];
  sent: SentRecord | undefined;
  error: AttackFailure | undefined;

  constructor(readonly capability: string) {}

  act(action: string): this {
    this.actions.push(action);
    return this;
  }

  obtain(item: ObtainedItem): this {
    this.obtained.push(item);
    return this;
  }

  fail(code: string, message: string, smtpReply?: string): this {
    this.error = { code, message, ...(smtpReply !== undefined ? { smtpReply } : {}) };
    return this;
  }

  done(): AttackOutcome {
    return {
      capability: this.capability,
      actions: [...this.actions],
      obtained: [...this.obtained],
      ...(this.sent ? { sent: this.sent } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }
}
