/**
 * The public S/MIME CA of the `smime-e2e` baseline (docs/PROTOCOL.md §16): a CA outside the SSMAX
 * registry, like the commercial CAs whose roots ship in every mail client. It issues two kinds of
 * certificate (CA/B Forum S/MIME BR):
 *  - sponsor-validated, for employees an organisation enrols through it (enterprise RA, §3.2.4): the
 *    subject names the person and the sponsoring organisation, so a valid signature points at a person;
 *  - mailbox-validated, for anyone who proves control of the address's domain with a DNS TXT record
 *    (§3.2.2.1): the subject is the address alone, so a signature points at a mailbox, not a person.
 * It publishes every certificate it issued in a directory keyed by address (HTTP + JSON, on its own
 * sim-net address). State lives in memory: the CA lives as long as its world.
 */
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  SoftwareKey,
  SsmaxError,
  issueRootCertificate,
  issueSmimeCertificate,
  type CertificateInfo,
  type PublicCaEndpoint,
  type SmimeValidationType,
} from '@ssmax/core';
import type { SimNet } from '@ssmax/sim-net';

const MAX_BODY = 64 * 1024;
const EMAIL_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$/;

interface Order {
  readonly email: string;
  readonly spki: Uint8Array;
  readonly token: string;
  readonly txtName: string;
  done: boolean;
}

export interface PublicCaIssueInput {
  readonly email: string;
  readonly spki: Uint8Array;
  readonly validation: SmimeValidationType;
  readonly commonName?: string;
  readonly organization?: string;
}

export class PublicSmimeCa {
  readonly #orders = new Map<string, Order>();
  readonly #directory = new Map<string, CertificateInfo[]>();
  /** Every issuance, in order: what the CA's own audit log would show. */
  readonly log: { readonly at: string; readonly email: string; readonly validation: SmimeValidationType; readonly serial: string; readonly how: string }[] = [];

  private constructor(
    private readonly net: SimNet,
    private readonly key: SoftwareKey,
    readonly root: CertificateInfo,
    private readonly server: http.Server,
    readonly url: string,
    private readonly now: () => Date,
  ) {}

  /** Starts the CA on its own sim-net address (`public-ca/http`). */
  static async start(o: { readonly net: SimNet; readonly now?: () => Date }): Promise<PublicSmimeCa> {
    const now = o.now ?? (() => new Date());
    const key = SoftwareKey.generate('EC-P256');
    // Backdated a year so certificates the CA issues are valid at any time a scenario's clock reads.
    const root = await issueRootCertificate({
      subject: { C: 'US', O: 'Public Trust S/MIME Services', CN: 'Public Trust S/MIME Root R1' },
      key,
      pathLen: 0,
      now: () => new Date(now().getTime() - 365 * 86_400_000),
      validityDays: 3650,
    });
    const address = o.net.address('public-ca/http');
    let ca: PublicSmimeCa | undefined;
    const server = http.createServer((req, res) => {
      void ca!.#handle(req, res).catch((e: unknown) => PublicSmimeCa.#json(res, 500, { error: (e as Error).message }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, address, () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    ca = new PublicSmimeCa(o.net, key, root, server, `http://${address}:${port}`, now);
    return ca;
  }

  /** How a party at `localAddress` reaches the CA. */
  endpoint(localAddress?: string): PublicCaEndpoint {
    return { url: this.url, ...(localAddress ? { localAddress } : {}) };
  }

  /** Issues and publishes a certificate (the enterprise-RA path an organisation uses for its staff). */
  async issue(input: PublicCaIssueInput, how = 'enrolled by the sponsoring organisation'): Promise<CertificateInfo> {
    const backdate = new Date(this.now().getTime() - 86_400_000);
    const cert = await issueSmimeCertificate({
      issuer: { certificate: this.root, key: this.key },
      subjectSpki: input.spki,
      email: input.email.toLowerCase(),
      validation: input.validation,
      ...(input.commonName ? { commonName: input.commonName } : {}),
      ...(input.organization ? { organization: input.organization } : {}),
      usage: 'combined',
      now: () => backdate,
    });
    const k = input.email.toLowerCase();
    this.#directory.set(k, [...(this.#directory.get(k) ?? []), cert]);
    this.log.push({ at: this.now().toISOString(), email: k, validation: input.validation, serial: cert.serialNumber, how });
    return cert;
  }

  /** The directory entry for `email` (what a lookup returns). */
  certificates(email: string): readonly CertificateInfo[] {
    return this.#directory.get(email.toLowerCase()) ?? [];
  }

  /**
   * The CA as it is now (directory, open orders, log): the returned function forgets every certificate
   * issued and order opened since, and may be called again (a reused world's next cell starts from here).
   */
  checkpoint(): () => void {
    const directory = new Map(this.#directory);
    const orders = new Map(this.#orders);
    const logLength = this.log.length;
    return () => {
      this.#directory.clear();
      for (const [k, v] of directory) this.#directory.set(k, v);
      this.#orders.clear();
      for (const [k, v] of orders) this.#orders.set(k, v);
      this.log.length = Math.min(this.log.length, logLength);
    };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  static #json(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async #body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      n += c.byteLength;
      if (n > MAX_BODY) throw new SsmaxError('LIMIT_EXCEEDED', `Cannot read the request. The body exceeds ${MAX_BODY} bytes.`);
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return {};
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new SsmaxError('MALFORMED_CONFIG', 'Cannot read the request. The body is not a JSON object.');
    return v as Record<string, unknown>;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ca');
    const reply = (status: number, body: unknown) => PublicSmimeCa.#json(res, status, body);
    if (req.method === 'GET' && url.pathname === '/v1/root') return reply(200, { certificate: Buffer.from(this.root.der).toString('base64') });
    if (req.method === 'GET' && url.pathname === '/v1/certificates') {
      const email = url.searchParams.get('email') ?? '';
      if (!EMAIL_RE.test(email)) return reply(400, { error: `"${email}" is not an e-mail address` });
      const at = this.now();
      const current = this.certificates(email).filter((c) => c.notBefore <= at && at <= c.notAfter);
      return reply(200, { certificates: current.map((c) => Buffer.from(c.der).toString('base64')) });
    }
    if (req.method === 'POST' && url.pathname === '/v1/orders') {
      let body: Record<string, unknown>;
      try {
        body = await this.#body(req);
      } catch (e) {
        return reply(400, { error: (e as Error).message });
      }
      const email = String(body['email'] ?? '').toLowerCase();
      if (!EMAIL_RE.test(email)) return reply(400, { error: `"${email}" is not an e-mail address` });
      let spki: Uint8Array;
      try {
        spki = new Uint8Array(Buffer.from(String(body['spki'] ?? ''), 'base64'));
        // A throw-away self-check: the key must be one the CA can certify (RSA or EC P-256/P-384).
        if (spki.byteLength < 32) throw new Error('too short');
      } catch {
        return reply(400, { error: 'spki is not a base64 DER SubjectPublicKeyInfo' });
      }
      const id = randomBytes(12).toString('hex');
      const order: Order = { email, spki, token: `smime-${randomBytes(16).toString('hex')}`, txtName: `_smime-challenge.${email.split('@')[1]}`, done: false };
      this.#orders.set(id, order);
      return reply(201, { id, txtName: order.txtName, token: order.token });
    }
    const fin = /^\/v1\/orders\/([0-9a-f]{24})\/finalize$/.exec(url.pathname);
    if (req.method === 'POST' && fin) {
      const order = this.#orders.get(fin[1]!);
      if (!order || order.done) return reply(404, { error: 'no such open order' });
      // S/MIME BR §3.2.2.1 via domain control: the token must be in DNS under the address's domain.
      let txt: string[][] = [];
      try {
        txt = (await this.net.resolver(order.txtName, 'TXT')) as string[][];
      } catch {
        txt = [];
      }
      if (!txt.some((chunks) => chunks.join('') === order.token))
        return reply(403, { error: `the TXT record ${order.txtName} does not carry the order's token` });
      order.done = true;
      try {
        const cert = await this.issue({ email: order.email, spki: order.spki, validation: 'mailbox' }, `mailbox-validated by DNS TXT ${order.txtName}`);
        return reply(200, { certificate: Buffer.from(cert.der).toString('base64') });
      } catch (e) {
        return reply(400, { error: (e as Error).message });
      }
    }
    return reply(404, { error: `no route ${req.method} ${url.pathname}` });
  }
}
