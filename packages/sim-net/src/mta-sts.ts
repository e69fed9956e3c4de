import { request } from 'node:https';
import { SsmaxError } from '@ssmax/core';
import { parsePolicy } from 'mailauth/lib/mta-sts.js';
import type { DnsResolver } from './dns-zone.js';
import type { ServiceDirectory } from './service-directory.js';

/** An MTA-STS policy as mailauth's `parsePolicy` returns it (RFC 8461 §3.2). */
export interface FetchedMtaStsPolicy {
  readonly version: string;
  readonly mode: 'enforce' | 'testing' | 'none';
  readonly mx?: string[];
  readonly maxAge: number;
}

export interface FetchMtaStsOptions {
  readonly resolver: DnsResolver;
  readonly directory: ServiceDirectory;
  /** Trust anchors (PEM) for the policy host's certificate, e.g. the sim-net test CA. */
  readonly ca: string | readonly string[];
  /** The fetching actor's own address. */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
}

const WELL_KNOWN = '/.well-known/mta-sts.txt';
const MAX_POLICY_BYTES = 64 * 1024;

/**
 * Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3) inside the simulated
 * network: the host's A record comes from the injected resolver, the port from the directory
 * (sim services listen on port 0, not 443), and the certificate must chain to `ca` and match the
 * host name. Same contract as mailauth's `fetchPolicy`: `false` when the host has no address,
 * the parsed policy on success, and a throw on HTTP/TLS failure (RFC 8461 §3.3: no redirects).
 */
export async function fetchMtaStsPolicy(domain: string, options: FetchMtaStsOptions): Promise<FetchedMtaStsPolicy | false> {
  const servername = `mta-sts.${domain.toLowerCase().replace(/\.$/, '')}`;
  let addresses: string[] = [];
  try {
    addresses = await options.resolver(servername, 'A');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'ENOTFOUND' && code !== 'ENODATA') throw err;
  }
  const address = addresses[0];
  if (address === undefined) return false;
  const entry = options.directory.resolve(address, 443);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = request(
      {
        host: entry.endpoint.address,
        port: entry.endpoint.port,
        path: WELL_KNOWN,
        method: 'GET',
        servername,
        headers: { host: servername },
        ca: typeof options.ca === 'string' ? options.ca : [...options.ca],
        rejectUnauthorized: true,
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        timeout: options.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_POLICY_BYTES) {
            req.destroy(new SsmaxError('LIMIT_EXCEEDED', `Cannot fetch the MTA-STS policy of ${domain}. The policy is larger than ${MAX_POLICY_BYTES} bytes.`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            reject(
              new SsmaxError(
                'IO_ERROR',
                `Cannot fetch the MTA-STS policy of ${domain}. https://${servername}${WELL_KNOWN} answered HTTP ${status} (RFC 8461 §3.3 requires 200, no redirects).`,
                { details: { status } },
              ),
            );
            return;
          }
          resolve(Buffer.concat(chunks));
        });
      },
    );
    req.on('timeout', () => req.destroy(new SsmaxError('IO_ERROR', `Cannot fetch the MTA-STS policy of ${domain}. The request timed out.`)));
    req.on('error', reject);
    req.end();
  });
  return parsePolicy(body) as FetchedMtaStsPolicy;
}
