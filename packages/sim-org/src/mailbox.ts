import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { join, dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { SimOrgError } from './errors.js';
import type { MailboxDelivery } from './org-context.js';

const execFileP = promisify(execFile);

/** A mailbox user: address, password, and (for two-factor profiles) a base32 TOTP secret. */
export interface MailboxUser {
  address: string;
  password: string;
  totpSecret?: string;
}

export interface MailboxOptions {
  /** The organisation's storage directory; the mailbox lives in `<dir>/dovecot` and `<dir>/mail`. */
  dir: string;
  /** Loopback address of the organisation (127.x.y.z) that IMAP listens on. */
  host: string;
  users?: MailboxUser[];
  /** IMAP login needs `password:<6-digit TOTP>` (RFC 6238) — the "non-password mailbox access" countermeasure. */
  secondFactor?: boolean;
  /** Domains counted as internal for forwarding. Default: the domains of the initial users. */
  localDomains?: string[];
  /** 'deny' is the best-practice limit on external forwarding (incident 7). Default 'allow'. */
  externalForwarding?: 'allow' | 'deny';
  /** Sends a forwarded copy on (the org's MTA-out). Without it, forwarding rules are recorded but not executed. */
  forward?: (to: string[], raw: Uint8Array, originalRecipient: string) => Promise<void>;
  /** Path of the dovecot binary. Default `dovecot` from PATH. */
  dovecotBinary?: string;
  /**
   * The name Dovecot gives itself in the Received line it adds at final delivery (RFC 5321 §4.4) and in
   * its LMTP replies. Default `mailbox.<first local domain>`, else the machine's host name.
   */
  hostname?: string;
}

export interface DeliveryResult {
  /** Dovecot's LMTP reply, e.g. "250 2.0.0 <b@org-b.example> … Saved". */
  response: string;
  forwardedTo: string[];
  /** Rules that delivery did not execute because external forwarding is denied. */
  forwardingRefused: string[];
}

/** Dovecot's `{SSHA512}` scheme: base64(SHA-512(password ‖ salt) ‖ salt). */
function ssha512(password: string, salt = randomBytes(16)): string {
  const digest = createHash('sha512')
    .update(Buffer.concat([Buffer.from(password, 'utf8'), salt]))
    .digest();
  return `{SSHA512}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** Unix uid/gid that owns mail files; dovecot refuses root for mail access. */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

/**
 * The checkpassword program (Dovecot "checkpassword" passdb, the qmail checkpassword interface):
 * reads "user\0password\0" on fd 3, and on success execs its argument (checkpassword-reply) with USER
 * set; exit 1 means authentication failed. It demands password:TOTP (RFC 6238 SHA-1, 30 s, ±1 step).
 * Standalone so it needs nothing but node.
 */
function checkpasswordScript(usersPath: string, totpPath: string): string {
  return `#!${process.execPath}
import { readFileSync } from 'node:fs';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { spawnSync } from 'node:child_process';
const USERS = ${JSON.stringify(usersPath)}, TOTP = ${JSON.stringify(totpPath)};
const fail = () => process.exit(1);
let input;
try { input = readFileSync(3).toString('utf8').split('\\0'); } catch { process.exit(111); }
const [user = '', pass = ''] = input;
const line = readFileSync(USERS, 'utf8').split('\\n').find((l) => l.startsWith(user + ':'));
const secret = JSON.parse(readFileSync(TOTP, 'utf8'))[user];
const cut = pass.lastIndexOf(':');
if (!line || !secret || cut < 0) fail();
const pw = pass.slice(0, cut), code = pass.slice(cut + 1);
const stored = Buffer.from(line.split(':')[1].replace('{SSHA512}', ''), 'base64');
const digest = createHash('sha512').update(Buffer.concat([Buffer.from(pw, 'utf8'), stored.subarray(64)])).digest();
if (!timingSafeEqual(digest, stored.subarray(0, 64))) fail();
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
let bits = 0, value = 0; const key = [];
for (const ch of secret.toUpperCase().replace(/=/g, '')) { value = ((value << 5) | B32.indexOf(ch)) & 0xffff; bits += 5; if (bits >= 8) { key.push((value >>> (bits - 8)) & 0xff); bits -= 8; } }
const hotp = (counter) => { const m = Buffer.alloc(8); m.writeBigUInt64BE(BigInt(counter)); const h = createHmac('sha1', Buffer.from(key)).update(m).digest(); const o = h[19] & 15; return String((((h[o] & 127) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]) % 1e6).padStart(6, '0'); };
const t = Math.floor(Date.now() / 1000 / 30);
if (!/^\\d{6}$/.test(code) || ![t - 1, t, t + 1].some((c) => hotp(c) === code)) fail();
const r = spawnSync(process.argv[2], process.argv.slice(3), { stdio: [0, 1, 2, 3, 4], env: { ...process.env, USER: user } });
process.exit(r.status ?? 111);
`;
}

/** SIGKILLs the processes of Dovecot instance `instanceName` (titled `dovecot-<instance>/<service>`) and waits until they are gone. */
async function killOrphans(instanceName: string): Promise<void> {
  const title = Buffer.from(`dovecot-${instanceName}/`);
  const find = async (): Promise<number[]> => {
    const pids: number[] = [];
    for (const name of await fs.readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(name)) continue;
      const cmd = await fs.readFile(`/proc/${name}/cmdline`).catch(() => undefined);
      if (cmd?.subarray(0, title.length).equals(title)) pids.push(Number(name));
    }
    return pids;
  };
  for (let i = 0; i < 50; i++) {
    const pids = await find();
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

async function canConnect(opts: net.NetConnectOpts): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect(opts);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/**
 * One LMTP transaction (RFC 2033) over Dovecot's unix socket; resolves with Dovecot's 250 reply. LHLO
 * names the org's address literal (RFC 5321 §4.1.3): the client has no name of its own here.
 */
async function lmtpToDovecot(socket: string, host: string, rcpt: string, raw: Uint8Array, mailFrom: string): Promise<string> {
  const lmtp: SMTPTransport.Options = {
    lmtp: true,
    name: `[${host}]`,
    getSocket: (_o, cb) => {
      const s = net.connect(socket);
      s.once('connect', () => cb(null, { connection: s }));
      s.once('error', (e) => cb(e, undefined));
    },
  };
  const transport = nodemailer.createTransport(lmtp);
  try {
    const info = await transport.sendMail({ envelope: { from: mailFrom, to: [rcpt] }, raw: Buffer.from(raw) });
    return String(info.response);
  } catch (err) {
    const code = (err as { responseCode?: number }).responseCode;
    throw new SimOrgError(code === 550 ? 'UNKNOWN_RECIPIENT' : 'MAILBOX_DELIVERY_FAILED', `Cannot deliver to ${rcpt}. ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    transport.close();
  }
}

/**
 * Whether `rcpt`'s INBOX in the Dovecot of `configPath` holds a message with a Received field whose id
 * clause is exactly `receivedId` (`doveadm fetch`; Dovecot's header search matches substrings, so the
 * clause is matched whole here). A recipient with no mail yet has no INBOX: false. Any other failure (a
 * stopped Dovecot cannot look users up) throws, so a caller retries rather than delivering a second copy.
 */
export async function dovecotHolds(configPath: string, rcpt: string, receivedId: string): Promise<boolean> {
  if (!/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}$/.test(receivedId)) {
    throw new SimOrgError('USAGE', `Cannot ask the mailbox of ${rcpt} for Received id ${JSON.stringify(receivedId.slice(0, 80))}. It is not an atom.`);
  }
  let out: string;
  try {
    const r = await execFileP('doveadm', ['-c', configPath, '-f', 'flow', 'fetch', '-u', rcpt, 'hdr', 'mailbox', 'INBOX', 'header', 'Received', receivedId], {
      maxBuffer: 16 * 1024 * 1024,
    });
    out = r.stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    if (/doesn't exist|not found/i.test(stderr)) return false;
    throw new SimOrgError(
      'MAILBOX_DELIVERY_FAILED',
      `Cannot ask the mailbox of ${rcpt} for Received id ${receivedId}. ${stderr.trim() || (err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const escaped = receivedId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[\\s)])id\\s+${escaped}\\s*;`).test(out);
}

/**
 * A delivery into a Dovecot this process does not own (another process started it): LMTP over its
 * socket, and {@link dovecotHolds} for exactly-once delivery.
 */
export function dovecotDelivery(o: { configPath: string; lmtpSocket: string; host: string }): MailboxDelivery {
  return {
    async deliver(rcpt, message, envelope) {
      await lmtpToDovecot(o.lmtpSocket, o.host, rcpt, message, envelope.mailFrom);
    },
    holds: (rcpt, receivedId) => dovecotHolds(o.configPath, rcpt, receivedId),
  };
}

/**
 * One organisation's mail store: a real Dovecot 2.3 (IMAP + LMTP) run from a private config, plus
 * mailbox-side forwarding rules that delivery consults (what an attacker with stolen credentials
 * plants in incident 7). Dispose it (or call {@link stop}) to terminate Dovecot.
 */
export class Mailbox implements AsyncDisposable {
  private rules = new Map<string, string[]>();
  private exited = false;
  private started = false;

  private constructor(
    private readonly opts: MailboxOptions,
    private readonly proc: ChildProcess,
    readonly configPath: string,
    readonly instanceName: string,
    readonly imapPort: number,
    readonly lmtpSocket: string,
    private readonly paths: { users: string; totp: string; rules: string; log: string },
    private readonly localDomains: Set<string>,
  ) {
    proc.once('exit', () => (this.exited = true));
  }

  get host(): string {
    return this.opts.host;
  }

  /** The Dovecot master's process id (a harness SIGKILLs it to crash the mailbox). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Writes the config, starts `dovecot -F`, and resolves once IMAP and LMTP accept connections. */
  static async start(opts: MailboxOptions): Promise<Mailbox> {
    const dir = resolve(opts.dir);
    const base = join(dir, 'dovecot');
    const mail = join(dir, 'mail');
    await fs.mkdir(join(base, 'state'), { recursive: true });
    await fs.mkdir(mail, { recursive: true });
    // Mail processes run as an unprivileged uid; it must be able to reach <dir>/mail.
    await fs.chown(mail, MAIL_UID, MAIL_GID);
    const st = await fs.stat(dir);
    await fs.chmod(dir, st.mode | 0o011);
    for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
      const m = (await fs.stat(d)).mode;
      if ((m & 0o001) === 0) {
        throw new SimOrgError('MAILBOX_START_FAILED', `Cannot start mailbox in ${dir}. Ancestor ${d} is not traversable by the mail uid.`);
      }
    }
    const instanceName = `ssmax-${createHash('sha256').update(dir).digest('hex').slice(0, 10)}`;
    const paths = { users: join(base, 'users'), totp: join(base, 'totp.json'), rules: join(dir, 'forwarding-rules.json'), log: join(base, 'dovecot.log') };
    const lmtpSocket = join(base, 'run', 'lmtp');
    const checkpassword = join(base, 'checkpassword.mjs');
    await fs.writeFile(paths.users, '', { mode: 0o640 });
    await fs.writeFile(paths.totp, '{}', { mode: 0o640 });
    const dovecotGid = await execFileP('getent', ['group', 'dovecot']).then(
      (r) => Number(r.stdout.split(':')[2]),
      () => 0,
    );
    for (const p of [paths.users, paths.totp]) await fs.chown(p, 0, dovecotGid);
    const localDomains = new Set(opts.localDomains ?? (opts.users ?? []).map((u) => u.address.split('@')[1]!.toLowerCase()));
    const firstDomain = [...localDomains][0];
    const hostname = opts.hostname ?? (firstDomain !== undefined ? `mailbox.${firstDomain}` : undefined);
    if (hostname !== undefined && !/^[A-Za-z0-9.-]{1,253}$/.test(hostname)) {
      throw new SimOrgError('USAGE', `Cannot start mailbox with host name ${JSON.stringify(hostname.slice(0, 80))}. It is not a domain name.`);
    }

    // A master killed with SIGKILL leaves its children running until they finish their request (an
    // LMTP delivery, say), and one still holding the LMTP socket makes the new master refuse to start:
    // as a service manager kills a crashed unit's control group, the leftovers of this instance go first.
    await killOrphans(instanceName);
    let lastErr = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const imapPort = await freePort(opts.host);
      const passdb = opts.secondFactor
        ? // Node reserves more address space than the auth service's default 256 MB vsz_limit allows.
          `passdb {\n  driver = checkpassword\n  args = ${checkpassword}\n}\nservice auth {\n  vsz_limit = 0\n}\nservice auth-worker {\n  vsz_limit = 0\n}`
        : `passdb {\n  driver = passwd-file\n  args = scheme=SSHA512 username_format=%u ${paths.users}\n}`;
      const conf = `# generated by @ssmax/sim-org Mailbox
base_dir = ${join(base, 'run')}
state_dir = ${join(base, 'state')}
instance_name = ${instanceName}
listen = ${opts.host}
protocols = imap lmtp
log_path = ${paths.log}
ssl = no
# Loopback-only simulation without TLS: plaintext auth must be allowed explicitly.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:${mail}/%d/%n/Maildir
mail_uid = ${MAIL_UID}
mail_gid = ${MAIL_GID}
first_valid_uid = 1
${hostname !== undefined ? `hostname = ${hostname}\n` : ''}# The final delivery is a hop too (RFC 5321 §4.4): Dovecot prepends its Received (with LMTP) below the
# Return-Path it writes from the LMTP MAIL FROM. Both sit above the multipart/signed entity, outside
# what any signature covers.
lmtp_add_received_header = yes
lmtp_hdr_delivery_address = none
${passdb}
# The passwd-file is also the userdb, so LMTP recipient lookups do not depend on the passdb
# (checkpassword cannot answer lookups without a password) and unknown users get 550 5.1.1.
userdb {
  driver = passwd-file
  args = username_format=%u ${paths.users}
  override_fields = uid=${MAIL_UID} gid=${MAIL_GID} home=${mail}/%d/%n
}
service imap-login {
  inet_listener imap {
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
# Scenarios try many wrong passwords on purpose; without this anvil slows each failure down (up to 15 s).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
      const configPath = join(base, 'dovecot.conf');
      await fs.writeFile(configPath, conf);
      if (opts.secondFactor) {
        // Dovecot's auth process runs checkpassword as its internal user: root:dovecot 0750.
        await fs.writeFile(checkpassword, checkpasswordScript(paths.users, paths.totp));
        await fs.chown(checkpassword, 0, dovecotGid);
        await fs.chmod(checkpassword, 0o750);
      }
      await fs.rm(paths.log, { force: true });
      const proc = spawn(opts.dovecotBinary ?? 'dovecot', ['-F', '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      let exited = false;
      proc.once('exit', () => (exited = true));
      proc.once('error', (e) => {
        exited = true;
        stderr += e.message;
      });
      const deadline = Date.now() + 10_000;
      while (!exited && Date.now() < deadline) {
        if (existsSync(lmtpSocket) && (await canConnect({ host: opts.host, port: imapPort }))) {
          const mb = new Mailbox(opts, proc, configPath, instanceName, imapPort, lmtpSocket, paths, localDomains);
          for (const u of opts.users ?? []) await mb.addUser(u.address, u.password, u.totpSecret);
          mb.started = true;
          mb.rules = await fs.readFile(paths.rules, 'utf8').then(
            (t) => new Map(Object.entries(JSON.parse(t) as Record<string, string[]>)),
            () => new Map(),
          );
          return mb;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const log = existsSync(paths.log) ? readFileSync(paths.log, 'utf8') : '';
      lastErr = `${stderr}\n${log}`.trim();
      if (!exited) proc.kill('SIGKILL');
      if (!/Address already in use/.test(lastErr)) break;
    }
    throw new SimOrgError('MAILBOX_START_FAILED', `Cannot start Dovecot for ${opts.host}. ${lastErr.split('\n').slice(-3).join(' ')}`);
  }

  /** Adds or replaces a user. Dovecot re-reads the passwd-file when it changes, so this works while running. */
  async addUser(address: string, password: string, totpSecret?: string): Promise<void> {
    await this.addUsers([{ address, password, ...(totpSecret !== undefined ? { totpSecret } : {}) }]);
  }

  /** Adds or replaces several users with one rewrite of the passwd-file and one reload. */
  async addUsers(users: readonly { readonly address: string; readonly password: string; readonly totpSecret?: string }[]): Promise<void> {
    if (users.length === 0) return;
    for (const { address, password } of users) {
      if (!/^[^\s:@]+@[^\s:@]+$/.test(address) || /[\n:]/.test(password)) {
        throw new SimOrgError('USAGE', `Cannot add mailbox user ${JSON.stringify(address)}. Address or password contains a forbidden character.`);
      }
    }
    const replaced = new Set(users.map((u) => u.address));
    const lines = (await fs.readFile(this.paths.users, 'utf8')).split('\n').filter((l) => l && !replaced.has(l.slice(0, l.indexOf(':'))));
    for (const u of users) lines.push(`${u.address}:${ssha512(u.password)}::::::`);
    await this.writeProtected(this.paths.users, lines.join('\n') + '\n');
    const secrets = JSON.parse(await fs.readFile(this.paths.totp, 'utf8')) as Record<string, string>;
    for (const u of users) {
      if (u.totpSecret === undefined) delete secrets[u.address];
      else secrets[u.address] = u.totpSecret;
    }
    await this.writeProtected(this.paths.totp, JSON.stringify(secrets));
    if (this.started) await this.reload();
  }

  /**
   * SIGHUP makes the Dovecot master restart its auth processes, which then read the passwd-file
   * afresh (a running auth process kept serving the old user list in our tests, whatever the
   * mtime). The fixed 200 ms wait for the restart is a known weakness.
   */
  private async reload(): Promise<void> {
    this.proc.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 200));
  }

  /**
   * Delivers a message over LMTP (RFC 2033) to Dovecot, then executes the recipient's forwarding rules.
   * Dovecot prepends the trace fields of the final delivery (RFC 5321 §4.4): `Return-Path` from
   * `options.mailFrom` (the envelope sender; "" for a DSN's null sender) and its `Received ... with
   * LMTP`; the rest is stored byte for byte.
   */
  async deliver(rcpt: string, raw: Uint8Array, options: { mailFrom?: string } = {}): Promise<DeliveryResult> {
    const response = await lmtpToDovecot(this.lmtpSocket, this.opts.host, rcpt, raw, options.mailFrom ?? '');
    const forwardedTo: string[] = [];
    const forwardingRefused: string[] = [];
    for (const to of this.rules.get(rcpt.toLowerCase()) ?? []) {
      if (!this.isLocal(to) && this.opts.externalForwarding === 'deny') {
        forwardingRefused.push(to);
        continue;
      }
      if (this.opts.forward) await this.opts.forward([to], raw, rcpt);
      forwardedTo.push(to);
    }
    return { response, forwardedTo, forwardingRefused };
  }

  /** Whether `rcpt`'s INBOX holds a message with a Received field whose id is `receivedId` (see {@link dovecotHolds}). */
  async holds(rcpt: string, receivedId: string): Promise<boolean> {
    return dovecotHolds(this.configPath, rcpt, receivedId);
  }

  /**
   * Adds a forwarding rule for `address`, authenticated with the mailbox credentials exactly as IMAP
   * checks them (password, or password:TOTP with the second factor) — so a stolen password alone is
   * enough only when there is no second factor. Refused for external targets when policy says 'deny'.
   */
  async addForwardingRule(address: string, credentials: { password: string }, to: string): Promise<void> {
    await this.authenticate(address, credentials.password);
    if (!this.isLocal(to) && this.opts.externalForwarding === 'deny') {
      throw new SimOrgError('FORWARDING_REFUSED', `Cannot forward ${address} to ${to}. Forwarding to external domains is disabled by policy.`);
    }
    const key = address.toLowerCase();
    const list = this.rules.get(key) ?? [];
    if (!list.includes(to)) list.push(to);
    this.rules.set(key, list);
    await this.saveRules();
  }

  /** Removes every forwarding rule of `address` (an administrator action: no user credentials needed). */
  async clearForwardingRules(address: string): Promise<void> {
    this.rules.delete(address.toLowerCase());
    await this.saveRules();
  }

  forwardingRules(address: string): readonly string[] {
    return [...(this.rules.get(address.toLowerCase()) ?? [])];
  }

  /** Checks credentials through Dovecot's own auth service (`doveadm auth test`). */
  async authenticate(address: string, password: string): Promise<void> {
    try {
      await execFileP('doveadm', ['-c', this.configPath, 'auth', 'test', '-x', 'service=imap', address, password]);
    } catch (err) {
      throw new SimOrgError('AUTH_FAILED', `Cannot authenticate ${address}. Dovecot rejected the credentials.`, { cause: err });
    }
  }

  /** SIGTERM to the Dovecot master (which stops its children), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await done;
    clearTimeout(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private isLocal(address: string): boolean {
    return this.localDomains.has((address.split('@')[1] ?? '').toLowerCase());
  }

  private async saveRules(): Promise<void> {
    const tmp = `${this.paths.rules}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(Object.fromEntries(this.rules)));
    await fs.rename(tmp, this.paths.rules);
  }

  /** Password files: root:dovecot 0640 so only the auth processes can read them; replaced by rename. */
  private async writeProtected(path: string, text: string): Promise<void> {
    const tmp = `${path}.tmp`;
    await fs.writeFile(tmp, text, { mode: 0o640 });
    const st = await fs.stat(path);
    await fs.chown(tmp, st.uid, st.gid);
    await fs.chmod(tmp, 0o640);
    // Dovecot notices a changed passwd-file by its mtime in whole seconds: two writes within one
    // second would look unchanged, so the mtime is bumped past the previous one.
    const mtime = Math.max(Math.floor(Date.now() / 1000), Math.floor(st.mtimeMs / 1000) + 1);
    await fs.utimes(tmp, mtime, mtime);
    await fs.rename(tmp, path);
  }
}
