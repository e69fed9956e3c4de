/**
 * Acceptance that survives a lost 250. RFC 5321 §6.1 leaves a gap: a server that stored a mail and
 * was killed (or whose connection dropped) before its 250 reached the sender gets the same
 * transaction again, and a naive server stores it twice. Senders that name each transmission with an
 * ENVID (RFC 3461 §4.4, our MTA-out does: its spool id) let the receiver recognise the retry: the
 * same ENVID from the same sender (the client's address at the MX, the authenticated user at the
 * MSA) with the same envelope is stored once (Spool.enqueueOnce) and answered 250 again. A client
 * that sends no ENVID gets the plain at-least-once behaviour; a replayed mail without the ENVID, or
 * from another address, is a new transmission (what a replay defence decides, not this).
 */
import type { SMTPServerSession } from 'smtp-server';
import type { Spool, SpoolEnvelope } from './spool.js';

/** The key of the session's current transaction, or undefined when its sender gave no ENVID. */
export function transmissionKey(session: SMTPServerSession, scope: 'peer' | 'user'): string | undefined {
  const envid = session.envelope.dsn?.envid;
  if (!envid) return undefined;
  const who = scope === 'user' ? `user:${typeof session.user === 'string' ? session.user.toLowerCase() : ''}` : `peer:${session.remoteAddress}`;
  const rcpts = session.envelope.rcptTo.map((r) => r.address.toLowerCase()).sort();
  return [who, envid, session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : '', ...rcpts].join('\0');
}

/** Spools the session's message once per transmission key (see above). */
export async function spoolTransmission(
  spool: Spool,
  session: SMTPServerSession,
  scope: 'peer' | 'user',
  envelope: SpoolEnvelope,
  bytes: Uint8Array,
): Promise<{ id: string; duplicate: boolean }> {
  const key = transmissionKey(session, scope);
  return key === undefined ? { id: await spool.enqueue(envelope, bytes), duplicate: false } : spool.enqueueOnce(key, envelope, bytes);
}
