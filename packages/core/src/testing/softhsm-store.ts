/**
 * Test support for card and token tests on real SoftHSM2: a SoftHSM2 store in a fresh temp directory
 * (SoftHSM reads its configuration once per process, so one store per test file), and the SsmaxError code
 * an operation ends with. Not exported from the package index; tests import it by path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SsmaxError } from '../errors.js';
import { SoftHsmNative } from '../tokens/softhsm-native.js';

export interface SoftHsmStore extends AsyncDisposable {
  /** The temp directory; the store is in `<dir>/hsm`, the rest is the test's. */
  readonly dir: string;
  readonly reader: SoftHsmNative;
}

/** Opens the store; dispose it to close the reader and remove the temp directory. */
export function openSoftHsmStore(prefix: string): SoftHsmStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let reader: SoftHsmNative;
  try {
    reader = SoftHsmNative.open({ storageDir: join(dir, 'hsm') });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    reader,
    async [Symbol.asyncDispose]() {
      await reader.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** 'ok' when `p` resolves, the code of the SsmaxError it rejects with; any other error is rethrown. */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof SsmaxError) return e.code;
    throw e;
  }
}
