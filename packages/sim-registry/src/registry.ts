/**
 * The SSMAX registry (management organisation) as an HTTP service on node:http with its state in
 * SQLite. Wires {@link Enrolment} (1), {@link Reevaluation} (13), {@link StatusPublisher} and
 * {@link IncidentIntake} (12). Routes and formats: packages/sim-registry/README.md.
 */
import { randomBytes } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SsmaxError, type PrivateKeyOps } from '@ssmax/core';
import type { DnsResolver } from '@ssmax/sim-net';
import type { RegistryContext } from './context.js';
import { corePki } from './core-pki.js';
import { Enrolment, parseAudit } from './enrolment.js';
import { DEFAULT_EVALUATION_POLICY, type EvaluationPolicy } from './evaluation.js';
import { asArray, asEnum, asObject, asString, bad, HttpError, readJson, sendBytes, sendError, sendJson, toHttpError } from './http.js';
import { guardHttpServer, HTTP_LIMITS, httpServerOptions, type HttpLimits } from './http-limits.js';
import { IncidentIntake, loopbackNotifier, verifySubmission, type Notifier } from './incident-intake.js';
import type { RegistryPki } from './pki.js';
import { Reevaluation } from './reevaluation.js';
import { StatusPublisher, type PublishedDocument, type PublisherOptions } from './status-publisher.js';
import { RegistryStore } from './store.js';
import type { Decision, DecisionKind } from './types.js';

export interface RegistryOptions {
  /** Directory for the SQLite database; reuse it to restart with the same state. */
  readonly dataDir: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** The registry root key (software or token). Its SPKI must match a root already stored in dataDir. */
  readonly signer: PrivateKeyOps;
  readonly clock?: () => Date;
  readonly random?: (n: number) => Uint8Array;
  /** Certificate/CMS backend; defaults to the built-in one. */
  readonly pki?: RegistryPki;
  readonly issuerName?: string;
  readonly policy?: Partial<EvaluationPolicy>;
  readonly publisher?: Partial<PublisherOptions>;
  /** Largest accepted request body in bytes (default 64 KiB). */
  readonly bodyLimit?: number;
  /** Resource limits of the HTTP API (connections, header size, timeouts; http-limits.ts, default `HTTP_LIMITS`). */
  readonly limits?: Partial<HttpLimits>;
  /** Validity of issued org/KMS certificates in days (default 365). */
  readonly certificateDays?: number;
  /** Request and decision log sink (default: stderr). */
  readonly log?: (line: string) => void;
  readonly notifier?: Notifier;
  /** Enables POST /v1/admin/... with `Authorization: Bearer <adminToken>`; absent → those routes are 404. */
  readonly adminToken?: string;
  /**
   * Where domain-control TXT records are looked up (`dns.promises.resolve` contract); the simulated
   * world passes its zone's resolver. Default: the system's DNS (5 s timeout, 2 tries).
   */
  readonly resolver?: DnsResolver;
  /**
   * Require proof of control of each domain at enrolment (criterion E11, domain-control.ts). Default
   * true; switched off only for falsifiability runs.
   */
  readonly domainControl?: boolean;
}

const DEFAULT_PUBLISHER: PublisherOptions = { documentFreshnessSeconds: 3600, crlFreshnessSeconds: 3600, cacheMaxAgeSeconds: 60 };

export class Registry implements AsyncDisposable {
  private constructor(
    private readonly server: Server,
    private readonly ctx: RegistryContext,
    readonly url: string,
    private readonly reevaluation: Reevaluation,
    readonly publisher: StatusPublisher,
  ) {}

  /** DER of the registry root certificate (the relying orgs' trust anchor). */
  get rootCertificate(): Uint8Array {
    return this.ctx.rootCertificate;
  }

  /** Opens (or creates) the store, makes the root certificate on first start, and listens. */
  static async start(opts: RegistryOptions): Promise<Registry> {
    const clock = opts.clock ?? (() => new Date());
    const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
    const pki = opts.pki ?? corePki;
    const issuerName = opts.issuerName ?? 'SSMAX Registry';
    const log = opts.log ?? ((line: string) => process.stderr.write(`[registry] ${line}\n`));
    const store = RegistryStore.open(opts.dataDir);
    let rootCertificate: Uint8Array;
    try {
      rootCertificate = await loadOrCreateRoot(store, pki, opts.signer, issuerName, clock, random);
    } catch (e) {
      store.close();
      throw e;
    }
    const ctx: RegistryContext = {
      store,
      pki,
      signer: opts.signer,
      rootCertificate,
      issuerName,
      clock,
      random,
      log,
      policy: { ...DEFAULT_EVALUATION_POLICY, ...opts.policy },
      certificateDays: opts.certificateDays ?? 365,
      resolver: opts.resolver ?? systemResolver(),
      domainControl: opts.domainControl ?? true,
    };
    const reevaluation = new Reevaluation(ctx);
    const publisher = new StatusPublisher(ctx, { ...DEFAULT_PUBLISHER, ...opts.publisher });
    const enrolment = new Enrolment(ctx);
    let baseUrl = '';
    const intake = new IncidentIntake(ctx, reevaluation, opts.notifier ?? loopbackNotifier, () => baseUrl);
    const limits: HttpLimits = { ...HTTP_LIMITS, ...opts.limits };
    const bodyLimit = opts.bodyLimit ?? limits.bodyBytes;

    const routes: Route[] = [
      ['GET', /^\/healthz$/, async (_q, res) => sendJson(res, 200, { ok: true })],
      ['GET', /^\/v1\/root$/, async (_q, res) => sendBytes(res, 200, 'application/pkix-cert', rootCertificate)],
      ['POST', /^\/v1\/enrolment\/challenges$/, async (req, res) => sendJson(res, 201, enrolment.challenges(await readJson(req, bodyLimit)))],
      [
        'POST',
        /^\/v1\/enrolments$/,
        async (req, res) => {
          const result = await enrolment.apply(await readJson(req, bodyLimit));
          sendJson(res, result.decision === 'admitted' ? 201 : 422, result);
        },
      ],
      ['GET', /^\/v1\/directory$/, async (req, res) => sendDocument(req, res, await publisher.directory(), 'application/cms', publisher)],
      ['GET', /^\/v1\/status$/, async (req, res) => sendDocument(req, res, await publisher.status(), 'application/cms', publisher)],
      ['GET', /^\/v1\/crl$/, async (req, res) => sendDocument(req, res, await publisher.crl(), 'application/pkix-crl', publisher)],
      [
        'POST',
        /^\/v1\/incidents$/,
        async (req, res) => {
          const r = await intake.report(await readJson(req, bodyLimit));
          sendJson(res, r.created ? 201 : 200, r.case);
        },
      ],
      [
        'GET',
        /^\/v1\/incidents\/([\w-]{1,64})$/,
        async (_q, res, m) => {
          const c = store.getCase(m[1]!);
          if (!c) throw new HttpError('NOT_FOUND', `Cannot find case ${m[1]}. No such case.`);
          sendJson(res, 200, c);
        },
      ],
      [
        'POST',
        /^\/v1\/incidents\/([\w-]{1,64})\/response$/,
        async (req, res, m) => {
          sendJson(res, 200, await intake.respond(m[1]!, await readJson(req, bodyLimit)));
        },
      ],
      [
        'POST',
        /^\/v1\/orgs\/([\w-]{1,64})\/kms-certificates$/,
        async (req, res, m) => {
          sendJson(res, 200, enrolment.registerKms(m[1]!, await readJson(req, bodyLimit)));
        },
      ],
      [
        // ssmax-plus addition 1: the org's MTA TLS key pins (RFC 7469 pin-sha256 form), signed with its KMS
        // signing key; published in the signed directory, so member MTAs authenticate each other by it.
        'POST',
        /^\/v1\/orgs\/([\w-]{1,64})\/mta-tls$/,
        async (req, res, m) => {
          const orgId = m[1]!;
          const sub = await verifySubmission(ctx, await readJson(req, bodyLimit), [orgId], 'MTA TLS pins');
          const o = asObject(sub.content, 'submission');
          if (o['type'] !== 'ssmax-mta-tls' || o['orgId'] !== orgId) throw bad('submission', `must be an ssmax-mta-tls for ${orgId}`);
          const pins = asArray(o['spkiSha256'], 'submission.spkiSha256', 4).map((p, i) => {
            const s = asString(p, `submission.spkiSha256[${i}]`, 64);
            if (!/^[A-Za-z0-9+/]{43}=$/.test(s)) throw bad(`submission.spkiSha256[${i}]`, 'must be a base64 SHA-256');
            return s;
          });
          if (pins.length === 0) throw bad('submission.spkiSha256', 'must name at least one pin');
          store.transaction(() => {
            store.setMeta(`mta-tls/${orgId}`, new TextEncoder().encode(JSON.stringify(pins)));
            store.nextCounter('state');
          });
          sendJson(res, 200, { orgId, spkiSha256: pins });
        },
      ],
      [
        'POST',
        /^\/v1\/orgs\/([\w-]{1,64})\/audits$/,
        async (req, res, m) => {
          const orgId = m[1]!;
          const sub = await verifySubmission(ctx, await readJson(req, bodyLimit), [orgId], 'audit report');
          const o = asObject(sub.content, 'submission');
          if (o['type'] !== 'ssmax-audit-report' || o['orgId'] !== orgId) throw bad('submission', `must be an ssmax-audit-report for ${orgId}`);
          const audit = parseAudit(o['audit'], 'submission.audit');
          store.insertAudit(orgId, clock().toISOString(), audit);
          sendJson(res, 200, { decision: reevaluation.run(orgId, `audit:${audit.date}`) });
        },
      ],
      // Re-evaluation is a pure function of stored facts and the clock, so anyone may trigger it.
      ['POST', /^\/v1\/orgs\/([\w-]{1,64})\/reevaluations$/, async (_q, res, m) => sendJson(res, 200, { decision: reevaluation.run(m[1]!, 'on-demand') })],
      [
        'GET',
        /^\/v1\/orgs\/([\w-]{1,64})\/decisions$/,
        async (_q, res, m) => {
          if (!store.getOrg(m[1]!)) throw new HttpError('UNKNOWN_ORG', `Cannot list decisions. No org ${m[1]}.`);
          sendJson(res, 200, store.decisions(m[1]!));
        },
      ],
      [
        'GET',
        /^\/v1\/orgs\/([\w-]{1,64})\/outbox$/,
        async (_q, res, m) => {
          if (!store.getOrg(m[1]!)) throw new HttpError('UNKNOWN_ORG', `Cannot list notices. No org ${m[1]}.`);
          sendJson(
            res,
            200,
            store.outbox(m[1]!).map((o) => o.body),
          );
        },
      ],
      [
        'POST',
        /^\/v1\/admin\/orgs\/([\w-]{1,64})\/decisions$/,
        async (req, res, m) => {
          if (opts.adminToken === undefined) throw new HttpError('NOT_FOUND', 'Cannot route the request. No such resource.');
          if (req.headers.authorization !== `Bearer ${opts.adminToken}`)
            throw new HttpError('UNAUTHORIZED', 'Cannot take an operator decision. The bearer token is missing or wrong.');
          const o = asObject(await readJson(req, bodyLimit), 'body');
          const kind = asEnum(o['kind'], 'kind', ['suspend', 'revoke', 'reinstate'] as const);
          const reason = asString(o['reason'], 'reason', 1000);
          sendJson(res, 200, { decision: reevaluation.apply(m[1]!, kind, [{ id: 'OP-operator', passed: false, reason }], 'operator') });
        },
      ],
    ];

    const server = createServer(httpServerOptions(limits), (req, res) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log(`${req.method} ${req.url} ${res.statusCode} ${ms.toFixed(1)}ms`);
      });
      dispatch(routes, req, res).catch((err: unknown) => {
        const h = toHttpError(err);
        if (h.status >= 500) log(`error on ${req.method} ${req.url}: ${String((h.cause as Error | undefined)?.stack ?? h.message)}`);
        sendError(res, h);
      });
    });
    // Issue 11 item 5: connections per server and per client, 431 / 408 / 400 with a JSON body, each logged.
    guardHttpServer(server, limits, log);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
    }).catch((e: unknown) => {
      store.close();
      throw new SsmaxError('IO_ERROR', `Cannot start the registry. Listening on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 0} failed.`, { cause: e });
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    baseUrl = `http://${host}:${addr.port}`;
    log(`listening on ${baseUrl} (data ${opts.dataDir}, journal ${store.journalMode()})`);
    return new Registry(server, ctx, baseUrl, reevaluation, publisher);
  }

  /** Runs re-evaluation (13) for one org now. */
  reevaluate(orgId: string, trigger = 'in-process'): Decision {
    return this.reevaluation.run(orgId, trigger);
  }

  /** An operator decision, recorded with its reason like any other. */
  decide(orgId: string, kind: Exclude<DecisionKind, 'admit' | 'refuse' | 'no-change'>, reason: string): Decision {
    return this.reevaluation.apply(orgId, kind, [{ id: 'OP-operator', passed: false, reason }], 'operator');
  }

  decisions(orgId?: string): Decision[] {
    return this.ctx.store.decisions(orgId);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.ctx.store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse, match: RegExpExecArray) => Promise<void>;
type Route = [method: string, path: RegExp, handler: Handler];

async function dispatch(routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  let pathMatched = false;
  for (const [method, re, handler] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (method === req.method || (method === 'GET' && req.method === 'HEAD')) return handler(req, res, m);
  }
  req.resume();
  if (pathMatched) throw new HttpError('METHOD_NOT_ALLOWED', `Cannot route ${req.method} ${path}. The method is not allowed here.`);
  throw new HttpError('NOT_FOUND', `Cannot route ${req.method} ${path}. No such resource.`);
}

function sendDocument(req: IncomingMessage, res: ServerResponse, doc: PublishedDocument, type: string, publisher: StatusPublisher): void {
  // RFC 9110 §13.1.2 If-None-Match / RFC 9111 §5.2.2.1 max-age: clients revalidate cheaply.
  const headers = {
    etag: doc.etag,
    'cache-control': `public, max-age=${publisher.maxAge(doc)}`,
    'last-modified': doc.issuedAt.toUTCString(),
    expires: doc.nextUpdate.toUTCString(),
  };
  const inm = req.headers['if-none-match'];
  if (
    inm !== undefined &&
    inm
      .split(',')
      .map((s) => s.trim())
      .includes(doc.etag)
  ) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  sendBytes(res, 200, type, doc.bytes, headers);
}

/** The host's own DNS, as a real registry would read applicants' zones. */
function systemResolver(): DnsResolver {
  const r = new dns.Resolver({ timeout: 5000, tries: 2 });
  return ((name: string, rrtype = 'A') => r.resolve(name, rrtype)) as DnsResolver;
}

async function loadOrCreateRoot(
  store: RegistryStore,
  pki: RegistryPki,
  signer: PrivateKeyOps,
  issuerName: string,
  clock: () => Date,
  random: (n: number) => Uint8Array,
): Promise<Uint8Array> {
  const stored = store.getMeta('root-certificate');
  const storedSpki = store.getMeta('root-spki');
  if (stored && storedSpki) {
    if (!Buffer.from(storedSpki).equals(Buffer.from(signer.spki))) {
      throw new SsmaxError('USAGE', 'Cannot start the registry. The signer key does not match the root certificate stored in dataDir.');
    }
    return stored;
  }
  const root = await pki.issueRoot(signer, { commonName: `${issuerName} Root`, organization: issuerName, now: clock(), validityDays: 20 * 365, random });
  store.transaction(() => {
    store.setMeta('root-certificate', root);
    store.setMeta('root-spki', signer.spki);
  });
  return root;
}
