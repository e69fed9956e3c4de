import { isIP } from 'node:net';
import { SsmaxError } from '@ssmax/core';

/** Where a socket actually listens. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** A registered service: the name and well-known port clients use, and where it really listens. */
export interface ServiceEntry {
  /** `host:port` as clients name it, e.g. `mx.org-a.example:25`. */
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly endpoint: Endpoint;
}

/** Options that make a client socket leave from the actor's own 127.x address. */
export interface DialOptions {
  readonly localAddress: string;
  readonly family: 4;
}

/** Options for `net.connect` / nodemailer's SMTP transport to reach one service. */
export interface ConnectOptions extends DialOptions {
  readonly host: string;
  readonly port: number;
  /** The name the client asked for: TLS SNI and certificate name check (RFC 6125). */
  readonly servername: string;
}

/** `host:port` key, lower-cased. */
export function serviceKey(host: string, port: number): string {
  return `${host.trim().toLowerCase().replace(/\.$/, '')}:${port}`;
}

/**
 * Maps the names and well-known ports clients use (`mx.org-b.example:25`) to where services really
 * listen (every listener binds port 0). The same entry is also found by the public address and
 * well-known port (`127.7.3.2:25`), so a client that resolved the name through DNS itself, or an
 * attacker that spoofed the A record, still reaches whatever listens on the address DNS gave.
 */
export class ServiceDirectory {
  readonly #byName = new Map<string, ServiceEntry>();
  readonly #byAddress = new Map<string, ServiceEntry>();

  /**
   * Registers `host:port` → `endpoint`, replacing an earlier entry of the same name. Returns a
   * handle that removes the entry again.
   */
  register(host: string, port: number, endpoint: Endpoint): Disposable & { entry: ServiceEntry; remove(): void } {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new SsmaxError('USAGE', `Cannot register ${host}:${port}. The port is not 1-65535.`);
    }
    const service = serviceKey(host, port);
    const entry: ServiceEntry = { service, host: service.slice(0, service.lastIndexOf(':')), port, endpoint: { ...endpoint } };
    this.#byName.set(service, entry);
    this.#byAddress.set(serviceKey(endpoint.address, port), entry);
    const remove = (): void => {
      if (this.#byName.get(service) === entry) this.#byName.delete(service);
      const addrKey = serviceKey(endpoint.address, port);
      if (this.#byAddress.get(addrKey) === entry) this.#byAddress.delete(addrKey);
    };
    return { entry, remove, [Symbol.dispose]: remove };
  }

  /** The entry of `host:port` (a name or a public address), or `undefined`. */
  lookup(host: string, port: number): ServiceEntry | undefined {
    const key = serviceKey(host, port);
    return isIP(host) ? (this.#byAddress.get(key) ?? this.#byName.get(key)) : this.#byName.get(key);
  }

  /** Like {@link lookup}, but throws when nothing is registered (ECONNREFUSED in real life). */
  resolve(host: string, port: number): ServiceEntry {
    const entry = this.lookup(host, port);
    if (!entry) {
      throw new SsmaxError('IO_ERROR', `Cannot reach ${serviceKey(host, port)}. No service is registered there in the simulated network.`, {
        details: { host, port },
      });
    }
    return entry;
  }

  /** Every registered service. */
  entries(): ServiceEntry[] {
    return [...this.#byName.values()];
  }
}

/** `net.connect` options that make the connection leave from `actorAddress` (so servers log it). */
export function dialOptions(actorAddress: string): DialOptions {
  return { localAddress: actorAddress, family: 4 };
}
