import type { IncomingMessage, ServerResponse } from 'node:http';
import { SsmaxError, type ErrorCode } from '@ssmax/core';

/** Error codes of the registry's HTTP edge (the `error.code` of an {@link ErrorBody}), with their status. */
export const HttpErrorCodes = {
  MALFORMED_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_SIGNATURE: 403,
  UNKNOWN_ORG: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ORG_NOT_ACTIVE: 403,
  CONFLICT: 409,
  UNAUTHORIZED: 401,
  INTERNAL: 500,
  // Resource limits (http-limits.ts): answered before a handler runs.
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  TOO_MANY_CONNECTIONS_FROM_CLIENT: 429,
  TOO_MANY_CONNECTIONS: 503,
} as const;
export type HttpErrorCode = keyof typeof HttpErrorCodes;

/** A request the registry refuses; `code` decides the status. Thrown inside handlers, caught at the edge. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
  get status(): number {
    return HttpErrorCodes[this.code];
  }
}

/** Core error codes mapped to the HTTP edge in one table. */
const CORE_TO_HTTP: Partial<Record<ErrorCode, HttpErrorCode>> = {
  MALFORMED_DER: 'MALFORMED_REQUEST',
  MALFORMED_PEM: 'MALFORMED_REQUEST',
  MALFORMED_CMS: 'MALFORMED_REQUEST',
  MALFORMED_CERTIFICATE: 'MALFORMED_REQUEST',
  MALFORMED_CONFIG: 'MALFORMED_REQUEST',
  LIMIT_EXCEEDED: 'BODY_TOO_LARGE',
  UNSUPPORTED_ALGORITHM: 'MALFORMED_REQUEST',
  UNSUPPORTED_CONTENT_TYPE: 'MALFORMED_REQUEST',
  USAGE: 'MALFORMED_REQUEST',
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  CONTENT_MISMATCH: 'BAD_SIGNATURE',
  UNTRUSTED_CHAIN: 'BAD_SIGNATURE',
  CERT_REVOKED: 'BAD_SIGNATURE',
  CERT_EXPIRED: 'BAD_SIGNATURE',
};

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof SsmaxError) {
    const code = CORE_TO_HTTP[err.code];
    if (code) return new HttpError(code, err.message, { cause: err });
  }
  return new HttpError('INTERNAL', 'Cannot complete the request. The registry hit an internal error.', { cause: err });
}

/** Reads a JSON body of at most `limit` bytes; refuses other media types, oversize and invalid JSON. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    drain(req);
    throw new HttpError('UNSUPPORTED_MEDIA_TYPE', `Cannot read the request. The body must be application/json, not "${type || 'none'}".`);
  }
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    drain(req);
    throw new HttpError('BODY_TOO_LARGE', `Cannot read the request. The body is ${declared} bytes, above the limit of ${limit}.`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        drain(req);
        throw new HttpError('BODY_TOO_LARGE', `Cannot read the request. The body exceeds the limit of ${limit} bytes.`);
      }
      chunks.push(chunk);
    }
  } catch (cause) {
    if (cause instanceof HttpError) throw cause;
    // node:http ends the body stream with "aborted" when the client closes before the bytes it announced came:
    // the client's fault, not the registry's (found by npm run fuzz, issue 11 item 4).
    throw new HttpError('MALFORMED_REQUEST', `Cannot read the request. The connection closed after ${size} bytes of the body.`, { cause });
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new HttpError('MALFORMED_REQUEST', `Cannot read the request. The body is not valid JSON (${(cause as Error).message}).`, { cause });
  }
}

// Discard the rest of a refused body so the connection can answer instead of resetting mid-upload.
function drain(req: IncomingMessage): void {
  req.resume();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(bytes.length), ...headers });
  res.end(bytes);
}

export function sendBytes(res: ServerResponse, status: number, type: string, bytes: Uint8Array, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(bytes.byteLength), ...headers });
  res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

export function sendError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}

// ---- input validation (throws MALFORMED_REQUEST naming the field) ----

export function bad(field: string, why: string): HttpError {
  return new HttpError('MALFORMED_REQUEST', `Cannot accept the request. Field "${field}" ${why}.`);
}

export function asObject(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'must be an object');
  return v as Record<string, unknown>;
}

export function asString(v: unknown, field: string, max = 512): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(field, 'must be a non-empty string');
  if (v.length > max) throw bad(field, `must be at most ${max} characters`);
  return v;
}

export function asBool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw bad(field, 'must be true or false');
  return v;
}

export function asEnum<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw bad(field, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

export function asArray(v: unknown, field: string, max = 64): unknown[] {
  if (!Array.isArray(v)) throw bad(field, 'must be an array');
  if (v.length > max) throw bad(field, `must have at most ${max} entries`);
  return v;
}

export function asBase64(v: unknown, field: string, maxBytes = 64 * 1024): Uint8Array {
  const s = asString(v, field, Math.ceil((maxBytes * 4) / 3) + 4);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4 !== 0) throw bad(field, 'must be base64');
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export function asDate(v: unknown, field: string): string {
  const s = asString(v, field, 40);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$/.test(s) || Number.isNaN(Date.parse(s)))
    throw bad(field, 'must be an ISO 8601 date (YYYY-MM-DD or UTC timestamp)');
  return s;
}

export const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
