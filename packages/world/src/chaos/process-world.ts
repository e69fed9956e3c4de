/**
 * A world whose actors are separate processes, talking only over the network: the registry
 * (registry-process.ts, SQLite in WAL mode), the sending org A (MSA, outbound spool, (5)(6), MTA-out),
 * the receiving org B (MTA-in (7)(8), inbound spool, (9)) and B's mailbox (a real Dovecot). Each can be
 * SIGKILLed and started again on the same storage, address and port. This process plays the users of
 * org A: their cards are on its own SoftHSM2 store, and it signs ((3)) and submits ((4), SMTP AUTH)
 * their mail. Used by the kill harness (chaos.ts) and by the multi-process chain benchmark, where both
 * orgs get a core of their own.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { SoftHsmNative, bindTokenKey, type PrivateKeyOps } from '@ssmax/core';
import { Mailbox } from '@ssmax/sim-org';
import { ORG_PROCESS_ENTRY, OrgProcess, composeSignedMail, type OrgProcessConfig } from '@ssmax/sim-org/testing';
import type { RegistryProcessConfig, RegistryProcessEvent } from './registry-process.js';

const execFileP = promisify(execFile);
const REGISTRY_ENTRY = fileURLToPath(new URL('../../dist/chaos/registry-process.js', import.meta.url));

export const PROCESS_TARGETS = ['registry', 'org-a', 'org-b', 'mailbox-b'] as const;
export type ProcessTarget = (typeof PROCESS_TARGETS)[number];

export interface ProcessWorldOptions {
  /** Where every process keeps its state (created; the caller removes it). */
  readonly dir: string;
  /** Users of org A, each with a card here (default 1). */
  readonly senders?: number;
  /** STARTTLS between the orgs, with one sim-net test CA shared by all processes (default off). */
  readonly starttls?: boolean;
  /** Workers per spool in each org (default 1). */
  readonly spoolWorkers?: number;
  /** Org B asks the mailbox before a retried delivery (exactly-once; default true). */
  readonly askBeforeRetry?: boolean;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The registry child: spawned with its config, `ready` awaited, TXT writes relayed and acknowledged. */
class RegistryProcess {
  readonly exited: Promise<unknown>;
  #seq = 0;
  #waiting = new Map<number, () => void>();
  #stderr: string[] = [];

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdin.on('error', () => undefined);
    child.stderr.setEncoding('utf8').on('data', (d: string) => this.#stderr.push(d));
    this.exited = new Promise((r) => child.once('exit', r));
  }

  static async start(config: RegistryProcessConfig): Promise<{ process: RegistryProcess; url: string; rootCertificate: string }> {
    const child = spawn(process.execPath, [REGISTRY_ENTRY, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new RegistryProcess(child);
    const ready = await new Promise<RegistryProcessEvent>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const e = JSON.parse(line) as RegistryProcessEvent;
        if (e.event === 'txt-done') {
          p.#waiting.get(e.seq)?.();
          p.#waiting.delete(e.seq);
        } else resolve(e);
      });
      void p.exited.then(() => resolve({ event: 'error', message: `exited before ready. ${p.#stderr.join('')}` }));
    });
    if (ready.event !== 'ready') throw new Error(`Cannot start the registry process. ${ready.event === 'error' ? ready.message : ready.event}`);
    return { process: p, url: ready.url, rootCertificate: ready.rootCertificate };
  }

  txt(op: 'publish' | 'withdraw', name: string, value: string): Promise<void> {
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      this.#waiting.set(seq, resolve);
      this.child.stdin.write(JSON.stringify({ cmd: 'txt', op, name, value, seq }) + '\n');
      // A registry killed before it answers: the org's enrolment fails and is retried by its restart.
      void this.exited.then(() => resolve());
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface ProcessWorldSender {
  readonly address: string;
  readonly password: string;
  readonly key: PrivateKeyOps;
  readonly signingCertificate: Uint8Array;
}

export class ProcessWorld {
  readonly bob = 'bob@chaos-b.example';
  #registry!: Awaited<ReturnType<typeof RegistryProcess.start>>;
  #mailbox!: Mailbox;
  #a!: OrgProcess;
  #b!: OrgProcess;
  #senders: ProcessWorldSender[] = [];
  #certs!: { org: Uint8Array; enc: Uint8Array };
  /** The users' card tokens: open tokens hold the PKCS#11 module, so they are closed before the reader. */
  readonly #tokens: { close(): Promise<void> }[] = [];
  #closed = false;

  private constructor(
    private readonly o: ProcessWorldOptions,
    private readonly hsm: SoftHsmNative,
    private readonly configs: {
      registry: RegistryProcessConfig;
      mailbox: Parameters<typeof Mailbox.start>[0];
      a?: OrgProcessConfig;
      b?: OrgProcessConfig;
    },
  ) {}

  get senders(): readonly ProcessWorldSender[] {
    return this.#senders;
  }
  get a(): OrgProcess {
    return this.#a;
  }
  get b(): OrgProcess {
    return this.#b;
  }
  get mailbox(): Mailbox {
    return this.#mailbox;
  }
  get msa(): { address: string; port: number } {
    return this.#a.ready.msa;
  }

  /** Starts the registry, B's Dovecot, org B and org A (in that order), each in its own process. */
  static async start(o: ProcessWorldOptions): Promise<ProcessWorld> {
    mkdirSync(o.dir, { recursive: true });
    // Dovecot's mail processes run unprivileged and must traverse to the mailbox.
    chmodSync(o.dir, 0o711);
    // A /16 of loopback per process that runs worlds (pid-derived, like the other multi-process tests), one /24 per actor.
    const net16 = `127.${200 + (process.pid % 50)}`;
    const prefix = { registry: `${net16}.10`, a: `${net16}.11`, b: `${net16}.12`, mailbox: `${net16}.13` };
    const registryConfig: RegistryProcessConfig = {
      dataDir: join(o.dir, 'registry'),
      host: `${prefix.registry}.1`,
      port: await freePort(`${prefix.registry}.1`),
    };
    mkdirSync(registryConfig.dataDir, { recursive: true });
    const hsm = SoftHsmNative.open({ storageDir: join(o.dir, 'hsm-user-agent') });
    const w = new ProcessWorld(o, hsm, {
      registry: registryConfig,
      mailbox: { dir: join(o.dir, 'mailbox-b'), host: `${prefix.mailbox}.1`, users: [{ address: 'bob@chaos-b.example', password: 'pw-bob-imap' }] },
    });
    try {
      w.#registry = await RegistryProcess.start(registryConfig);
      w.#mailbox = await Mailbox.start(w.configs.mailbox);
      const base = (id: string, pfx: string): Omit<OrgProcessConfig, 'domain'> => ({
        id,
        mode: 'org',
        storageDir: join(o.dir, id),
        hsmDir: join(o.dir, `hsm-${id}`),
        registryUrl: w.#registry.url,
        registryRootCert: w.#registry.rootCertificate,
        netPrefix: pfx,
        retryMs: 150,
        ...(o.starttls ? { starttls: true, caDir: join(o.dir, 'sim-net-ca') } : {}),
        ...(o.spoolWorkers !== undefined ? { spoolWorkers: o.spoolWorkers } : {}),
      });
      // Org B: MTA-in and delivery into that Dovecot, exactly-once (it can ask the mailbox).
      w.configs.b = {
        ...base('chaos-b', prefix.b),
        domain: 'chaos-b.example',
        dovecot: { configPath: w.#mailbox.configPath, lmtpSocket: w.#mailbox.lmtpSocket, host: w.#mailbox.host, askBeforeRetry: o.askBeforeRetry !== false },
        cardUsers: [{ local: 'bob', pin: '2222', password: 'pw-bob' }],
        listenPorts: { mx: await freePort(`${prefix.b}.1`) },
      };
      w.#b = await OrgProcess.start(ORG_PROCESS_ENTRY, w.configs.b, w.#dns());
      // Org A: its users' cards are here (the user agents' reader); A's CA certifies each key once.
      const keys: { address: string; password: string; key: PrivateKeyOps }[] = [];
      for (let i = 0; i < (o.senders ?? 1); i++) {
        const label = `card-${i}`;
        hsm.initToken({ label, soPin: '87654321', userPin: '1234' });
        const token = hsm.openToken(label);
        w.#tokens.push(token);
        await token.login('1234');
        keys.push({ address: `user${i}@chaos-a.example`, password: `pw-user${i}`, key: bindTokenKey(token, await token.generateKeyPair('user', 'EC-P256')) });
      }
      w.configs.a = {
        ...base('chaos-a', prefix.a),
        domain: 'chaos-a.example',
        lmtp: { host: '127.0.0.1', port: 9 },
        externalUsers: keys.map((k) => ({ address: k.address, password: k.password, signingSpki: Buffer.from(k.key.spki).toString('base64') })),
        peers: [{ domain: 'chaos-b.example', mxHost: 'mx.chaos-b.example', address: w.#b.ready.mx.address, port: w.#b.ready.mx.port }],
        listenPorts: { msa: await freePort(`${prefix.a}.1`) },
      };
      w.#a = await OrgProcess.start(ORG_PROCESS_ENTRY, w.configs.a, w.#dns());
      const certs = new Map(w.#a.ready.users.map((u) => [u.address, Buffer.from(u.signingCertificate, 'base64')]));
      w.#senders = keys.map((k) => ({ ...k, signingCertificate: certs.get(k.address)! }));
      w.#certs = { org: Buffer.from(w.#a.ready.orgCertificate, 'base64'), enc: Buffer.from(w.#a.ready.kmsEncryptionCertificate, 'base64') };
      return w;
    } catch (e) {
      await w.close();
      throw e;
    }
  }

  /** The orgs' DNS writes (domain-control TXT, procedure (1)) go to the registry's zone, whichever registry process is current. */
  #dns() {
    return {
      publishTxt: (name: string, value: string) => this.#registry.process.txt('publish', name, value),
      withdrawTxt: (name: string, value: string) => this.#registry.process.txt('withdraw', name, value),
    };
  }

  /** SIGKILLs one process and waits for it to be gone. */
  async kill(target: ProcessTarget): Promise<void> {
    if (target === 'registry') await this.#registry.process.kill();
    else if (target === 'mailbox-b') {
      if (this.#mailbox.pid !== undefined) process.kill(this.#mailbox.pid, 'SIGKILL');
      await this.#mailbox.stop();
    } else await (target === 'org-a' ? this.#a : this.#b).kill();
  }

  /** Starts a killed process again on the same storage; `onSpawn` sees an org's child before it is ready (a start-up kill). */
  async restart(target: ProcessTarget, onSpawn?: (child: ChildProcessWithoutNullStreams) => void): Promise<void> {
    if (target === 'registry') this.#registry = await RegistryProcess.start(this.configs.registry);
    else if (target === 'mailbox-b') this.#mailbox = await Mailbox.start(this.configs.mailbox);
    else {
      const which = target === 'org-a' ? 'a' : 'b';
      const p = await OrgProcess.start(ORG_PROCESS_ENTRY, this.configs[which]!, this.#dns(), 120_000, onSpawn);
      if (which === 'a') this.#a = p;
      else this.#b = p;
    }
  }

  /** A card-signed mail ((3)) of sender `i` to Bob with one file of `fileBytes`. */
  async compose(i: number, subject: string, fileBytes = 16): Promise<{ raw: Uint8Array; messageId: string }> {
    const s = this.#senders[i]!;
    return composeSignedMail({
      from: s.address,
      to: [this.bob],
      subject,
      text: subject,
      key: s.key,
      signingCertificate: s.signingCertificate,
      orgCertificate: this.#certs.org,
      orgEncryptionCertificate: this.#certs.enc,
      files: [{ name: 'f.bin', type: 'application/octet-stream', content: Buffer.alloc(fileBytes, 0x61) }],
    });
  }

  /** One SMTP submission ((4), AUTH) of sender `i`: 250, or the reply code (0 for a connection fault). */
  async submit(i: number, raw: Uint8Array, envid?: string): Promise<{ code: number; message?: string }> {
    const s = this.#senders[i]!;
    const t = nodemailer.createTransport({
      host: this.msa.address,
      port: this.msa.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: s.address, pass: s.password },
      connectionTimeout: 3000,
      greetingTimeout: 5000,
      socketTimeout: 20_000,
    });
    try {
      await t.sendMail({ envelope: { from: s.address, to: [this.bob] }, raw: Buffer.from(raw), ...(envid !== undefined ? { dsn: { envid } } : {}) });
      return { code: 250 };
    } catch (e) {
      return { code: (e as { responseCode?: number }).responseCode ?? 0, message: (e as Error).message };
    } finally {
      t.close();
    }
  }

  /** Waits until both orgs' spools are drained (twice: A's relay may have been deferred while B restarted). */
  async drain(timeoutMs = 300_000): Promise<void> {
    for (let i = 0; i < 2; i++) {
      await this.#a.idle(timeoutMs);
      await this.#b.idle(timeoutMs);
    }
  }

  /** Message-IDs in Bob's INBOX, one entry per stored copy (doveadm reads the store). */
  async delivered(): Promise<string[]> {
    const { stdout } = await execFileP(
      'doveadm',
      ['-c', this.#mailbox.configPath, '-f', 'flow', 'fetch', '-u', this.bob, 'hdr.message-id', 'mailbox', 'INBOX', 'all'],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return stdout
      .split('\n')
      .map((l) => /<[^>\s]+>/.exec(l)?.[0])
      .filter((m): m is string => m !== undefined);
  }

  /** Stops everything (gracefully where it runs, else it is already gone). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#a?.stop().catch(() => undefined);
    await this.#b?.stop().catch(() => undefined);
    await this.#mailbox?.stop().catch(() => undefined);
    await this.#registry?.process.kill().catch(() => undefined);
    for (const t of this.#tokens) await t.close().catch(() => undefined);
    await this.hsm.close().catch(() => undefined);
  }
}
