/**
 * The MX of a domain outside every scheme (a non-member recipient, an attacker's forwarding target):
 * accepts everything, keeps it, and checks SPF/DKIM/DMARC (RFC 7489) with the real client address as
 * any receiving MTA does today.
 */
import { SMTPServer } from 'smtp-server';
import { authenticate } from 'mailauth';
import type { World } from '../world.js';
import type { OutsideMailbox } from './observe.js';

export interface OutsideMx extends OutsideMailbox {
  /** mailauth failures (a harness fault: the cell cannot say what DMARC showed). */
  readonly faults: readonly Error[];
  close(): Promise<void>;
}

export async function nonMemberMx(world: World, domain: string): Promise<OutsideMx> {
  const received: Uint8Array[] = [];
  const dmarcPass = new Map<Uint8Array, string>();
  const faults: Error[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = new Uint8Array(Buffer.concat(chunks));
        received.push(raw);
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        authenticate(Buffer.from(raw), {
          ip: session.remoteAddress,
          helo: session.hostNameAppearsAs,
          sender: mailFrom,
          mta: `mx.${domain}`,
          resolver: world.net.resolver as never,
          disableArc: true,
          disableBimi: true,
        })
          .then((r) => {
            if (r.dmarc && r.dmarc.status.result === 'pass') dmarcPass.set(raw, String((r.dmarc as { domain?: string }).domain ?? ''));
          })
          .catch((e: unknown) => void faults.push(e instanceof Error ? e : new Error(String(e))))
          .finally(() => cb());
      });
    },
  });
  const address = world.net.address(`${domain}/mx`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  // From now on a client's socket error (a sender that resets mid-session) is smtp-server's 'error' event: without
  // a listener it would be thrown in the world's process. It is absorbed, as smtp-listener.ts does for the orgs.
  server.on('error', () => undefined);
  const port = (server.server.address() as { port: number }).port;
  const host = `mx.${domain}`;
  const exposed = await world.net.expose({ host, port: 25, target: { address, port } });
  world.net.zone.addMx(domain, host, 10);
  return {
    domain,
    received,
    dmarcPass,
    faults,
    close: async () => {
      await exposed.close();
      world.net.zone.remove(domain, 'MX');
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
