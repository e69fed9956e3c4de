/** Shared by the `ssmax run` tests: temp report folders removed after the file, captured output, bundled scenario paths. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { BUNDLED_SCENARIOS } from '@ssmax/world';

/** A temp-folder maker whose folders are removed after the test file. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** Captures what the command writes, with a fixed meta so reports compare. */
export function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => void out.push(s) },
      stderr: { write: (s: string) => void err.push(s) },
      meta: { commit: 'test', node: process.version, openssl: 'OpenSSL 3 (test)' },
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

/** A bundled scenario's file. */
export const SCEN = (name: string): string => join(BUNDLED_SCENARIOS, `${name}.yaml`);
