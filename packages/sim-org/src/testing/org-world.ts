/**
 * Test fixture for tests that run organisations end to end through real services: one SoftHSM2 store, the
 * simulated network, the registry over HTTP, and the orgs a test starts, each with a Dovecot mailbox, its
 * org CA, trace vault and user registration ((2)), and users with SoftHSM2 cards and end-to-end user
 * agents. sim-org may not import sim-registry (ARCHITECTURE.md), so the test passes the registry's start
 * function in. Not exported from the package index; tests import it by path.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import nodemailer from 'nodemailer';
import { SoftHsmNative, SoftwareKey, bindTokenKey, type Card, type PrivateKeyOps } from '@ssmax/core';
import { SimNet, type DnsResolver } from '@ssmax/sim-net';
import { Mailbox } from '../mailbox.js';
import { OrgCa } from '../org-ca.js';
import type { InspectionPolicy } from '../inspection.js';
import type { OrgDefences, OrgPlus } from '../org-context.js';
import { Organisation } from '../organisation.js';
import { TraceVault } from '../trace-vault.js';
import { UserAgent } from '../user-agent.js';
import { CardUserDirectory, DeferredUserDirectory, UserRegistration, type RegisteredUser } from '../user-registration.js';

const SO_PIN = '13579111';
const VAULT_PIN = '246810';

/** What the world needs of a running registry (sim-registry's `Registry`). */
export interface WorldRegistry {
  readonly url: string;
  readonly rootCertificate: Uint8Array;
  close(): Promise<void>;
}

/** Starts the registry (sim-registry's `Registry.start`); the world picks the options (the resolver reads the sim-net zone the orgs publish their domain-control records in). */
export type StartRegistry = (o: {
  dataDir: string;
  signer: PrivateKeyOps;
  log: (line: string) => void;
  adminToken: string;
  resolver: DnsResolver;
}) => Promise<WorldRegistry>;

export interface OrgWorldOptions {
  /** Prefix of the temp directory that holds every store. */
  readonly prefix: string;
  /** The simulated network's seed. */
  readonly seed: number;
  readonly startRegistry: StartRegistry;
}

export interface WorldOrgOptions {
  /** Default 'org'. */
  readonly mode?: 'org' | 'esp';
  /** Given: the org runs with `profile: { defences }`; absent: with no profile. */
  readonly defences?: Partial<OrgDefences>;
  /**
   * Where the trace vault's sealing key lives: 'kms' (default) seals to the KMS encryption certificate;
   * 'own-token' to a key on a separate HSM token with a certificate from the org CA, as (2)'s back office
   * keeps it, so the mail path's KMS cannot open the vault.
   */
  readonly vault?: 'kms' | 'own-token';
  /** Inspection policy of (5)/(8) (the org profile's `inspection`); default the built-in policy. */
  readonly inspection?: Partial<InspectionPolicy>;
  /** The org profile's `ssmax-plus` additions; its users' agents protect headers when `headerProtection` is on. */
  readonly plus?: OrgPlus;
}

export interface WorldUserOptions {
  /** Default 'employeeCardPin'. */
  readonly method?: 'employeeCardPin' | 'myNumberCardPin';
  /** Default 'desk'. */
  readonly proofedBy?: string;
}

export interface WorldUser extends AsyncDisposable {
  readonly user: RegisteredUser;
  readonly card: Card;
  /** End-to-end mode, submitting to its org's MSA and reading its Dovecot mailbox over IMAP. */
  readonly ua: UserAgent;
  readonly pin: string;
  readonly org: WorldOrg;
  /** Closes the card; the world does it on dispose if the test did not. */
  close(): Promise<void>;
}

export interface WorldOrg extends AsyncDisposable {
  readonly org: Organisation;
  readonly mailbox: Mailbox;
  readonly orgCa: OrgCa;
  readonly vault: TraceVault;
  /** The vault's sealing key: the KMS encryption key, or the key on the vault's own token. */
  readonly vaultKey: PrivateKeyOps;
  readonly registration: UserRegistration;
  /** Registers `local`@domain on a new card (PIN `pin`), gives it a mailbox and a user agent. */
  addUser(local: string, pin: string, o?: WorldUserOptions): Promise<WorldUser>;
  /** Closes the org, stops its mailbox and closes the vault token; the world does it on dispose if the test did not. */
  close(): Promise<void>;
}

export interface OrgWorld extends AsyncDisposable {
  readonly dir: string;
  readonly hsm: SoftHsmNative;
  readonly net: SimNet;
  readonly registry: WorldRegistry;
  startOrg(id: string, o?: WorldOrgOptions): Promise<WorldOrg>;
  /** Hands `raw` to `to`'s MX (port 25, no TLS) from `client` on the simulated network; the reply code. */
  toMx(to: WorldOrg, o: { client: string; helo: string; mailFrom: string; rcpt: string; raw: string | Uint8Array }): Promise<number>;
}

/** The SMTP reply code a server gave (250 when accepted, 0 when the error carries none). */
export async function replyCode(send: () => Promise<unknown>): Promise<number> {
  try {
    await send();
    return 250;
  } catch (e) {
    return (e as { responseCode?: number }).responseCode ?? 0;
  }
}

function once(f: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= f());
}

/**
 * Makes the world: SoftHSM2 store, network and registry. Dispose it to close, in this order, every user's
 * card, every org (with its mailbox and vault token), the registry, the network and the store, and to
 * remove the temp directory.
 */
export async function createOrgWorld(opts: OrgWorldOptions): Promise<OrgWorld> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix));
  // Dovecot's unprivileged mail processes must traverse to each org's mail directory.
  fs.chmodSync(dir, 0o711);
  const userClosers: (() => Promise<void>)[] = [];
  const orgClosers: (() => Promise<void>)[] = [];
  let hsm: SoftHsmNative | undefined;
  let net: SimNet | undefined;
  let registry: WorldRegistry | undefined;
  const dispose = once(async () => {
    for (const c of userClosers) await c();
    for (const c of orgClosers) await c();
    await registry?.close();
    await net?.[Symbol.asyncDispose]();
    await hsm?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  try {
    hsm = SoftHsmNative.open({ storageDir: path.join(dir, 'hsm') });
    net = await SimNet.create({ seed: opts.seed });
    registry = await opts.startRegistry({
      dataDir: path.join(dir, 'registry'),
      signer: SoftwareKey.generate('EC-P256'),
      log: () => {},
      adminToken: 'admin',
      resolver: net.resolver,
    });
  } catch (e) {
    await dispose();
    throw e;
  }
  const world = { hsm, net, registry };

  async function addUser(w: WorldOrg, local: string, pin: string, o: WorldUserOptions): Promise<WorldUser> {
    const address = `${local}@${w.org.domain}`;
    const user = await w.registration.register({
      address,
      employeeNumber: `EMP-${local}-${w.org.domain}`,
      identityCheck: { method: o.method ?? 'employeeCardPin', proofedBy: o.proofedBy ?? 'desk' },
      userPin: pin,
      mailPassword: `pw-${local}`,
    });
    await w.mailbox.addUser(address, `imap-${local}`);
    const card = await w.registration.openCard(user.cardLabel);
    const close = once(() => card.close());
    userClosers.push(close);
    const msa = world.net.connectOptions(world.net.address(`${address}/ua`), `msa.${w.org.domain}`, 587);
    const ua = new UserAgent({
      address,
      card,
      mode: 'end-to-end',
      ...(w.org.ctx.profile.plus?.headerProtection === true ? { headerProtection: true } : {}),
      orgEncryptionCertificate: w.org.kms.certificates.encryption,
      msa: { host: msa.host, port: msa.port, ...(msa.localAddress ? { localAddress: msa.localAddress } : {}), user: address, password: `pw-${local}` },
      imap: { host: w.mailbox.host, port: w.mailbox.imapPort, user: address, password: `imap-${local}` },
    });
    return { user, card, ua, pin, org: w, close, [Symbol.asyncDispose]: close };
  }

  return {
    dir,
    ...world,
    async startOrg(id, o = {}) {
      const { hsm, net, registry } = world;
      const storage = path.join(dir, id);
      fs.mkdirSync(path.join(storage, 'mail'), { recursive: true, mode: 0o711 });
      fs.chmodSync(storage, 0o711);
      const mailbox = await Mailbox.start({ dir: path.join(storage, 'mail'), host: net.address(`${id}/imap`), hostname: `mailbox.${id}.example` });
      let org: Organisation | undefined;
      let vaultToken: { close(): Promise<void> } | undefined;
      const close = once(async () => {
        await org?.close();
        await mailbox.stop();
        await vaultToken?.close();
      });
      orgClosers.push(close);
      const users = new DeferredUserDirectory();
      org = await Organisation.start({
        id,
        domain: `${id}.example`,
        mode: o.mode ?? 'org',
        net,
        registryUrl: registry.url,
        registryRootCert: registry.rootCertificate,
        storageDir: storage,
        hsm,
        users,
        mailbox: { deliver: async (r, m, e) => void (await mailbox.deliver(r, m, e)) },
        registryMaxAgeSeconds: 0,
        retryMs: 200,
        ...(o.defences || o.inspection || o.plus
          ? {
              profile: {
                ...(o.defences ? { defences: o.defences } : {}),
                ...(o.inspection ? { inspection: o.inspection } : {}),
                ...(o.plus ? { plus: o.plus } : {}),
              },
            }
          : {}),
      });
      const orgCa = await OrgCa.open({
        certificate: org.kms.certificates.org,
        key: org.kms.caKey,
        chain: [org.kms.certificates.root],
        storageDir: path.join(storage, 'ca'),
      });
      let vaultKey: PrivateKeyOps = org.kms.encryptionKey;
      let sealingCertificate = org.kms.certificates.encryption;
      if (o.vault === 'own-token') {
        hsm.initToken({ label: `vault-${id}`, soPin: SO_PIN, userPin: VAULT_PIN });
        const vt = hsm.openToken(`vault-${id}`);
        vaultToken = vt;
        await vt.login(VAULT_PIN);
        vaultKey = bindTokenKey(vt, await vt.generateKeyPair('vault-seal', 'RSA-2048'));
        sealingCertificate = (await orgCa.issueService(vaultKey.spki, 'encryption', `${id}.example trace vault`)).der;
      }
      const vault = new TraceVault({ storageDir: path.join(storage, 'vault'), sealingCertificate });
      const registration = new UserRegistration({
        reader: hsm,
        orgCa,
        vault,
        soPin: SO_PIN,
        storageDir: path.join(storage, 'registration'),
        registryRoot: org.kms.certificates.root,
      });
      users.attach(new CardUserDirectory(registration, orgCa));
      const w: WorldOrg = {
        org,
        mailbox,
        orgCa,
        vault,
        vaultKey,
        registration,
        addUser: (local, pin, uo = {}) => addUser(w, local, pin, uo),
        close,
        [Symbol.asyncDispose]: close,
      };
      return w;
    },
    async toMx(to, o) {
      const c = world.net.connectOptions(world.net.address(o.client), to.org.ctx.mxHost, 25);
      const t = nodemailer.createTransport({
        host: c.host,
        port: c.port,
        ...(c.localAddress ? { localAddress: c.localAddress } : {}),
        secure: false,
        ignoreTLS: true,
        name: o.helo,
      });
      try {
        return await replyCode(() => t.sendMail({ envelope: { from: o.mailFrom, to: [o.rcpt] }, raw: typeof o.raw === 'string' ? o.raw : Buffer.from(o.raw) }));
      } finally {
        t.close();
      }
    },
    [Symbol.asyncDispose]: dispose,
  };
}
