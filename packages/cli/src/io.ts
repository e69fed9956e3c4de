import { closeSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { SsmaxError } from '@ssmax/core';

/** Reads a file, or stdin for `-`. */
export function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path === '-' ? 0 : path));
  } catch (cause) {
    throw new SsmaxError('IO_ERROR', `Cannot read ${what} from ${path}. ${(cause as Error).message}`, { cause });
  }
}

/**
 * Writes a regular file atomically (temp file + fsync + rename), so no partial output file is ever left
 * behind when a command fails midway; stdout for `-`. Anything that exists and is not a regular file (a
 * character device such as /dev/null, a FIFO, /dev/stdout) is written in place: renaming over it would
 * replace the device itself with a file (as root, for every program on the machine). A symbolic link is
 * followed, so the link stays and its target is written.
 */
export function writeOutput(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (path === '-') {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(1, bytes, off);
    return;
  }
  let target = path;
  try {
    const st = statSync(path);
    if (!st.isFile()) {
      writeInPlace(path, bytes);
      return;
    }
    target = realpathSync(path);
  } catch (cause) {
    if (cause instanceof SsmaxError) throw cause;
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw new SsmaxError('IO_ERROR', `Cannot write ${path}. ${(cause as Error).message}`, { cause });
  }
  writeAtomically(target, path, bytes);
}

/** Writes into an existing non-regular file (device, FIFO) without replacing it. */
function writeInPlace(path: string, bytes: Uint8Array): void {
  try {
    const fd = openSync(path, 'w');
    try {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off);
    } finally {
      closeSync(fd);
    }
  } catch (cause) {
    throw new SsmaxError('IO_ERROR', `Cannot write ${path}. ${(cause as Error).message}`, { cause });
  }
}

function writeAtomically(path: string, shown: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (cause) {
    rmSync(tmp, { force: true });
    throw new SsmaxError('IO_ERROR', `Cannot write ${shown}. ${(cause as Error).message}`, { cause });
  }
}
