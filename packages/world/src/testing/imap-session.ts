/**
 * A test's own IMAP session in a world user's mailbox, logged in with the user's password as any holder of it
 * can (Dovecot, imapflow): to plant or remove mail behind the recipient's back. Not part of the package's index.
 */
import { ImapFlow } from 'imapflow';
import type { WorldUser } from '../world.js';

/** Runs `fn` in an IMAP session logged in as `u` with its password, and logs out whatever `fn` does. */
export async function withImapSession<T>(u: WorldUser, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({
    host: u.org.mailbox.host,
    port: u.org.mailbox.imapPort,
    secure: false,
    auth: { user: u.address, pass: u.password },
    logger: false,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.logout();
  }
}
