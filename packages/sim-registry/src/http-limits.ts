/**
 * Resource limits of the registry's HTTP API (issue 11 item 5): what node:http is told to enforce, the
 * connection limits it does not have (per server and per client address), and the replies a client gets,
 * each a JSON error body as §10.1 of docs/PROTOCOL.md describes. The "Resource limits" table there is
 * rendered from {@link httpLimitRows} (http-limits.test.ts compares the two).
 */
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError, HttpErrorCodes, type HttpErrorCode } from './http.js';

export interface HttpLimits {
  /** Largest request body read, in bytes (`RegistryOptions.bodyLimit` overrides it). */
  readonly bodyBytes: number;
  /** Request line and header fields together, in bytes (node:http `maxHeaderSize`). */
  readonly headerBytes: number;
  /** Time for the whole header section to arrive (node:http `headersTimeout`). */
  readonly headersMs: number;
  /** Time for the whole request, body included, to arrive (node:http `requestTimeout`). */
  readonly requestMs: number;
  /** Idle time of a kept-alive connection between requests (node:http `keepAliveTimeout`). */
  readonly keepAliveMs: number;
  /** How often node:http checks the two timeouts above, so they hold to within this much. */
  readonly timeoutCheckMs: number;
  /** Connections open at once, all clients together. */
  readonly connections: number;
  /** Connections open at once from one client address (below {@link connections}). */
  readonly connectionsPerClient: number;
}

export const HTTP_LIMITS: HttpLimits = Object.freeze({
  bodyBytes: 64 * 1024,
  headerBytes: 16 * 1024,
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
  timeoutCheckMs: 1_000,
  connections: 256,
  connectionsPerClient: 64,
});

/** node:http's defaults we keep, stated so the table can name them. */
const NODE_MAX_HEADERS_COUNT = 2000;

/** The node:http server options that carry {@link HttpLimits}: pass them to `createServer`. */
export function httpServerOptions(l: HttpLimits = HTTP_LIMITS): ServerOptions {
  return {
    maxHeaderSize: l.headerBytes,
    headersTimeout: l.headersMs,
    requestTimeout: l.requestMs,
    keepAliveTimeout: l.keepAliveMs,
    connectionsCheckingInterval: l.timeoutCheckMs,
  };
}

/**
 * Puts the connection limits on `server` (call it before `listen`) and answers the requests node:http
 * refuses before a handler runs with a status and a JSON error body: 431 for a header section over
 * {@link HttpLimits.headerBytes}, 408 for a request not complete in time, 400 for one that does not parse.
 * A connection over a limit is answered 503 (the server is full) or 429 (this client has enough open) and
 * closed before its request is read, so no handler runs for it. Every refusal is logged through `log` as
 * the typed {@link HttpError} with its code.
 */
export function guardHttpServer(server: Server, l: HttpLimits, log: (line: string) => void): void {
  const open = new Map<string, number>();
  let total = 0;
  const logged = (e: HttpError, client: string | undefined) => log(`${e.name} ${e.code} ${e.status} from ${client ?? '?'}: ${e.message}`);
  // node:http's own connection listener parses requests; admitted sockets are handed to it, refused ones never are.
  const http = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? '?';
    const fromClient = open.get(client) ?? 0;
    const refusal =
      total >= l.connections
        ? new HttpError('TOO_MANY_CONNECTIONS', `Cannot take another connection. ${total} are open, the limit is ${l.connections}.`)
        : fromClient >= l.connectionsPerClient
          ? new HttpError(
              'TOO_MANY_CONNECTIONS_FROM_CLIENT',
              `Cannot take another connection from ${client}. It has ${fromClient} open, the limit is ${l.connectionsPerClient}.`,
            )
          : undefined;
    if (refusal) {
      logged(refusal, client);
      refuse(socket, refusal, { 'retry-after': '1' });
      return;
    }
    total++;
    open.set(client, fromClient + 1);
    socket.once('close', () => {
      total--;
      const n = (open.get(client) ?? 1) - 1;
      if (n > 0) open.set(client, n);
      else open.delete(client);
    });
    for (const listener of http) listener.call(server, socket);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const e =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new HttpError('HEADERS_TOO_LARGE', `Cannot read the request. Its request line and header fields exceed ${l.headerBytes} bytes.`, { cause: err })
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new HttpError(
              'REQUEST_TIMEOUT',
              `Cannot wait longer for the request. Headers must arrive within ${l.headersMs} ms and the whole request within ${l.requestMs} ms.`,
              {
                cause: err,
              },
            )
          : new HttpError('MALFORMED_REQUEST', `Cannot parse the request. ${err.message}.`, { cause: err });
    logged(e, socket.remoteAddress);
    refuse(socket, e);
  });
}

/** Writes `e` as a complete HTTP/1.1 response with a JSON error body and closes the connection. */
function refuse(socket: Socket, e: HttpError, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  const head = [
    `HTTP/1.1 ${e.status} ${STATUS_TEXT[e.code] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.on('error', () => undefined);
  // What the client still sends is read and dropped, so closing does not reset the connection under the reply.
  socket.resume();
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

const STATUS_TEXT: Partial<Record<HttpErrorCode, string>> = {
  MALFORMED_REQUEST: 'Bad Request',
  REQUEST_TIMEOUT: 'Request Timeout',
  HEADERS_TOO_LARGE: 'Request Header Fields Too Large',
  TOO_MANY_CONNECTIONS: 'Service Unavailable',
  TOO_MANY_CONNECTIONS_FROM_CLIENT: 'Too Many Requests',
};

/** One row of the registry's limits table. */
export interface HttpLimitRow {
  readonly limit: string;
  readonly value: string;
  readonly exceeded: string;
  readonly enforcedBy: string;
}

const kib = (n: number): string => (n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`);
const secs = (ms: number): string => `${ms / 1000} s`;
const status = (code: HttpErrorCode): string => `\`${HttpErrorCodes[code]}\` ${code}`;

/** The registry API's limits as data, from the constants the server runs with. */
export function httpLimitRows(l: HttpLimits = HTTP_LIMITS): HttpLimitRow[] {
  const guard = '`http-limits.ts` guardHttpServer';
  const node = (option: string) => `node:http \`${option}\`, set from \`HTTP_LIMITS\``;
  return [
    {
      limit: 'Connections open at once (all clients)',
      value: String(l.connections),
      exceeded: `${status('TOO_MANY_CONNECTIONS')} with Retry-After, closed before the request is read`,
      enforcedBy: guard,
    },
    {
      limit: 'Connections open at once from one client address',
      value: String(l.connectionsPerClient),
      exceeded: `${status('TOO_MANY_CONNECTIONS_FROM_CLIENT')} with Retry-After, closed before the request is read`,
      enforcedBy: guard,
    },
    {
      limit: 'Request line and header fields',
      value: kib(l.headerBytes),
      exceeded: `${status('HEADERS_TOO_LARGE')}, connection closed`,
      enforcedBy: `${node('maxHeaderSize')}; reply by ${guard}`,
    },
    {
      limit: 'Header fields per request',
      value: String(NODE_MAX_HEADERS_COUNT),
      exceeded: 'fields past the limit are ignored',
      enforcedBy: 'node:http `maxHeadersCount` (default)',
    },
    {
      limit: 'Time for the header section (slowloris)',
      value: `${secs(l.headersMs)} (checked every ${secs(l.timeoutCheckMs)})`,
      exceeded: `${status('REQUEST_TIMEOUT')}, connection closed`,
      enforcedBy: `${node('headersTimeout')}; reply by ${guard}`,
    },
    {
      limit: 'Time for the whole request, body included',
      value: `${secs(l.requestMs)} (checked every ${secs(l.timeoutCheckMs)})`,
      exceeded: `${status('REQUEST_TIMEOUT')}, connection closed`,
      enforcedBy: `${node('requestTimeout')}; reply by ${guard}`,
    },
    {
      limit: 'Idle kept-alive connection',
      value: secs(l.keepAliveMs),
      exceeded: 'connection closed',
      enforcedBy: node('keepAliveTimeout'),
    },
    {
      limit: 'Request body (JSON)',
      value: kib(l.bodyBytes),
      exceeded: `${status('BODY_TOO_LARGE')} as soon as Content-Length or the bytes read pass it; the rest is read and dropped`,
      enforcedBy: '`http.ts` readJson (`RegistryOptions.bodyLimit`)',
    },
    {
      limit: 'Strings, arrays and base64 fields inside a body',
      value: 'per field (`asString`, `asArray`, `asBase64`)',
      exceeded: `${status('MALFORMED_REQUEST')} naming the field`,
      enforcedBy: '`http.ts` validators',
    },
  ];
}

/** The registry's limits table as Markdown, for docs/PROTOCOL.md (regenerate rather than hand-edit). */
export function renderHttpLimitsMarkdown(l: HttpLimits = HTTP_LIMITS): string {
  const rows = httpLimitRows(l).map((r) => `| ${r.limit} | ${r.value} | ${r.exceeded} | ${r.enforcedBy} |`);
  return ['| Limit | Value | When exceeded, the client gets | Enforced in |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}
