import type { SMTPServer } from 'smtp-server';
import { guardSmtp, type SmtpGuardOptions, type SmtpLimits } from './smtp-limits.js';

/** A running smtp-server bound to one of the org's sim-net addresses. */
export interface SmtpListener extends AsyncDisposable {
  readonly server: SMTPServer;
  readonly endpoint: { address: string; port: number };
  /** The resource limits its sessions run under (smtp-limits.ts). */
  readonly limits: SmtpLimits;
  close(): Promise<void>;
}

/**
 * Binds `server` to `address` on `port`, by default 0 (sim-net publishes the real port), and returns it as an
 * AsyncDisposable. Socket-level errors are absorbed here: a client that resets mid-session must never
 * crash the org process (the per-session handlers report their own failures). `guard` sets the limits and
 * who is told when a client hits one (default `SMTP_LIMITS`, told nobody).
 */
export async function listenSmtp(server: SMTPServer, address: string, port = 0, guard: SmtpGuardOptions = {}): Promise<SmtpListener> {
  // Every session runs under the resource limits (issue 11 item 5), whatever the service.
  const limits = guardSmtp(server, guard);
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  const bound = (server.server.address() as { port: number }).port;
  const close = () => new Promise<void>((r) => server.close(() => r()));
  return { server, endpoint: { address, port: bound }, limits, close, [Symbol.asyncDispose]: close };
}
