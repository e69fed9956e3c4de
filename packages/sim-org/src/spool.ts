import { promises as fs, constants as fsc } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { SimOrgError } from './errors.js';

/**
 * Durable mail queue of an organisation's mail server. A message is acknowledged (SMTP 250, RFC 5321
 * §4.5.2 "the receiver MUST NOT lose the message") only once it and its envelope are on disk:
 * written to tmp/, fsync'd, renamed into incoming/, directory fsync'd. States move by rename(2), which
 * is atomic within one file system, so a message is always in exactly one state directory.
 *
 * Processing is at-least-once: a worker killed mid-way leaves the message in processing/, and
 * {@link Spool.recover} puts it back. Side effects that must not repeat (a delivery) go through
 * {@link Spool.once}, keyed by message id + stage; with {@link Spool.markAttempt} before the side effect
 * and a way to ask whether it happened, a retry after a crash can make it exactly-once (delivery.ts).
 * A sender that names its transmissions (RFC 3461 ENVID) and retries a transaction whose 250 it lost is
 * stored once: {@link Spool.enqueueOnce}.
 */

export interface SpoolEnvelope {
  mailFrom: string;
  rcptTo: string[];
  /** Anything the stages need to carry (journey ids, hop count); must be JSON. */
  meta?: Record<string, unknown>;
}

/** Where a message is. `processing` is held by a worker; the other states are queues or final. */
export type SpoolState = 'incoming' | 'processing' | 'outgoing' | 'delivered' | 'bounced';
/** States a worker can claim from. */
export type ClaimableState = 'incoming' | 'outgoing';

export interface SpoolEntry {
  id: string;
  state: SpoolState;
  envelope: SpoolEnvelope;
  bytes: Uint8Array;
}

/**
 * The envelope meta of `entry`, checked by `is`: the spool stores it as JSON, so the stage that wrote it and
 * the stage that reads it agree on its shape only through this check. A SPOOL_IO error when it does not hold
 * (a file some other stage or version wrote).
 */
export function spoolMeta<M>(entry: SpoolEntry, is: (meta: unknown) => meta is M, what: string): M {
  const meta = entry.envelope.meta;
  if (!is(meta)) throw new SimOrgError('SPOOL_IO', `Cannot process spooled message ${entry.id}. Its envelope meta is not ${what}.`);
  return meta;
}

export interface SpoolOptions {
  /** Id source; ids sort in arrival order (time prefix) so claims are FIFO. */
  newId?: () => string;
  /**
   * Group commit of directory fsyncs (default on): callers that need the same directory made durable
   * while an fsync of it is running share the next one, instead of each issuing its own (issue 13's
   * lever; off only to measure it). A message's own data fsync is never shared.
   */
  groupCommit?: boolean;
  /** Called once per directory fsync actually issued (tests and the bench count them). */
  onDirSync?: (dir: string) => void;
}

/** Every state, in the order a message can first reach it (a retry moves it back from outgoing to processing). */
export const SPOOL_STATES: readonly SpoolState[] = ['incoming', 'processing', 'outgoing', 'delivered', 'bounced'];
const SEP = '~';

/** The message id of a file name in `state`: in `processing` the name is `<state it came from>~<id>`. */
export function spoolMessageId(state: SpoolState, name: string): string {
  return state === 'processing' ? name.slice(name.indexOf(SEP) + 1) : name;
}

async function fsyncDir(path: string): Promise<void> {
  const h = await fs.open(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Group commit for one directory: an fsync(2) of a directory makes durable every entry change made
 * before it STARTED. A caller that arrives while one is running cannot rely on it (its rename may have
 * come after the start), so it waits for the next one, which every caller arriving meanwhile shares:
 * N concurrent callers cost at most two fsyncs instead of N. Each caller's promise still resolves only
 * after an fsync that began after its call, so "no 250 before the directory entry is on disk" holds.
 */
export class DirSyncer {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  /** `fsync` makes the directory durable (fsyncDir of one path, or a test's own). */
  constructor(private readonly fsync: () => Promise<void>) {}

  sync(): Promise<void> {
    if (this.running === undefined) {
      const run = this.fsync().finally(() => {
        if (this.running === run) this.running = undefined;
      });
      this.running = run;
      return run;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.sync();
      });
    return this.next;
  }
}

const markerName = (id: string, stage: string): string => createHash('sha256').update(`${id}\0${stage}`).digest('hex');

function defaultId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${process.hrtime.bigint().toString(36)}-${randomBytes(6).toString('hex')}`;
}

const exists = (path: string): Promise<boolean> =>
  fs.access(path).then(
    () => true,
    () => false,
  );

/** Writes `text` to `<dir>/<name>` so that after a crash the file is either absent or whole: tmp, fsync, rename, fsync dir. */
async function writeDurably(dir: string, name: string, text: string, syncDir: () => Promise<void>): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  const h = await fs.open(tmp, 'w', 0o600);
  try {
    await h.writeFile(text);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, join(dir, name));
  await syncDir();
}

export class Spool {
  private readonly newId: () => string;
  private readonly keyLocks = new Map<string, Promise<void>>();
  private readonly syncers = new Map<string, DirSyncer>();

  private constructor(
    readonly dir: string,
    private readonly options: SpoolOptions,
  ) {
    this.newId = options.newId ?? defaultId;
  }

  /** Makes the entries of `<spool>/<sub>` durable (shared with concurrent callers under group commit). */
  private syncDir(sub: string): Promise<void> {
    const path = join(this.dir, sub);
    const fsync = (): Promise<void> => {
      this.options.onDirSync?.(path);
      return fsyncDir(path);
    };
    if (this.options.groupCommit === false) return fsync();
    let s = this.syncers.get(sub);
    if (s === undefined) {
      s = new DirSyncer(fsync);
      this.syncers.set(sub, s);
    }
    return s.sync();
  }

  /** Opens (creating if needed) a spool directory. Call {@link recover} before starting workers. */
  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    try {
      for (const d of ['tmp', 'done', 'keys', ...SPOOL_STATES]) await fs.mkdir(join(dir, d), { recursive: true });
      await fsyncDir(dir);
    } catch (err) {
      throw new SimOrgError('SPOOL_IO', `Cannot open spool at ${dir}. ${(err as Error).message}`, { cause: err });
    }
    return new Spool(dir, options);
  }

  /** Stores a message durably; when the promise resolves the message survives a crash. Returns its id. */
  async enqueue(envelope: SpoolEnvelope, bytes: Uint8Array): Promise<string> {
    return this.store(this.newId(), envelope, bytes);
  }

  /**
   * Stores a message unless the transmission `key` names is already in the spool, in any state: the
   * sender lost our 250 (a kill, a dropped connection) and sends the same transaction again (RFC 5321
   * §6.1 leaves that duplicate to the receiver). The key file is written, durably, before the message,
   * and names the message's id; a key whose message never made it (a kill in between, so no 250 went
   * out) does not count. Two sessions with one key at once are serialised here.
   */
  async enqueueOnce(key: string, envelope: SpoolEnvelope, bytes: Uint8Array): Promise<{ id: string; duplicate: boolean }> {
    const h = createHash('sha256').update(key).digest('hex');
    const before = this.keyLocks.get(h) ?? Promise.resolve();
    const run = before.then(async () => {
      const keyPath = join(this.dir, 'keys', h);
      const known = await fs.readFile(keyPath, 'utf8').catch(() => undefined);
      if (known !== undefined && (await this.holds(known))) return { id: known, duplicate: true };
      const id = this.newId();
      await writeDurably(join(this.dir, 'keys'), h, id, () => this.syncDir('keys'));
      return { id: await this.store(id, envelope, bytes), duplicate: false };
    });
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.keyLocks.set(h, settled);
    void settled.then(() => {
      if (this.keyLocks.get(h) === settled) this.keyLocks.delete(h);
    });
    return run;
  }

  /** True when message `id` is in any state directory. */
  private async holds(id: string): Promise<boolean> {
    if (!/^[\w.-]+$/.test(id)) return false;
    const paths = [
      ...SPOOL_STATES.filter((s) => s !== 'processing').map((s) => join(this.dir, s, id)),
      this.processingPath('incoming', id),
      this.processingPath('outgoing', id),
    ];
    for (const p of paths) if (await exists(p)) return true;
    return false;
  }

  private async store(id: string, envelope: SpoolEnvelope, bytes: Uint8Array): Promise<string> {
    if (!/^[\w.-]+$/.test(id)) throw new SimOrgError('USAGE', `Cannot enqueue message. Id "${id}" is not a safe file name.`);
    const header = Buffer.from(JSON.stringify(envelope) + '\n', 'utf8');
    const tmp = join(this.dir, 'tmp', id);
    try {
      const h = await fs.open(tmp, 'wx', 0o600);
      try {
        await h.writev([header, bytes]);
        await h.sync();
      } finally {
        await h.close();
      }
      await fs.rename(tmp, join(this.dir, 'incoming', id));
      // The rename is durable only once the directory entry is: fsync both directories.
      await Promise.all([this.syncDir('incoming'), this.syncDir('tmp')]);
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw new SimOrgError('SPOOL_IO', `Cannot enqueue message. ${(err as Error).message}`, { cause: err });
    }
    return id;
  }

  /** Message ids in a state, oldest first. In `processing` the ids carry the state they came from. */
  async list(state: SpoolState): Promise<string[]> {
    const names = (await fs.readdir(join(this.dir, state))).sort();
    return names.map((n) => spoolMessageId(state, n));
  }

  /**
   * Takes the oldest message of `from` for processing (rename into processing/). Returns undefined when
   * the queue is empty. Two workers racing for the same file: one rename wins, the other moves on.
   */
  async claim(from: ClaimableState = 'incoming'): Promise<SpoolEntry | undefined> {
    for (const id of await this.list(from)) {
      try {
        await fs.rename(join(this.dir, from, id), this.processingPath(from, id));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new SimOrgError('SPOOL_IO', `Cannot claim message ${id}. ${(err as Error).message}`, { cause: err });
      }
      await this.syncDir('processing');
      return { ...(await this.readFile(this.processingPath(from, id), id)), state: 'processing' };
    }
    return undefined;
  }

  /** Moves a claimed message on (to the next queue or a final state). */
  async move(id: string, to: Exclude<SpoolState, 'processing'>): Promise<void> {
    const src = await this.findProcessing(id);
    try {
      await fs.rename(src, join(this.dir, to, id));
      await Promise.all([this.syncDir(to), this.syncDir('processing')]);
    } catch (err) {
      throw new SimOrgError('SPOOL_IO', `Cannot move message ${id} to ${to}. ${(err as Error).message}`, { cause: err });
    }
  }

  /** Reads a message in a given state. */
  async read(id: string, state: SpoolState): Promise<SpoolEntry> {
    const path = state === 'processing' ? await this.findProcessing(id) : join(this.dir, state, id);
    return { ...(await this.readFile(path, id)), state };
  }

  /**
   * Run on start: messages left in processing/ by a killed worker go back to the queue they came
   * from, and unacknowledged half-writes in tmp/ are discarded (their sender got no 250 and retries).
   */
  async recover(): Promise<{ requeued: string[]; discarded: number }> {
    const requeued: string[] = [];
    for (const name of await fs.readdir(join(this.dir, 'processing'))) {
      const at = name.indexOf(SEP);
      const from = name.slice(0, at) as ClaimableState;
      const id = name.slice(at + 1);
      await fs.rename(join(this.dir, 'processing', name), join(this.dir, from === 'outgoing' ? 'outgoing' : 'incoming', id));
      requeued.push(id);
    }
    const tmps = await fs.readdir(join(this.dir, 'tmp'));
    for (const t of tmps) await fs.rm(join(this.dir, 'tmp', t), { force: true });
    for (const d of ['incoming', 'outgoing', 'processing', 'tmp']) await fsyncDir(join(this.dir, d));
    return { requeued, discarded: tmps.length };
  }

  /**
   * Runs `fn` unless `stage` was already completed for message `id` (by this or an earlier process),
   * then records completion durably. A crash between `fn` and the record runs `fn` again on retry, so
   * `fn` itself should be idempotent where it can be (at-least-once, not exactly-once).
   */
  async once<T>(id: string, stage: string, fn: () => Promise<T>): Promise<{ ran: boolean; result?: T }> {
    const marker = join(this.dir, 'done', markerName(id, stage));
    if (await exists(marker)) return { ran: false };
    const result = await fn();
    const h = await fs.open(marker, 'w', 0o600);
    try {
      await h.writeFile(JSON.stringify({ id, stage }));
      await h.sync();
    } finally {
      await h.close();
    }
    await this.syncDir('done');
    return { ran: true, result };
  }

  /** True when {@link once} completed `stage` for `id`. */
  async isDone(id: string, stage: string): Promise<boolean> {
    return exists(join(this.dir, 'done', markerName(id, stage)));
  }

  /**
   * Records, durably, that the side effect of `stage` is about to be tried for `id`. A retry that finds
   * the record (see {@link attempted}) knows the effect may have happened before a crash and asks the
   * other side before repeating it; a retry without it knows the effect never started.
   */
  async markAttempt(id: string, stage: string): Promise<void> {
    await writeDurably(join(this.dir, 'done'), `${markerName(id, stage)}.attempt`, JSON.stringify({ id, stage }), () => this.syncDir('done'));
  }

  /** True when {@link markAttempt} was recorded for `stage` of `id` (by this or an earlier process). */
  async attempted(id: string, stage: string): Promise<boolean> {
    return exists(join(this.dir, 'done', `${markerName(id, stage)}.attempt`));
  }

  private processingPath(from: ClaimableState, id: string): string {
    return join(this.dir, 'processing', `${from}${SEP}${id}`);
  }

  private async findProcessing(id: string): Promise<string> {
    for (const from of ['incoming', 'outgoing'] as const) {
      const p = this.processingPath(from, id);
      if (await exists(p)) return p;
    }
    throw new SimOrgError('SPOOL_NOT_FOUND', `Cannot find message ${id} in processing. It was not claimed or was already moved.`);
  }

  private async readFile(path: string, id: string): Promise<Omit<SpoolEntry, 'state'>> {
    let raw: Buffer;
    try {
      raw = await fs.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SimOrgError('SPOOL_NOT_FOUND', `Cannot read message ${id}. It is not in the spool.`);
      throw new SimOrgError('SPOOL_IO', `Cannot read message ${id}. ${(err as Error).message}`, { cause: err });
    }
    const nl = raw.indexOf(0x0a);
    return { id, envelope: JSON.parse(raw.subarray(0, nl).toString('utf8')) as SpoolEnvelope, bytes: new Uint8Array(raw.subarray(nl + 1)) };
  }
}
