/**
 * The hostile client of the resource-limit tests must read what the server answers while it writes: a
 * client that only awaited 'drain' never saw the 421 of a server that had half-closed, and its sessions
 * ended "" once smtp-server's half-close deadline reset them (issue 11's 20-run repeat failed on it). Real
 * smtp-server on loopback, with the command-line limit the orgs set.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { startHostileSmtpClient } from './hostile-smtp-client.js';

let server: SMTPServer;
let port = 0;
let sessions = 0;

beforeAll(async () => {
  server = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], maxCommandLength: 16 * 1024, logger: false });
  server.on('error', () => undefined);
  server.on('connect', () => sessions++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('reads the 421 of every garbage session, however fast its writes complete', async () => {
  const hostile = startHostileSmtpClient({
    target: { host: '127.0.0.1', port, localAddress: '127.0.0.1' },
    mailFrom: 'a@x.example',
    rcpt: 'b@x.example',
    hogSessions: 0,
    only: ['garbage'],
  });
  // Past smtp-server's 5 s half-close deadline, after which a session that did not read its reply ends "".
  await new Promise((r) => setTimeout(r, 12_000));
  await hostile.stop();
  expect(sessions).toBeGreaterThan(3);
  expect(hostile.answers).toEqual({ garbage: ['421 Error'] });
}, 30_000);
