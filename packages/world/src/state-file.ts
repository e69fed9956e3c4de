/**
 * The state file of a running world (`ssmax up`): where its control socket is, so `ssmax send` and
 * `ssmax inbox` started in another terminal (same directory) find it. Default `./.ssmax/world.json`;
 * `--state FILE` or `SSMAX_STATE` choose another.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import type { ServiceListing } from './world.js';

export interface WorldState {
  readonly v: 1;
  readonly pid: number;
  readonly socket: string;
  readonly startedAt: string;
  readonly worldFile: string;
  readonly profile: string;
  readonly seed: number;
  readonly storageDir: string;
  readonly services: readonly ServiceListing[];
  readonly users: readonly {
    readonly address: string;
    readonly org: string;
    readonly mode: string;
    readonly pin: string;
    readonly password: string;
    readonly proofing: string;
    readonly totpSecret?: string;
  }[];
}

/** The state file path: explicit, else `SSMAX_STATE`, else `<cwd>/.ssmax/world.json`. */
export function stateFilePath(explicit?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, explicit ?? env['SSMAX_STATE'] ?? join('.ssmax', 'world.json'));
}

/** A unix socket path beside the state file, or in the temp dir when that is too long for sun_path (108 bytes). */
export function controlSocketPath(statePath: string, pid = process.pid): string {
  const beside = join(dirname(statePath), 'control.sock');
  return Buffer.byteLength(beside) < 100 ? beside : join(tmpdir(), `ssmax-${pid}.sock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the state of a running world; a missing file or a dead process is a usage error that says what to do. */
export function readWorldState(path: string): WorldState {
  if (!existsSync(path))
    throw new SsmaxError('USAGE', `Cannot find a running world. ${path} does not exist; start one with \`ssmax up\` in this directory (or pass --state).`);
  let s: WorldState;
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as WorldState;
  } catch (cause) {
    throw new SsmaxError('MALFORMED_CONFIG', `Cannot read ${path}. It is not a world state file.`, { cause });
  }
  if (s.v !== 1 || typeof s.socket !== 'string' || typeof s.pid !== 'number')
    throw new SsmaxError('MALFORMED_CONFIG', `Cannot read ${path}. It is not a world state file.`);
  if (!alive(s.pid))
    throw new SsmaxError('USAGE', `Cannot reach the world in ${path}. Its process ${s.pid} is no longer running; start it again with \`ssmax up\`.`);
  return s;
}

/** True when `path` names a world whose process still runs. */
export function worldRunning(path: string): boolean {
  try {
    readWorldState(path);
    return true;
  } catch {
    return false;
  }
}

export async function writeWorldState(path: string, state: WorldState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export async function removeWorldState(path: string): Promise<void> {
  await rm(path, { force: true });
}
