/**
 * An organisation of the world run by an outside implementation (docs/IMPLEMENTING.md, contract v1):
 * the world prepares what the contract says it is given (its /24, the hosts table, a TLS identity from
 * the simulated network's CA, the registry, a SoftHSM2 store, the users' card keys, its Dovecot), starts
 * the program, and forwards its MX, MSA and CRL host on the simulated network to it once it is ready
 * (tapped like any other service, so on-path attackers and the wire tap see it as they see ours).
 * The names are reserved before any outside org starts ({@link reserveOutsideOrg}): every
 * implementation's hosts table then lists every peer, whichever of them starts first, and a
 * restarted one is reached at the same published endpoints.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SOFTHSM2_MODULE_PATH, SsmaxError, encodePem, type OrgImplementationConfig, type OrgReadyLine } from '@ssmax/core';
import type { ReservedService, SimNet } from '@ssmax/sim-net';
import type { MaliciousReportResult } from '@ssmax/sim-org';
import { OrgImplementationProcess } from './org-launcher.js';

/**
 * A cell needs what only an in-process org gives (its spool, its KMS, a rule inside its mailbox, a report
 * desk the implementation does not offer): the cell is "not observable for this implementation", never a guess.
 */
export class NotObservableError extends Error {
  override readonly name = 'NotObservableError';
}

/**
 * An outside org's names on the simulated network, published before it starts: `mx.<domain>:25`,
 * `msa.<domain>:587` and `crl.<domain>:80` (each a tapped relay that resets connections until the
 * implementation's readiness line says where to forward), and the domain's MX record.
 */
export interface OutsideOrgRelays {
  readonly mx: ReservedService;
  readonly msa: ReservedService;
  readonly crl: ReservedService;
}

/**
 * Reserves `domain`'s MX, MSA and CRL host on `net` (on addresses of the world's own plan, never on the
 * implementation's /24, which is all its own) and publishes its MX record. Called for every outside org
 * before any of them starts, so each one's config names all the others (docs/IMPLEMENTING.md §3).
 */
export async function reserveOutsideOrg(net: SimNet, domain: string): Promise<OutsideOrgRelays> {
  const made: ReservedService[] = [];
  try {
    const reserve = async (host: string, port: number) => {
      const r = await net.reserve({ host, port, address: net.address(host) });
      made.push(r);
      return r;
    };
    const relays = { mx: await reserve(`mx.${domain}`, 25), msa: await reserve(`msa.${domain}`, 587), crl: await reserve(`crl.${domain}`, 80) };
    net.zone.addMx(domain, `mx.${domain}`, 10);
    return relays;
  } catch (e) {
    for (const r of made) await r.close().catch(() => undefined);
    throw e;
  }
}

/** The world's handle on an outside org: its process, readiness line and published services. */
export class OutsideOrg {
  #process: OrgImplementationProcess;

  constructor(
    readonly id: string,
    /** The implementation's name for reports (`process:<name>`). */
    readonly implementation: string,
    process: OrgImplementationProcess,
    private readonly relays: OutsideOrgRelays,
    private readonly relaunch: () => Promise<OrgImplementationProcess>,
  ) {
    this.#process = process;
  }

  get process(): OrgImplementationProcess {
    return this.#process;
  }

  /** The readiness line of the running process. */
  get ready(): OrgReadyLine {
    return this.#process.ready;
  }

  /**
   * SIGKILLs the implementation (a crash: nothing is flushed), runs `whileDown` (its published names
   * reset connections meanwhile), and starts it again on the same config and storage; its published
   * names then forward to where it now listens (the endpoints peers were given do not change).
   * For the durability check of 250.
   */
  async crashAndRestart(whileDown?: () => Promise<void>): Promise<void> {
    for (const r of Object.values(this.relays)) r.detach();
    await this.#process.kill();
    await whileDown?.();
    this.#process = await this.relaunch();
  }

  /** The KMS certificates of its readiness line (the users' agents encrypt files to `encryption`). */
  get certificates(): { readonly org: Uint8Array; readonly encryption: Uint8Array; readonly signing: Uint8Array } {
    const d = (b: string) => new Uint8Array(Buffer.from(b, 'base64'));
    return { org: d(this.ready.orgCertificate), encryption: d(this.ready.kmsEncryptionCertificate), signing: d(this.ready.kmsSigningCertificate) };
  }

  /** Waits until its queues are empty (`GET /v1/idle`), or a fixed 3 s when it offers no control API. */
  async idle(timeoutMs: number): Promise<void> {
    if (!this.ready.controlUrl) return new Promise((r) => setTimeout(r, 3000));
    const res = await fetch(new URL(`/v1/idle?timeoutMs=${timeoutMs}`, this.ready.controlUrl), { signal: AbortSignal.timeout(timeoutMs + 5000) });
    if (!res.ok) throw new SsmaxError('IO_ERROR', `Cannot wait for ${this.id} to be idle. Its control API answered ${res.status}.`);
  }

  /** Procedure (12), receiving side, through the implementation's `POST /v1/report-malicious`. */
  async reportMalicious(input: { messageId: string; reportedBy: string; summary?: string }): Promise<MaliciousReportResult> {
    if (!this.ready.controlUrl)
      throw new NotObservableError(
        `Cannot report ${input.messageId} at ${this.id}. Its implementation (${this.implementation}) offers no /v1/report-malicious.`,
      );
    const res = await fetch(new URL('/v1/report-malicious', this.ready.controlUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
      signal: AbortSignal.timeout(30_000),
    });
    if (res.status === 404)
      throw new NotObservableError(
        `Cannot report ${input.messageId} at ${this.id}. Its implementation (${this.implementation}) offers no /v1/report-malicious.`,
      );
    const text = await res.text();
    if (!res.ok) throw new SsmaxError('IO_ERROR', `Cannot report ${input.messageId} at ${this.id}. It answered ${res.status}: ${text.slice(0, 300)}.`);
    return JSON.parse(text) as MaliciousReportResult;
  }

  /** Where it listens, for `ssmax up`. */
  services(): { name: string; host?: string; listen: string; protocol: string }[] {
    const r = this.ready;
    return [
      { name: `${this.id}/msa`, listen: `${r.msa.address}:${r.msa.port}`, protocol: `smtp submission (AUTH; ${this.implementation})` },
      { name: `${this.id}/mta-in`, listen: `${r.mx.address}:${r.mx.port}`, protocol: `smtp (${this.implementation})` },
      ...(r.crl ? [{ name: `${this.id}/crl`, listen: `${r.crl.address}:${r.crl.port}`, protocol: 'http (org CRL)' }] : []),
    ];
  }

  async stop(): Promise<void> {
    for (const r of Object.values(this.relays)) await r.close().catch(() => undefined);
    await this.#process.stop();
  }
}

/** What the world gives {@link startOutsideOrg}. */
export interface OutsideOrgStart {
  readonly net: SimNet;
  /** Its names on `net`, reserved by {@link reserveOutsideOrg} before any outside org started. */
  readonly relays: OutsideOrgRelays;
  /** The org's directory in the world's storage. */
  readonly dir: string;
  readonly org: OrgImplementationConfig['org'];
  readonly profile: OrgImplementationConfig['profile'];
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Run in this locally built image; the org's directory and the CA directory are mounted at the same paths, besides `mounts`. */
  readonly container?: {
    readonly image: string;
    readonly mounts: readonly { readonly source: string; readonly target: string; readonly readOnly?: boolean }[];
  };
  readonly implementation: string;
  /** The loopback /24 the implementation binds on. */
  readonly prefix: string;
  readonly registry: { readonly url: string; readonly rootCertificate: Uint8Array };
  readonly users: OrgImplementationConfig['users'];
  readonly mailbox: { readonly lmtpSocket: string; readonly configPath: string };
  readonly controlUrl: string;
  /** The simulated network's CA directory (the world's SimNet was made with it). */
  readonly caDir: string;
  readonly log?: (line: string) => void;
}

/** Prepares the contract's config, starts the implementation and forwards its reserved names to it. */
export async function startOutsideOrg(o: OutsideOrgStart): Promise<OutsideOrg> {
  const { net, dir } = o;
  const domain = o.org.domain;
  const tlsDir = path.join(dir, 'tls');
  fs.mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const ca = await net.ca();
  const identity = await ca.issueServerCertificate([`mx.${domain}`, `msa.${domain}`, `crl.${domain}`]);
  const file = (name: string, text: string) => {
    const p = path.join(tlsDir, name);
    fs.writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const hsmDir = path.join(dir, 'impl-hsm');
  fs.mkdirSync(path.join(hsmDir, 'tokens'), { recursive: true, mode: 0o700 });
  const softhsm2Conf = path.join(hsmDir, 'softhsm2.conf');
  fs.writeFileSync(
    softhsm2Conf,
    [
      `directories.tokendir = ${path.join(hsmDir, 'tokens')}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      'slots.mechanisms = ALL',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // There is no DNS server on the simulated network: the MX records and services known now are the implementation's DNS
  // (every outside org's names among them: they were reserved before any outside org started).
  const others = net.directory.entries().filter((e) => !e.host.toLowerCase().endsWith(`.${domain}`));
  const mx: { domain: string; host: string }[] = [];
  for (const e of others) {
    if (e.port !== 25 || !e.host.startsWith('mx.')) continue;
    const d = e.host.slice(3);
    const records = await net.zone.resolver(d, 'MX').catch(() => [] as unknown[]);
    if ((records as { exchange: string }[]).some((r) => r.exchange.toLowerCase() === e.host.toLowerCase())) mx.push({ domain: d, host: e.host });
  }
  const config: OrgImplementationConfig = {
    contract: 1,
    org: o.org,
    profile: o.profile,
    storageDir: path.join(dir, 'impl'),
    network: {
      prefix: o.prefix,
      listen: { mx: 0, msa: 0, crl: 0 },
      mx,
      hosts: others.map((e) => ({ name: e.host, port: e.port, connect: { address: e.endpoint.address, port: e.endpoint.port } })),
    },
    tls: {
      chainFile: file('chain.pem', identity.chainPem),
      keyFile: file('key.pem', identity.privateKeyPem),
      caFile: file('ca.pem', ca.certificatePem),
      caDir: o.caDir,
    },
    registry: {
      url: o.registry.url,
      rootCertificate: Buffer.from(o.registry.rootCertificate).toString('base64'),
      rootFile: file('registry-root.pem', encodePem(o.registry.rootCertificate, 'CERTIFICATE')),
    },
    keys: { pkcs11Module: SOFTHSM2_MODULE_PATH, storeDir: hsmDir, softhsm2Conf },
    users: o.users,
    mailbox: { lmtp: { unix: o.mailbox.lmtpSocket }, dovecotConfig: o.mailbox.configPath },
    world: { controlUrl: o.controlUrl },
  };
  const launch = async (): Promise<OrgImplementationProcess> => {
    const proc = await OrgImplementationProcess.start({
      command: o.command,
      ...(o.env ? { env: o.env } : {}),
      ...(o.container
        ? {
            container: {
              image: o.container.image,
              bindMounts: [{ source: dir, target: dir }, { source: o.caDir, target: o.caDir }, ...o.container.mounts],
            },
          }
        : {}),
      configFile: path.join(dir, 'implementation.json'),
      config,
      ...(o.log ? { log: o.log } : {}),
    });
    const r = proc.ready;
    for (const u of o.users)
      if (!r.users.some((x) => x.address.toLowerCase() === u.address)) {
        await proc.stop();
        throw new SsmaxError('USAGE', `Cannot use the implementation of ${o.org.id}. Its readiness line has no certificates for ${u.address}.`);
      }
    o.relays.mx.attach(r.mx);
    o.relays.msa.attach(r.msa);
    // Without a CRL host in its readiness line (optional before (12)) the name stays reserved and resets connections.
    if (r.crl) o.relays.crl.attach(r.crl);
    else o.relays.crl.detach();
    return proc;
  };
  const first = await launch();
  return new OutsideOrg(o.org.id, o.implementation, first, o.relays, launch);
}
