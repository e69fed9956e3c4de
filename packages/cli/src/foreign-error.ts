import { SsmaxError } from '@ssmax/core';

/** What Node attaches to a failed system call and to an OpenSSL error. */
interface ForeignFields {
  readonly code?: unknown;
  readonly syscall?: unknown;
  readonly path?: unknown;
  readonly library?: unknown;
  readonly reason?: unknown;
}

// OpenSSL libraries whose failures mean the key (or its parameters) cannot be used.
const KEY_LIBRARIES = /bignum|rsa|elliptic curve|\bec\b|dsa|dh routines/i;

/**
 * An error thrown by Node or a library instead of by us, as a typed {@link SsmaxError} with a sentence of
 * ours; the original stays the `cause`. A failed system call is IO_ERROR; an OpenSSL failure in key
 * arithmetic is MALFORMED_KEY, an unsupported one UNSUPPORTED_ALGORITHM. Anything else stays INTERNAL
 * (a fault of ours), still in a sentence.
 */
export function asSsmaxError(err: unknown, command: string): SsmaxError {
  if (err instanceof SsmaxError) return err;
  const f = (typeof err === 'object' && err !== null ? err : {}) as ForeignFields;
  const cmd = `ssmax ${command}`.trim();
  if (typeof f.syscall === 'string' && typeof f.code === 'string') {
    return new SsmaxError('IO_ERROR', `Cannot run ${cmd}. The system refused ${f.syscall}${typeof f.path === 'string' ? ` on ${f.path}` : ''} (${f.code}).`, {
      cause: err,
    });
  }
  if (typeof f.library === 'string' || (typeof f.code === 'string' && f.code.startsWith('ERR_OSSL_'))) {
    const reason = typeof f.reason === 'string' ? f.reason : 'unknown reason';
    if (typeof f.library === 'string' && KEY_LIBRARIES.test(f.library)) {
      return new SsmaxError(
        'MALFORMED_KEY',
        `Cannot use the key. The crypto library could not compute with it (${reason}); the key is damaged or not a valid key.`,
        { cause: err },
      );
    }
    if (/unsupported/i.test(reason))
      return new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot run ${cmd}. The crypto library does not support what the input asks for (${reason}).`, {
        cause: err,
      });
    return new SsmaxError('INTERNAL', `Cannot run ${cmd}. The crypto library failed (${reason}).`, { cause: err });
  }
  return new SsmaxError(
    'INTERNAL',
    `Cannot run ${cmd}. An unexpected ${err instanceof Error ? err.name : 'error'} occurred: ${err instanceof Error ? err.message : String(err)}.`,
    { cause: err },
  );
}
