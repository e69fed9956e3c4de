/**
 * Output destinations that become visible only on success.
 *
 * Streaming AES-GCM hands out plaintext before the tag at the end has been checked (RFC 5084 §1.2
 * warns about exactly this). The enveloped-data streams therefore never write to a final destination:
 * they write to a {@link CommitSink}, and call `commit()` only after the tag (or CBC padding), the
 * message trailer and the inspection verdict have all passed; on any failure they call `abort()`,
 * which discards everything written so far. A file sink writes to a temporary file in the target
 * directory and renames it into place on commit, so a reader of the target path never sees a
 * partial or unauthenticated result.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SsmaxError } from '../../errors.js';

export interface CommitSink {
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * True when the sink is done with a chunk once `write` has returned (it wrote or copied it), so the
   * writer may free or reuse the chunk's memory. Absent: the sink may keep the chunk ({@link MemorySink}).
   */
  readonly borrowsChunks?: boolean;
  /** Makes the output visible. Called once, after every check passed. */
  commit(): Promise<void>;
  /** Discards everything written. Called once on any failure; must not throw. */
  abort(): Promise<void>;
}

/** Collects the output in memory; `result()` is available only after commit. */
export class MemorySink implements CommitSink {
  private chunks: Uint8Array[] = [];
  private length = 0;
  private committed: Uint8Array | undefined;

  write(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.byteLength;
  }

  async commit(): Promise<void> {
    this.committed = this.chunks.length === 1 ? (this.chunks[0] as Uint8Array) : new Uint8Array(Buffer.concat(this.chunks, this.length));
    this.chunks = [];
  }

  async abort(): Promise<void> {
    this.chunks = [];
    this.length = 0;
  }

  result(): Uint8Array {
    if (!this.committed) throw new SsmaxError('USAGE', 'Cannot read the output. It was not committed.');
    return this.committed;
  }
}

/** Writes below a quarter of this are gathered into one buffer of this size (few system calls). */
const BATCH = 256 << 10;

/**
 * Writes to `<dir>/.<name>.<random>.partial` (mode 0600) and renames it to `path` on commit; unlinks
 * it on abort. Rename within one directory is atomic on POSIX file systems. Small writes (framing,
 * short cipher outputs) are copied into one reused batch buffer; large ones go straight to the file.
 * Either way the sink is done with a chunk when `write` returns.
 */
export class FileSink implements CommitSink {
  readonly borrowsChunks = true;
  private handle: FileHandle | undefined;
  private readonly tempPath: string;
  private done = false;
  private batch: Uint8Array | undefined;
  private batched = 0;

  private constructor(
    readonly path: string,
    handle: FileHandle,
    tempPath: string,
  ) {
    this.handle = handle;
    this.tempPath = tempPath;
  }

  static async create(path: string): Promise<FileSink> {
    const tempPath = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
    try {
      return new FileSink(path, await open(tempPath, 'wx', 0o600), tempPath);
    } catch (cause) {
      throw new SsmaxError('IO_ERROR', `Cannot create the output file ${path}. The temporary file could not be opened.`, { cause });
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (!this.handle) throw new SsmaxError('USAGE', 'Cannot write the output. The sink is closed.');
    if (chunk.byteLength < BATCH / 4) {
      if (this.batched + chunk.byteLength > BATCH) await this.flush();
      this.batch ??= new Uint8Array(BATCH);
      this.batch.set(chunk, this.batched);
      this.batched += chunk.byteLength;
      return;
    }
    await this.flush();
    await this.writeOut(chunk);
  }

  private async flush(): Promise<void> {
    if (this.batched === 0 || !this.batch) return;
    const n = this.batched;
    this.batched = 0;
    await this.writeOut(this.batch.subarray(0, n));
  }

  private async writeOut(bytes: Uint8Array): Promise<void> {
    const h = this.handle;
    if (!h) throw new SsmaxError('USAGE', 'Cannot write the output. The sink is closed.');
    try {
      // FileHandle.write may write less than asked (write(2)); the rest follows.
      for (let at = 0; at < bytes.byteLength;) at += (await h.write(bytes, at, bytes.byteLength - at)).bytesWritten;
    } catch (cause) {
      throw new SsmaxError('IO_ERROR', `Cannot write the output file ${this.path}.`, { cause });
    }
  }

  async commit(): Promise<void> {
    if (!this.handle || this.done) throw new SsmaxError('USAGE', 'Cannot commit the output. The sink is closed.');
    try {
      await this.flush();
      await this.handle.close();
      this.handle = undefined;
      await rename(this.tempPath, this.path);
      this.done = true;
    } catch (cause) {
      await this.abort();
      throw new SsmaxError('IO_ERROR', `Cannot commit the output file ${this.path}.`, { cause });
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.batch = undefined;
    this.batched = 0;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await unlink(this.tempPath).catch(() => undefined);
  }
}
