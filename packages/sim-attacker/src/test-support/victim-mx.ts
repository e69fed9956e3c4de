/** Test support (not built into dist): a stand-in receiving MX on the simulated network. */
import { SMTPServer } from 'smtp-server';
import type { SimNet } from '@ssmax/sim-net';

export interface Received {
  readonly peer: string;
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly helo: string;
  readonly raw: Buffer;
  readonly secure: boolean;
}

export interface VictimMx extends AsyncDisposable {
  readonly received: Received[];
}

/** A stand-in receiving MX: smtp-server published as `mx.<domain>:25` in the simulated network. */
export async function victimMx(net: SimNet, domain: string, o: { tls?: boolean } = {}): Promise<VictimMx> {
  const received: Received[] = [];
  const host = `mx.${domain}`;
  const identity = o.tls ? await (await net.ca()).issueServerCertificate([host]) : undefined;
  const smtp = new SMTPServer({
    name: host,
    authOptional: true,
    logger: false,
    ...(identity ? { key: identity.privateKeyPem, cert: identity.certificatePem } : { disabledCommands: ['STARTTLS'] }),
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          peer: session.remoteAddress,
          mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          helo: session.hostNameAppearsAs,
          raw: Buffer.concat(chunks),
          secure: session.secure,
        });
        cb();
      });
    },
  });
  const address = net.address(`${domain}/mx`);
  // smtp-server emits a client's socket error (a reset from a killed or refusing peer) on the server: absorbed, as smtp-listener.ts does.
  smtp.on('error', () => undefined);
  await new Promise<void>((r) => smtp.listen(0, address, () => r()));
  const { port } = smtp.server.address() as { port: number };
  const exposed = await net.expose({ host, port: 25, target: { address, port } });
  net.zone.addMx(domain, host, 10);
  return {
    received,
    async [Symbol.asyncDispose]() {
      await exposed.close();
      await new Promise<void>((r) => smtp.close(() => r()));
    },
  };
}
