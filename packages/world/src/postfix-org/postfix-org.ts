/**
 * An SSMAX organisation run on Debian's Postfix (issue 14 item 3), an outside implementation of
 * docs/IMPLEMENTING.md (contract v1): `ssmax org postfix --config FILE` is the command a world runs.
 *
 * 1. Enrolment, procedures (1)-(2): our reference org (sim-org serveOrg) runs once on the org's storage in
 *    this process (registry application with the domain TXT record through the world's control API, KMS
 *    certificates, the users' card keys certified) and stops; its readiness line is the certificates ours
 *    repeats. Postfix speaks no registry API.
 * 2. The content filter, `ssmax org filter`, a process of its own that owns the KMS token from then on.
 * 3. Postfix: its own instance from the generated main.cf/master.cf (postfix-instance.ts), MX, MSA and
 *    reinjection services on `<prefix>.25`, peers routed by a transport map built from the contract's
 *    network tables (no DNS), STARTTLS per the profile. SMTP AUTH and LMTP go to the world's Dovecot through
 *    two relay sockets Postfix's user may open (the world's are root's and Dovecot's).
 * 4. The optional control API, served by the filter: `GET /v1/idle` (Postfix's queue empty) and
 *    `POST /v1/report-malicious` ((12), receiving side).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bindTokenKey, SsmaxError, type OrgImplementationConfig, type OrgReadyLine } from '@ssmax/core';
import { CRL_PATH, IncidentDesk, serveOrg, TraceVault } from '@ssmax/sim-org';
import { ContentFilter } from './content-filter.js';
import { openOrgState, type OpenedOrgState, type OrgStateConfig } from './org-state.js';
import { POSTFIX_MAIL_OWNER, postfixPaths, type FilterPorts, type PostfixPeer, type PostfixPorts } from './postfix-config.js';
import { killInstance, PostfixInstance } from './postfix-instance.js';

const execFileP = promisify(execFile);

/** The trace vault token's PIN of the reference org's enrolment (org-serve.ts). */
const VAULT_PIN = '246810';

/** The CLI's entry: the filter is started as `ssmax org filter` (a program of its own, as amavis is). */
const SSMAX_BIN = fileURLToPath(new URL('../../../cli/bin/ssmax.js', import.meta.url));

/** The filter process's config file. */
export interface FilterConfig extends OrgStateConfig {
  readonly address: string;
  readonly ports: FilterPorts;
  readonly reinject: { readonly out: number; readonly in: number; readonly final: number };
  readonly maxMessageBytes?: number;
  /** The Postfix instance directory (its queue answers `GET /v1/idle`). */
  readonly postfixDir: string;
}

/**
 * `n` distinct free ports on `host`: all held open until every one is chosen (one at a time, a port closed
 * again may be handed out twice, and Postfix then fails with "Address already in use").
 */
async function freePorts(host: string, n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, host, resolve);
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Files in Postfix's queue (maildrop, incoming, active, deferred, hold): 0 when every accepted mail has left it. */
export async function queuedInPostfix(postfixDir: string): Promise<number> {
  const q = postfixPaths(postfixDir).queue;
  let n = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else n++;
    }
  };
  for (const d of ['maildrop', 'incoming', 'active', 'deferred', 'hold']) await walk(join(q, d));
  return n;
}

/**
 * A unix socket owned by Postfix's user that relays each connection byte for byte to `target` (a socket of
 * the world's Dovecot, which only root or Dovecot may open). No content passes through our code.
 */
async function relaySocket(path: string, target: string, uid: number, gid: number): Promise<net.Server> {
  await fs.rm(path, { force: true });
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('error', end).once('close', end);
    upstream.once('error', end).once('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  await fs.chown(path, uid, gid);
  await fs.chmod(path, 0o600);
  return server;
}

/** Waits for the filter process's `filter-ready` line. */
function startFilter(
  command: readonly string[],
  configFile: string,
): Promise<{ child: ChildProcessWithoutNullStreams; stderr: string[]; controlPort: number }> {
  const child = spawn(command[0]!, [...command.slice(1), '--config', configFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr.push(d);
    process.stderr.write(d);
  });
  child.stdin.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new SsmaxError('IO_ERROR', `Cannot start the content filter. No ready line within 60 s. ${stderr.join('').slice(-500)}`)),
      60_000,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"filter-ready"')) {
        clearTimeout(t);
        resolve({ child, stderr, controlPort: (JSON.parse(line) as { controlPort: number }).controlPort });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      reject(new SsmaxError('IO_ERROR', `Cannot start the content filter. It exited (${code ?? signal}): ${stderr.join('').slice(-800)}`));
    });
  });
}

async function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** The peers' MX endpoints from the contract's network tables (its stand-in for DNS). */
function peersOf(c: OrgImplementationConfig): PostfixPeer[] {
  const peers: PostfixPeer[] = [];
  for (const m of c.network.mx) {
    if (m.domain.toLowerCase() === c.org.domain.toLowerCase()) continue;
    const h = c.network.hosts.find((x) => x.name.toLowerCase() === m.host.toLowerCase() && x.port === 25);
    if (h) peers.push({ domain: m.domain, mxHost: m.host, address: h.connect.address, port: h.connect.port });
  }
  return peers;
}

export interface PostfixOrgOptions {
  /** Writes one line to stdout (the readiness line). */
  readonly write: (line: string) => void;
  /** The filter program (default `node packages/cli/bin/ssmax.js org filter`); `--config FILE` is appended. */
  readonly filterCommand?: readonly string[];
}

/** Runs the Postfix organisation of `configFile` (contract v1) until SIGTERM or the returned stop. */
export async function runPostfixOrg(configFile: string, o: PostfixOrgOptions): Promise<{ stop: () => Promise<void>; ready: OrgReadyLine; postfixDir: string }> {
  let c: OrgImplementationConfig;
  try {
    c = JSON.parse(await fs.readFile(configFile, 'utf8')) as OrgImplementationConfig;
  } catch (cause) {
    throw new SsmaxError('USAGE', `Cannot read the org config ${configFile}. ${(cause as Error).message}.`, { cause });
  }
  if (c?.contract !== 1)
    throw new SsmaxError('USAGE', `Cannot run the Postfix org of ${configFile}. It speaks contract ${String(c?.contract)}; this implementation speaks 1.`);
  const address = `${c.network.prefix}.25`;
  const dir = join(c.storageDir, 'postfix');
  await fs.mkdir(dir, { recursive: true });
  // Postfix's daemons traverse to the queue and the relay sockets.
  for (const d of [c.storageDir, dir]) await fs.chmod(d, 0o711);

  // (1)-(2) by our reference org, once, on this storage; its certificates are the ones we announce.
  const lines: string[] = [];
  const enrolment = await serveOrg(configFile, { write: (l) => lines.push(l) });
  await enrolment.stop();
  const enrolled = JSON.parse(lines.find((l) => l.includes('"ready"')) ?? '{}') as OrgReadyLine;
  if (enrolled.event !== 'ready') throw new SsmaxError('IO_ERROR', `Cannot enrol ${c.org.id}. The enrolment printed no readiness line.`);

  const cleanup: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    cleanup.length = 0;
  };
  try {
    const uid = Number((await execFileP('id', ['-u', POSTFIX_MAIL_OWNER])).stdout.trim());
    const gid = Number((await execFileP('id', ['-g', POSTFIX_MAIL_OWNER])).stdout.trim());
    const sockets = join(dir, 'sockets');
    await fs.mkdir(sockets, { recursive: true });
    await fs.chmod(sockets, 0o711);
    const lmtp = { path: join(sockets, 'lmtp'), server: await relaySocket(join(sockets, 'lmtp'), c.mailbox.lmtp.unix, uid, gid) };
    cleanup.push(() => new Promise((r) => lmtp.server.close(() => r())));
    const authTarget = join(dirname(c.mailbox.dovecotConfig), 'run', 'auth-client');
    const auth = { path: join(sockets, 'auth'), server: await relaySocket(join(sockets, 'auth'), authTarget, uid, gid) };
    cleanup.push(() => new Promise((r) => auth.server.close(() => r())));

    // The same ports on every start: a queued mail carries its content filter's [address]:port in its queue file.
    const portsFile = join(dir, 'ports.json');
    const kept = await fs.readFile(portsFile, 'utf8').then(
      (t) => JSON.parse(t) as { postfix: PostfixPorts; filter: FilterPorts },
      () => undefined,
    );
    const [mx, msa, reinjectOut, reinjectIn, reinjectFinal, outCheck, inCheck, outHop, inHop] = await freePorts(address, 9);
    const ports: PostfixPorts = kept?.postfix ?? {
      mx: c.network.listen.mx || mx!,
      msa: c.network.listen.msa || msa!,
      reinjectOut: reinjectOut!,
      reinjectIn: reinjectIn!,
      reinjectFinal: reinjectFinal!,
    };
    const filterPorts: FilterPorts = kept?.filter ?? { outCheck: outCheck!, inCheck: inCheck!, outHop: outHop!, inHop: inHop! };
    if (!kept) await fs.writeFile(portsFile, JSON.stringify({ postfix: ports, filter: filterPorts }));
    const filterConfig: FilterConfig = {
      id: c.org.id,
      domain: c.org.domain,
      mode: c.org.mode,
      storageDir: c.storageDir,
      hsm: { storeDir: c.keys.storeDir, pkcs11Module: c.keys.pkcs11Module },
      registryUrl: c.registry.url,
      registryRootCert: c.registry.rootCertificate,
      netPrefix: c.network.prefix,
      caDir: c.tls.caDir,
      profile: { starttls: c.profile.starttls, outboundTls: c.profile.outboundTls, endToEnd: c.profile.endToEnd },
      journeyUrl: new URL('/v1/journey', c.world.controlUrl).href,
      address,
      ports: filterPorts,
      reinject: { out: ports.reinjectOut, in: ports.reinjectIn, final: ports.reinjectFinal },
      postfixDir: dir,
    };
    const filterFile = join(dir, 'filter.json');
    await fs.writeFile(filterFile, JSON.stringify(filterConfig, null, 2), { mode: 0o600 });
    const filter = await startFilter(o.filterCommand ?? [process.execPath, SSMAX_BIN, 'org', 'filter'], filterFile);
    cleanup.push(() => stopChild(filter.child));

    const postfix = await PostfixInstance.start({
      dir,
      domain: c.org.domain.toLowerCase(),
      address,
      ports,
      filter: { address, ports: filterPorts },
      tls: { certFile: c.tls.chainFile, keyFile: c.tls.keyFile, caFile: c.tls.caFile },
      saslSocket: auth.path,
      lmtpSocket: lmtp.path,
      outboundTls: !c.profile.starttls ? 'none' : c.profile.outboundTls === 'opportunistic' ? 'may' : 'secure',
      inboundTls: c.profile.starttls ? 'may' : 'none',
      maxMessageBytes: 10 * 1024 * 1024,
      mailboxes: c.users.map((u) => u.address),
      peers: peersOf(c),
    });
    cleanup.push(() => postfix.stop());

    const { stdout: version } = await execFileP('postconf', ['-d', '-h', 'mail_version']).catch(() => ({ stdout: '?' }));
    const ready: OrgReadyLine = {
      event: 'ready',
      contract: 1,
      mx: { address, port: ports.mx },
      msa: { address, port: ports.msa },
      orgCertificate: enrolled.orgCertificate,
      kmsEncryptionCertificate: enrolled.kmsEncryptionCertificate,
      kmsSigningCertificate: enrolled.kmsSigningCertificate,
      users: enrolled.users,
      crl: { address, port: filter.controlPort },
      controlUrl: `http://${address}:${filter.controlPort}`,
      implementation: `postfix ${version.trim()} + ssmax org filter`,
    };
    filter.child.once('exit', (code, signal) => {
      if (cleanup.length > 0)
        process.stderr.write(`ssmax org postfix: the content filter exited (${code ?? signal}); Postfix defers its mail until it is back.\n`);
    });
    o.write(JSON.stringify(ready));
    return { stop: stopAll, ready, postfixDir: dir };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** `ssmax org filter --config FILE`: opens the org's state and serves the four filter stages until SIGTERM. */
export async function runFilter(configFile: string, emit: (line: Record<string, unknown>) => void): Promise<void> {
  if (!existsSync(configFile)) throw new SsmaxError('USAGE', `Cannot start the content filter. ${configFile} does not exist.`);
  const c = JSON.parse(await fs.readFile(configFile, 'utf8')) as FilterConfig;
  const state = await openOrgState(c);
  try {
    // clamd loads its signatures while the rest starts, not while the first mail waits for it.
    void state.ctx.malwareScanner?.scan(new Uint8Array(0)).catch(() => undefined);
    const filter = await ContentFilter.start({
      ctx: state.ctx,
      address: c.address,
      ports: c.ports,
      reinject: c.reinject,
      ...(c.maxMessageBytes !== undefined ? { maxMessageBytes: c.maxMessageBytes } : {}),
    });
    const control = await startControl(c, state);
    emit({ event: 'filter-ready', pid: process.pid, ports: filter.ports, controlPort: (control.address() as AddressInfo).port });
    const why = await new Promise<'stop' | 'orphaned'>((resolve) => {
      process.once('SIGTERM', () => resolve('stop'));
      // The parent gone (its end of our stdin closed: SIGKILLed, say): stop too, never left behind.
      process.stdin.once('end', () => resolve('orphaned'));
      process.stdin.resume();
    });
    process.stdin.destroy();
    // Its Postfix would outlive it (the master is the dead parent's child): the filter takes the instance down with
    // it at once, before a restarted parent can have started the next one on the same configuration.
    if (why === 'orphaned') await killInstance(postfixPaths(c.postfixDir).conf);
    control.closeAllConnections();
    await new Promise<void>((r) => control.close(() => r()));
    await filter.close();
  } finally {
    await state.close();
  }
}

/**
 * The contract's optional control API (docs/IMPLEMENTING.md §6), served by the filter, which holds the org's KMS,
 * CA and journey: `GET /v1/idle` once Postfix's queue is empty, `POST /v1/report-malicious` ((12), receiving side:
 * sim-org's incident desk files the case from the filter's own (7) record), and `GET /org.crl`, the org CA's CRL
 * (the readiness line's `crl`). The same desk answers the registry's (12) notices as the sending org (trace in the
 * vault, revoke in the CA) every second, as the reference org does.
 */
async function startControl(c: FilterConfig, state: OpenedOrgState): Promise<Server> {
  const { ctx, hsm, orgCa } = state;
  // The trace vault the enrolment made (serveOrg): its sealing key and certificate on the token vault-<id>.
  const vaultToken = hsm.openToken(`vault-${c.id}`);
  state.onClose(() => vaultToken.close());
  await vaultToken.login(VAULT_PIN);
  const vaultKeyHandle = await vaultToken.findKey('vault-seal');
  const vaultCert = await vaultToken.getCertificate('vault-seal');
  const backOffice =
    vaultKeyHandle && vaultCert
      ? {
          orgCa,
          vault: new TraceVault({ storageDir: join(c.storageDir, 'vault'), sealingCertificate: vaultCert }),
          vaultKey: bindTokenKey(vaultToken, vaultKeyHandle),
          officer: `${c.domain} CSIRT`,
        }
      : {};
  const desk = new IncidentDesk({
    registryUrl: c.registryUrl,
    orgId: ctx.registryOrgId,
    signer: { key: ctx.kms.signingKey, certificate: ctx.kms.certificates.signing },
    journey: ctx.journey,
    actorOrg: c.id,
    memberByDomain: (d) => ctx.registry.memberByDomain(d),
    ...backOffice,
  });
  let polling = false;
  const poll = setInterval(() => {
    if (polling || !desk.canHandle) return;
    polling = true;
    desk
      .handlePending()
      .catch((e: unknown) => process.stderr.write(`ssmax org filter: the incident poll failed: ${(e as Error).message}\n`))
      .finally(() => (polling = false));
  }, 1000);
  state.onClose(async () => clearInterval(poll));
  const json = (res: ServerResponse, status: number, body: unknown) =>
    void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server = createHttpServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://control');
      if (req.method === 'GET' && url.pathname === '/v1/idle') {
        const end = Date.now() + Number(url.searchParams.get('timeoutMs') ?? 20_000);
        while ((await queuedInPostfix(c.postfixDir)) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
        const idle = (await queuedInPostfix(c.postfixDir)) === 0;
        return json(res, idle ? 200 : 503, { idle });
      }
      if (req.method === 'GET' && url.pathname === CRL_PATH) {
        const der = (await orgCa.currentCrl()).der;
        return void res
          .writeHead(200, { 'content-type': 'application/pkix-crl', 'cache-control': 'no-cache', 'content-length': der.length })
          .end(Buffer.from(der));
      }
      if (req.method === 'POST' && url.pathname === '/v1/report-malicious') {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messageId: string; reportedBy?: string; summary?: string };
        return json(res, 200, await desk.reportFromRecords(body));
      }
      json(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
    })().catch((e: unknown) => json(res, 500, { error: (e as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, c.address, resolve);
  });
  return server;
}
