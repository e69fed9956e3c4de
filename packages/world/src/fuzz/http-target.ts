/**
 * The registry HTTP target: one case is one raw HTTP/1.1 connection to a real sim-registry Registry. Requests start
 * from what a real org sent when it enrolled (recorded by fuzz-host.ts) and are mutated at every level: method
 * (known, unknown, lower case), path (ids, traversal, percent-encoding, query strings, length), headers (media
 * type, bearer token, duplicated or conflicting Content-Length and Transfer-Encoding, obs-fold, bare LF, many
 * headers), body (structure-aware JSON mutation, byte flips, generated JSON, oversize) and framing (declared length
 * too short or too long, chunked, a second request pipelined behind the first).
 *
 * Outcomes: a 2xx/3xx answer is ok, a 4xx (or a close without an answer) a typed refusal, a 5xx an untyped error
 * named by the registry's own log line; no complete answer and no close within 2 s of the client having sent
 * everything is a hang.
 */
import fc from 'fast-check';
import { jsonValue, mutatedFrom } from '@ssmax/core/fuzz';
import type { HostReady, RecordedRequest } from './fuzz-host.js';
import { jsonMutatedFrom } from './json-mutator.js';
import { HANG_MS, type CaseResult } from './outcome.js';
import { RawConnection } from './raw-connection.js';

export interface HttpCase {
  readonly raw: Uint8Array;
}

/** Quiet time after which the client closes its side, so a server waiting for promised body bytes gets EOF. */
const QUIET_MS = 300;

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'get', 'P0ST', 'GET\tX', ''];

function parsedBodies(requests: readonly RecordedRequest[]): unknown[] {
  return requests.flatMap((r) => {
    try {
      return r.body.length > 0 ? [JSON.parse(Buffer.from(r.body).toString('utf8')) as unknown] : [];
    } catch {
      return [];
    }
  });
}

export function httpCases(ready: HostReady): fc.Arbitrary<HttpCase> {
  const requests = ready.requests.length > 0 ? ready.requests : [{ method: 'GET', path: '/healthz', headers: {}, body: new Uint8Array(0) }];
  const bodies = parsedBodies(requests);
  const rawBodies = requests.map((r) => r.body).filter((b) => b.length > 0);
  const segment = fc.oneof(
    fc.stringMatching(/^[\w-]{1,64}$/),
    fc.constantFrom('..', '%2e%2e', '%00', '%', '%zz', 'ü', '', 'x'.repeat(65), 'x'.repeat(10_000), '*', 'case-1'),
  );
  const path = fc.tuple(fc.constantFrom(...requests.map((r) => r.path)), fc.nat(), segment, fc.nat(6)).map(([p, at, seg, how]) => {
    const parts = p.split('/');
    const i = 1 + (at % Math.max(1, parts.length - 1));
    switch (how) {
      case 0:
        return p;
      case 1:
        parts[i] = seg;
        return parts.join('/');
      case 2:
        return `${p}/${seg}`;
      case 3:
        return `${p}?${seg}=${'&a=b'.repeat(at % 500)}`;
      case 4:
        return `/${p}`;
      case 5:
        return `http://registry.example${p}`;
      default:
        return seg;
    }
  });
  const body = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...requests.map((r) => r.body)) },
    ...(bodies.length > 0 ? [{ weight: 6, arbitrary: jsonMutatedFrom(bodies) }] : []),
    ...(rawBodies.length > 0 ? [{ weight: 2, arbitrary: mutatedFrom(rawBodies) }] : []),
    { weight: 1, arbitrary: jsonValue().map((v) => new Uint8Array(Buffer.from(JSON.stringify(v) ?? 'null'))) },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 200_000 }).map((n) => new Uint8Array(Buffer.from(`{"a":"${'x'.repeat(n)}"}`))) },
  );
  const contentType = fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'text/plain',
    'application/json\u0000',
    'multipart/form-data; boundary=x',
    '',
  );
  const auth = fc.constantFrom(`Bearer ${ready.adminToken}`, 'Bearer wrong', 'Basic Zm9vOmJhcg==', `Bearer ${'t'.repeat(9000)}`, '');
  const extraHeader = fc.oneof(
    fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,20}$/), fc.stringMatching(/^[\x20-\x7e]{0,60}$/)).map(([k, v]) => `${k}: ${v}`),
    fc.constantFrom(
      'Expect: 100-continue',
      'Connection: keep-alive',
      'Transfer-Encoding: gzip, chunked',
      'Content-Length: 5',
      'If-None-Match: "x", *',
      'X-Folded: a\r\n b',
      'Host: a\r\nHost: b',
    ),
  );
  const framing = fc.constantFrom('length', 'length', 'length', 'none', 'short', 'long', 'chunked', 'chunked-bad', 'both');
  return fc
    .record({
      method: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constantFrom(...METHODS) }),
      which: fc.nat(requests.length - 1),
      path: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: path }),
      body: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: body }),
      contentType: fc.option(contentType, { freq: 4 }),
      auth: fc.option(auth, { freq: 3 }),
      extra: fc.array(extraHeader, { maxLength: 4 }),
      manyHeaders: fc.nat(9),
      framing,
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', ''),
      eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n'),
      pipelined: fc.boolean(),
    })
    .map((r) => {
      const base = requests[r.which]!;
      const method = r.method ?? base.method;
      const b = Buffer.from(r.body ?? base.body);
      const headers = [`Host: registry`, 'Connection: close'];
      const ct = r.contentType ?? base.headers['content-type'];
      if (ct !== undefined && ct !== '') headers.push(`Content-Type: ${ct}`);
      const authorization = r.auth ?? base.headers['authorization'];
      if (authorization !== undefined && authorization !== '') headers.push(`Authorization: ${authorization}`);
      headers.push(...r.extra);
      if (r.manyHeaders === 0) headers.push(...Array.from({ length: 300 }, (_, i) => `X-Many-${i}: ${i}`));
      let payload: Buffer = b;
      if (r.framing === 'length') headers.push(`Content-Length: ${b.length}`);
      else if (r.framing === 'short') headers.push(`Content-Length: ${Math.floor(b.length / 2)}`);
      else if (r.framing === 'long') headers.push(`Content-Length: ${b.length + 100}`);
      else if (r.framing === 'both') headers.push(`Content-Length: ${b.length}`, 'Transfer-Encoding: chunked');
      if (r.framing === 'chunked' || r.framing === 'both') {
        headers.push('Transfer-Encoding: chunked');
        payload = Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n')]);
      } else if (r.framing === 'chunked-bad') {
        headers.push('Transfer-Encoding: chunked');
        payload = Buffer.concat([Buffer.from('zz\r\n'), b, Buffer.from('\r\n')]);
      }
      const head = `${method} ${r.path ?? base.path} ${r.version}${r.eol}${headers.join(r.eol)}${r.eol}${r.eol}`;
      const second = r.pipelined ? Buffer.from(`GET /healthz HTTP/1.1\r\nHost: registry\r\n\r\n`) : Buffer.alloc(0);
      return { raw: new Uint8Array(Buffer.concat([Buffer.from(head, 'latin1'), payload, second])) };
    });
}

/**
 * Status of the final response to the first request, and whether it is complete: its headers and its
 * Content-Length body, or headers alone for HEAD, 204 and 304 (RFC 9110 §6.4.1). Interim 1xx responses (a
 * 100 Continue for `Expect: 100-continue`) are skipped.
 */
function firstResponse(buf: Buffer, method: string): { status: number; complete: boolean; body: string } | undefined {
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) return undefined;
    const head = buf.subarray(at, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    if (status >= 100 && status < 200) {
      at = end + 4;
      continue;
    }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const bodyLength = method === 'HEAD' || status === 204 || status === 304 || !length ? 0 : Number(length[1]);
    const body = buf.subarray(end + 4, end + 4 + bodyLength).toString('utf8');
    return { status, complete: buf.length >= end + 4 + bodyLength, body };
  }
}

/**
 * The error a registry log line names: "error on GET /x: TypeError: ..." carries the stack of an error no table
 * maps; a refusal the registry chose (e.g. 503 too many connections) logs only its message and names none.
 */
function errorNameOf(lines: readonly string[]): string | undefined {
  for (const l of lines) {
    const m = /(?:^|\s)([A-Z][A-Za-z]*(?:Error|Exception)|Error)(?::|\s+at\s)/.exec(l.slice(l.indexOf(': ') + 2));
    if (m) return m[1];
  }
  return undefined;
}

/** One raw request on its own connection: the response (if any), and whether it came or the server closed in time. */
async function exchange(ready: HostReady, c: HttpCase): Promise<{ connected: boolean; done: boolean; ms: number; res: ReturnType<typeof firstResponse> }> {
  const url = new URL(ready.registryUrl);
  const t0 = performance.now();
  let conn: RawConnection;
  try {
    conn = await RawConnection.open({ host: url.hostname, port: Number(url.port) }, HANG_MS);
  } catch {
    return { connected: false, done: false, ms: performance.now() - t0, res: undefined };
  }
  try {
    const method = Buffer.from(c.raw.subarray(0, 16)).toString('latin1').split(' ')[0] ?? '';
    const complete = () => firstResponse(conn.bytes, method)?.complete === true;
    conn.write(c.raw);
    let done = await conn.until(complete, QUIET_MS);
    // No response begun (a 100 Continue is not one): the registry may be waiting for body bytes the request
    // promised. Our EOF says none come.
    if (!done && firstResponse(conn.bytes, method) === undefined) conn.socket.end();
    if (!done) done = await conn.until(complete, HANG_MS);
    return { connected: true, done, ms: performance.now() - t0, res: firstResponse(conn.bytes, method) };
  } finally {
    conn.socket.destroy();
  }
}

/**
 * One case and its verdict. `registryErrors` returns the registry's internal-error log lines since the last call,
 * once the server has had a moment to notice the closed connection: a request cut short fails after the client has
 * gone, and its error must still count against this case.
 */
export async function runHttpCase(ready: HostReady, c: HttpCase, registryErrors: () => Promise<string[]>): Promise<CaseResult> {
  const { connected, done, ms, res } = await exchange(ready, c);
  if (!connected) return { outcome: 'crash', ms, reached: [], errorType: 'ConnectFailed' };
  const lines = await registryErrors();
  const named = errorNameOf(lines);
  const reached: string[] = [];
  if (res) {
    reached.push('responded');
    const clientError = res.status === 400 && res.body === '';
    if (![404, 405].includes(res.status) && !clientError) reached.push('routed');
    if (reached.includes('routed') && !/Cannot read the request/.test(res.body)) reached.push('body-read');
    if (res.status >= 200 && res.status < 300) reached.push('2xx');
  }
  if (!done) return { outcome: 'hang', ms, reached, detail: 'no complete response and no close within 2 s' };
  // 500 is the registry's INTERNAL (http.ts toHttpError: an error no table maps); other 5xx are refusals it chose.
  if (named !== undefined || res?.status === 500)
    return { outcome: 'untyped', ms, reached, errorType: named ?? 'HTTP 500', detail: (lines[0] ?? res?.body ?? '').slice(0, 400) };
  if (!res) return { outcome: 'typed', ms, reached, detail: 'closed without a response' };
  return { outcome: res.status >= 400 ? 'typed' : 'ok', ms, reached };
}

/** GET /healthz answers 200 within 2 s: the registry is serving. */
export async function registryAnswers(ready: HostReady): Promise<boolean> {
  try {
    const r = await fetch(`${ready.registryUrl}/healthz`, { signal: AbortSignal.timeout(HANG_MS) });
    return r.status === 200;
  } catch {
    return false;
  }
}
