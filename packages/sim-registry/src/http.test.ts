/**
 * Reading request bodies (http.ts readJson). Regression for the fuzz run of issue 11 item 4 (registry-http target):
 * a client that closed its side before the body it announced had arrived made node:http end the body stream with
 * "aborted", and the registry logged that as an internal error (error on POST …: Error: aborted, status 500).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareKey } from '@ssmax/core';
import { DnsZone } from '@ssmax/sim-net';
import { Registry } from './registry.js';
import { tempDir } from './testing/fixtures.js';

let registry: Registry;
const dir = tempDir('ssmax-registry-http-');
const log: string[] = [];

beforeAll(async () => {
  registry = await Registry.start({ dataDir: dir.path, signer: SoftwareKey.generate('EC-P256'), log: (l) => log.push(l), resolver: new DnsZone().resolver });
});
afterAll(async () => {
  await registry?.close();
  dir[Symbol.dispose]();
});

/** Writes `request`, closes the client's side after a moment, and resolves when the server has closed too. */
function sendAndHangUp(request: string): Promise<string> {
  const { hostname, port } = new URL(registry.url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (got += d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
    socket.write(request);
    setTimeout(() => socket.end(), 100);
  });
}

describe('readJson', () => {
  it.each([
    ['a Content-Length longer than the body', 'Content-Length: 100\r\n\r\n{"name":'],
    ['a chunked body cut inside a chunk', 'Transfer-Encoding: chunked\r\n\r\n20\r\n{"name":'],
  ])('takes a client that hangs up before the end of %s for a malformed request, not an internal error', async (_what, rest) => {
    const before = log.length;
    await sendAndHangUp(`POST /v1/enrolments HTTP/1.1\r\nHost: registry\r\nContent-Type: application/json\r\n${rest}`);
    await new Promise((r) => setTimeout(r, 100));
    const lines = log.slice(before);
    expect(lines.filter((l) => l.startsWith('error on'))).toEqual([]);
    expect(lines.some((l) => /MALFORMED_REQUEST|400/.test(l))).toBe(true);
    expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);
  });
});
