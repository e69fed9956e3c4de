/**
 * The reference `process` implementation of an organisation (docs/IMPLEMENTING.md, contract v1): our
 * own org, run as an outside program that knows nothing of the world but the config file it is handed.
 * It binds on its /24, enrols with the registry over HTTP (1) (the domain-control TXT record through the
 * world's control API), certifies the users' card keys (2), delivers over LMTP into the org's Dovecot,
 * prints one readiness line and stops on SIGTERM. It posts its journey events to the world (optional in
 * the contract) and serves the optional control API (`GET /v1/idle`, `POST /v1/report-malicious`).
 *
 * `SSMAX_ORG_DEFENCES_OFF=inboundInspection,...` switches defences off (OrgDefences names): a
 * deliberately broken implementation for the conformance suite's own test. `SSMAX_ORG_JOURNEY=off` posts
 * no journey events: an implementation that gives the world nothing but the protocols.
 */
import { promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SoftHsmNative, SsmaxError, type OrgImplementationConfig, type OrgReadyLine } from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { DEFAULT_DLP_RULES } from './dlp-rules.js';
import { dovecotDelivery } from './mailbox.js';
import type { OrgDefences, OrgUserDirectory } from './org-context.js';
import { OrgCa } from './org-ca.js';
import { Organisation } from './organisation.js';
import { TraceVault, vaultSealing } from './trace-vault.js';
import { SimOrgError } from './errors.js';

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
const VAULT_PIN = '246810';

/** Options of {@link serveOrg} besides the config (for tests; the CLI passes the environment). */
export interface ServeOrgOptions {
  /** Where the readiness line and errors go (default stdout). */
  readonly write?: (line: string) => void;
  /** Defences switched off (names of OrgDefences), default from SSMAX_ORG_DEFENCES_OFF. */
  readonly defencesOff?: readonly string[];
  /** Post journey events to the world (optional in the contract); default true unless SSMAX_ORG_JOURNEY=off. */
  readonly journey?: boolean;
}

const DEFENCE_NAMES: readonly (keyof OrgDefences)[] = [
  'userSignature',
  'fromSignerBinding',
  'revocation',
  'outboundInspection',
  'orgSignature',
  'inboundInspection',
  'unverifiedMarking',
  'nonMemberFilesRefusal',
  'fileEncryption',
  'headerSection',
];

/** Reads and checks the contract's config file. */
export async function readOrgImplementationConfig(file: string): Promise<OrgImplementationConfig> {
  let c: OrgImplementationConfig;
  try {
    c = JSON.parse(await fs.readFile(file, 'utf8')) as OrgImplementationConfig;
  } catch (cause) {
    throw new SimOrgError('USAGE', `Cannot read the org config ${file}. ${(cause as Error).message}.`, { cause });
  }
  if (c?.contract !== 1)
    throw new SimOrgError('USAGE', `Cannot serve the org of ${file}. It speaks contract ${String(c?.contract)}; this implementation speaks 1.`);
  return c;
}

/** A user directory built from the contract's user list and the certificates this org issued them. */
class ContractUserDirectory implements OrgUserDirectory {
  constructor(
    private readonly passwords: ReadonlyMap<string, string>,
    private readonly orgCa: OrgCa,
  ) {}
  authenticate(username: string, password: string): Promise<boolean> {
    return Promise.resolve(this.passwords.get(username.toLowerCase()) === password);
  }
  has(address: string): Promise<boolean> {
    return Promise.resolve(this.passwords.has(address.toLowerCase()));
  }
  encryptionCertificate(address: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(
      this.orgCa
        .lookup(address.toLowerCase())
        .filter((e) => e.status === 'valid' && e.usage !== 'signing')
        .at(-1)?.certificate,
    );
  }
  async crl(): Promise<Uint8Array | undefined> {
    return (await this.orgCa.currentCrl()).der;
  }
}

/** Waits for the directory the org CA makes possible (the CA exists only after enrolment). */
class LateDirectory implements OrgUserDirectory {
  #d: Promise<OrgUserDirectory>;
  #open!: (d: OrgUserDirectory) => void;
  constructor() {
    this.#d = new Promise((r) => (this.#open = r));
  }
  attach(d: OrgUserDirectory): void {
    this.#open(d);
  }
  authenticate(u: string, p: string) {
    return this.#d.then((d) => d.authenticate(u, p));
  }
  has(a: string) {
    return this.#d.then((d) => d.has(a));
  }
  encryptionCertificate(a: string) {
    return this.#d.then((d) => d.encryptionCertificate(a));
  }
  crl() {
    return this.#d.then((d) => d.crl());
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > 1_000_000) throw new SimOrgError('USAGE', 'Cannot read the request. It is larger than 1 MB.');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/**
 * Runs the org of `configFile` until SIGTERM (or until the returned `stop` is called): prints the
 * readiness line once it accepts mail. Resolves with the stop function.
 */
export async function serveOrg(configFile: string, options: ServeOrgOptions = {}): Promise<{ stop: () => Promise<void> }> {
  const write = options.write ?? ((l: string) => void process.stdout.write(l + '\n'));
  const c = await readOrgImplementationConfig(configFile);
  const off = options.defencesOff ?? (process.env['SSMAX_ORG_DEFENCES_OFF'] ?? '').split(',').filter((x) => x !== '');
  for (const d of off) if (!isDefenceName(d)) throw new SimOrgError('USAGE', `Cannot switch off the defence "${d}". Known: ${DEFENCE_NAMES.join(', ')}.`);
  await fs.mkdir(c.storageDir, { recursive: true });
  const hsm = SoftHsmNative.open({ storageDir: c.keys.storeDir, modulePath: c.keys.pkcs11Module });
  const net = await SimNet.create({ prefix: c.network.prefix, caDir: c.tls.caDir });
  for (const h of c.network.hosts) net.directory.register(h.name, h.port, h.connect);
  for (const m of c.network.mx) net.zone.addMx(m.domain, m.host, 10);
  const control = c.world.controlUrl;
  const post = async (path: string, method: string, body: string, type = 'application/json') => {
    const res = await fetch(new URL(path, control), { method, body, headers: { 'content-type': type }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new SsmaxError('IO_ERROR', `Cannot ${method} ${path} at the world. It answered ${res.status}.`);
  };
  const dns = {
    publishTxt: (name: string, value: string) => post('/v1/dns/txt', 'POST', JSON.stringify({ name, value })),
    withdrawTxt: (name: string, value: string) => post('/v1/dns/txt', 'DELETE', JSON.stringify({ name, value })),
  };
  const users = new LateDirectory();
  const mailboxHost = c.network.prefix + '.1';
  const org = await Organisation.start({
    id: c.org.id,
    domain: c.org.domain,
    ...(c.org.name ? { name: c.org.name } : {}),
    mode: c.org.mode,
    net,
    registryUrl: c.registry.url,
    registryRootCert: new Uint8Array(Buffer.from(c.registry.rootCertificate, 'base64')),
    storageDir: join(c.storageDir, 'org'),
    hsm,
    users,
    mailbox: dovecotDelivery({ configPath: c.mailbox.dovecotConfig, lmtpSocket: c.mailbox.lmtp.unix, host: mailboxHost }),
    profile: {
      starttls: c.profile.starttls,
      outboundTls: c.profile.outboundTls,
      endToEnd: c.profile.endToEnd,
      // (5) as docs/IMPLEMENTING.md §4 asks of a member (and the world's SSMAX profiles give the built-in org):
      // a file marked CONFIDENTIAL goes to members only (re-encrypted to an inspected, accountable org).
      inspection: { dlpRules: DEFAULT_DLP_RULES.map((r) => (r.id === 'confidential-marking' ? { ...r, appliesTo: 'non-member' as const } : r)) },
      ...(off.length > 0 ? { defences: Object.fromEntries(off.map((d) => [d, false])) } : {}),
    },
    registryMaxAgeSeconds: 0,
    retryMs: 100,
    ...(c.network.listen.mx || c.network.listen.msa ? { listenPorts: { mx: c.network.listen.mx, msa: c.network.listen.msa } } : {}),
    dns,
  });
  // Journey events go to the world as they happen, in order; losing one costs only the report's detail.
  let chain = Promise.resolve();
  const unsubscribe =
    (options.journey ?? process.env['SSMAX_ORG_JOURNEY'] !== 'off')
      ? org.journey.subscribe((e) => {
          chain = chain.then(() => post('/v1/journey', 'POST', JSON.stringify(e) + '\n', 'application/x-ndjson').catch(() => undefined));
        })
      : () => undefined;
  const orgCa = await OrgCa.open({
    certificate: org.kms.certificates.org,
    key: org.kms.caKey,
    chain: [org.kms.certificates.root],
    storageDir: join(c.storageDir, 'ca'),
  });
  // The trace vault's sealing key sits on its own token, beside its certificate (a restart seals with the same one).
  const vaultLabel = `vault-${c.org.id}`;
  if (!hsm.labels().includes(vaultLabel)) hsm.initToken({ label: vaultLabel, soPin: '13579111', userPin: VAULT_PIN });
  const vaultToken = hsm.openToken(vaultLabel);
  await vaultToken.login(VAULT_PIN);
  const { key: vaultKey, certificate: vaultCert } = await vaultSealing(vaultToken, orgCa, c.org.domain);
  const vault = new TraceVault({ storageDir: join(c.storageDir, 'vault'), sealingCertificate: vaultCert });
  // (2): certify each card key once (a restart finds the certificates in the CA's directory).
  const passwords = new Map<string, string>();
  const issued: { address: string; signingCertificate: string; encryptionCertificate: string }[] = [];
  for (const u of c.users) {
    const address = u.address.toLowerCase();
    passwords.set(address, u.password);
    const valid = orgCa.lookup(address).filter((e) => e.status === 'valid');
    let sig = valid.find((e) => e.usage === 'signing')?.certificate;
    let enc = valid.find((e) => e.usage === 'encryption')?.certificate;
    if (!sig || !enc) {
      const traceId = new Uint8Array(16);
      crypto.getRandomValues(traceId);
      await vault.add({ traceId: Buffer.from(traceId).toString('hex'), employeeNumber: u.employeeNumber, address, registeredAt: new Date().toISOString() });
      const common = {
        address,
        identityProofing: { method: u.proofing.method, proofedAt: new Date(), proofedBy: u.proofing.proofedBy },
        traceId,
        ...(u.displayName ? { commonName: u.displayName } : {}),
      };
      sig = (await orgCa.issueUser({ ...common, subjectSpki: new Uint8Array(Buffer.from(u.signingSpki, 'base64')), usage: 'signing' })).der;
      enc = (await orgCa.issueUser({ ...common, subjectSpki: new Uint8Array(Buffer.from(u.encryptionSpki, 'base64')), usage: 'encryption' })).der;
    }
    issued.push({ address, signingCertificate: b64(sig), encryptionCertificate: b64(enc) });
  }
  users.attach(new ContractUserDirectory(passwords, orgCa));
  if (org.security === 'ssmax') org.attachBackOffice({ orgCa, vault, vaultKey, officer: `${c.org.domain} CSIRT` });

  // The optional control API of the contract.
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://control');
      if (req.method === 'GET' && url.pathname === '/v1/idle') {
        await org.idle(Number(url.searchParams.get('timeoutMs') ?? 20_000));
        // Idle means its events are with the world too: the judge reads them right after this answer.
        await chain;
        return reply(res, 200, { idle: true });
      }
      if (req.method === 'POST' && url.pathname === '/v1/report-malicious') {
        const body = JSON.parse(await readBody(req)) as { messageId: string; reportedBy?: string; summary?: string };
        return reply(res, 200, await org.reportMalicious(body));
      }
      reply(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
    })().catch((e: unknown) => reply(res, 500, { error: (e as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, net.address('control'), resolve);
  });
  const controlAt = server.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      unsubscribe();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await org.close();
      await chain;
      await vaultToken.close().catch(() => undefined);
      await net[Symbol.asyncDispose]();
      await hsm.close();
    })());
  const e = org.endpoints;
  const ready: OrgReadyLine = {
    event: 'ready',
    contract: 1,
    mx: e.mx.listen,
    msa: e.msa.listen,
    ...(e.crl ? { crl: e.crl.listen } : {}),
    orgCertificate: b64(org.kms.certificates.org),
    kmsEncryptionCertificate: b64(org.kms.certificates.encryption),
    kmsSigningCertificate: b64(org.kms.certificates.signing),
    users: issued,
    controlUrl: `http://${controlAt.address}:${controlAt.port}`,
    implementation: `ssmax reference org (sim-org)${off.length > 0 ? `, defences off: ${off.join(', ')}` : ''}${options.journey === false || process.env['SSMAX_ORG_JOURNEY'] === 'off' ? ', no journey events' : ''}`,
  };
  write(JSON.stringify(ready));
  return { stop };
}

function isDefenceName(name: string): name is keyof OrgDefences {
  return (DEFENCE_NAMES as readonly string[]).includes(name);
}
