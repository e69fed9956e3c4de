import type { SMTPServer } from 'smtp-server';

/** A running smtp-server bound to one of the org's sim-net addresses. */
export interface SmtpListener extends AsyncDisposable {
  readonly server: SMTPServer;
  readonly endpoint: { address: string; port: number };
  close(): Promise<void>;
}

/**
 * Binds `server` to `address` on port 0 (sim-net publishes the real port) and returns it as an
 * AsyncDisposable. Socket-level errors are absorbed here: a client that resets mid-session must never
 * crash the org process (the per-session handlers report their own failures).
 */
export async function listenSmtp(server: SMTPServer, address: string): Promise<SmtpListener> {
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  const close = () => new Promise<void>((r) => server.close(() => r()));
  return { server, endpoint: { address, port }, close, [Symbol.asyncDispose]: close };
}
