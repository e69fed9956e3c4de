/**
 * A stand-in mailbox for tests that need no IMAP: an LMTP server (RFC 2033) on loopback that files each
 * message under its recipient, and the `MailboxDelivery` an Organisation delivers through. mailbox.ts
 * (Dovecot) is the real one.
 */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import type { MailboxDelivery } from '../org-context.js';

export interface LmtpMailbox extends AsyncDisposable {
  /** Messages received, by recipient address. */
  readonly inboxes: Map<string, Buffer[]>;
  readonly mailbox: MailboxDelivery;
  /** The LMTP port on 127.0.0.1. */
  readonly port: number;
  close(): Promise<void>;
}

export async function startLmtpMailbox(inboxes = new Map<string, Buffer[]>()): Promise<LmtpMailbox> {
  const lmtp = new SMTPServer({
    lmtp: true,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        for (const r of session.envelope.rcptTo) inboxes.set(r.address, [...(inboxes.get(r.address) ?? []), Buffer.concat(chunks)]);
        cb();
      });
    },
  });
  // smtp-server emits a client's socket error (a reset from a killed or refusing peer) on the server: absorbed, as smtp-listener.ts does.
  lmtp.on('error', () => undefined);
  await new Promise<void>((r) => lmtp.listen(0, '127.0.0.1', () => r()));
  const port = (lmtp.server.address() as { port: number }).port;
  const close = () => new Promise<void>((r) => lmtp.close(() => r()));
  return {
    inboxes,
    port,
    mailbox: {
      async deliver(recipient, message, envelope) {
        const t = nodemailer.createTransport({ host: '127.0.0.1', port, lmtp: true, ignoreTLS: true });
        await t.sendMail({ envelope: { from: envelope.mailFrom, to: [recipient] }, raw: Buffer.from(message) });
        t.close();
      },
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
