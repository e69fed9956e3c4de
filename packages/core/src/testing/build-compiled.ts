import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * `tsc -b <project>` at the repository root (only what changed is rebuilt), for tests whose child
 * processes run the compiled JavaScript (no tsx here): the org and registry processes, a store writer.
 */
export function buildCompiled(project: string): Promise<void> {
  return new Promise<void>((ok, fail) =>
    execFile('npx', ['tsc', '-b', project], { cwd: ROOT, timeout: 170_000 }, (err, stdout, stderr) =>
      err ? fail(new Error(`tsc -b ${project} failed: ${stdout}${stderr}`)) : ok(),
    ),
  );
}
