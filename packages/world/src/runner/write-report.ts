import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import { probeOracleVersions } from '@ssmax/core/testing';
import { formatHtml } from './html-report.js';
import { formatJunit } from './junit-report.js';
import { REPO_ROOT } from './load-scenarios.js';
import type { LoadedScenario, Matrix, MatrixMeta } from './types.js';
import type { AblationReport } from './ablation.js';

/** The JSON Schema of matrix.json (packages/world/src/runner/matrix.schema.json). */
export function matrixSchema(): object {
  const here = new URL('./matrix.schema.json', import.meta.url);
  try {
    return JSON.parse(readFileSync(here, 'utf8')) as object;
  } catch {
    // Built output (dist/) does not copy JSON files: read the source copy.
    return JSON.parse(readFileSync(join(REPO_ROOT, 'packages/world/src/runner/matrix.schema.json'), 'utf8')) as object;
  }
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], cwd: REPO_ROOT }).trim();
  } catch {
    return undefined;
  }
}

/** commit (with "-dirty" when the work tree has changes), node, openssl and the other oracles' versions, for matrix meta. */
export function environmentMeta(): Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles'> {
  const commit = tryRun('git', ['rev-parse', '--short=12', 'HEAD']);
  const dirty = commit !== undefined && (tryRun('git', ['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  return {
    commit: commit === undefined ? 'unknown' : `${commit}${dirty ? '-dirty' : ''}`,
    node: process.version,
    openssl: tryRun('openssl', ['version']) ?? `node openssl ${process.versions.openssl}`,
    oracles: probeOracleVersions(),
  };
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

/**
 * Writes matrix.json, junit.xml and matrix.html into `dir` (created if missing), and with an ablation
 * report also ablation.json and matrix.html's "Falsifiability" section; returns their paths.
 */
export function writeReport(
  dir: string,
  m: Matrix,
  scenarios: readonly LoadedScenario[],
  ablation?: AblationReport,
): { json: string; junit: string; html: string; ablation?: string } {
  try {
    mkdirSync(dir, { recursive: true });
    const out = { json: join(dir, 'matrix.json'), junit: join(dir, 'junit.xml'), html: join(dir, 'matrix.html') };
    writeAtomic(out.json, JSON.stringify(m, null, 2) + '\n');
    writeAtomic(out.junit, formatJunit(m));
    writeAtomic(out.html, formatHtml(m, scenarios, ablation));
    if (ablation) {
      const path = join(dir, 'ablation.json');
      writeAtomic(path, JSON.stringify(ablation, null, 2) + '\n');
      return { ...out, ablation: path };
    }
    return out;
  } catch (cause) {
    throw new SsmaxError('IO_ERROR', `Cannot write the report to ${dir}. ${(cause as Error).message}`, { cause });
  }
}

/** Reads an earlier matrix.json for `--compare`. */
export function readMatrix(path: string): Matrix {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new SsmaxError('USAGE', `Cannot read the matrix to compare with, ${path}. ${(cause as Error).message}`, { cause });
  }
  const m = data as Matrix;
  if (!m || typeof m !== 'object' || !Array.isArray(m.results))
    throw new SsmaxError('USAGE', `Cannot compare with ${path}. It is not a matrix.json (no results array).`);
  return m;
}
