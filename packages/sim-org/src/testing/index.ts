/**
 * `@ssmax/sim-org/testing`: what a harness outside this package needs to run organisations as child
 * processes it can SIGKILL (the chaos harness in @ssmax/world): the process entry's path, its client,
 * and the card-signed mail composer. Not part of the package's main index.
 */
import { fileURLToPath } from 'node:url';

export { OrgProcess, type ParentDns } from './org-process-client.js';
export type { OrgProcessConfig, OrgProcessEvent } from './org-process.js';
export { composeSignedMail, type ComposeSignedMailOptions } from './signed-mail.js';

/** The compiled child entry (`tsc -b packages/sim-org` writes it), from the sources or from dist alike. */
export const ORG_PROCESS_ENTRY = fileURLToPath(new URL('../../dist/testing/org-process.js', import.meta.url));
