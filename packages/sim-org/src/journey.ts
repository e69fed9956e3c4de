/**
 * The journey log: every hop a message passes writes one event (JSON lines), the raw material of the
 * scenario report and the demo. The schema is {@link JOURNEY_EVENT_SCHEMA} (documented in
 * docs/PROTOCOL.md §12); events are appended with one `write` + fsync each, so a crash never leaves
 * a half line behind a complete one.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';

/** SSMAX procedure numbers (paper §6); 0 marks a hop outside SSMAX (non-member mail, DSN). */
export type ProcedureNumber = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13;

export type CheckResult = 'pass' | 'fail' | 'skip';

export interface JourneyCheck {
  /** e.g. user-signature, chain, crl, from-matches-signer, identity-proofing, org-signature, org-status. */
  readonly name: string;
  readonly result: CheckResult;
  readonly detail?: string;
}

/** Whether file contents were readable at this hop: the leak analysis reads this. */
export type FilesState = 'plaintext' | 'ciphertext' | 'none';

/**
 * The mail hops' outcomes, then the incident desk's steps of (12) (docs/PROTOCOL.md §12): `reported` (the
 * receiving org filed a case with the registry), `reviewed` (an org reviewed its own records of the mail),
 * `traced` (the sending org opened its trace vault for the case), `revoked` (it revoked the sender's
 * certificates and published a new CRL), `answered` (it sent the registry its root cause and actions).
 */
export type JourneyOutcome =
  'accepted' | 'rejected' | 'relayed' | 'delivered' | 'bounced' | 'deferred' | 'reported' | 'reviewed' | 'traced' | 'revoked' | 'answered';

export interface JourneyEvent {
  readonly v: 1;
  /** RFC 5322 Message-ID with angle brackets, or "" when the message had none / was unreadable. */
  readonly messageId: string;
  readonly at: string;
  /** "<org id>/<service>", e.g. "org-a/msa". */
  readonly actor: string;
  readonly procedure: ProcedureNumber;
  readonly checks: readonly JourneyCheck[];
  readonly files: FilesState;
  readonly outcome: JourneyOutcome;
  /** The SMTP reply sent, when this hop answered one ("250 2.0.0 ..."). */
  readonly reply?: string;
  readonly detail?: string;
}

/** JSON Schema (draft 2020-12) of one journey line. */
export const JOURNEY_EVENT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://ssmax.example/schemas/journey-event-v1.json',
  title: 'SSMAX journey event',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'messageId', 'at', 'actor', 'procedure', 'checks', 'files', 'outcome'],
  properties: {
    v: { const: 1 },
    messageId: { type: 'string', maxLength: 998 },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string', pattern: '^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$' },
    procedure: { type: 'integer', minimum: 0, maximum: 13 },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'result'],
        properties: {
          name: { type: 'string', minLength: 1 },
          result: { enum: ['pass', 'fail', 'skip'] },
          detail: { type: 'string' },
        },
      },
    },
    files: { enum: ['plaintext', 'ciphertext', 'none'] },
    outcome: { enum: ['accepted', 'rejected', 'relayed', 'delivered', 'bounced', 'deferred', 'reported', 'reviewed', 'traced', 'revoked', 'answered'] },
    reply: { type: 'string' },
    detail: { type: 'string' },
  },
} as const;

/** Appends events to a JSON-lines file and to in-process listeners. */
export class JourneyLog {
  readonly #listeners = new Set<(e: JourneyEvent) => void>();
  readonly #events: JourneyEvent[] = [];
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string | undefined,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Records one event (fills `v` and `at`). Resolves once the line is on disk. */
  record(e: Omit<JourneyEvent, 'v' | 'at'> & { at?: string }): Promise<void> {
    const event: JourneyEvent = { v: 1, at: e.at ?? this.clock().toISOString(), ...stripUndefined(e) } as JourneyEvent;
    this.#events.push(event);
    for (const l of this.#listeners) l(event);
    const path = this.path;
    if (path === undefined) return Promise.resolve();
    this.#chain = this.#chain.then(async () => {
      await fs.mkdir(dirname(path), { recursive: true });
      const h = await fs.open(path, 'a', 0o600);
      try {
        await h.write(JSON.stringify(event) + '\n');
        await h.sync();
      } finally {
        await h.close();
      }
    });
    return this.#chain;
  }

  /** Events recorded by this process (the file also holds earlier runs'). */
  events(messageId?: string): JourneyEvent[] {
    return messageId === undefined ? [...this.#events] : this.#events.filter((e) => e.messageId === messageId);
  }

  subscribe(listener: (e: JourneyEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when every recorded line is written. */
  flush(): Promise<void> {
    return this.#chain;
  }
}

/** Reads a journey file back (skipping nothing: a bad line throws). */
export async function readJourney(path: string): Promise<JourneyEvent[]> {
  const text = await fs.readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JourneyEvent);
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
