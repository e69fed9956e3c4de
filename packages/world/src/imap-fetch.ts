/**
 * Reads a whole INBOX over IMAP (Dovecot, imapflow) as a mail client does: every message, raw, with its
 * UID. Shared by the plain client, the S/MIME client and the matrix executor's observers.
 */
import { ImapFlow } from 'imapflow';

/** Fetches every message in INBOX. The socket is closed whatever happens (imapflow leaves it open after a refused login). */
export async function fetchInbox(o: {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly pass: string;
}): Promise<{ uid: number; source: Uint8Array }[]> {
  const client = new ImapFlow({ host: o.host, port: o.port, secure: false, auth: { user: o.user, pass: o.pass }, logger: false });
  const out: { uid: number; source: Uint8Array }[] = [];
  try {
    await client.connect();
    const lock = await client.getMailboxLock('INBOX');
    try {
      const exists = typeof client.mailbox === 'object' ? client.mailbox.exists : 0;
      if (exists > 0)
        for await (const m of client.fetch('1:*', { uid: true, source: true })) if (m.source) out.push({ uid: m.uid, source: new Uint8Array(m.source) });
    } finally {
      lock.release();
    }
    await client.logout().catch(() => undefined);
  } finally {
    client.close();
  }
  return out;
}
