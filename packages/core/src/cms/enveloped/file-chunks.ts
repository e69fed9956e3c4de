/**
 * A file as a {@link ByteInput} read through one reused buffer. A read stream allocates a fresh buffer
 * per read and node frees those only at a later GC, so a streamed hop over a large file held the file's
 * size in dead read buffers; here the memory read into is one buffer of at most `chunkSize`, which the
 * streaming readers may find overwritten once they ask for the next chunk (the ByteInput contract).
 */
import { open } from 'node:fs/promises';
import { SsmaxError } from '../../errors.js';
import type { ByteInput } from './ber-stream-reader.js';

/** 256 KiB: large enough that system calls and per-chunk work stay small beside the crypto. */
export const FILE_CHUNK = 256 << 10;

/** Reads `path` in chunks of up to `chunkSize` bytes into one buffer; closes the file when done or abandoned. */
export async function* readFileChunks(path: string, chunkSize = FILE_CHUNK): AsyncGenerator<Uint8Array, void, undefined> & ByteInput {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw new SsmaxError('IO_ERROR', `Cannot read the input file ${path}. It could not be opened.`, { cause });
  }
  try {
    // A small file needs no 256 KiB buffer; one more byte than its size sees the end in one read.
    const buf = new Uint8Array(Math.max(1, Math.min(chunkSize, (await fh.stat()).size + 1)));
    for (;;) {
      let n: number;
      try {
        n = (await fh.read(buf, 0, buf.byteLength, null)).bytesRead;
      } catch (cause) {
        throw new SsmaxError('IO_ERROR', `Cannot read the input file ${path}.`, { cause });
      }
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    await fh.close();
  }
}
