/**
 * An organisation of the world run by an outside implementation (docs/IMPLEMENTING.md, contract v1):
 * the world prepares what the contract says it is given (its /24, the hosts table, a TLS identity from
 * the simulated network's CA, the registry, a SoftHSM2 store, the users' card keys, its Dovecot), starts
 * the program, and publishes its MX, MSA and CRL host on the simulated network once it is ready
 * (tapped like any other service, so on-path attackers and the wire tap see it as they see ours).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SOFTHSM2_MODULE_PATH, SsmaxError, encodePem, type OrgImplementationConfig, type OrgReadyLine } from '@ssmax/core';
import type { ExposedService, SimNet } from '@ssmax/sim-net';
import type { MaliciousReportResult } from '@ssmax/sim-org';
import { OrgImplementationProcess } from './org-launcher.js';

/**
 * A cell needs what only an in-process org gives (its spool, its KMS, a rule inside its mailbox, a report
 * desk the implementation does not offer): the cell is "not observable for this implementation", never a guess.
 */
export class NotObservableError extends Error {
  override readonly name = 'NotObservableError';
}

/** The world's handle on an outside org: its process, readiness line and published services. */
export class OutsideOrg {
  #exposed: ExposedService[];
  #process: OrgImplementationProcess;

  constructor(
    readonly id: string,
    /** The implementation's name for reports (`process:<name>`). */
    readonly implementation: string,
    process: OrgImplementationProcess,
    exposed: ExposedService[],
    private readonly relaunch: () => Promise<{ process: OrgImplementationProcess; exposed: ExposedService[] }>,
  ) {
    this.#process = process;
    this.#exposed = exposed;
  }

  get process(): OrgImplementationProcess {
    return this.#process;
  }

  /** The readiness line of the running process. */
  get ready(): OrgReadyLine {
    return this.#process.ready;
  }

  /**
   * SIGKILLs the implementation (a crash: nothing is flushed) and starts it again on the same config and
   * storage, then publishes its services where it now listens. For the durability check of 250.
   */
  async crashAndRestart(): Promise<void> {
    for (const e of this.#exposed) await e.close().catch(() => undefined);
    this.#exposed = [];
    await this.#process.kill();
    const next = await this.relaunch();
    this.#process = next.process;
    this.#exposed = next.exposed;
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
    for (const e of this.#exposed) await e.close().catch(() => undefined);
    await this.#process.stop();
  }
}

/** What the world gives {@link startOutsideOrg}. */
export interface OutsideOrgStart {
  readonly net: SimNet;
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

/** Prepares the contract's config, starts the implementation and publishes its services. */
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
  // There is no DNS server on the simulated network: the MX records and services known now are the implementation's DNS.
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
  const launch = async (): Promise<{ process: OrgImplementationProcess; exposed: ExposedService[] }> => {
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
    const exposed: ExposedService[] = [];
    try {
      const r = proc.ready;
      for (const u of o.users)
        if (!r.users.some((x) => x.address.toLowerCase() === u.address))
          throw new SsmaxError('USAGE', `Cannot use the implementation of ${o.org.id}. Its readiness line has no certificates for ${u.address}.`);
      exposed.push(await net.expose({ host: `mx.${domain}`, port: 25, target: r.mx }));
      exposed.push(await net.expose({ host: `msa.${domain}`, port: 587, target: r.msa }));
      if (r.crl) exposed.push(await net.expose({ host: `crl.${domain}`, port: 80, target: r.crl }));
      return { process: proc, exposed };
    } catch (e) {
      for (const x of exposed) await x.close().catch(() => undefined);
      await proc.stop();
      throw e;
    }
  };
  const first = await launch();
  net.zone.addMx(domain, `mx.${domain}`, 10);
  return new OutsideOrg(o.org.id, o.implementation, first.process, first.exposed, launch);
}
