/**
 * The kill harness (issue 11 item 3): exactly-once delivery across SIGKILL of any process at any time.
 *
 * One SSMAX path, each actor its own process: the registry (registry-process.ts, SQLite in WAL mode),
 * the sending org A (MSA, outbound spool, (5)(6), MTA-out), the receiving org B (MTA-in (7)(8), inbound
 * spool, (9)), and B's mailbox (a real Dovecot, LMTP in, doveadm to count). This process is the user
 * agent: it signs each mail on a SoftHSM2 card ((3)), submits it to A's MSA with an RFC 3461 ENVID and
 * retries every submission that got no 250 (as any mail client does) until it gets one. Meanwhile a
 * seeded killer waits a random gap, SIGKILLs a random one of the four, restarts it on the same storage
 * (same ports), and goes on, until the wanted number of kills. Then everything drains, and Bob's
 * mailbox is counted per Message-ID: every acknowledged mail must be there exactly once.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
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

export const CHAOS_TARGETS = ['registry', 'org-a', 'org-b', 'mailbox-b'] as const;
export type ChaosTarget = (typeof CHAOS_TARGETS)[number];

export interface ChaosOptions {
  /** SIGKILLs to deliver (each followed by a restart of the killed process). */
  readonly kills: number;
  readonly seed: number;
  /** Concurrent user-agent submitters (default 2). */
  readonly submitters?: number;
  /** Random wait before each kill, in ms (default [150, 900]). */
  readonly gapMs?: readonly [number, number];
  /** Work directory (default a fresh one under the OS temp dir, removed afterwards). */
  readonly dir?: string;
  readonly log?: (line: string) => void;
  /**
   * false: the user agent sends no ENVID and org B does not ask the mailbox before a retried delivery
   * (at-least-once, as before issue 11), to show that the harness sees the duplicates it exists to catch.
   */
  readonly exactlyOnce?: boolean;
}

export interface ChaosReport {
  readonly meta: {
    readonly seed: number;
    readonly kills: number;
    readonly submitters: number;
    readonly gapMs: readonly [number, number];
    readonly startedAt: string;
    readonly durationMs: number;
    readonly node: string;
    readonly exactlyOnce: boolean;
  };
  readonly killed: Record<ChaosTarget, number>;
  /** Of the org kills, those that hit a process during its start-up (spool recovery, registry checks), before or just after it reported ready. */
  readonly killedDuringStartUp: number;
  readonly mails: {
    /** Mails the MSA answered 250 (every submission is retried until it is). */
    readonly acknowledged: number;
    readonly deliveredOnce: number;
    /** Acknowledged mails in Bob's mailbox more than once. Target 0. */
    readonly deliveredTwice: number;
    /** Acknowledged mails not in Bob's mailbox after everything drained. Target 0. */
    readonly lost: number;
    /** Copies in the mailbox of mails never acknowledged (should be 0: every submission is retried to a 250). */
    readonly unacknowledgedDelivered: number;
    /** SMTP submission attempts, retries included. */
    readonly submissionAttempts: number;
    /** Submissions answered 5xx (not retried; each is a finding). */
    readonly refused: number;
  };
  readonly duplicates: readonly string[];
  readonly lostIds: readonly string[];
  readonly refusals: readonly string[];
}

/** mulberry32: a small seeded PRNG, so a run's kill schedule is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Message-IDs in `rcpt`'s INBOX, one entry per stored copy (doveadm reads the store). */
async function messageIdsIn(configPath: string, rcpt: string): Promise<string[]> {
  const { stdout } = await execFileP('doveadm', ['-c', configPath, '-f', 'flow', 'fetch', '-u', rcpt, 'hdr.message-id', 'mailbox', 'INBOX', 'all'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .map((l) => /<[^>\s]+>/.exec(l)?.[0])
    .filter((m): m is string => m !== undefined);
}

/** Runs the harness; a fault of the harness itself (a process that does not come back) throws. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const random = prng(o.seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const gap = o.gapMs ?? [150, 900];
  const submitters = o.submitters ?? 2;
  const started = Date.now();
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'ssmax-chaos-'));
  mkdirSync(dir, { recursive: true });
  // Dovecot's mail processes run unprivileged and must traverse to the mailbox.
  chmodSync(dir, 0o711);
  // A /16 of loopback per run (pid-derived, like the other multi-process tests), one /24 per actor.
  const net16 = `127.${200 + (process.pid % 50)}`;
  const prefix = { registry: `${net16}.${10}`, a: `${net16}.${11}`, b: `${net16}.${12}`, mailbox: `${net16}.${13}` };

  const hsm = SoftHsmNative.open({ storageDir: join(dir, 'hsm-user-agent') });
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    // The registry, on a fixed address and port.
    const registryConfig: RegistryProcessConfig = {
      dataDir: join(dir, 'registry'),
      host: `${prefix.registry}.1`,
      port: await freePort(`${prefix.registry}.1`),
    };
    mkdirSync(registryConfig.dataDir, { recursive: true });
    let registry = await RegistryProcess.start(registryConfig);
    cleanup.push(() => registry.process.kill());
    const dns = {
      publishTxt: (name: string, value: string) => registry.process.txt('publish', name, value),
      withdrawTxt: (name: string, value: string) => registry.process.txt('withdraw', name, value),
    };

    // B's mailbox: Dovecot with Bob.
    const bob = 'bob@chaos-b.example';
    const mailboxOptions = { dir: join(dir, 'mailbox-b'), host: `${prefix.mailbox}.1`, users: [{ address: bob, password: 'pw-bob-imap' }] };
    let mailbox = await Mailbox.start(mailboxOptions);
    cleanup.push(() => mailbox.stop());

    // Org B: MTA-in and delivery into that Dovecot, exactly-once (it can ask the mailbox).
    const base = (id: string, pfx: string): Omit<OrgProcessConfig, 'domain'> => ({
      id,
      mode: 'org',
      storageDir: join(dir, id),
      hsmDir: join(dir, `hsm-${id}`),
      registryUrl: registry.url,
      registryRootCert: registry.rootCertificate,
      netPrefix: pfx,
      retryMs: 150,
    });
    const bConfig: OrgProcessConfig = {
      ...base('chaos-b', prefix.b),
      domain: 'chaos-b.example',
      dovecot: { configPath: mailbox.configPath, lmtpSocket: mailbox.lmtpSocket, host: mailbox.host, askBeforeRetry: o.exactlyOnce !== false },
      cardUsers: [{ local: 'bob', pin: '2222', password: 'pw-bob' }],
      listenPorts: { mx: await freePort(`${prefix.b}.1`) },
    };
    const procs: { a?: OrgProcess; b: OrgProcess } = { b: await OrgProcess.start(ORG_PROCESS_ENTRY, bConfig, dns) };
    cleanup.push(() => procs.b.kill());

    // Org A: Dave's card is here (the user agent's reader); A's CA certifies its key once.
    hsm.initToken({ label: 'dave-card', soPin: '87654321', userPin: '1234' });
    const token = hsm.openToken('dave-card');
    await token.login('1234');
    const key: PrivateKeyOps = bindTokenKey(token, await token.generateKeyPair('dave', 'EC-P256'));
    const aConfig: OrgProcessConfig = {
      ...base('chaos-a', prefix.a),
      domain: 'chaos-a.example',
      lmtp: { host: '127.0.0.1', port: 9 },
      externalUsers: [{ address: 'dave@chaos-a.example', password: 'pw-dave', signingSpki: Buffer.from(key.spki).toString('base64') }],
      peers: [{ domain: 'chaos-b.example', mxHost: 'mx.chaos-b.example', address: procs.b.ready.mx.address, port: procs.b.ready.mx.port }],
      listenPorts: { msa: await freePort(`${prefix.a}.1`) },
    };
    procs.a = await OrgProcess.start(ORG_PROCESS_ENTRY, aConfig, dns);
    cleanup.push(() => procs.a!.kill());
    const dave = procs.a.ready.users[0]!;
    const msa = procs.a.ready.msa;
    const certs = {
      signing: Buffer.from(dave.signingCertificate, 'base64'),
      org: Buffer.from(procs.a.ready.orgCertificate, 'base64'),
      enc: Buffer.from(procs.a.ready.kmsEncryptionCertificate, 'base64'),
    };
    log(
      `[chaos] up: registry ${registry.url}, org A MSA ${msa.address}:${msa.port}, org B MX ${procs.b.ready.mx.address}:${procs.b.ready.mx.port}, mailbox ${mailbox.host}`,
    );

    // The user agent: sign, submit with an ENVID, retry until 250.
    const acknowledged = new Set<string>();
    const refusals: string[] = [];
    let attempts = 0;
    let mailNo = 0;
    let killing = true;
    const submitOne = async (): Promise<void> => {
      const n = mailNo++;
      const { raw, messageId } = await composeSignedMail({
        from: dave.address,
        to: [bob],
        subject: `chaos ${o.seed}/${n}`,
        text: `mail ${n}`,
        key,
        signingCertificate: certs.signing,
        orgCertificate: certs.org,
        orgEncryptionCertificate: certs.enc,
        files: [{ name: `f${n}.txt`, type: 'text/plain', content: Buffer.from(`chaos file ${n}\n`) }],
      });
      const envid = `chaos-${o.seed}-${n}`;
      for (;;) {
        attempts++;
        const t = nodemailer.createTransport({
          host: msa.address,
          port: msa.port,
          secure: false,
          ignoreTLS: true,
          auth: { user: dave.address, pass: 'pw-dave' },
          connectionTimeout: 3000,
          greetingTimeout: 5000,
          socketTimeout: 20_000,
        });
        try {
          await t.sendMail({ envelope: { from: dave.address, to: [bob] }, raw: Buffer.from(raw), ...(o.exactlyOnce === false ? {} : { dsn: { envid } }) });
          acknowledged.add(messageId);
          return;
        } catch (e) {
          const code = (e as { responseCode?: number }).responseCode ?? 0;
          if (code >= 500) {
            refusals.push(`${messageId}: ${(e as Error).message.slice(0, 200)}`);
            return;
          }
          await sleep(between(50, 250));
        } finally {
          t.close();
        }
      }
    };
    const submitting = Array.from({ length: submitters }, async () => {
      while (killing) await submitOne();
    });

    // The killer. After one org kill in four, the restarted process is killed again 0-1500 ms after it
    // was spawned (during its start-up and spool recovery, or just after), and then started for good.
    const killed: Record<ChaosTarget, number> = { registry: 0, 'org-a': 0, 'org-b': 0, 'mailbox-b': 0 };
    let killedDuringStartUp = 0;
    let startUpKill: { which: 'a' | 'b'; afterMs: number } | undefined;
    for (let k = 0; k < o.kills; k++) {
      const t0 = Date.now();
      if (startUpKill) {
        const { which, afterMs } = startUpKill;
        startUpKill = undefined;
        let timer: NodeJS.Timeout | undefined;
        const started = await OrgProcess.start(ORG_PROCESS_ENTRY, which === 'a' ? aConfig : bConfig, dns, 120_000, (child) => {
          timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
        }).catch(() => undefined);
        if (started) {
          // Ready before the timer: the kill still comes, just after its start.
          await started.exited;
        }
        clearTimeout(timer);
        procs[which] = await OrgProcess.start(ORG_PROCESS_ENTRY, which === 'a' ? aConfig : bConfig, dns);
        killed[which === 'a' ? 'org-a' : 'org-b']++;
        killedDuringStartUp++;
        log(`[chaos] kill ${k + 1}/${o.kills}: org-${which} during its start-up, ${afterMs} ms after spawn (back in ${Date.now() - t0} ms)`);
        continue;
      }
      await sleep(between(gap[0], gap[1]));
      const target = CHAOS_TARGETS[Math.floor(random() * CHAOS_TARGETS.length)]!;
      if (target === 'registry') {
        await registry.process.kill();
        registry = await RegistryProcess.start(registryConfig);
      } else if (target === 'mailbox-b') {
        if (mailbox.pid !== undefined) process.kill(mailbox.pid, 'SIGKILL');
        await mailbox.stop();
        mailbox = await Mailbox.start(mailboxOptions);
      } else {
        const which = target === 'org-a' ? 'a' : 'b';
        await procs[which]!.kill();
        if (random() < 0.25) startUpKill = { which, afterMs: between(0, 1500) };
        else procs[which] = await OrgProcess.start(ORG_PROCESS_ENTRY, which === 'a' ? aConfig : bConfig, dns);
      }
      killed[target]++;
      log(`[chaos] kill ${k + 1}/${o.kills}: ${target} (back in ${Date.now() - t0} ms; ${acknowledged.size} acknowledged so far)`);
    }
    if (startUpKill) procs[startUpKill.which] = await OrgProcess.start(ORG_PROCESS_ENTRY, startUpKill.which === 'a' ? aConfig : bConfig, dns);
    killing = false;
    await Promise.all(submitting);
    await procs.a!.idle(300_000);
    await procs.b.idle(300_000);
    // A's relay may have been deferred while B restarted: drain once more in order.
    await procs.a!.idle(300_000);
    await procs.b.idle(300_000);

    const copies = new Map<string, number>();
    for (const id of await messageIdsIn(mailbox.configPath, bob)) copies.set(id, (copies.get(id) ?? 0) + 1);
    const duplicates = [...acknowledged].filter((id) => (copies.get(id) ?? 0) > 1);
    const lostIds = [...acknowledged].filter((id) => !copies.has(id));
    const report: ChaosReport = {
      meta: {
        seed: o.seed,
        kills: o.kills,
        submitters,
        gapMs: [gap[0], gap[1]],
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        node: process.version,
        exactlyOnce: o.exactlyOnce !== false,
      },
      killed,
      killedDuringStartUp,
      mails: {
        acknowledged: acknowledged.size,
        deliveredOnce: [...acknowledged].filter((id) => copies.get(id) === 1).length,
        deliveredTwice: duplicates.length,
        lost: lostIds.length,
        unacknowledgedDelivered: [...copies.keys()].filter((id) => !acknowledged.has(id)).length,
        submissionAttempts: attempts,
        refused: refusals.length,
      },
      duplicates,
      lostIds,
      refusals,
    };
    await procs.a!.stop();
    await procs.b.stop();
    return report;
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await hsm.close().catch(() => undefined);
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
