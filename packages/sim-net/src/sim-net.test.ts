import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { describe, expect, it } from 'vitest';
import { SimNet } from './sim-net.js';
import type { Endpoint } from './service-directory.js';

interface Echo extends AsyncDisposable {
  endpoint: Endpoint;
  peers: string[];
}

async function echoServer(address: string): Promise<Echo> {
  const peers: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    peers.push(s.remoteAddress ?? '?');
    s.pipe(s);
    s.on('error', () => undefined);
  });
  server.listen(0, address);
  await once(server, 'listening');
  const a = server.address() as { address: string; port: number };
  return {
    endpoint: { address: a.address, port: a.port },
    peers,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Sends `text`, half-closes, and returns everything the peer sent back. */
async function roundTrip(socket: Socket, text: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.end(text);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

async function settle(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 5));
}

describe('SimNet', () => {
  it('forwards through the tap so the service sees the client’s own 127.x address and both directions are captured', async () => {
    await using net = await SimNet.create({ seed: 1 });
    await using echo = await echoServer(net.address('org-b/echo'));
    await using svc = await net.expose({ host: 'echo.org-b.example', port: 7, target: echo.endpoint });
    const alice = net.address('org-a/mta');
    const carol = net.address('org-c/mta');
    // DNS names the actor's address; the directory maps (name or that address, well-known port) to the tap.
    const [ip] = await net.resolver('echo.org-b.example', 'A');
    expect(ip).toBe(echo.endpoint.address);
    expect(net.connectOptions(alice, ip!, 7)).toEqual({ localAddress: alice, family: 4, host: ip, port: svc.endpoint.port, servername: 'echo.org-b.example' });
    expect(svc.endpoint.port).not.toBe(echo.endpoint.port);

    expect(await roundTrip(await net.connect(alice, 'echo.org-b.example', 7), 'secret file bytes')).toBe('secret file bytes');
    expect(await roundTrip(await net.connect(carol, 'echo.org-b.example', 7), 'other')).toBe('other');
    expect(echo.peers).toEqual([alice, carol]);

    await settle(() => net.tap.connections().every((c) => c.endedAt !== undefined));
    const [first, second] = net.tap.connections();
    expect(first).toMatchObject({
      service: 'echo.org-b.example:7',
      leg: 'forwarded',
      fromActor: 'org-a/mta',
      bytes: { 'client-to-server': 17, 'server-to-client': 17 },
    });
    expect(first!.from.address).toBe(alice);
    expect(first!.endedAt).toBeInstanceOf(Date);
    expect(first!.captured('client-to-server').toString()).toBe('secret file bytes');
    expect(first!.captured('server-to-client').toString()).toBe('secret file bytes');
    expect(second!.from.address).toBe(carol);

    const hits = net.tap.search('file bytes');
    expect(hits.map((h) => [h.connection.id, h.direction, h.offset])).toEqual([
      [first!.id, 'client-to-server', 7],
      [first!.id, 'server-to-client', 7],
    ]);
    expect(net.tap.search(Buffer.from('not there'))).toEqual([]);
    net.tap.clear();
    expect(net.tap.connections()).toEqual([]);
  });

  it('reserves a name before its service exists: listed and resolvable at once, reset until attached, the same endpoint across a restart', async () => {
    await using net = await SimNet.create({ seed: 3 });
    const publicAddress = net.address('mx.org-b.example');
    await using mx = await net.reserve({ host: 'mx.org-b.example', port: 25, address: publicAddress });
    // Another program told about the name now gets an endpoint that stays valid.
    expect(await net.resolver('mx.org-b.example', 'A')).toEqual([publicAddress]);
    expect(net.directory.entries().find((e) => e.host === 'mx.org-b.example' && e.port === 25)?.endpoint).toEqual(mx.endpoint);
    const alice = net.address('org-a/mta-out');
    const reset = await net.connect(alice, 'mx.org-b.example', 25);
    expect(await roundTrip(reset, 'before the service')).toBe('');
    expect(mx.target).toBeUndefined();
    {
      await using first = await echoServer(net.address('org-b/impl-1'));
      mx.attach(first.endpoint);
      expect(await roundTrip(await net.connect(alice, 'mx.org-b.example', 25), 'one')).toBe('one');
      expect(first.peers).toEqual([alice]);
      mx.detach();
    }
    expect(await roundTrip(await net.connect(alice, 'mx.org-b.example', 25), 'while down')).toBe('');
    await using second = await echoServer(net.address('org-b/impl-2'));
    mx.attach(second.endpoint);
    expect(await roundTrip(await net.connect(alice, 'mx.org-b.example', 25), 'two')).toBe('two');
    expect(net.directory.entries().find((e) => e.host === 'mx.org-b.example')?.endpoint).toEqual(mx.endpoint);
    await expect(net.expose({ host: 'mx.org-b.example', port: 25, target: second.endpoint })).rejects.toThrow(/already exposed/);
  });

  it('counts every byte but captures only up to the cap when a connection is large', async () => {
    await using net = await SimNet.create({ seed: 2, maxCaptureBytes: 1000 });
    await using echo = await echoServer(net.address('svc'));
    await using _svc = await net.expose({ host: 'big.example', port: 7, target: echo.endpoint });
    const payload = 'x'.repeat(5000);
    expect((await roundTrip(await net.connect(net.address('c'), 'big.example', 7), payload)).length).toBe(5000);
    await settle(() => net.tap.connections()[0]?.endedAt !== undefined);
    const [c] = net.tap.connections();
    expect(c!.bytes['client-to-server']).toBe(5000);
    expect(c!.captured('client-to-server').length).toBe(1000);
    expect(c!.truncated).toEqual({ 'client-to-server': true, 'server-to-client': true });
  });

  it('hands new connections to the on-path handler, which can rewrite bytes, and forwards again once removed', async () => {
    await using net = await SimNet.create({ seed: 3 });
    await using echo = await echoServer(net.address('org-b/mta'));
    await using _svc = await net.expose({ host: 'mx.org-b.example', port: 25, target: echo.endpoint });
    const alice = net.address('org-a/mta');
    const seen: { client: string; service: string }[] = [];
    const hook = net.insertOnPath('mx.org-b.example:25', async (client, { connectUpstream, meta }) => {
      seen.push({ client: client.remoteAddress ?? '?', service: meta.service });
      const upstream = await connectUpstream();
      client.on('data', (d: Buffer) => upstream.write(d.toString().replace('plain', 'SWAPPED')));
      client.on('end', () => upstream.end());
      upstream.pipe(client);
    });

    expect(await roundTrip(await net.connect(alice, 'mx.org-b.example', 25), 'plain text')).toBe('SWAPPED text');
    expect(seen).toEqual([{ client: alice, service: 'mx.org-b.example:25' }]);
    // The relay keeps the client's address upstream, so the service cannot tell it was intercepted.
    expect(echo.peers).toEqual([alice]);

    await settle(
      () =>
        net.tap.connections().length === 2 && net.tap.connections().every((c) => c.endedAt !== undefined && (c.leg !== 'upstream' || c.parentId !== undefined)),
    );
    const clientSide = net.tap.connections().find((c) => c.leg === 'client-side')!;
    const upstreamLeg = net.tap.connections().find((c) => c.leg === 'upstream')!;
    expect(upstreamLeg.parentId).toBe(clientSide.id);
    expect(clientSide.captured('client-to-server').toString()).toBe('plain text');
    expect(upstreamLeg.captured('client-to-server').toString()).toBe('SWAPPED text');
    expect(
      net.tap
        .search('SWAPPED')
        .map((m) => m.connection.leg)
        .sort(),
    ).toEqual(['client-side', 'upstream', 'upstream']);
    expect(() => net.insertOnPath('mx.org-b.example:25', () => undefined)).toThrow(expect.objectContaining({ code: 'USAGE' }));

    hook.remove();
    expect(await roundTrip(await net.connect(alice, 'mx.org-b.example', 25), 'plain text')).toBe('plain text');
    expect(seen).toHaveLength(1);
    expect(net.tap.connections().at(-1)!.leg).toBe('forwarded');
  });

  it('lets nodemailer reach an SMTP server by name from the actor’s address, and the tap sees the mail', async () => {
    await using net = await SimNet.create({ seed: 4 });
    const peers: string[] = [];
    const bodies: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onConnect(session, cb) {
        peers.push(session.remoteAddress);
        cb();
      },
      onData(stream, _session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          bodies.push(Buffer.concat(chunks).toString());
          cb();
        });
      },
    });
    const mxAddress = net.address('org-b/mta-in');
    await new Promise<void>((r) => smtp.listen(0, mxAddress, () => r()));
    try {
      const { port } = smtp.server.address() as { port: number };
      await using _svc = await net.expose({ host: 'mx.org-b.example', port: 25, target: { address: mxAddress, port } });
      net.zone.addMx('org-b.example', 'mx.org-b.example', 10);
      const [mx] = await net.resolver('org-b.example', 'MX');
      const from = net.address('org-a/mta-out');
      const transport = nodemailer.createTransport({ ...net.connectOptions(from, mx!.exchange, 25), secure: false, ignoreTLS: true, name: 'mx.org-a.example' });
      await transport.sendMail({ from: 'alice@org-a.example', to: 'bob@org-b.example', subject: 'hi', text: 'the quarterly numbers' });
      transport.close();
      expect(peers).toEqual([from]);
      expect(bodies[0]).toContain('the quarterly numbers');
      expect(net.tap.search('the quarterly numbers').map((m) => m.connection.fromActor)).toEqual(['org-a/mta-out']);
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  });

  it('serves the MTA-STS policy over HTTPS with a test-CA certificate and refuses a client that does not trust it', async () => {
    await using net = await SimNet.create({ seed: 5 });
    await using _sts = await net.serveMtaSts('org-b.example', { id: 'v1', mode: 'enforce', mx: ['mx.org-b.example'], maxAge: 604800 });
    const policy = await net.fetchMtaStsPolicy('org-b.example', net.address('org-a/mta'));
    expect(policy).toMatchObject({ version: 'STSv1', mode: 'enforce', mx: ['mx.org-b.example'], maxAge: 604800 });
    // Only ciphertext crossed the wire.
    expect(net.tap.connections().length).toBeGreaterThan(0);
    expect(net.tap.search('max_age')).toEqual([]);

    const { fetchMtaStsPolicy } = await import('./mta-sts.js');
    const { TestCa } = await import('./test-ca.js');
    await using other = await TestCa.create();
    await expect(fetchMtaStsPolicy('org-b.example', { resolver: net.resolver, directory: net.directory, ca: other.certificatePem })).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER/),
    });
    expect(await net.fetchMtaStsPolicy('org-c.example')).toBe(false);
    net.zone.withdrawMtaSts('org-b.example');
    await expect(net.fetchMtaStsPolicy('org-b.example')).rejects.toMatchObject({ details: { status: 404 } });
  });

  it('closes listeners and live connections when disposed, leaving no open handles', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    let relayPort = 0;
    let live: Socket | undefined;
    {
      await using echo = await echoServer('127.0.0.1');
      {
        await using net = await SimNet.create({ seed: 6 });
        const svc = await net.expose({ host: 'echo.example', port: 7, target: echo.endpoint });
        await net.serveMtaSts('org-b.example', { id: 'v1', mode: 'testing', mx: ['mx.org-b.example'], maxAge: 60 });
        relayPort = svc.endpoint.port;
        live = await net.connect(net.address('c'), 'echo.example', 7);
        live.on('error', () => undefined);
        live.write('hold');
        await once(live, 'data');
      }
      await settle(() => live!.destroyed);
      expect(live!.destroyed).toBe(true);
      const refused = connect(relayPort, '127.0.0.1');
      const [err] = (await once(refused, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
      expect(err.code).toBe('ECONNREFUSED');
    }
    await settle(() => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length <= before);
    expect(process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length).toBe(before);
  });
  it('shares one test CA between sim-nets through a CA directory: one trusts what the other serves, and the directory outlives them', async () => {
    const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const caDir = join(mkdtempSync(join(tmpdir(), 'ssmax-shared-ca-')), 'ca');
    try {
      {
        await using serving = await SimNet.create({ seed: 11, caDir });
        await using fetching = await SimNet.create({ seed: 12, caDir });
        expect((await serving.ca()).certificatePem).toBe((await fetching.ca()).certificatePem);
        await using _sts = await serving.serveMtaSts('org-s.example', { id: 'v1', mode: 'enforce', mx: ['mx.org-s.example'], maxAge: 60 });
        const { fetchMtaStsPolicy } = await import('./mta-sts.js');
        // The other sim-net's clients trust it with their own CA certificate.
        const policy = await fetchMtaStsPolicy('org-s.example', {
          resolver: serving.resolver,
          directory: serving.directory,
          ca: (await fetching.ca()).certificatePem,
        });
        expect(policy).toMatchObject({ mode: 'enforce' });
      }
      expect(existsSync(join(caDir, 'ca.pem'))).toBe(true);
    } finally {
      rmSync(join(caDir, '..'), { recursive: true, force: true });
    }
  });
});
