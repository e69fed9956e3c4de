import type { Endpoint } from './service-directory.js';

/** Which way bytes flowed, from the connecting client's point of view. */
export type TapDirection = 'client-to-server' | 'server-to-client';

/**
 * How a recorded connection sat on the path: `forwarded` (client ↔ service), `client-side`
 * (client ↔ on-path relay) or `upstream` (on-path relay ↔ service).
 */
export type TapLeg = 'forwarded' | 'client-side' | 'upstream';

/** One recorded TCP connection. Byte counts are exact; captured bytes stop at the cap. */
export interface TapConnection {
  readonly id: number;
  /** `host:port` as clients name the service. */
  readonly service: string;
  readonly leg: TapLeg;
  /** For an `upstream` leg: the id of the `client-side` connection it serves, once known. */
  readonly parentId: number | undefined;
  readonly from: Endpoint;
  /** Actor owning `from.address`, if the address plan knows it. */
  readonly fromActor: string | undefined;
  /** The public endpoint the client connected to. */
  readonly to: Endpoint;
  readonly startedAt: Date;
  readonly endedAt: Date | undefined;
  readonly bytes: Readonly<Record<TapDirection, number>>;
  readonly truncated: Readonly<Record<TapDirection, boolean>>;
  /** The captured bytes of one direction, concatenated. */
  captured(direction: TapDirection): Buffer;
  /** Captured segments in arrival order (both directions interleaved). */
  transcript(): readonly TapSegment[];
}

export interface TapSegment {
  readonly direction: TapDirection;
  readonly at: Date;
  readonly bytes: Buffer;
}

/** Where {@link WireTap.search} found the needle (first occurrence per connection and direction). */
export interface TapMatch {
  readonly connection: TapConnection;
  readonly direction: TapDirection;
  readonly offset: number;
}

export interface WireTapOptions {
  /** Bytes captured per connection and direction (default 8 MiB); counting continues past it. */
  readonly maxCaptureBytes?: number;
  readonly now?: () => Date;
}

/** @internal What relays write into. */
export interface TapRecorder {
  readonly connection: TapConnection;
  record(direction: TapDirection, bytes: Buffer): void;
  setParent(id: number): void;
  end(): void;
}

class Recording implements TapConnection, TapRecorder {
  readonly id: number;
  readonly service: string;
  readonly leg: TapLeg;
  parentId: number | undefined;
  readonly from: Endpoint;
  readonly fromActor: string | undefined;
  readonly to: Endpoint;
  readonly startedAt: Date;
  endedAt: Date | undefined;
  readonly bytes: Record<TapDirection, number> = { 'client-to-server': 0, 'server-to-client': 0 };
  readonly truncated: Record<TapDirection, boolean> = { 'client-to-server': false, 'server-to-client': false };
  readonly #segments: TapSegment[] = [];
  readonly #captured: Record<TapDirection, number> = { 'client-to-server': 0, 'server-to-client': 0 };
  readonly #cap: number;
  readonly #now: () => Date;

  constructor(id: number, meta: TapOpen, cap: number, now: () => Date) {
    this.id = id;
    this.service = meta.service;
    this.leg = meta.leg;
    this.parentId = meta.parentId;
    this.from = meta.from;
    this.fromActor = meta.fromActor;
    this.to = meta.to;
    this.#cap = cap;
    this.#now = now;
    this.startedAt = now();
  }

  get connection(): TapConnection {
    return this;
  }

  record(direction: TapDirection, bytes: Buffer): void {
    this.bytes[direction] += bytes.length;
    const room = this.#cap - this.#captured[direction];
    if (room <= 0) {
      this.truncated[direction] = true;
      return;
    }
    const kept = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (kept.length < bytes.length) this.truncated[direction] = true;
    this.#captured[direction] += kept.length;
    this.#segments.push({ direction, at: this.#now(), bytes: Buffer.from(kept) });
  }

  setParent(id: number): void {
    this.parentId = id;
  }

  end(): void {
    this.endedAt ??= this.#now();
  }

  captured(direction: TapDirection): Buffer {
    return Buffer.concat(this.#segments.filter((s) => s.direction === direction).map((s) => s.bytes));
  }

  transcript(): readonly TapSegment[] {
    return [...this.#segments];
  }
}

/** @internal */
export interface TapOpen {
  readonly service: string;
  readonly leg: TapLeg;
  readonly parentId?: number;
  readonly from: Endpoint;
  readonly fromActor?: string;
  readonly to: Endpoint;
}

/**
 * Records every connection that passes through the simulated network's relays, so the leak checks
 * can ask "did this file's plaintext ever cross the wire, and where?".
 */
export class WireTap {
  readonly #connections: Recording[] = [];
  readonly #cap: number;
  readonly #now: () => Date;
  #nextId = 1;

  constructor(options: WireTapOptions = {}) {
    this.#cap = options.maxCaptureBytes ?? 8 * 1024 * 1024;
    this.#now = options.now ?? (() => new Date());
  }

  /** @internal Starts recording one connection. */
  open(meta: TapOpen): TapRecorder {
    const r = new Recording(this.#nextId++, meta, this.#cap, this.#now);
    this.#connections.push(r);
    return r;
  }

  /** Recorded connections, oldest first. */
  connections(): readonly TapConnection[] {
    return [...this.#connections];
  }

  /** Connections whose captured bytes contain `needle` (a string is searched as UTF-8). */
  search(needle: Uint8Array | string): TapMatch[] {
    const n = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength);
    if (n.length === 0) return [];
    const matches: TapMatch[] = [];
    for (const connection of this.#connections) {
      for (const direction of ['client-to-server', 'server-to-client'] as const) {
        const offset = connection.captured(direction).indexOf(n);
        if (offset >= 0) matches.push({ connection, direction, offset });
      }
    }
    return matches;
  }

  /** Forgets every recorded connection (live ones keep recording into their own, now unlisted, record). */
  clear(): void {
    this.#connections.length = 0;
  }
}
