/**
 * The sim-org error class, same pattern as core's `SsmaxError`: a typed `code` from an `as const`
 * table and an ES2022 `cause`. Kept free of imports so the spool can run in a bare child process.
 *
 * Detected attacks are verdicts returned as data; these codes name them so the SMTP edge and the DSN
 * writer map them to replies in one place (`reply-codes.ts`). Faults of our own machinery throw.
 */
export const SimOrgErrorCodes = {
  UNKNOWN_ORG: 'verdict',
  ORG_SUSPENDED: 'verdict',
  ORG_REVOKED: 'verdict',
  FROM_SIGNER_MISMATCH: 'verdict',
  AMBIGUOUS_FROM: 'verdict',
  MALWARE: 'verdict',
  ENCRYPTED_ZIP: 'verdict',
  UNINSPECTABLE: 'verdict',
  DLP_BLOCK: 'verdict',
  MESSAGE_TOO_BIG: 'verdict',
  UNKNOWN_RECIPIENT: 'verdict',
  TOO_MANY_RECIPIENTS: 'verdict',
  TOO_MANY_SESSIONS: 'verdict',
  TOO_MANY_SESSIONS_FROM_CLIENT: 'verdict',
  SESSION_TIMEOUT: 'verdict',
  AUTH_REQUIRED: 'verdict',
  AUTH_FAILED: 'verdict',
  TLS_REQUIRED: 'verdict',
  TEMP_REGISTRY_UNAVAILABLE: 'infrastructure',
  SPOOL_IO: 'infrastructure',
  SPOOL_NOT_FOUND: 'usage',
  FORWARDING_REFUSED: 'usage',
  MAILBOX_START_FAILED: 'infrastructure',
  MAILBOX_DELIVERY_FAILED: 'infrastructure',
  INSPECTION_UNAVAILABLE: 'infrastructure',
  /** The vendored UTS #39 confusables.txt is missing or not a complete file (issue 16). */
  CONFUSABLES_DATA: 'infrastructure',
  USAGE: 'usage',
} as const satisfies Record<string, 'verdict' | 'malformed' | 'usage' | 'infrastructure'>;
export type SimOrgErrorCode = keyof typeof SimOrgErrorCodes;

/** Messages read "Cannot <do X>. <Reason>." */
export class SimOrgError extends Error {
  override readonly name = 'SimOrgError';
  readonly code: SimOrgErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: SimOrgErrorCode, message: string, options: { cause?: unknown; details?: Readonly<Record<string, unknown>> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  get category(): (typeof SimOrgErrorCodes)[SimOrgErrorCode] {
    return SimOrgErrorCodes[this.code];
  }

  static is(value: unknown, code?: SimOrgErrorCode): value is SimOrgError {
    return value instanceof SimOrgError && (code === undefined || value.code === code);
  }
}
