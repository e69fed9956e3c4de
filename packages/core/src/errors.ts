/**
 * One error class for the whole core, with a typed `code` from the table below and an ES2022 `cause`.
 *
 * Infrastructure faults and malformed input throw {@link SsmaxError}. Detected attacks (a bad
 * signature on a mail, a revoked sender) are *verdicts* returned as data by the higher layers; the
 * `verdict` category exists so the CLI and the SMTP edge can map the same codes to exit and reply codes.
 */
export const ErrorCategory = {
  /** A negative verdict about the input: bad signature, untrusted or revoked chain, wrong key, tag mismatch. */
  verdict: 'verdict',
  /** The input is not well-formed (DER, PEM, MIME, SMTP, config). */
  malformed: 'malformed',
  /** The caller asked for something that cannot be done as asked (bad arguments, unsupported option). */
  usage: 'usage',
  /** Token, I/O, process or network failure. */
  infrastructure: 'infrastructure',
} as const;
export type ErrorCategory = (typeof ErrorCategory)[keyof typeof ErrorCategory];

export const ErrorCodes = {
  MALFORMED_DER: 'malformed',
  MALFORMED_PEM: 'malformed',
  MALFORMED_MIME: 'malformed',
  MALFORMED_CMS: 'malformed',
  MALFORMED_CERTIFICATE: 'malformed',
  MALFORMED_CONFIG: 'malformed',
  MALFORMED_ZIP: 'malformed',
  /** A private key that reads as one but whose parts do not fit together (e.g. an even RSA modulus). */
  MALFORMED_KEY: 'malformed',
  LIMIT_EXCEEDED: 'malformed',
  UNSUPPORTED_ALGORITHM: 'usage',
  UNSUPPORTED_CONTENT_TYPE: 'usage',
  CAPABILITY_MISSING: 'usage',
  USAGE: 'usage',
  BAD_SIGNATURE: 'verdict',
  CONTENT_MISMATCH: 'verdict',
  UNTRUSTED_CHAIN: 'verdict',
  CERT_EXPIRED: 'verdict',
  CERT_NOT_YET_VALID: 'verdict',
  CERT_REVOKED: 'verdict',
  CERT_USAGE: 'verdict',
  NO_MATCHING_RECIPIENT: 'verdict',
  DECRYPT_FAILED: 'verdict',
  AUTH_TAG_MISMATCH: 'verdict',
  INSPECTION_BLOCKED: 'verdict',
  PIN_INCORRECT: 'verdict',
  PIN_LOCKED: 'verdict',
  PIN_REQUIRED: 'verdict',
  // Signer verdicts of verifySignedData (data, never thrown); here so the edges map every code with one table.
  SIGNER_CERTIFICATE_MISSING: 'verdict',
  CONTENT_UNAVAILABLE: 'verdict',
  TOKEN_ERROR: 'infrastructure',
  KEY_NOT_FOUND: 'infrastructure',
  IO_ERROR: 'infrastructure',
  CONTAINER_ERROR: 'infrastructure',
  INTERNAL: 'infrastructure',
} as const satisfies Record<string, ErrorCategory>;
export type ErrorCode = keyof typeof ErrorCodes;

export interface SsmaxErrorOptions {
  cause?: unknown;
  /** Structured facts for logs and reports (never secrets). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Messages read "Cannot <do X>. <Reason>." so a reader learns what failed and why.
 */
export class SsmaxError extends Error {
  override readonly name = 'SsmaxError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: SsmaxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  get category(): ErrorCategory {
    return ErrorCodes[this.code];
  }

  static is(value: unknown, code?: ErrorCode): value is SsmaxError {
    return value instanceof SsmaxError && (code === undefined || value.code === code);
  }
}

/** Wraps anything thrown into an SsmaxError, keeping SsmaxErrors as they are. */
export function toSsmaxError(err: unknown, code: ErrorCode, message: string): SsmaxError {
  if (err instanceof SsmaxError) return err;
  return new SsmaxError(code, message, { cause: err });
}
