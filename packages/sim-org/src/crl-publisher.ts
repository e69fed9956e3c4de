/**
 * The org CA's CRL over HTTP (RFC 5280 §4.2.1.13 distribution point, RFC 2585 §3 / §4.2 media type):
 * `http://crl.<domain>/org.crl` on the simulated network. Receiving orgs, end-to-end recipients and any
 * observer learn a revocation of procedure (12) from here without being handed the org's objects.
 * Plain HTTP, as CRLs usually are: the CRL is signed by the org CA, so the channel adds nothing.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { SsmaxError } from '@ssmax/core';
import type { ExposedService, SimNet } from '@ssmax/sim-net';

/** The path of the current CRL under `crl.<domain>`. */
export const CRL_PATH = '/org.crl';
const MAX_CRL_BYTES = 4 * 1024 * 1024;

/** The CRL distribution point URL of `domain`'s org CA. */
export function crlUrl(domain: string): string {
  return `http://crl.${domain.toLowerCase()}${CRL_PATH}`;
}

/**
 * Serves `crl()` (DER, fresh at each request) at `crl.<domain>:80` + {@link CRL_PATH}, listening on the
 * sim-net address of `<actorOrg>/crl`. Close the returned service to stop it.
 */
export async function startCrlPublisher(o: {
  readonly net: SimNet;
  readonly domain: string;
  readonly actorOrg: string;
  readonly crl: () => Promise<Uint8Array | undefined>;
}): Promise<ExposedService> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== CRL_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    o.crl().then(
      (der) => {
        if (!der) res.writeHead(503, { 'content-type': 'text/plain' }).end('no CRL issued yet\n');
        else res.writeHead(200, { 'content-type': 'application/pkix-crl', 'cache-control': 'no-cache', 'content-length': der.length }).end(Buffer.from(der));
      },
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`Cannot issue the CRL. ${(e as Error).message}\n`),
    );
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const address = o.net.address(`${o.actorOrg}/crl`);
  const target = await new Promise<{ address: string; port: number }>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: 0, exclusive: true }, () => {
      server.off('error', reject);
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new SsmaxError('INTERNAL', `Cannot publish the CRL of ${o.domain}. The server reported no TCP address.`));
      else resolve({ address: a.address, port: a.port });
    });
  });
  // Not tapped: the CRL is public and signed; the wire tap records mail traffic, not this.
  const exposed = await o.net.expose({ host: `crl.${o.domain.toLowerCase()}`, port: 80, target, tap: false });
  const close = async (): Promise<void> => {
    await exposed.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
  };
  return { ...exposed, close, [Symbol.asyncDispose]: close };
}

/**
 * Fetches `domain`'s CRL as a relying party on the simulated network would: `crl.<domain>` through the
 * injected DNS resolver, the port from the sim-net directory, an HTTP GET leaving from `localAddress`.
 * Returns the DER bytes unverified; the caller checks the signature against the org certificate.
 */
export async function fetchOrgCrl(
  net: SimNet,
  domain: string,
  o: { readonly localAddress?: string; readonly timeoutMs?: number } = {},
): Promise<{ readonly url: string; readonly der: Uint8Array }> {
  const url = crlUrl(domain);
  const host = new URL(url).hostname;
  const addresses = await net.resolver(host, 'A').catch((cause: unknown) => {
    throw new SsmaxError('IO_ERROR', `Cannot fetch ${url}. ${host} does not resolve.`, { cause });
  });
  const address = addresses[0];
  if (address === undefined) throw new SsmaxError('IO_ERROR', `Cannot fetch ${url}. ${host} has no A record.`);
  const entry = net.directory.resolve(address, 80);
  const der = await new Promise<Buffer>((resolve, reject) => {
    const req = http.request(
      {
        host: entry.endpoint.address,
        port: entry.endpoint.port,
        path: CRL_PATH,
        method: 'GET',
        headers: { host },
        agent: false,
        family: 4,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        timeout: o.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_CRL_BYTES) req.destroy(new SsmaxError('LIMIT_EXCEEDED', `Cannot fetch ${url}. The CRL is larger than ${MAX_CRL_BYTES} bytes.`));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          if (res.statusCode !== 200)
            reject(
              new SsmaxError('IO_ERROR', `Cannot fetch ${url}. It answered HTTP ${res.statusCode}: ${body.toString('utf8').slice(0, 200)}.`, {
                details: { status: res.statusCode },
              }),
            );
          else if (!/^application\/pkix-crl\b/i.test(res.headers['content-type'] ?? ''))
            reject(
              new SsmaxError('IO_ERROR', `Cannot fetch ${url}. It answered ${res.headers['content-type'] ?? 'no content type'}, not application/pkix-crl.`),
            );
          else resolve(body);
        });
      },
    );
    req.on('timeout', () => req.destroy(new SsmaxError('IO_ERROR', `Cannot fetch ${url}. No answer within ${o.timeoutMs ?? 5000} ms.`)));
    req.on('error', reject);
    req.end();
  });
  return { url, der: new Uint8Array(der) };
}
