/**
 * Client of the simulated public S/MIME CA (docs/PROTOCOL.md §16): the CA that issues the ordinary
 * S/MIME certificates of the `smime-e2e` baseline and publishes them in a directory, as public CAs do
 * (an LDAP or HTTP directory; here HTTP with JSON). Mailbox validation is by a DNS TXT challenge under
 * the address's domain: S/MIME BR §3.2.2.1 lets a CA validate authority over a mailbox through control
 * of its domain (the TLS BR domain-validation methods, e.g. a DNS change).
 *
 * Shared by everyone on the simulated network that needs the CA: the world's mail clients, outside
 * parties and the attacker (who registers a look-alike domain and passes the same check honestly).
 */
import * as http from 'node:http';
import { SsmaxError } from '../errors.js';

/** Where the CA listens and which local address to dial from (the caller's own sim-net address). */
export interface PublicCaEndpoint {
  /** e.g. http://127.0.1.7:43123 */
  readonly url: string;
  readonly localAddress?: string;
}

/** The TXT record a requester must publish to prove control of the address's domain. */
export interface MailboxChallenge {
  readonly orderId: string;
  /** `_smime-challenge.<domain>` */
  readonly txtName: string;
  readonly token: string;
}

async function call(ep: PublicCaEndpoint, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(path, ep.url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        ...(ep.localAddress ? { localAddress: ep.localAddress } : {}),
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.byteLength) } : {}) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown>;
          try {
            json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            reject(new SsmaxError('IO_ERROR', `Cannot read the public CA's answer to ${method} ${url.pathname}. It is not JSON (HTTP ${res.statusCode}).`));
            return;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', (e) => reject(new SsmaxError('IO_ERROR', `Cannot reach the public CA at ${ep.url}. ${e.message}.`, { cause: e })));
    req.end(payload);
  });
}

function refused(what: string, r: { status: number; json: Record<string, unknown> }): SsmaxError {
  return new SsmaxError('USAGE', `Cannot ${what}. The public CA answered HTTP ${r.status}: ${String(r.json['error'] ?? 'no reason given')}.`);
}

const der = (b64: unknown, what: string): Uint8Array => {
  if (typeof b64 !== 'string') throw new SsmaxError('IO_ERROR', `Cannot read ${what} from the public CA. The field is missing.`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
};

/** The CA's root certificate (what mail clients ship in their trust store). */
export async function fetchPublicCaRoot(ep: PublicCaEndpoint): Promise<Uint8Array> {
  const r = await call(ep, 'GET', '/v1/root');
  if (r.status !== 200) throw refused('fetch the root certificate', r);
  return der(r.json['certificate'], 'the root certificate');
}

/** The directory: every current certificate the CA issued for `email` (empty when it has none). */
export async function lookupSmimeCertificates(ep: PublicCaEndpoint, email: string): Promise<Uint8Array[]> {
  const r = await call(ep, 'GET', `/v1/certificates?email=${encodeURIComponent(email.toLowerCase())}`);
  if (r.status !== 200) throw refused(`look up the certificate of ${email}`, r);
  const list = r.json['certificates'];
  return Array.isArray(list) ? list.map((c, i) => der(c, `certificate ${i + 1}`)) : [];
}

export interface MailboxCertificateRequest {
  readonly email: string;
  /** DER SubjectPublicKeyInfo of the requester's key. */
  readonly spki: Uint8Array;
  /** Publishes the challenge as a TXT record in the requester's own zone. */
  readonly publishTxt: (name: string, value: string) => void | Promise<void>;
}

/**
 * Orders a mailbox-validated certificate: the CA names a TXT record, the requester publishes it in the
 * domain it controls, the CA looks it up in DNS and issues. Anyone who controls a domain passes.
 */
export async function requestMailboxCertificate(
  ep: PublicCaEndpoint,
  req: MailboxCertificateRequest,
): Promise<{ certificate: Uint8Array; challenge: MailboxChallenge }> {
  const o = await call(ep, 'POST', '/v1/orders', { email: req.email, spki: Buffer.from(req.spki).toString('base64') });
  if (o.status !== 201) throw refused(`order a certificate for ${req.email}`, o);
  const challenge: MailboxChallenge = { orderId: String(o.json['id']), txtName: String(o.json['txtName']), token: String(o.json['token']) };
  await req.publishTxt(challenge.txtName, challenge.token);
  const f = await call(ep, 'POST', `/v1/orders/${encodeURIComponent(challenge.orderId)}/finalize`, {});
  if (f.status !== 200) throw refused(`obtain the certificate for ${req.email}`, f);
  return { certificate: der(f.json['certificate'], 'the issued certificate'), challenge };
}
