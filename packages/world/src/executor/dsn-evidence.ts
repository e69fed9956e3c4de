/**
 * A delivery status notification (RFC 3464 in RFC 6522 multipart/report) as evidence: when a server
 * answered 250 and refused the mail later, the sender's own mailbox holds the DSN, whatever the
 * implementation (our orgs say it in their journey too; an outside implementation need not publish one).
 * Read through the sender's client over IMAP, like every other mailbox the judge looks at.
 */
import type { World } from '../world.js';
import { bareId, fetchAllRaw } from './observe.js';

/** What a DSN for the tracked mail says. */
export interface DsnEvidence {
  /** The `Reporting-MTA` (RFC 3464 §2.2.2), without its `dns;` type. */
  readonly reportingMta: string;
  /** The world org whose domain the reporting MTA is in, when it is one. */
  readonly reportingOrg?: string;
  /** The first `Status` (RFC 3464 §2.3.4), e.g. `5.7.1`. */
  readonly status: string;
  readonly diagnostic: string;
}

const field = (text: string, name: string): string | undefined =>
  new RegExp(`^${name}:[ \\t]*([^\\r\\n]*(?:\\r?\\n[ \\t][^\\r\\n]*)*)`, 'im')
    .exec(text)?.[1]
    ?.replace(/\r?\n[ \t]+/g, ' ')
    .trim();

/** Reads a DSN message: undefined when `raw` is no delivery-status report for `messageId` or reports no failure. */
export function readDsn(raw: Uint8Array, messageId: string, orgDomains: readonly { id: string; domain: string }[] = []): DsnEvidence | undefined {
  const text = Buffer.from(raw).toString('latin1');
  if (!/^Content-Type:[ \t]*multipart\/report;[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*report-type="?delivery-status/im.test(text)) return undefined;
  const id = bareId(messageId);
  // The original's Message-ID travels in its returned header section (text/rfc822-headers or message/rfc822).
  if (!new RegExp(`^Message-ID:[ \\t]*<${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>`, 'im').test(text)) return undefined;
  const status = field(text, 'Status');
  const action = field(text, 'Action')?.toLowerCase();
  if (!status || !/^[45]\./.test(status) || (action !== undefined && action !== 'failed')) return undefined;
  const reportingMta = (field(text, 'Reporting-MTA') ?? '').replace(/^dns;\s*/i, '').toLowerCase();
  const org = orgDomains.find((o) => reportingMta === o.domain.toLowerCase() || reportingMta.endsWith(`.${o.domain.toLowerCase()}`));
  return { reportingMta, ...(org ? { reportingOrg: org.id } : {}), status, diagnostic: (field(text, 'Diagnostic-Code') ?? '').replace(/^smtp;\s*/i, '') };
}

/** The DSN for `messageId` in the mailbox of `sender`, when the sender is a user of the world. */
export async function findDsn(world: World, sender: string, messageId: string): Promise<DsnEvidence | undefined> {
  const user = world.users().find((u) => u.address === sender.toLowerCase());
  if (!user) return undefined;
  const orgs = world.orgs().map((o) => ({ id: o.id, domain: o.domain }));
  for (const raw of await fetchAllRaw(user)) {
    const d = readDsn(raw, messageId, orgs);
    if (d) return d;
  }
  return undefined;
}
