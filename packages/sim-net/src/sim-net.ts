import { randomInt } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SsmaxError } from '@ssmax/core';
import { AddressPlan, checkBindable } from './address-plan.js';
import { DnsZone, type DnsResolver, type DnsReverser, type MtaStsPolicy } from './dns-zone.js';
import { fetchMtaStsPolicy, type FetchedMtaStsPolicy } from './mta-sts.js';
import { ServiceDirectory, dialOptions, serviceKey, type ConnectOptions, type DialOptions, type Endpoint } from './service-directory.js';
import { TestCa } from './test-ca.js';
import { WireTap, type TapLeg, type TapRecorder } from './wire-tap.js';

export interface SimNetOptions {
  /** Seeds the world's /24 (see {@link AddressPlan}); default: from the process id and a random draw. */
  readonly seed?: number;
  /** An explicit /24 such as `'127.42.7'`. */
  readonly prefix?: string;
  /** Bytes the tap keeps per connection and direction (default 8 MiB). */
  readonly maxCaptureBytes?: number;
  readonly now?: () => Date;
  /** Parent directory of the test CA's temporary files. */
  readonly tmpDir?: string;
  /** A test CA directory shared with other processes' sim-nets (TestCaOptions.dir), so their TLS endpoints trust each other. */
  readonly caDir?: string;
}

/** What an on-path handler learns about the connection it intercepted. */
export interface OnPathMeta {
  readonly service: string;
  /** The intercepted client, as the service would have seen it. */
  readonly client: Endpoint;
  /** The real service behind the public name. */
  readonly target: Endpoint;
  /** Tap id of the client-side leg. */
  readonly connectionId: number;
}

export interface OnPathContext {
  /**
   * Opens a connection to the real service (recorded by the tap as the `upstream` leg). By default
   * it leaves from the client's own address, so the service sees what it would without the relay.
   */
  connectUpstream(options?: { readonly localAddress?: string }): Promise<Socket>;
  readonly meta: OnPathMeta;
}

/**
 * Receives each intercepted client connection: a real, accepted TCP socket whose `remoteAddress`
 * is the client's. It allows half-open connections (the client may `end()` while still reading),
 * so the handler ends its side itself. A handler that throws or rejects resets the connection.
 */
export type OnPathHandler = (clientSocket: Socket, context: OnPathContext) => void | Promise<void>;

/** Handle of an on-path hook; removing it restores plain forwarding for new connections. */
export interface OnPathHook extends Disposable {
  remove(): void;
}

/** A service published in the simulated network. */
export interface ExposedService extends AsyncDisposable {
  readonly service: string;
  /** Where clients connect (the tap's listener, or the service itself when untapped). */
  readonly endpoint: Endpoint;
  readonly target: Endpoint;
  readonly tapped: boolean;
  close(): Promise<void>;
}

/**
 * A name published before its service exists ({@link SimNet.reserve}): its relay listens and is in the
 * directory at once, so others can be told where it is; it forwards once {@link attach}ed and resets
 * connections while detached (a service starting, crashed or restarting).
 */
export interface ReservedService extends AsyncDisposable {
  readonly service: string;
  /** Where clients connect: the tap's listener, the same for the reservation's whole life. */
  readonly endpoint: Endpoint;
  /** Where connections are forwarded now; undefined while detached. */
  readonly target: Endpoint | undefined;
  /** Forwards new connections to `target` (the service's real listener). */
  attach(target: Endpoint): void;
  /** New connections are reset until the next {@link attach}. */
  detach(): void;
  close(): Promise<void>;
}

export interface ExposeOptions {
  readonly host: string;
  /** Well-known port clients ask for (25, 465, 587, 993, 443, …). */
  readonly port: number;
  /** Where the service really listens. */
  readonly target: Endpoint;
  /** Public address of the name (default `target.address`); an A record is added if missing. */
  readonly address?: string;
  /** Route connections through the wire tap (default true). */
  readonly tap?: boolean;
}

/** Pairs two asynchronous arrivals that share a key (an accepted socket and its connector). */
class Rendezvous<A, B> {
  readonly #a = new Map<string, A>();
  readonly #b = new Map<string, B>();
  constructor(private readonly meet: (a: A, b: B) => void) {}
  offerA(key: string, a: A): void {
    const b = this.#b.get(key);
    if (b === undefined) this.#a.set(key, a);
    else {
      this.#b.delete(key);
      this.meet(a, b);
    }
  }
  offerB(key: string, b: B): void {
    const a = this.#a.get(key);
    if (a === undefined) this.#b.set(key, b);
    else {
      this.#a.delete(key);
      this.meet(a, b);
    }
  }
  clear(): void {
    this.#a.clear();
    this.#b.clear();
  }
}

function listen(server: Server | HttpsServer, address: string): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: 0, exclusive: true }, () => {
      server.off('error', reject);
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new SsmaxError('INTERNAL', `Cannot listen on ${address}. The server reported no TCP address.`));
      else resolve({ address: a.address, port: a.port });
    });
  });
}

function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function dial(target: Endpoint, localAddress: string | undefined, allowHalfOpen: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: target.address, port: target.port, allowHalfOpen, family: 4, ...(localAddress ? { localAddress } : {}) });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

const endpointKey = (address: string | undefined, port: number | undefined): string => `${address ?? '?'}:${port ?? 0}`;

interface ServiceState {
  readonly service: string;
  /** Undefined while a reservation is detached: connections are reset. */
  target: Endpoint | undefined;
  readonly publicAddress: string;
  hook: OnPathHandler | undefined;
  upstream: Endpoint | undefined;
  upstreamStarting: Promise<Endpoint> | undefined;
  readonly servers: Server[];
}

/**
 * The simulated network a world's actors share: an address plan (one 127.x.y.z per actor), the
 * DNS zone and its injected resolver, the service directory, the wire tap (a recording,
 * transparent TCP relay in front of each published service), the on-path hook for a
 * man-in-the-middle, MTA-STS policy hosts and a test CA. Create it with `await using` so every
 * listener and socket is closed when the scope ends; it keeps no global state.
 */
export class SimNet implements AsyncDisposable {
  readonly plan: AddressPlan;
  readonly zone: DnsZone;
  readonly directory = new ServiceDirectory();
  readonly tap: WireTap;

  readonly #options: SimNetOptions;
  readonly #services = new Map<string, ServiceState>();
  readonly #sockets = new Set<Socket>();
  readonly #servers = new Set<Server | HttpsServer>();
  readonly #handoff: Rendezvous<Socket, { handler: OnPathHandler; context: OnPathContext }>;
  readonly #upstreamParents: Rendezvous<TapRecorder, number>;
  #handlerEndpoint: Endpoint | undefined;
  #ca: Promise<TestCa> | undefined;
  #disposed = false;

  private constructor(options: SimNetOptions) {
    this.#options = options;
    this.plan = AddressPlan.create({
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      seed: options.seed ?? process.pid * 7919 + randomInt(65024),
    });
    this.zone = new DnsZone();
    this.tap = new WireTap({
      ...(options.maxCaptureBytes !== undefined ? { maxCaptureBytes: options.maxCaptureBytes } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.#handoff = new Rendezvous((socket, { handler, context }) => {
      Promise.resolve()
        .then(() => handler(socket, context))
        .catch(() => socket.destroy());
    });
    this.#upstreamParents = new Rendezvous((recorder, parentId) => recorder.setParent(parentId));
  }

  /** Creates a network and checks that its internal address can be bound (Linux: all of 127/8). */
  static async create(options: SimNetOptions = {}): Promise<SimNet> {
    const net = new SimNet(options);
    const own = net.plan.allocate('sim-net');
    await checkBindable(own);
    const handler = createServer({ allowHalfOpen: true }, (socket) => {
      net.#track(socket);
      net.#handoff.offerA(endpointKey(socket.remoteAddress, socket.remotePort), socket);
    });
    net.#servers.add(handler);
    net.#handlerEndpoint = await listen(handler, own);
    return net;
  }

  /** The injected resolver (`dns.promises.resolve` contract) answering from {@link zone}. */
  get resolver(): DnsResolver {
    return this.zone.resolver;
  }

  /** The injected reverse resolver (`dns.promises.reverse` contract). */
  get reverse(): DnsReverser {
    return this.zone.reverse;
  }

  /** The address of `actor`, allocated on first use. */
  address(actor: string): string {
    return this.plan.allocate(actor);
  }

  /** `net.connect` options that make a connection leave from `actorAddress`. */
  dialOptions(actorAddress: string): DialOptions {
    return dialOptions(actorAddress);
  }

  /**
   * Options for `net.connect`, `tls.connect` or nodemailer to reach `host:port` from `fromAddress`
   * (host and port are the real listener; `servername` keeps the name for TLS).
   */
  connectOptions(fromAddress: string, host: string, port: number): ConnectOptions {
    const entry = this.directory.resolve(host, port);
    return { ...dialOptions(fromAddress), host: entry.endpoint.address, port: entry.endpoint.port, servername: entry.host };
  }

  /** Opens a TCP connection from `fromAddress` to the service `host:port`. */
  async connect(fromAddress: string, host: string, port: number): Promise<Socket> {
    const o = this.connectOptions(fromAddress, host, port);
    return dial({ address: o.host, port: o.port }, o.localAddress, false);
  }

  /**
   * Publishes a listening service under `host:port`. Tapped services get a transparent recording
   * relay on the public address: the service sees each client's own address as the peer.
   */
  async expose(options: ExposeOptions): Promise<ExposedService> {
    this.#assertOpen();
    const service = serviceKey(options.host, options.port);
    if (this.#services.has(service)) throw new SsmaxError('USAGE', `Cannot expose ${service}. It is already exposed; close it first.`);
    const publicAddress = options.address ?? options.target.address;
    const host = service.slice(0, service.lastIndexOf(':'));
    const hasA = await this.zone.resolver(host, 'A').then(
      (a) => a.includes(publicAddress),
      () => false,
    );
    if (!hasA) this.zone.addA(host, publicAddress);
    const tapped = options.tap ?? true;
    if (!tapped) {
      const reg = this.directory.register(host, options.port, options.target);
      const close = async (): Promise<void> => reg.remove();
      return { service, endpoint: options.target, target: options.target, tapped, close, [Symbol.asyncDispose]: close };
    }
    const { state, endpoint, close } = await this.#relay(service, host, options.port, publicAddress, { ...options.target });
    return { service, endpoint, target: state.target!, tapped, close, [Symbol.asyncDispose]: close };
  }

  /**
   * Publishes `host:port` on `address` (tapped) before its service listens: the name resolves and its
   * relay accepts at once, and resets connections until {@link ReservedService.attach} names the real
   * listener. For services started by other programs that must know each other's addresses first.
   */
  async reserve(options: { readonly host: string; readonly port: number; readonly address: string }): Promise<ReservedService> {
    this.#assertOpen();
    const service = serviceKey(options.host, options.port);
    if (this.#services.has(service)) throw new SsmaxError('USAGE', `Cannot reserve ${service}. It is already exposed; close it first.`);
    const host = service.slice(0, service.lastIndexOf(':'));
    const hasA = await this.zone.resolver(host, 'A').then(
      (a) => a.includes(options.address),
      () => false,
    );
    if (!hasA) this.zone.addA(host, options.address);
    const { state, endpoint, close } = await this.#relay(service, host, options.port, options.address, undefined);
    return {
      service,
      endpoint,
      get target() {
        return state.target;
      },
      attach: (target) => {
        state.target = { ...target };
      },
      detach: () => {
        state.target = undefined;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  }

  /** The tap's relay for `service` on `publicAddress`, registered in the directory. */
  async #relay(
    service: string,
    host: string,
    port: number,
    publicAddress: string,
    target: Endpoint | undefined,
  ): Promise<{ state: ServiceState; endpoint: Endpoint; close: () => Promise<void> }> {
    const state: ServiceState = {
      service,
      target,
      publicAddress,
      hook: undefined,
      upstream: undefined,
      upstreamStarting: undefined,
      servers: [],
    };
    const relay = createServer({ allowHalfOpen: true }, (client) => this.#onClient(state, client));
    state.servers.push(relay);
    this.#servers.add(relay);
    const endpoint = await listen(relay, publicAddress);
    this.#services.set(service, state);
    const reg = this.directory.register(host, port, endpoint);
    const close = async (): Promise<void> => {
      reg.remove();
      if (this.#services.get(service) === state) this.#services.delete(service);
      await Promise.all(
        state.servers.map(async (s) => {
          this.#servers.delete(s);
          await closeServer(s);
        }),
      );
    };
    return { state, endpoint, close };
  }

  /**
   * From now on, new connections to `service` (`'mx.org-b.example:25'` or `{host, port}`) are handed
   * to `handler` instead of being forwarded; the tap still records both legs. Only one hook per
   * service; removing it restores forwarding for new connections.
   */
  insertOnPath(service: string | { readonly host: string; readonly port: number }, handler: OnPathHandler): OnPathHook {
    const key = typeof service === 'string' ? service.trim().toLowerCase() : serviceKey(service.host, service.port);
    const state = this.#services.get(key);
    if (!state) throw new SsmaxError('USAGE', `Cannot insert a relay on the path to ${key}. No tapped service of that name is exposed.`);
    if (state.hook) throw new SsmaxError('USAGE', `Cannot insert a relay on the path to ${key}. Another relay is already on that path.`);
    state.hook = handler;
    const remove = (): void => {
      if (state.hook === handler) state.hook = undefined;
    };
    return { remove, [Symbol.dispose]: remove };
  }

  /** The sim-net test CA (created on first use); clients pass its certificate as `ca`. */
  ca(): Promise<TestCa> {
    this.#assertOpen();
    this.#ca ??= TestCa.create({
      ...(this.#options.tmpDir !== undefined ? { tmpDir: this.#options.tmpDir } : {}),
      ...(this.#options.caDir !== undefined ? { dir: this.#options.caDir } : {}),
    });
    return this.#ca;
  }

  /**
   * Publishes `policy` for `domain` (TXT `_mta-sts`) and serves it over HTTPS at
   * `mta-sts.<domain>:443` (RFC 8461 §3.3) with a certificate from the test CA. The file is read
   * from the zone at each request, so a scenario can change or withdraw it.
   */
  async serveMtaSts(domain: string, policy: MtaStsPolicy): Promise<ExposedService> {
    this.#assertOpen();
    const host = `mta-sts.${domain.toLowerCase()}`;
    this.zone.publishMtaSts(domain, policy);
    const identity = await (await this.ca()).issueServerCertificate([host]);
    const server = createHttpsServer({ key: identity.privateKeyPem, cert: identity.certificatePem }, (req, res) => {
      const text = req.method === 'GET' && req.url === '/.well-known/mta-sts.txt' ? this.zone.mtaStsPolicy(domain) : undefined;
      if (text === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      // RFC 8461 §3.3: the policy is served as text/plain.
      res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
    });
    server.on('connection', (s: Socket) => this.#track(s));
    this.#servers.add(server);
    const address = this.address(host);
    const target = await listen(server, address);
    const exposed = await this.expose({ host, port: 443, target });
    const close = async (): Promise<void> => {
      await exposed.close();
      this.#servers.delete(server);
      server.closeAllConnections();
      await closeServer(server);
    };
    return { ...exposed, close, [Symbol.asyncDispose]: close };
  }

  /** Fetches `domain`'s MTA-STS policy as `fromAddress` would, trusting the test CA. */
  async fetchMtaStsPolicy(domain: string, fromAddress?: string): Promise<FetchedMtaStsPolicy | false> {
    const ca = await this.ca();
    return fetchMtaStsPolicy(domain, {
      resolver: this.resolver,
      directory: this.directory,
      ca: ca.certificatePem,
      ...(fromAddress ? { localAddress: fromAddress } : {}),
    });
  }

  /** Closes every relay, internal listener, socket and the test CA. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#handoff.clear();
    this.#upstreamParents.clear();
    await Promise.all(
      [...this.#servers].map((s) => {
        if ('closeAllConnections' in s) s.closeAllConnections();
        return closeServer(s);
      }),
    );
    this.#servers.clear();
    this.#services.clear();
    const ca = this.#ca;
    this.#ca = undefined;
    if (ca) await (await ca.catch(() => undefined))?.[Symbol.asyncDispose]();
  }

  #assertOpen(): void {
    if (this.#disposed) throw new SsmaxError('USAGE', 'Cannot use the simulated network. It has been disposed.');
  }

  #track(socket: Socket): void {
    if (this.#disposed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #open(state: ServiceState, client: Socket, leg: TapLeg): TapRecorder {
    const from = { address: client.remoteAddress ?? '?', port: client.remotePort ?? 0 };
    const fromActor = this.plan.actorOf(from.address);
    return this.tap.open({
      service: state.service,
      leg,
      from,
      ...(fromActor ? { fromActor } : {}),
      to: { address: client.localAddress ?? '?', port: client.localPort ?? 0 },
    });
  }

  /** Pipes `client` ↔ `next` both ways, recording each chunk, propagating half-closes and teardown. */
  #splice(client: Socket, next: Socket, recorder: TapRecorder): void {
    this.#track(next);
    client.on('data', (d: Buffer) => recorder.record('client-to-server', d));
    next.on('data', (d: Buffer) => recorder.record('server-to-client', d));
    client.pipe(next);
    next.pipe(client);
    let closed = 0;
    const onClose = (other: Socket) => (): void => {
      other.destroy();
      if (++closed === 2) recorder.end();
    };
    client.on('error', () => next.destroy());
    next.on('error', () => client.destroy());
    client.once('close', onClose(next));
    next.once('close', onClose(client));
  }

  #onClient(state: ServiceState, client: Socket): void {
    this.#track(client);
    const handler = state.hook;
    const recorder = this.#open(state, client, handler ? 'client-side' : 'forwarded');
    // Transparent on loopback: leave from the client's own address, so the service (or the
    // on-path handler) sees the real peer, as SPF and reputation checks need.
    const localAddress = client.remoteAddress;
    const real = state.target;
    const target = handler ? this.#handlerEndpoint : real;
    if (!target || !real) {
      // A reservation not attached yet (or detached while its service restarts): nobody listens behind the name.
      recorder.end();
      client.destroy();
      return;
    }
    const next = connect({ host: target.address, port: target.port, allowHalfOpen: true, family: 4, ...(localAddress ? { localAddress } : {}) });
    this.#splice(client, next, recorder);
    if (!handler) return;
    const meta: OnPathMeta = { service: state.service, client: { ...recorder.connection.from }, target: real, connectionId: recorder.connection.id };
    const context: OnPathContext = {
      meta,
      connectUpstream: async (options = {}) => {
        const upstream = await this.#upstreamRelay(state);
        const socket = await dial(upstream, options.localAddress ?? localAddress, false);
        this.#track(socket);
        this.#upstreamParents.offerB(endpointKey(socket.localAddress, socket.localPort), recorder.connection.id);
        return socket;
      },
    };
    next.once('connect', () => this.#handoff.offerB(endpointKey(next.localAddress, next.localPort), { handler, context }));
  }

  /** The relay on-path handlers use to reach the real service, recorded as the `upstream` leg. */
  #upstreamRelay(state: ServiceState): Promise<Endpoint> {
    if (state.upstream) return Promise.resolve(state.upstream);
    state.upstreamStarting ??= (async () => {
      const relay = createServer({ allowHalfOpen: true }, (socket) => {
        this.#track(socket);
        const recorder = this.#open(state, socket, 'upstream');
        this.#upstreamParents.offerA(endpointKey(socket.remoteAddress, socket.remotePort), recorder);
        const real = state.target;
        if (!real) {
          recorder.end();
          socket.destroy();
          return;
        }
        const next = connect({
          host: real.address,
          port: real.port,
          allowHalfOpen: true,
          family: 4,
          ...(socket.remoteAddress ? { localAddress: socket.remoteAddress } : {}),
        });
        this.#splice(socket, next, recorder);
      });
      state.servers.push(relay);
      this.#servers.add(relay);
      state.upstream = await listen(relay, state.publicAddress);
      return state.upstream;
    })();
    return state.upstreamStarting;
  }
}
