/**
 * Small durable-write helpers for the org's own state (CA directory, trace vault, audit log): a write is
 * acknowledged only after the bytes and the directory entry are on disk, so a crash never loses an
 * issued certificate, a sealed trace entry or an audit line.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

async function syncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Replaces `file` atomically: write a temp file, fsync, rename, fsync the directory. */
export async function writeFileDurable(file: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fh = await fs.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  await syncDir(dir);
}

/** Appends one line and fsyncs before returning (append-only logs). */
export async function appendLineDurable(file: string, line: string, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  let created = false;
  try {
    await fs.access(file);
  } catch {
    created = true;
  }
  const fh = await fs.open(file, 'a', mode);
  try {
    await fh.writeFile(line.endsWith('\n') ? line : `${line}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (created) await syncDir(dir);
}

/** Reads a file, or undefined when it does not exist. */
export async function readFileIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
