/**
 * Child-process entry that hosts the servers the fuzz runner attacks, so that a server that throws uncaught or
 * stops answering takes this process down, not the runner. It starts:
 *
 * - a World (packages/world) with two SSMAX orgs, org-a (alice) and org-b (bob); org-b's MX (sim-org MTA-in on
 *   smtp-server) is the SMTP target. One real mail from alice to bob is sent first and captured as org-b stored it,
 *   so the SMTP cases can carry a complete SSMAX mail (user-signed, org-signed, attested, files encrypted).
 * - a second Registry (sim-registry, admin routes on), the HTTP target. An org enrols with it through a recording
 *   proxy at start, so the HTTP cases start from the requests a real org makes (procedure (1)).
 *
 * Protocol (IPC, advanced serialisation): the child sends `ready` with the endpoints and the captured seeds,
 * `registry-error` for every request the registry answered with an internal error (its log line names the
 * error), and `uncaught` (then exits 70) for an uncaught exception or unhandled rejection. `{type:'stop'}` closes
 * everything and exits 0. Run it compiled: `node packages/world/dist/fuzz/fuzz-host.js <dir> <seed>`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SoftwareKey } from '@ssmax/core';
import { Organisation } from '@ssmax/sim-org';
import { Registry } from '@ssmax/sim-registry';
import { World } from '../world.js';
import type { WorldConfig } from '../world-config.js';
import type { HostSeeds } from './corpus.js';

/** One HTTP request as the recording proxy saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface HostReady {
  readonly type: 'ready';
  readonly mx: { readonly address: string; readonly port: number };
  /** The sim-net address the fuzz client connects from (an outside host, not a member's MTA). */
  readonly clientAddress: string;
  /** A recipient the MX accepts (RCPT 250), and its domain. */
  readonly recipient: string;
  readonly registryUrl: string;
  readonly adminToken: string;
  readonly requests: readonly RecordedRequest[];
  readonly seeds: HostSeeds;
}

export type HostMessage =
  HostReady | { readonly type: 'registry-error'; readonly line: string } | { readonly type: 'uncaught'; readonly name: string; readonly message: string };

const send = (m: HostMessage) => process.send?.(m);

function uncaught(e: unknown): void {
  const name = typeof e === 'object' && e !== null ? (e as { constructor?: { name?: string } }).constructor?.name : undefined;
  send({ type: 'uncaught', name: name ?? typeof e, message: e instanceof Error ? `${e.message} @ ${e.stack?.split('\n')[1]?.trim() ?? ''}` : String(e) });
  setTimeout(() => process.exit(70), 100);
}
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);
// Orphaned (the runner died) before the world is up: nothing to stop yet.
let onDisconnect: () => void = () => process.exit(0);
process.once('disconnect', () => onDisconnect());

const ADMIN_TOKEN = 'fuzz-admin-token';

const WORLD: WorldConfig = {
  version: 1,
  profile: 'ssmax-org',
  orgs: [
    { id: 'org-a', domain: 'org-a.example', mode: 'org', role: 'sender', users: [{ address: 'alice', pin: '1111', password: 'alice-pass' }] },
    { id: 'org-b', domain: 'org-b.example', mode: 'org', role: 'recipient', users: [{ address: 'bob', pin: '2222', password: 'bob-pass' }] },
  ],
};

/** The stored copy minus the MX's own trace field on top (RFC 5321 §4.4): the DATA as the sending MTA wrote it. */
function withoutFirstField(stored: Uint8Array): Uint8Array {
  const text = Buffer.from(stored).toString('latin1');
  const m = /\r\n(?![ \t])/.exec(text);
  return m ? new Uint8Array(Buffer.from(text.slice(m.index + 2), 'latin1')) : stored;
}

async function get(url: string): Promise<Uint8Array | undefined> {
  const r = await fetch(url);
  return r.ok ? new Uint8Array(await r.arrayBuffer()) : undefined;
}

/** A pass-through proxy in front of the registry that keeps every request it forwards. */
async function recordingProxy(target: string): Promise<{ url: string; requests: RecordedRequest[]; close: () => Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const upstream = new URL(target);
  const keep = (h: IncomingHttpHeaders) =>
    Object.fromEntries(
      Object.entries(h).filter((e): e is [string, string] => typeof e[1] === 'string' && ['content-type', 'authorization', 'if-none-match'].includes(e[0])),
    );
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: keep(req.headers), body: new Uint8Array(body) });
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  const seed = Number(process.argv[3] ?? '1');
  if (!dir) throw new Error('Cannot start the fuzz host. Usage: fuzz-host.js <dir> <seed>.');
  mkdirSync(dir, { recursive: true });
  const world = await World.create(WORLD, { storageDir: join(dir, 'world'), seed: seed >>> 0, log: () => {} });
  const registry = await Registry.start({
    dataDir: join(dir, 'registry'),
    signer: SoftwareKey.generate('EC-P256'),
    adminToken: ADMIN_TOKEN,
    resolver: world.net.resolver,
    log: (line) => {
      if (line.startsWith('error on ')) send({ type: 'registry-error', line: line.slice(0, 400) });
    },
  });
  // Stopped by the runner, or orphaned (the runner died): either way the world's Dovecot and clamd go with us.
  const stop = () => {
    setTimeout(() => process.exit(0), 20_000).unref();
    void (async () => {
      await registry.close();
      await world.close();
      process.exit(0);
    })();
  };
  process.once('message', (m: { type?: string }) => m.type === 'stop' && stop());
  // Orphaned, nobody else will remove our directory either.
  onDisconnect = () => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    stop();
  };

  // A real org enrols with the fuzz registry: its requests are the HTTP corpus.
  const proxy = await recordingProxy(registry.url);
  const applicant = await Organisation.start({
    id: 'fuzz-org',
    domain: 'fuzz-org.example',
    mode: 'org',
    net: world.net,
    registryUrl: proxy.url,
    registryRootCert: registry.rootCertificate,
    storageDir: join(dir, 'fuzz-org'),
    hsm: world.hsm,
    mailbox: { deliver: async () => undefined },
    ...(world.clamd ? { malwareScanner: world.clamd } : {}),
    registryMaxAgeSeconds: 0,
  });
  const orgId = applicant.registryOrgId;
  const extra: [string, string, unknown?, Record<string, string>?][] = [
    ['GET', '/healthz'],
    ['GET', '/v1/root'],
    ['GET', `/v1/orgs/${orgId}/decisions`],
    ['GET', `/v1/orgs/${orgId}/outbox`],
    ['POST', `/v1/orgs/${orgId}/reevaluations`],
    ['GET', '/v1/incidents/case-1'],
    ['POST', `/v1/admin/orgs/${orgId}/decisions`, { kind: 'reinstate', reason: 'fuzz corpus' }, { authorization: `Bearer ${ADMIN_TOKEN}` }],
  ];
  for (const [method, path, body, headers] of extra) {
    const json = body === undefined ? undefined : JSON.stringify(body);
    await fetch(`${proxy.url}${path}`, {
      method,
      ...(json !== undefined ? { body: json } : {}),
      headers: { ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    }).then((r) => r.arrayBuffer());
  }
  await applicant.close();
  await proxy.close();

  // One real SSMAX mail alice → bob, as org-b's MX received it.
  await world.user('alice@org-a.example').send({
    to: 'bob@org-b.example',
    subject: 'figures for the fuzz corpus',
    body: 'The figures are attached.',
    files: [{ name: 'figures.csv', contentType: 'text/csv', content: new Uint8Array(Buffer.from('a,b\r\n1,2\r\n')) }],
    pin: '1111',
  });
  await world.waitIdle();
  const orgB = world.org('org-b').organisation;
  const ids = await orgB.ctx.inbound.list('delivered');
  const stored = ids[0] === undefined ? undefined : (await orgB.ctx.inbound.read(ids[0], 'delivered')).bytes;
  const plainMail = new Uint8Array(
    Buffer.from(
      'From: carol@outside.example\r\nTo: bob@org-b.example\r\nSubject: hello\r\nDate: Mon, 1 Jun 2026 00:00:00 +0000\r\nMessage-ID: <plain@outside.example>\r\n\r\nhello bob\r\n',
    ),
  );
  const regUrl = world.registry.url;
  const [registryDirectory, registryStatus, registryCrl] = [
    await get(`${regUrl}/v1/directory`),
    await get(`${regUrl}/v1/status`),
    await get(`${regUrl}/v1/crl`),
  ];
  const seeds: HostSeeds = {
    ...(stored ? { ssmaxMail: withoutFirstField(stored) } : {}),
    plainMail,
    ...(registryDirectory ? { registryDirectory } : {}),
    ...(registryStatus ? { registryStatus } : {}),
    ...(registryCrl ? { registryCrl } : {}),
  };
  send({
    type: 'ready',
    mx: orgB.mtaIn.endpoint,
    clientAddress: world.net.address('fuzzer/client'),
    recipient: 'bob@org-b.example',
    registryUrl: registry.url,
    adminToken: ADMIN_TOKEN,
    requests: proxy.requests,
    seeds,
  });
}

main().catch(uncaught);
