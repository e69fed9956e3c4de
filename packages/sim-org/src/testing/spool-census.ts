/**
 * Counts the messages spools have taken in, for tests that hold a server's "250 queued" replies against
 * what it stored. A spool moves a message between state directories by rename(2) while its workers run,
 * and reading the directories one after another is no snapshot: a message renamed from a state not yet
 * read into one already read is missed, and one renamed the other way (incoming → processing → outgoing)
 * is seen twice. The latter made smtp-edge.prop.test.ts count 2 spooled for 1 valid mail in one of 14
 * suite runs (issue 11).
 *
 * So the census keys a message by its id, not by its file; it remembers every id it has seen (a message
 * never leaves the spool: delivered/ and bounced/ keep it); and each count reads all states again until a
 * pass finds no new id, so a message missed in one pass, mid-rename, is found in the next.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SPOOL_STATES, spoolMessageId } from '../spool.js';

export class SpoolCensus {
  readonly #seen = new Set<string>();

  /** `spoolDirs`: the spools' root directories; `readdir` is injectable so a test can rename mid-listing. */
  constructor(
    private readonly spoolDirs: readonly string[],
    private readonly readdir: (path: string) => string[] = (p) => readdirSync(p),
  ) {}

  /** How many distinct messages the spools have held since this census was made (or ever, at the first call). */
  count(): number {
    // Ten passes bound the loop should a worker keep taking mail in; each pass after the first needs a new id to go on.
    for (let pass = 0; pass < 10; pass++) {
      const before = this.#seen.size;
      for (const [i, dir] of this.spoolDirs.entries()) {
        for (const state of SPOOL_STATES) {
          // `.name.tmp` files are half-written; no message until renamed into place.
          for (const name of this.readdir(join(dir, state))) if (!name.startsWith('.')) this.#seen.add(`${i}/${spoolMessageId(state, name)}`);
        }
      }
      if (pass > 0 && this.#seen.size === before) break;
    }
    return this.#seen.size;
  }
}
