import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
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
 * Writes a file atomically (temp file + fsync + rename), or stdout for `-`, so no partial output file is
 * ever left behind when a command fails midway.
 */
export function writeOutput(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (path === '-') {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(1, bytes, off);
    return;
  }
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
    throw new SsmaxError('IO_ERROR', `Cannot write ${path}. ${(cause as Error).message}`, { cause });
  }
}
