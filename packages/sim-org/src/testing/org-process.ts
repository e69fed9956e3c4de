/**
 * Child-process entry that runs one organisation, so a test can SIGKILL it mid-flow and restart it on
 * the same storage directory (issue 3, "Reliability and bad input"). Everything the org needs to
 * resume lives on disk: the KMS and user cards on this process's own SoftHSM2 store (never shared with
 * another process: SoftHSM2 has no cross-process locking), the org CA's durable user directory, the
 * registration record, the enrolment state and both spools. The registry is reached over HTTP.
 *
 * Config: JSON in argv[2] or in the environment variable SSMAX_ORG_CONFIG ({@link OrgProcessConfig}).
 * Output: one JSON object per stdout line ({@link OrgProcessEvent}). Input: one JSON command per stdin
 * line, `{"cmd":"idle"}` (answered with an `idle` event once both spools are drained) or
 * `{"cmd":"stop"}` (graceful close, then exit 0). The org's domain lives in the parent's DNS zone, the
 * one the registry reads: a TXT record for the registry's domain-control challenge (1) goes out as a
 * `dns` event, and the child waits for `{"cmd":"dns-done","seq":n}` before it applies.
 *
 * Run it compiled: `node packages/sim-org/dist/testing/org-process.js '<config>'`.
 */
import { promises as fs, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SoftHsmNative, bindTokenKey } from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { lmtpDelivery } from '../delivery.js';
import { dovecotDelivery } from '../mailbox.js';
import type { MailboxDelivery } from '../org-context.js';
import { OrgCa } from '../org-ca.js';
import { Organisation } from '../organisation.js';
import { TraceVault } from '../trace-vault.js';
import { CardUserDirectory, UserRegistration } from '../user-registration.js';
import { DeferredUserDirectory } from '../user-registration.js';

/** What the child is told to run. All paths absolute. */
export interface OrgProcessConfig {
  readonly id: string;
  readonly domain: string;
  readonly mode: 'org' | 'esp';
  /** The org's durable state (KMS enrolment, spools, CA directory, registrations, journey). */
  readonly storageDir: string;
  /** This process's own SoftHSM2 store (KMS token, vault token, user cards). */
  readonly hsmDir: string;
  readonly registryUrl: string;
  /** DER of the registry root, base64. */
  readonly registryRootCert: string;
  /** The child's sim-net /24, e.g. "127.77.3" (distinct from the parent's). */
  readonly netPrefix: string;
  /** STARTTLS between orgs (default off: each process has its own sim-net test CA unless `caDir` is shared). */
  readonly starttls?: boolean;
  /** A sim-net test CA directory shared by the processes of one world, so STARTTLS between them verifies. */
  readonly caDir?: string;
  /** Workers per spool (OrganisationOptions.spoolWorkers; default 1). */
  readonly spoolWorkers?: number;
  readonly retryMs?: number;
  /** The mailbox: an LMTP server (RFC 2033) to hand delivered mail to (at-least-once: it cannot be asked what it holds)... */
  readonly lmtp?: { readonly host: string; readonly port: number };
  /** ...or a Dovecot another process runs (its config and LMTP socket): delivery is exactly-once (delivery.ts). */
  readonly dovecot?: { readonly configPath: string; readonly lmtpSocket: string; readonly host: string; readonly askBeforeRetry?: boolean };
  /** Delay before each mailbox hand-over, so a test finds acknowledged mail still queued when it kills. */
  readonly deliveryDelayMs?: number;
  /** Users registered with a card on this process's store at first start (recipients). */
  readonly cardUsers?: readonly { readonly local: string; readonly pin: string; readonly password: string }[];
  /**
   * Users whose signing key lives elsewhere (on the test's own SoftHSM2 store): the org CA certifies
   * the given SPKI once, and the MSA accepts their password. Their certificates are in `ready`.
   */
  readonly externalUsers?: readonly { readonly address: string; readonly password: string; readonly signingSpki: string }[];
  /** Fixed MTA-in and MSA ports (default any free port): a restarted process answers where it did before. */
  readonly listenPorts?: { readonly mx?: number; readonly msa?: number };
  /** MX routes to other orgs' MTA-in listeners (real endpoints), published in the child's sim-net. */
  readonly peers?: readonly { readonly domain: string; readonly mxHost: string; readonly address: string; readonly port: number }[];
}

/** Spool queue lengths as found on disk before the org started (what recovery will resume). */
export interface QueuedOnDisk {
  readonly inbound: { readonly incoming: number; readonly processing: number; readonly delivered: number };
  readonly outbound: { readonly incoming: number; readonly processing: number; readonly delivered: number };
}

export type OrgProcessEvent =
  | {
      readonly event: 'ready';
      readonly pid: number;
      readonly registryOrgId: string;
      readonly mx: { readonly address: string; readonly port: number };
      readonly msa: { readonly address: string; readonly port: number };
      readonly queuedAtStart: QueuedOnDisk;
      /** base64 DER */
      readonly orgCertificate: string;
      readonly kmsEncryptionCertificate: string;
      readonly users: readonly { readonly address: string; readonly signingCertificate: string }[];
    }
  | { readonly event: 'dns'; readonly seq: number; readonly op: 'publish' | 'withdraw'; readonly name: string; readonly value: string }
  | { readonly event: 'delivered'; readonly rcpt: string; readonly messageId: string }
  | { readonly event: 'idle' }
  | { readonly event: 'stopped' }
  | { readonly event: 'error'; readonly message: string };

function emit(e: OrgProcessEvent): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

function count(dir: string): number {
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

function queuedOnDisk(storageDir: string): QueuedOnDisk {
  const q = (which: string) => ({
    incoming: count(join(storageDir, 'spool', which, 'incoming')),
    processing: count(join(storageDir, 'spool', which, 'processing')),
    delivered: count(join(storageDir, 'spool', which, 'delivered')),
  });
  return { inbound: q('inbound'), outbound: q('outbound') };
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const raw = process.argv[2] ?? process.env['SSMAX_ORG_CONFIG'];
  if (!raw) throw new Error('Cannot start the org process. Pass the config as JSON in argv[2] or SSMAX_ORG_CONFIG.');
  const c = JSON.parse(raw) as OrgProcessConfig;
  const queuedAtStart = queuedOnDisk(c.storageDir);
  await fs.mkdir(c.storageDir, { recursive: true });
  const hsm = SoftHsmNative.open({ storageDir: c.hsmDir });
  const net = await SimNet.create({ prefix: c.netPrefix, ...(c.caDir !== undefined ? { caDir: c.caDir } : {}) });
  for (const p of c.peers ?? []) {
    net.zone.addMx(p.domain, p.mxHost, 10);
    net.directory.register(p.mxHost, 25, { address: p.address, port: p.port });
  }
  const target = c.dovecot ? dovecotDelivery(c.dovecot) : c.lmtp ? lmtpDelivery({ host: c.lmtp.host, port: c.lmtp.port }) : undefined;
  if (!target) throw new Error('Cannot start the org process. The config names no mailbox (lmtp or dovecot).');
  const mailbox: MailboxDelivery = {
    async deliver(rcpt, message, envelope) {
      if (c.deliveryDelayMs) await sleep(c.deliveryDelayMs);
      await target.deliver(rcpt, message, envelope);
      const head = Buffer.from(message.subarray(0, 16_384)).toString('latin1');
      emit({ event: 'delivered', rcpt, messageId: /^Message-ID:[ \t]*(<[^>\r\n]*>)/im.exec(head)?.[1] ?? '' });
    },
    // askBeforeRetry: false drops the question (at-least-once), to show what the kill harness sees without it.
    ...(target.holds && c.dovecot?.askBeforeRetry !== false ? { holds: target.holds } : {}),
  };
  // Commands arrive from the start: the parent acknowledges DNS writes while the org enrols.
  const dnsDone = new Map<number, () => void>();
  let onCommand: (cmd: { cmd?: string }) => void = () => undefined;
  createInterface({ input: process.stdin }).on('line', (line) => {
    let cmd: { cmd?: string; seq?: unknown };
    try {
      cmd = JSON.parse(line) as { cmd?: string; seq?: unknown };
    } catch {
      return emit({ event: 'error', message: `Cannot read command ${line.slice(0, 80)}. It is not JSON.` });
    }
    if (cmd.cmd === 'dns-done' && typeof cmd.seq === 'number') {
      dnsDone.get(cmd.seq)?.();
      dnsDone.delete(cmd.seq);
    } else onCommand(cmd);
  });
  let dnsSeq = 0;
  const viaParent = (op: 'publish' | 'withdraw') => (name: string, value: string) =>
    new Promise<void>((resolve) => {
      const seq = ++dnsSeq;
      dnsDone.set(seq, resolve);
      emit({ event: 'dns', seq, op, name, value });
    });
  const users = new DeferredUserDirectory();
  const org = await Organisation.start({
    id: c.id,
    domain: c.domain,
    mode: c.mode,
    net,
    registryUrl: c.registryUrl,
    registryRootCert: new Uint8Array(Buffer.from(c.registryRootCert, 'base64')),
    storageDir: c.storageDir,
    hsm,
    users,
    mailbox,
    profile: { starttls: c.starttls ?? false },
    registryMaxAgeSeconds: 0,
    retryMs: c.retryMs ?? 200,
    ...(c.listenPorts ? { listenPorts: c.listenPorts } : {}),
    ...(c.spoolWorkers !== undefined ? { spoolWorkers: c.spoolWorkers } : {}),
    dns: { publishTxt: viaParent('publish'), withdrawTxt: viaParent('withdraw') },
  });
  const orgCa = await OrgCa.open({
    certificate: org.kms.certificates.org,
    key: org.kms.caKey,
    chain: [org.kms.certificates.root],
    storageDir: join(c.storageDir, 'ca'),
  });
  // The trace vault's sealing key sits on its own token; only its certificate is needed to seal.
  const vaultCertFile = join(c.storageDir, 'vault-sealing.der');
  let vaultCert: Uint8Array;
  try {
    vaultCert = new Uint8Array(await fs.readFile(vaultCertFile));
  } catch {
    hsm.initToken({ label: `vault-${c.id}`, soPin: '13579111', userPin: '246810' });
    const vt = hsm.openToken(`vault-${c.id}`);
    await vt.login('246810');
    const vaultKey = bindTokenKey(vt, await vt.generateKeyPair('vault-seal', 'RSA-2048', 'encryption'));
    vaultCert = (await orgCa.issueService(vaultKey.spki, 'encryption', `${c.domain} trace vault`)).der;
    await vt.close();
    await fs.writeFile(vaultCertFile, vaultCert);
  }
  const vault = new TraceVault({ storageDir: join(c.storageDir, 'vault'), sealingCertificate: vaultCert });
  const registration = new UserRegistration({
    reader: hsm,
    orgCa,
    vault,
    soPin: '13579111',
    storageDir: join(c.storageDir, 'registration'),
    registryRoot: org.kms.certificates.root,
  });
  const known = new Set((await registration.records()).map((r) => r.address));
  for (const u of c.cardUsers ?? []) {
    const address = `${u.local}@${c.domain}`.toLowerCase();
    if (known.has(address)) continue;
    await registration.register({
      address,
      employeeNumber: `EMP-${u.local}`,
      identityCheck: { method: 'employeeCardPin', proofedBy: `${c.domain} desk` },
      userPin: u.pin,
      mailPassword: u.password,
    });
  }
  const out: { address: string; signingCertificate: string }[] = [];
  for (const u of c.externalUsers ?? []) {
    const address = u.address.toLowerCase();
    let cert = orgCa.lookup(address).find((e) => e.status === 'valid' && e.usage !== 'encryption')?.certificate;
    if (!cert) {
      const traceId = new Uint8Array(16);
      crypto.getRandomValues(traceId);
      await vault.add({ traceId: Buffer.from(traceId).toString('hex'), employeeNumber: `EXT-${address}`, address, registeredAt: new Date().toISOString() });
      cert = (
        await orgCa.issueUser({
          address,
          subjectSpki: new Uint8Array(Buffer.from(u.signingSpki, 'base64')),
          usage: 'combined',
          identityProofing: { method: 'employeeCardPin', proofedAt: new Date(), proofedBy: `${c.domain} desk` },
          traceId,
        })
      ).der;
      await registration.setMailPassword(address, u.password);
    }
    out.push({ address, signingCertificate: b64(cert) });
  }
  users.attach(new CardUserDirectory(registration, orgCa));

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await org.close();
    await net[Symbol.asyncDispose]();
    await hsm.close();
    emit({ event: 'stopped' });
    process.exit(code);
  };
  onCommand = (cmd) => {
    if (cmd.cmd === 'idle')
      org.idle(120_000).then(
        () => emit({ event: 'idle' }),
        (e: Error) => emit({ event: 'error', message: e.message }),
      );
    else if (cmd.cmd === 'stop') void stop(0);
  };
  process.once('SIGTERM', () => void stop(0));
  const e = org.endpoints;
  emit({
    event: 'ready',
    pid: process.pid,
    registryOrgId: org.registryOrgId,
    mx: e.mx.listen,
    msa: e.msa.listen,
    queuedAtStart,
    orgCertificate: b64(org.kms.certificates.org),
    kmsEncryptionCertificate: b64(org.kms.certificates.encryption),
    users: out,
  });
}

main().catch((e: unknown) => {
  emit({ event: 'error', message: (e as Error).stack ?? String(e) });
  process.exit(1);
});
