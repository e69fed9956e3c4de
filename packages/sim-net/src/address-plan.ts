import { createServer } from 'node:net';
import { isIPv4 } from 'node:net';
import { SsmaxError } from '@ssmax/core';

/** Options for {@link AddressPlan.create}. */
export interface AddressPlanOptions {
  /**
   * Picks the world's /24 inside 127/8. Two worlds with different seeds almost never share a /24
   * (65 024 choices), so parallel test files see disjoint client addresses in their logs.
   */
  readonly seed?: number;
  /** An explicit /24 such as `'127.42.7'`; overrides `seed`. Must not be `127.0.0`. */
  readonly prefix?: string;
}

/** One actor's place in the plan. */
export interface ActorAddress {
  readonly actor: string;
  readonly address: string;
}

const PREFIX_RE = /^127\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Hands out distinct loopback addresses `127.X.Y.n` (n = 1..254), one per actor, from a per-world
 * /24. Linux routes all of 127/8 to `lo`, so each address can be bound without configuration and a
 * server sees each actor's own address as the peer (SPF, reputation and logs depend on that).
 * `127.0.0.0/24` is never used, so nothing here collides with services on 127.0.0.1.
 */
export class AddressPlan {
  readonly prefix: string;
  readonly #byActor = new Map<string, string>();
  readonly #byAddress = new Map<string, string>();
  #next = 1;

  private constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Derives the world's /24 from `prefix` or `seed` (see {@link AddressPlanOptions}). */
  static create(options: AddressPlanOptions = {}): AddressPlan {
    if (options.prefix !== undefined) {
      const m = PREFIX_RE.exec(options.prefix);
      const x = Number(m?.[1]);
      const y = Number(m?.[2]);
      if (!m || x > 255 || y > 255 || (x === 0 && y === 0)) {
        throw new SsmaxError('USAGE', `Cannot create an address plan. Prefix "${options.prefix}" is not a /24 inside 127/8 other than 127.0.0.`);
      }
      return new AddressPlan(`127.${x}.${y}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) {
      throw new SsmaxError('USAGE', `Cannot create an address plan. Seed ${seed} is not a safe integer.`);
    }
    // X in 1..254 keeps clear of 127.0.0.0/24 and of the 127.255 broadcast-looking range.
    const n = ((seed % 65024) + 65024) % 65024;
    return new AddressPlan(`127.${1 + Math.floor(n / 256)}.${n % 256}`);
  }

  /** The address of `actor`, allocating the next free one the first time. */
  allocate(actor: string): string {
    const known = this.#byActor.get(actor);
    if (known !== undefined) return known;
    if (this.#next > 254) {
      throw new SsmaxError('LIMIT_EXCEEDED', `Cannot allocate an address for "${actor}". The world's /24 ${this.prefix}.0 has no free address left.`, {
        details: { prefix: this.prefix },
      });
    }
    const address = `${this.prefix}.${this.#next++}`;
    this.#byActor.set(actor, address);
    this.#byAddress.set(address, actor);
    return address;
  }

  /** The address already given to `actor`, if any. */
  addressOf(actor: string): string | undefined {
    return this.#byActor.get(actor);
  }

  /** The actor holding `address`, if any (for logs and reputation). */
  actorOf(address: string): string | undefined {
    return this.#byAddress.get(address);
  }

  /** All allocations, in allocation order. */
  entries(): ActorAddress[] {
    return [...this.#byActor].map(([actor, address]) => ({ actor, address }));
  }
}

/**
 * Throws unless a TCP listener can bind `address` (port 0). On Linux every 127/8 address can; on
 * systems that only configure 127.0.0.1 (macOS) this is where the world fails, with a clear reason.
 */
export async function checkBindable(address: string): Promise<void> {
  if (!isIPv4(address)) {
    throw new SsmaxError('USAGE', `Cannot check address "${address}". It is not an IPv4 address.`);
  }
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port: 0, exclusive: true }, () => resolve());
    });
  } catch (err) {
    throw new SsmaxError('IO_ERROR', `Cannot bind ${address}. The loopback interface does not route this 127/8 address (Linux does by default).`, {
      cause: err,
      details: { address },
    });
  } finally {
    await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  }
}
