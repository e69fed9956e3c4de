/**
 * A whole SSMAX world in one process: the simulated network, the registry (root key on a SoftHSM2
 * token), every organisation and ESP (sim-org, each with its own 127.x addresses, KMS token, Dovecot
 * mailbox and enrolment (1)/(13) over HTTP), their users registered (2) with SoftHSM2 cards, and the
 * DNS records the defence profile asks for. Tests, the scenario executor and `ssmax up` drive it
 * through {@link World.user}, {@link World.org}, {@link World.journey} and {@link World.waitIdle}.
 *
 * SoftHSM2 reads its configuration once per process, so the world owns the one native reader and
 * hands it to the registry, every KMS, trace vault and card.
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Card,
  SoftHsmNative,
  SoftwareKey,
  SsmaxError,
  bindTokenKey,
  parseCertificate,
  parseCrl,
  verifyCrlSignature,
  type ContractUser,
  type CrlInfo,
  type PrivateKeyOps,
  type Pkcs11Token,
} from '@ssmax/core';
import { SimNet, type ExposedService } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';
import {
  CardObjects,
  CardUserDirectory,
  ClamdDaemon,
  DeferredUserDirectory,
  Mailbox,
  OrgCa,
  Organisation,
  TraceVault,
  vaultSealing,
  UserAgent,
  UserRegistration,
  PasswordUserDirectory,
  RegistryClient,
  fetchOrgCrl,
  conventionalMailboxOptions,
  conventionalProfile,
  base32Encode,
  base32Decode,
  totp,
  type JourneyEvent,
  type MailVerdict,
  type MaliciousReportResult,
  type IncidentCause,
  type RegisteredUser,
  type OrgPlus,
  ReplayCache,
  sendToDomain,
} from '@ssmax/sim-org';
import { checkImapLogin, readConventional, sendConventional } from './conventional-client.js';
import { PublicSmimeCa } from './public-ca.js';
import { readSmimeInbox, sendSmime, type SmimeIdentity } from './smime-client.js';
import { getProfile, modeFor, type DefenceProfile, type PlusSwitches } from './profiles.js';
import { parseDefenceIds, switchesFor, type DefenceId, type WorldSwitches } from './defences.js';
import { implementationName, userAddress, type WorldConfig, type WorldOrgConfig, type WorldUserConfig } from './world-config.js';
import { ImplementationControl } from './implementation/implementation-control.js';
import { NotObservableError, OutsideOrg, reserveOutsideOrg, startOutsideOrg, type OutsideOrgRelays } from './implementation/outside-org.js';

/**
 * Sends a mailbox rule's forwarded copy through the org's MTA-out, unchanged, per destination domain
 * (opportunistic STARTTLS: an ordinary server-side forward, not SSMAX forwarding (11)).
 */
async function forwardCopy(org: Organisation | undefined, to: readonly string[], raw: Uint8Array, originalRecipient: string): Promise<void> {
  if (!org) return;
  const byDomain = new Map<string, string[]>();
  for (const t of to) byDomain.set(t.split('@')[1]!.toLowerCase(), [...(byDomain.get(t.split('@')[1]!.toLowerCase()) ?? []), t]);
  for (const [domain, rcpts] of byDomain) await sendToDomain(org.ctx, domain, originalRecipient, rcpts, raw, { tls: 'opportunistic' });
}

/** Options of {@link World.create}. */
export interface WorldOptions {
  /** Where everything persists (tokens, registry database, spools, mailboxes). Must exist or be creatable. */
  readonly storageDir: string;
  /** Seeds the address plan and the generated PINs/passwords; default the config's seed, else 1. */
  readonly seed?: number;
  readonly clock?: () => Date;
  /** Overrides the config's profile. */
  readonly profile?: string;
  /** Registry log sink (default: discarded). */
  readonly log?: (line: string) => void;
  /** Spool worker retry interval in ms (default 200). */
  readonly retryMs?: number;
  /** Workers per spool in each org (default 1; sim-org OrganisationOptions.spoolWorkers). */
  readonly spoolWorkers?: number;
  /**
   * Issue 13's throughput levers, each on by default; the bench turns one off to measure it
   * (`ssmax bench --chain-levers`): group commit of the spools' directory fsyncs, and the mail-password
   * scrypt in the thread pool rather than on the event loop.
   */
  readonly levers?: { readonly spoolGroupCommit?: boolean; readonly passwordHashing?: 'thread-pool' | 'event-loop' };
  /**
   * Ids of orgs that run without STARTTLS whatever the profile says (a legacy peer): their MTA-in
   * offers none (and, for SSMAX orgs, their MTA-out sends in clear text).
   */
  readonly withoutStarttls?: readonly string[];
  /**
   * Defences switched off in this world (falsifiability runs, `ssmax run --ablate`); ids and what each
   * switches are listed in defences.ts. Unknown ids are a usage error.
   */
  readonly ablate?: readonly string[];
  /**
   * The world's /24 on loopback (`127.X.Y`, sim-net AddressPlan); default derived from the seed. Worlds
   * that run side by side (`ssmax run --jobs`) each take their own.
   */
  readonly netPrefix?: string;
}

/** One listening service, as `ssmax up` prints it. */
export interface ServiceListing {
  readonly name: string;
  /** The name clients use on the simulated network (DNS), when it has one. */
  readonly host?: string;
  /** Where it really listens: address:port on loopback. */
  readonly listen: string;
  readonly protocol: string;
}

/** What a user sends ({@link WorldUser.send}). */
export interface SendInput {
  readonly to: string | readonly string[];
  readonly cc?: readonly string[];
  readonly subject?: string;
  readonly body?: string;
  readonly files?: readonly { readonly name: string; readonly contentType?: string; readonly content: Uint8Array }[];
  /** Card PIN for this signing session. */
  readonly pin: string;
}

/** How a user reads their mailbox ({@link WorldUser.inbox}). */
export interface InboxInput {
  readonly password: string;
  /** Current TOTP code, for profiles with a mailbox second factor. */
  readonly totp?: string;
  /** Card PIN for decrypting the files. */
  readonly pin: string;
}

const SO_PIN = 'world-so-pin-1';
const HSM_PIN = 'world-hsm-pin';

/**
 * Whether an outside implementation runs org `o` under `profile` (docs/IMPLEMENTING.md): a `process` or
 * `container` implementation under an SSMAX profile; under the conventional baselines the world's own
 * conventional org stands in.
 */
function runsOutside(o: WorldOrgConfig, profile: DefenceProfile): boolean {
  const kind = o.implementation?.kind ?? 'builtin';
  return kind !== 'builtin' && profile.kind === 'ssmax';
}

/** The /24 of the `index`-th outside implementation: beside the world's own (`127.X.Y` → `127.(255-X).(Y+index)`). */
function outsidePrefix(prefix: string, index: number): string {
  const [, x, y] = prefix.split('.').map(Number);
  return `127.${255 - x!}.${(y! + index) % 256}`;
}

/** A deterministic generator (mulberry32) for PINs and passwords the world invents. */
function seeded(seed: number, salt: string): () => number {
  let s = (seed ^ createHash('sha256').update(salt).digest().readUInt32BE(0)) >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Gives `base` a getter for each of `keys` that calls `absent` (which throws): the fields an org the world
 * cannot see into has no value for. Not enumerable, so that spreading or serialising the org does not throw.
 */
function withAbsent<T extends object, K extends string>(base: T, keys: readonly K[], absent: (what: K) => never): T & Record<K, never> {
  for (const k of keys) Object.defineProperty(base, k, { get: () => absent(k), enumerable: false, configurable: true });
  return base as T & Record<K, never>;
}

/** A registered user with their card, as a handle for tests, the executor and the CLI. */
export class WorldUser {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly world: World,
    readonly org: WorldOrg,
    readonly address: string,
    /** The initial card PIN (the simulator prints it; a real desk would hand it over in person). */
    readonly pin: string,
    /** The initial mail password (MSA and IMAP). */
    readonly password: string,
    /** Base32 TOTP secret when the profile's mailbox demands a second factor. */
    readonly totpSecret: string | undefined,
    registered?: RegisteredUser,
    card?: Card,
    /** smime-e2e: the user's software key and public-CA certificate (no card). */
    readonly smime?: SmimeIdentity,
  ) {
    this.#registered = registered;
    this.#card = card;
  }

  readonly #registered: RegisteredUser | undefined;
  readonly #card: Card | undefined;

  /** False under the conventional profiles: the user has a password alone, no card. */
  get hasCard(): boolean {
    return this.#card !== undefined;
  }

  /** The user's card (SSMAX profiles; throws under a conventional profile). */
  get card(): Card {
    if (!this.#card)
      throw new SsmaxError(
        'USAGE',
        `Cannot use the card of ${this.address}. The world runs the conventional profile ${this.world.profile.id}: users have no card.`,
      );
    return this.#card;
  }

  /** The registration (2) record: certificates, trace id, proofing (SSMAX profiles; throws under a conventional profile). */
  get registered(): RegisteredUser {
    if (!this.#registered)
      throw new SsmaxError(
        'USAGE',
        `Cannot use the registration of ${this.address}. The world runs the conventional profile ${this.world.profile.id}: users are not registered with a card.`,
      );
    return this.#registered;
  }

  /** ssmax-plus addition 3: this user's agent keeps one replay cache across its sessions. */
  #replays: ReplayCache | undefined;

  /** The user agent (sim-org user-agent.ts) bound to this user's card, MSA and mailbox; `client.headerProtection: false` for a client other than the org's agent. */
  agent(imap?: { password: string; totp?: string }, client?: { readonly headerProtection?: false }): UserAgent {
    const plus = this.world.plus;
    if (plus?.freshness) this.#replays ??= new ReplayCache(plus.replayCacheSize);
    const net = this.world.net;
    const msa = net.connectOptions(net.address(`${this.address}/ua`), `msa.${this.org.domain}`, 587);
    const box = this.org.mailbox;
    const ua = this.world.switches.userAgent;
    return new UserAgent({
      address: this.address,
      card: this.card,
      mode: ua.mode ?? this.world.profile.verification,
      ...(ua.fromSignerBinding === false ? { fromSignerBinding: false } : {}),
      ...(ua.fileEncryption === false ? { fileEncryption: false } : {}),
      // ssmax-plus addition 2: the sender's agent protects the whole message (RFC 9788).
      ...(this.world.plus?.headerProtection === true && client?.headerProtection !== false ? { headerProtection: true } : {}),
      ...(plus?.freshness && this.#replays ? { replayCache: this.#replays } : {}),
      orgEncryptionCertificate: (this.org.outside?.certificates ?? this.org.organisation.kms.certificates).encryption,
      orgSigningCertificate: (this.org.outside?.certificates ?? this.org.organisation.kms.certificates).signing,
      msa: { host: msa.host, port: msa.port, ...(msa.localAddress ? { localAddress: msa.localAddress } : {}), user: this.address, password: this.password },
      imap: {
        host: box.host,
        port: box.imapPort,
        user: this.address,
        password: imap?.password ?? this.password,
        ...(imap?.totp !== undefined ? { totp: () => imap.totp! } : {}),
      },
      ...(this.world.clock ? { now: this.world.clock } : {}),
    });
  }

  /** The TOTP code for now (simulator convenience; the code a user's phone app would show). */
  totpCode(at: Date = new Date()): string | undefined {
    return this.totpSecret === undefined ? undefined : totp(base32Decode(this.totpSecret), Math.floor(at.getTime() / 1000));
  }

  /** (3): composes, signs on the card and submits to the org's MSA. Resolves with the MSA's 250 reply. */
  send(input: SendInput): Promise<{ messageId: string; response: string }> {
    const to = typeof input.to === 'string' ? [input.to] : [...input.to];
    if (this.smime) return this.#serial(() => sendSmime(this.world, this, { ...input, to }));
    if (!this.#card) return this.#serial(() => sendConventional(this.world, this, { ...input, to }));
    return this.#serial(async () => {
      const r = await this.agent().send({
        to,
        ...(input.cc ? { cc: input.cc } : {}),
        subject: input.subject ?? '',
        text: input.body ?? '',
        files: input.files ?? [],
        pin: input.pin,
      });
      return { messageId: r.messageId, response: r.response };
    });
  }

  /** (10): reads INBOX over IMAP and verifies and decrypts every mail on the card. */
  inbox(input: InboxInput): Promise<MailVerdict[]> {
    if (this.smime) return this.#serial(() => readSmimeInbox(this.world, this, input));
    if (!this.#card) return this.#serial(() => readConventional(this.world, this, input));
    const box = this.org.mailbox;
    return this.#serial(async () => {
      await checkImapLogin(box.host, box.imapPort, this.address, input.totp !== undefined ? `${input.password}:${input.totp}` : input.password);
      return this.agent({ password: input.password, ...(input.totp !== undefined ? { totp: input.totp } : {}) }).inbox(input.pin);
    });
  }

  /**
   * Procedure (12): the user reports the mail `messageId` as malicious to their org, which files a registry
   * case from its own (7) record of that mail (sending org, sender certificate serial). SSMAX profiles only.
   */
  reportMalicious(
    messageId: string,
    o: { readonly summary?: string; readonly pattern?: 'A' | 'B' | 'C'; readonly sha256?: string } = {},
  ): Promise<MaliciousReportResult> {
    if (this.org.outside)
      return this.org.outside.reportMalicious({ messageId, reportedBy: this.address, ...(o.summary !== undefined ? { summary: o.summary } : {}) });
    return this.org.organisation.reportMalicious({ messageId, reportedBy: this.address, ...o });
  }

  /** One card session at a time: the card's login state is shared by every operation. */
  #serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(f, f);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** What one org's incident desk concluded in {@link World.settleIncidents} (no employee number). */
export interface SettledIncident {
  /** The world's org id of the sending org whose desk handled the case. */
  readonly org: string;
  readonly caseId: string;
  readonly messageId: string;
  readonly cause: IncidentCause;
  readonly identified: boolean;
  readonly revokedSerials: readonly string[];
  readonly rootCause: string;
}

/** An org CRL fetched over the simulated network and checked against the registry directory ({@link World.fetchCrl}). */
export interface FetchedCrl {
  readonly url: string;
  /** The registry member whose org certificate signed the CRL. */
  readonly orgId: string;
  readonly der: Uint8Array;
  readonly crl: CrlInfo;
  /** Revoked serials, hex, lower case, no leading zeros. */
  readonly revokedSerials: readonly string[];
  /** Whether `serial` (hex, any case) is listed. */
  lists(serial: string): boolean;
}

/** One organisation or ESP of the world with its back office. */
export interface WorldOrg {
  readonly id: string;
  readonly domain: string;
  readonly mode: 'org' | 'esp';
  readonly role: 'sender' | 'recipient' | 'other' | undefined;
  /** Who implements it, for reports: `builtin`, or the outside implementation's name (docs/IMPLEMENTING.md). */
  readonly implementation: string;
  /** Set when an outside implementation runs it: then {@link organisation} and the back office throw {@link NotObservableError}. */
  readonly outside?: OutsideOrg;
  readonly organisation: Organisation;
  readonly mailbox: Mailbox;
  /** SSMAX back office: org CA, sealed trace vault and its key, registration (2). Reading them under a conventional profile throws. */
  readonly orgCa: OrgCa;
  readonly vault: TraceVault;
  /** The trace vault's sealing key (on its own HSM token), for the incident desk (12). */
  readonly vaultKey: PrivateKeyOps;
  readonly registration: UserRegistration;
  /** The DKIM key published for the domain when the profile publishes DKIM (for conventional mode). */
  readonly dkim?: { readonly selector: string; readonly privateKey: KeyObject };
  readonly users: readonly WorldUser[];
}

interface OrgInternals extends WorldOrg {
  readonly users: WorldUser[];
  readonly vaultToken?: Pkcs11Token;
  /** Conventional profiles: the MSA's password directory. */
  readonly passwords?: PasswordUserDirectory;
}

export class World implements AsyncDisposable {
  readonly #orgs = new Map<string, OrgInternals>();
  readonly #users = new Map<string, WorldUser>();
  readonly #extra: ExposedService[] = [];
  #closed = false;
  #mailboxesStopped: Promise<void> = Promise.resolve();
  registry!: Registry;
  /**
   * The domain registration dates the reputation check consults (a WHOIS stand-in): member domains
   * long ago; add a domain registered while the world runs with {@link World.recordDomainRegistration}.
   */
  readonly domainRegistry: Record<string, string> = {};
  /** Who each domain registered while the world runs is registered to (see {@link World.recordDomainRegistration}). */
  readonly registrants: Record<string, { readonly registrant: string; readonly verified: boolean }> = {};
  /** The public S/MIME CA (public-ca.ts) and its directory. */
  publicCa!: PublicSmimeCa;
  /**
   * The world's one clamd (issue 16), shared by every inspecting org: the malware engine of (8) and of
   * the conventional MX. Started on the first scan, stopped by {@link close}.
   */
  clamd: ClamdDaemon | undefined;
  /** Defences switched off in this world (`WorldOptions.ablate`; empty in every ordinary world). */
  ablated: readonly DefenceId[] = [];
  /** What {@link ablated} changes in the services' options (defences.ts). */
  switches: WorldSwitches = switchesFor([]);

  /** The profile's `ssmax-plus` switches with the ablated ones off (undefined outside `ssmax-plus`). */
  get plus(): PlusSwitches | undefined {
    const p = this.profile.plus;
    if (!p) return undefined;
    const off = this.switches.plus;
    return {
      ...p,
      ...(off.pinnedTls === false ? { pinnedTls: false } : {}),
      ...(off.headerProtection === false ? { headerProtection: false } : {}),
      ...(off.freshness === false ? { freshness: false } : {}),
      ...(off.holdSeconds === 0 ? { holdSeconds: 0 } : {}),
    };
  }
  #registryToken: Pkcs11Token | undefined;
  /** The control API outside implementations write DNS records and journey events to (docs/IMPLEMENTING.md §5). */
  #control: ImplementationControl | undefined;

  private constructor(
    readonly config: WorldConfig,
    readonly profile: DefenceProfile,
    readonly net: SimNet,
    readonly hsm: SoftHsmNative,
    readonly storageDir: string,
    readonly seed: number,
    readonly clock: (() => Date) | undefined,
  ) {}

  /** Starts every service of `config` under its profile. Dispose the world to stop them all. */
  static async create(config: WorldConfig, options: WorldOptions): Promise<World> {
    const profile = getProfile(options.profile ?? config.profile ?? 'ssmax-org');
    // Unknown defence ids are a usage error before anything starts.
    const ablated = parseDefenceIds(options.ablate ?? []);
    const storageDir = path.resolve(options.storageDir);
    fs.mkdirSync(storageDir, { recursive: true });
    // Dovecot's unprivileged mail processes must traverse to each org's mail directory.
    fs.chmodSync(storageDir, 0o711);
    const seed = options.seed ?? config.seed ?? 1;
    const hsm = SoftHsmNative.open({ storageDir: path.join(storageDir, 'hsm') });
    let net: SimNet | undefined;
    let world: World | undefined;
    try {
      net = await SimNet.create({
        seed,
        ...(options.netPrefix !== undefined ? { prefix: options.netPrefix } : {}),
        ...(options.clock ? { now: options.clock } : {}),
        // An outside implementation trusts the simulated network's CA from its own files (docs/IMPLEMENTING.md).
        ...(config.orgs.some((o) => runsOutside(o, profile)) ? { caDir: path.join(storageDir, 'sim-net-ca') } : {}),
      });
      world = new World(config, profile, net, hsm, storageDir, seed, options.clock);
      world.ablated = ablated;
      world.switches = switchesFor(ablated);
      world.clamd = new ClamdDaemon({ dir: path.join(storageDir, 'clamd') });
      // The public S/MIME CA exists in every world, as commercial CAs exist beside SSMAX; only the
      // smime-e2e users are enrolled with it, but anyone (the attacker too) may order a certificate.
      world.publicCa = await PublicSmimeCa.start({ net, ...(options.clock ? { now: options.clock } : {}) });
      await world.#startRegistry(options);
      // Outside implementations start last: the hosts table they are given names every other org's services.
      const outside = config.orgs.filter((o) => runsOutside(o, profile));
      for (const o of config.orgs) if (!outside.includes(o)) await world.#startOrg(o, options);
      if (outside.length > 0) {
        const w = world;
        w.#control = await ImplementationControl.start({ address: net.address('implementation-control'), zone: net.zone, orgs: () => outside });
        // Every outside org's MX, MSA and CRL names exist before the first one starts: each config's hosts table
        // lists all its peers (an implementation without sim-net has no other way to reach them), whatever the order.
        const relays: OutsideOrgRelays[] = [];
        for (const o of outside) relays.push(await reserveOutsideOrg(net, o.domain));
        for (const [i, o] of outside.entries()) await w.#startOutsideOrg(o, i, relays[i]!, options);
      }
      // Every org's domain is registered to the org itself, a registrant the registrar verified (the
      // domain-registration record a conventional org is accountable by; members are in the directory too).
      for (const o of config.orgs) world.recordDomainRegistration(o.domain, undefined, { registrant: o.id, verified: true });
      // One mailbox reload per org for all its users, not one per user (each reload waits for Dovecot), and
      // the orgs' reloads side by side once every user is registered (in config order).
      const reloads: { org: OrgInternals; boxes: { address: string; password: string; totpSecret?: string }[] }[] = [];
      for (const o of config.orgs) {
        const org = world.#orgs.get(o.id)!;
        // An outside org's users and mailboxes are made before its implementation starts.
        if (org.outside) continue;
        const boxes: { address: string; password: string; totpSecret?: string }[] = [];
        for (const u of o.users ?? []) await world.#addUser(org, u, boxes);
        reloads.push({ org, boxes });
      }
      await Promise.all(reloads.map(({ org, boxes }) => org.mailbox.addUsers(boxes)));
      return world;
    } catch (e) {
      if (world) await world.close();
      else {
        await net?.[Symbol.asyncDispose]();
        await hsm.close();
      }
      throw e;
    }
  }

  async #startRegistry(options: WorldOptions): Promise<void> {
    const label = 'registry-root';
    if (!this.hsm.labels().includes(label)) this.hsm.initToken({ label, soPin: SO_PIN, userPin: HSM_PIN });
    const token = this.hsm.openToken(label);
    this.#registryToken = token;
    await token.login(HSM_PIN);
    const key = (await token.findKey('root')) ?? (await token.generateKeyPair('root', 'EC-P256'));
    this.registry = await Registry.start({
      dataDir: path.join(this.storageDir, 'registry'),
      host: this.net.address('registry'),
      port: 0,
      signer: bindTokenKey(token, key),
      // Procedure (1): applicants prove their domains by TXT records in the world's zone.
      resolver: this.net.resolver,
      ...(this.switches.registry.domainControl === false ? { domainControl: false } : {}),
      log: options.log ?? (() => {}),
      ...(this.clock ? { clock: this.clock } : {}),
    });
  }

  async #startOrg(o: WorldOrgConfig, options: WorldOptions): Promise<void> {
    const mode = modeFor(this.profile, o);
    const dir = path.join(this.storageDir, 'orgs', o.id);
    fs.mkdirSync(path.join(dir, 'mail'), { recursive: true });
    fs.chmodSync(path.join(this.storageDir, 'orgs'), 0o711);
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(path.join(dir, 'mail'), 0o711);
    if (this.profile.conventional) return this.#startConventionalOrg(o, mode, dir, options);
    const mailbox = await Mailbox.start({
      dir: path.join(dir, 'mail'),
      host: this.net.address(`${o.id}/imap`),
      secondFactor: this.profile.mailbox.secondFactor && this.switches.mailbox.secondFactor !== false,
      externalForwarding: this.switches.mailbox.externalForwarding ?? this.profile.mailbox.externalForwarding,
      localDomains: [o.domain],
      // A mailbox rule forwards the stored copy as it is, through the org's MTA-out (incident 7).
      forward: (to, raw, rcpt) => forwardCopy(organisation, to, raw, rcpt),
    });
    let organisation: Organisation | undefined;
    let vaultToken: Pkcs11Token | undefined;
    try {
      const users = new DeferredUserDirectory();
      organisation = await Organisation.start({
        id: o.id,
        domain: o.domain,
        ...(o.name ? { name: o.name } : {}),
        mode,
        net: this.net,
        registryUrl: this.registry.url,
        registryRootCert: this.registry.rootCertificate,
        storageDir: path.join(dir, 'org'),
        hsm: this.hsm,
        kmsPin: HSM_PIN,
        kmsSoPin: SO_PIN,
        users,
        mailbox: { deliver: async (r, m, e) => void (await mailbox.deliver(r, m, e)), holds: (r, id) => mailbox.holds(r, id) },
        ...(this.clamd ? { malwareScanner: this.clamd } : {}),
        profile: {
          starttls: this.profile.starttls && this.switches.starttls !== false && !(options.withoutStarttls ?? []).includes(o.id),
          ...(this.profile.outboundTls ? { outboundTls: this.profile.outboundTls } : {}),
          endToEnd: this.profile.endToEnd,
          ...(mode === 'org' && this.profile.inspection ? { inspection: { ...this.profile.inspection, ...this.switches.inspection } } : {}),
          ...(Object.keys(this.switches.org).length > 0 ? { defences: this.switches.org } : {}),
          ...(this.plus ? { plus: orgPlus(this.plus) } : {}),
        },
        registryMaxAgeSeconds: 0,
        retryMs: options.retryMs ?? 200,
        ...(options.spoolWorkers !== undefined ? { spoolWorkers: options.spoolWorkers } : {}),
        ...(options.levers?.spoolGroupCommit === false ? { spoolGroupCommit: false } : {}),
        ...(this.clock ? { clock: this.clock } : {}),
      });
      const kms = organisation.kms;
      const orgCa = await OrgCa.open({
        certificate: kms.certificates.org,
        key: kms.caKey,
        chain: [kms.certificates.root],
        storageDir: path.join(dir, 'ca'),
        ...(this.clock ? { now: this.clock } : {}),
      });
      // The trace vault's key sits on its own HSM token: the mail path's KMS cannot open the vault.
      const vaultLabel = `vault-${o.id}`;
      if (!this.hsm.labels().includes(vaultLabel)) this.hsm.initToken({ label: vaultLabel, soPin: SO_PIN, userPin: HSM_PIN });
      vaultToken = this.hsm.openToken(vaultLabel);
      await vaultToken.login(HSM_PIN);
      // The sealing certificate is kept on the token beside its key: entries sealed before a restart name it
      // (issuer and serial), so a restarted world must seal and open with the same one, not a new one.
      const { key: vaultKey, certificate: vaultCert } = await vaultSealing(vaultToken, orgCa, o.domain);
      const vault = new TraceVault({ storageDir: path.join(dir, 'vault'), sealingCertificate: vaultCert, ...(this.clock ? { now: this.clock } : {}) });
      const registration = new UserRegistration({
        reader: this.hsm,
        orgCa,
        vault,
        // No soPin: the desk makes its own random SO secret in its storage, and each card gets its own SO PIN from it.
        storageDir: path.join(dir, 'registration'),
        registryRoot: kms.certificates.root,
        ...(this.switches.card.pinLockout === false ? { pinLockout: false } : {}),
        ...(options.levers?.passwordHashing ? { passwordHashing: options.levers.passwordHashing } : {}),
        ...(this.clock ? { now: this.clock } : {}),
      });
      users.attach(new CardUserDirectory(registration, orgCa));
      // From here the org's incident desk runs (12) by itself: self-review, vault, revocation, answer.
      organisation.attachBackOffice({ orgCa, vault, vaultKey, officer: `${o.domain} CSIRT` });
      const dkim = await this.#publishDns(o, organisation);
      this.#orgs.set(o.id, {
        id: o.id,
        domain: o.domain,
        mode,
        role: o.role,
        implementation: 'builtin',
        organisation,
        mailbox,
        orgCa,
        vault,
        vaultKey,
        registration,
        vaultToken,
        users: [],
        ...(dkim ? { dkim } : {}),
      });
    } catch (e) {
      await organisation?.close();
      await vaultToken?.close();
      await mailbox.stop();
      throw e;
    }
  }

  /**
   * A conventional baseline org: sim-org's conventional mode with the profile's preset (it publishes
   * its own SPF/DKIM/DMARC, MTA-STS and TLSRPT records); every other world domain is a known partner
   * for the reputation check, registered long ago.
   */
  async #startConventionalOrg(o: WorldOrgConfig, mode: 'org' | 'esp', dir: string, options: WorldOptions): Promise<void> {
    const preset = this.profile.conventional!.preset;
    let conventionalOrg: Organisation | undefined;
    const mailbox = await Mailbox.start({
      dir: path.join(dir, 'mail'),
      host: this.net.address(`${o.id}/imap`),
      ...conventionalMailboxOptions(preset),
      ...this.switches.mailbox,
      localDomains: [o.domain],
      forward: (to, raw, rcpt) => forwardCopy(conventionalOrg, to, raw, rcpt),
    });
    try {
      const users = new PasswordUserDirectory();
      const domains = this.config.orgs.map((x) => x.domain);
      for (const d of domains) this.domainRegistry[d] ??= '2010-04-01';
      // Issue 4's best-practice scores "new and look-alike domains": a domain registered within 30 days
      // (30 points) or a near-miss/homograph of a partner (50/60) is flagged; an unknown age alone (10) is not.
      // The registry object is shared, so domains registered while the world runs are seen at once.
      const overrides = preset === 'best-practice' ? { reputation: { knownDomains: domains, domainRegistry: this.domainRegistry, threshold: 30 } } : {};
      const organisation = await Organisation.start({
        id: o.id,
        domain: o.domain,
        ...(o.name ? { name: o.name } : {}),
        mode,
        net: this.net,
        storageDir: path.join(dir, 'org'),
        users,
        mailbox: { deliver: async (r, m, e) => void (await mailbox.deliver(r, m, e)), holds: (r, id) => mailbox.holds(r, id) },
        ...(this.clamd ? { malwareScanner: this.clamd } : {}),
        profile: {
          ...conventionalProfile(preset, { ...overrides, ...this.switches.conventional }),
          ...((options.withoutStarttls ?? []).includes(o.id) || this.switches.starttls === false ? { starttls: false } : {}),
          ...(Object.keys(this.switches.org).length > 0 ? { defences: this.switches.org } : {}),
        },
        retryMs: options.retryMs ?? 200,
        ...(options.spoolWorkers !== undefined ? { spoolWorkers: options.spoolWorkers } : {}),
        ...(options.levers?.spoolGroupCommit === false ? { spoolGroupCommit: false } : {}),
        ...(this.clock ? { clock: this.clock } : {}),
      });
      conventionalOrg = organisation;
      const absent = (what: string): never => {
        throw new SsmaxError(
          'USAGE',
          `Cannot use the ${what} of ${o.id}. It runs the conventional profile ${this.profile.id}, which has no SSMAX back office.`,
        );
      };
      const org: OrgInternals = withAbsent(
        {
          id: o.id,
          domain: o.domain,
          mode,
          role: o.role,
          implementation: 'builtin',
          organisation,
          mailbox,
          users: [],
          passwords: users,
        },
        ['orgCa', 'vault', 'vaultKey', 'registration'] as const,
        absent,
      );
      this.#orgs.set(o.id, org);
    } catch (e) {
      await mailbox.stop();
      throw e;
    }
  }

  /**
   * An org an outside implementation runs (docs/IMPLEMENTING.md): its Dovecot and its users' cards are the
   * world's (the card keys are made here; the implementation certifies them, (2)); the rest is the program's.
   */
  async #startOutsideOrg(o: WorldOrgConfig, index: number, relays: OutsideOrgRelays, options: WorldOptions): Promise<void> {
    const impl = o.implementation as Extract<WorldOrgConfig['implementation'], { kind: 'process' | 'container' }>;
    const name = implementationName(impl);
    const mode = modeFor(this.profile, o);
    const dir = path.join(this.storageDir, 'orgs', o.id);
    fs.mkdirSync(path.join(dir, 'mail'), { recursive: true });
    fs.chmodSync(path.join(this.storageDir, 'orgs'), 0o711);
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(path.join(dir, 'mail'), 0o711);
    // A forwarding rule in the mailbox is not applied: the implementation delivers over LMTP itself.
    const mailbox = await Mailbox.start({
      dir: path.join(dir, 'mail'),
      host: this.net.address(`${o.id}/imap`),
      secondFactor: this.profile.mailbox.secondFactor && this.switches.mailbox.secondFactor !== false,
      localDomains: [o.domain],
    });
    const made: { address: string; pin: string; password: string; label: string; card: Card; proofing: ContractUser['proofing'] }[] = [];
    try {
      const users: ContractUser[] = [];
      for (const u of o.users ?? []) {
        const address = userAddress(o, u);
        const rnd = seeded(this.seed, address);
        const pin = u.pin ?? String(Math.floor(rnd() * 900_000) + 100_000);
        const password = u.password ?? `pw-${Math.floor(rnd() * 2 ** 32).toString(36)}`;
        const label = `ssmax-card-${createHash('sha256').update(`${o.id}\0${address}`).digest('hex').slice(0, 16)}`;
        if (!this.hsm.labels().includes(label)) this.hsm.initToken({ label, soPin: SO_PIN, userPin: pin });
        const card = await Card.open({
          token: this.hsm.openToken(label),
          stateDir: path.join(dir, 'cards'),
          ...(this.switches.card.pinLockout === false ? { pinLockout: false } : {}),
        });
        const proofing = {
          method: u.proofing ?? (mode === 'esp' ? 'myNumberCardPin' : 'employeeCardPin'),
          proofedBy: `${o.domain} registration desk`,
        } as const;
        made.push({ address, pin, password, label, card, proofing });
        await card.login(pin);
        const sig = await card.generateKeyPair(CardObjects.signingKey, 'EC-P256', 'signing');
        const enc = await card.generateKeyPair(CardObjects.encryptionKey, 'RSA-2048', 'encryption');
        await card.logout();
        users.push({
          address,
          ...(u.displayName ? { displayName: u.displayName } : {}),
          password,
          employeeNumber: u.employeeNumber ?? `${mode === 'esp' ? 'CUST' : 'EMP'}-${createHash('sha256').update(address).digest('hex').slice(0, 8)}`,
          proofing,
          signingSpki: Buffer.from(sig.spki).toString('base64'),
          encryptionSpki: Buffer.from(enc.spki).toString('base64'),
        });
      }
      const outside = await startOutsideOrg({
        net: this.net,
        relays,
        dir,
        org: { id: o.id, domain: o.domain, ...(o.name ? { name: o.name } : {}), mode },
        profile: {
          id: this.profile.id,
          starttls: this.profile.starttls && this.switches.starttls !== false && !(options.withoutStarttls ?? []).includes(o.id),
          outboundTls: this.profile.outboundTls ?? 'require',
          endToEnd: this.profile.endToEnd,
        },
        command: impl.command ?? [],
        ...(impl.env ? { env: impl.env } : {}),
        ...(impl.kind === 'container' ? { container: { image: impl.image, mounts: impl.mounts ?? [] } } : {}),
        implementation: name,
        prefix: outsidePrefix(this.net.plan.prefix, index),
        registry: { url: this.registry.url, rootCertificate: this.registry.rootCertificate },
        users,
        mailbox: { lmtpSocket: mailbox.lmtpSocket, configPath: mailbox.configPath },
        controlUrl: this.#control!.url,
        caDir: path.join(this.storageDir, 'sim-net-ca'),
        ...(options.log ? { log: options.log } : {}),
      });
      const absent = (what: string): never => {
        throw new NotObservableError(
          `Cannot use the ${what} of ${o.id}. An outside implementation (${name}) runs it: the world sees only what it answers on the network.`,
        );
      };
      const org: OrgInternals = withAbsent(
        {
          id: o.id,
          domain: o.domain,
          mode,
          role: o.role,
          implementation: name,
          outside,
          mailbox,
          users: [],
        },
        ['organisation', 'orgCa', 'vault', 'vaultKey', 'registration'] as const,
        absent,
      );
      this.#orgs.set(o.id, org);
      const boxes: { address: string; password: string; totpSecret?: string }[] = [];
      const certs = outside.certificates;
      for (const m of made) {
        const issued = outside.ready.users.find((x) => x.address.toLowerCase() === m.address)!;
        const sigDer = new Uint8Array(Buffer.from(issued.signingCertificate, 'base64'));
        const encDer = new Uint8Array(Buffer.from(issued.encryptionCertificate, 'base64'));
        await m.card.login(m.pin);
        await m.card.putCertificate(CardObjects.signingCertificate, sigDer);
        await m.card.putCertificate(CardObjects.encryptionCertificate, encDer);
        await m.card.putCertificate(CardObjects.orgCertificate, certs.org);
        await m.card.putCertificate(CardObjects.registryRoot, this.registry.rootCertificate);
        await m.card.logout();
        const registered: RegisteredUser = {
          address: m.address,
          cardLabel: m.label,
          // The trace id is the implementation's (in the certificate); the world never needs it.
          traceId: '',
          identityProofing: { method: m.proofing.method, proofedAt: new Date(), proofedBy: m.proofing.proofedBy },
          signingCertificate: parseCertificate(sigDer),
          encryptionCertificate: parseCertificate(encDer),
        };
        await this.#attachUser(org, m.address, m.pin, m.password, registered, m.card, boxes);
      }
      await mailbox.addUsers(boxes);
    } catch (e) {
      if (!this.#orgs.has(o.id)) {
        for (const m of made) await m.card.close().catch(() => undefined);
        await mailbox.stop();
      }
      throw e;
    }
  }

  /** DNS records per profile (MX and A come from the services themselves). */
  async #publishDns(o: WorldOrgConfig, org: Organisation): Promise<WorldOrg['dkim']> {
    const zone = this.net.zone;
    const dns = this.profile.dns;
    // RFC 7208: the only host sending for the domain is the org's MTA-out (and its MSA's DSNs leave from there too).
    if (dns.spf) zone.publishSpf(o.domain, { ip4: [org.ctx.addresses.mtaOut], all: '-all' });
    let dkim: WorldOrg['dkim'];
    if (dns.dkim) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      zone.publishDkim(o.domain, 'ssmax', { publicKey });
      dkim = { selector: 'ssmax', privateKey };
    }
    if (dns.dmarc) zone.publishDmarc(o.domain, { p: dns.dmarc, rua: [`mailto:dmarc@${o.domain}`] });
    if (dns.mtaSts) this.#extra.push(await this.net.serveMtaSts(o.domain, { id: 'ssmax1', mode: dns.mtaSts, mx: [org.ctx.mxHost], maxAge: 86_400 }));
    if (dns.tlsRpt) zone.publishTlsRpt(o.domain, [`mailto:tlsrpt@${o.domain}`]);
    return dkim;
  }

  async #addUser(org: OrgInternals, u: WorldUserConfig, boxes?: { address: string; password: string; totpSecret?: string }[]): Promise<WorldUser> {
    const address = userAddress({ id: org.id, domain: org.domain }, u);
    const rnd = seeded(this.seed, address);
    const pin = u.pin ?? String(Math.floor(rnd() * 900_000) + 100_000);
    const password = u.password ?? `pw-${Math.floor(rnd() * 2 ** 32).toString(36)}`;
    const method = u.proofing ?? (org.mode === 'esp' ? 'myNumberCardPin' : 'employeeCardPin');
    if (org.passwords) {
      org.passwords!.add(address, password);
      return this.#attachUser(org, address, pin, password, undefined, undefined, boxes);
    }
    const existing = (await org.registration.records()).find((r) => r.address === address);
    let registered: RegisteredUser;
    if (existing) {
      // A restarted world keeps its cards; rebuild the handle from the card itself.
      const card = await org.registration.openCard(existing.cardLabel);
      const sig = org.orgCa.lookup(address).find((e) => e.serialNumber === existing.signingSerial);
      const enc = org.orgCa.lookup(address).find((e) => e.serialNumber === existing.encryptionSerial);
      if (!sig || !enc) throw new SsmaxError('USAGE', `Cannot restore ${address}. Its certificates are missing from the org CA.`);
      registered = {
        address,
        cardLabel: existing.cardLabel,
        traceId: existing.traceId,
        identityProofing: { method: existing.method, proofedAt: new Date(existing.proofedAt), proofedBy: existing.proofedBy },
        signingCertificate: parseCertificate(sig.certificate),
        encryptionCertificate: parseCertificate(enc.certificate),
      };
      return this.#attachUser(org, address, pin, password, registered, card, boxes);
    }
    registered = await org.registration.register({
      address,
      employeeNumber: u.employeeNumber ?? `${org.mode === 'esp' ? 'CUST' : 'EMP'}-${createHash('sha256').update(address).digest('hex').slice(0, 8)}`,
      ...(u.displayName ? { displayName: u.displayName } : {}),
      identityCheck: { method, proofedBy: `${org.domain} registration desk` },
      userPin: pin,
      mailPassword: password,
    });
    const card = await org.registration.openCard(registered.cardLabel);
    return this.#attachUser(org, address, pin, password, registered, card, boxes);
  }

  /** Wires a user up; with `boxes` the mailbox account is collected for one batch add instead of added now. */
  async #attachUser(
    org: OrgInternals,
    address: string,
    pin: string,
    password: string,
    registered?: RegisteredUser,
    card?: Card,
    boxes?: { address: string; password: string; totpSecret?: string }[],
  ): Promise<WorldUser> {
    const totpSecret =
      this.profile.mailbox.secondFactor && this.switches.mailbox.secondFactor !== false
        ? base32Encode(new Uint8Array(createHash('sha256').update(`totp:${this.seed}:${address}`).digest().subarray(0, 20)))
        : undefined;
    if (boxes) boxes.push({ address, password, ...(totpSecret !== undefined ? { totpSecret } : {}) });
    else await org.mailbox.addUser(address, password, totpSecret);
    let smime: SmimeIdentity | undefined;
    if (this.profile.conventional?.attachments === 'smime-e2e') {
      // An org sponsors its employees (S/MIME BR sponsor-validated: a named person of that org); an
      // ESP's customers get what a public CA gives anyone who controls the mailbox (mailbox-validated).
      const key = SoftwareKey.generate('EC-P256');
      const local = address.split('@')[0]!;
      const certificate = await this.publicCa.issue(
        org.mode === 'esp'
          ? { email: address, spki: key.spki, validation: 'mailbox' }
          : {
              email: address,
              spki: key.spki,
              validation: 'sponsor',
              commonName: local.charAt(0).toUpperCase() + local.slice(1),
              organization: this.config.orgs.find((x) => x.id === org.id)?.name ?? org.domain,
            },
        org.mode === 'esp' ? `mailbox-validated for the ${org.domain} customer` : `enrolled by ${org.domain} (enterprise RA)`,
      );
      smime = { key, certificate };
    }
    const user = new WorldUser(this, org, address, pin, password, totpSecret, registered, card, smime);
    org.users.push(user);
    this.#users.set(address, user);
    return user;
  }

  /** Registers one more user (2) at run time, e.g. for a scenario. */
  async addUser(orgId: string, user: WorldUserConfig): Promise<WorldUser> {
    const org = this.#org(orgId);
    if (org.outside)
      throw new NotObservableError(
        `Cannot register ${user.address} at ${orgId} while the world runs. An outside implementation (${org.implementation}) runs it.`,
      );
    return this.#addUser(org, user);
  }

  #org(id: string): OrgInternals {
    const o = this.#orgs.get(id);
    if (!o) throw new SsmaxError('USAGE', `Cannot find org "${id}". This world has ${[...this.#orgs.keys()].join(', ')}.`);
    return o;
  }

  /**
   * Records when `domain` was registered (ISO date), as a registrar's WHOIS would show it, and to whom:
   * a registrant whose identity the registrar verified can be held to account for the domain's mail; a
   * privacy proxy or an unchecked name cannot.
   */
  recordDomainRegistration(domain: string, createdAt: Date | undefined, registrant?: { readonly registrant: string; readonly verified: boolean }): void {
    const d = domain.toLowerCase();
    if (createdAt) this.domainRegistry[d] = createdAt.toISOString();
    if (registrant) this.registrants[d] = registrant;
    else delete this.registrants[d];
  }

  /**
   * Domains whose operator is accountable for their mail, as an observer finds out: the domains of the
   * members in the registry's directory (fetched over HTTP from `fromActor`'s address and verified; a
   * revoked member is not listed as accountable) and every domain whose registration record names a
   * verified registrant (the WHOIS stand-in; attacker domains are registered to a privacy proxy).
   */
  async accountableDomains(fromActor = 'observer'): Promise<ReadonlySet<string>> {
    const client = new RegistryClient({
      url: this.registry.url,
      rootCertificate: this.registry.rootCertificate,
      localAddress: this.net.address(fromActor),
      maxAgeSeconds: 0,
      ...(this.clock ? { clock: this.clock } : {}),
    });
    const members = (await client.directory()).members.filter((m) => m.status !== 'revoked').flatMap((m) => m.domains.map((d) => d.toLowerCase()));
    return new Set([
      ...members,
      ...Object.entries(this.registrants)
        .filter(([, r]) => r.verified)
        .map(([d]) => d),
    ]);
  }

  /** The organisation or ESP `id`. */
  org(id: string): WorldOrg {
    return this.#org(id);
  }

  orgs(): readonly WorldOrg[] {
    return [...this.#orgs.values()];
  }

  /** The user `address` (case-insensitive). */
  user(address: string): WorldUser {
    const u = this.#users.get(address.toLowerCase());
    if (!u) throw new SsmaxError('USAGE', `Cannot find user ${address}. Known users: ${[...this.#users.keys()].join(', ')}.`);
    return u;
  }

  users(): readonly WorldUser[] {
    return [...this.#users.values()];
  }

  /** Every org's journey events for `messageId`, merged in time order (stable within an org). */
  journey(messageId: string): JourneyEvent[] {
    // An outside implementation's events are the ones it chose to post (optional in the contract).
    const all = [...this.#orgs.values()].flatMap((o, oi) =>
      (o.outside ? this.#control!.events(messageId).filter((e) => e.actor.startsWith(`${o.id}/`)) : o.organisation.journey.events(messageId)).map((e, i) => ({
        e,
        k: [oi, i] as const,
      })),
    );
    return all.sort((a, b) => a.e.at.localeCompare(b.e.at) || a.k[0] - b.k[0] || a.k[1] - b.k[1]).map((x) => x.e);
  }

  /** Resolves when every org's spools are empty: a sent mail has been delivered, bounced or refused. */
  async waitIdle(timeoutMs = 20_000): Promise<void> {
    // A hop moves a mail from one org's outbound spool into another's inbound spool; three passes
    // cover sender → recipient → DSN back to the sender.
    for (let pass = 0; pass < 3; pass++)
      await Promise.all([...this.#orgs.values()].map((o) => (o.outside ? o.outside.idle(timeoutMs) : o.organisation.idle(timeoutMs))));
  }

  /**
   * Procedure (12): resolves when every SSMAX org's incident desk has handled each registry notice filed
   * before the call (a pass runs after any poll under way), with what the desks concluded for every case
   * they have answered since the world started (by their own poll or by this pass), oldest first per org:
   * look a case up by its `caseId`. Throws on a registry or desk fault. The employee numbers stay inside
   * the orgs.
   */
  async settleIncidents(): Promise<SettledIncident[]> {
    const out: SettledIncident[] = [];
    for (const o of this.#orgs.values()) {
      // An outside implementation answers the registry by itself; its answer is read from the registry's case.
      if (o.outside || o.organisation.security !== 'ssmax') continue;
      await o.organisation.processIncidents();
      for (const f of o.organisation.handledIncidents()) {
        out.push({
          org: o.id,
          caseId: f.caseId,
          messageId: f.messageId,
          cause: f.cause,
          identified: f.identified,
          revokedSerials: f.revokedSerials,
          rootCause: f.rootCause,
        });
      }
    }
    return out;
  }

  /**
   * Fetches `domain`'s org CRL over the simulated network (`http://crl.<domain>/org.crl`, from the
   * `fromActor` address), checks it is signed by the org certificate the registry directory lists for
   * that domain (directory fetched over HTTP too) and returns it parsed. Throws when either fails.
   */
  async fetchCrl(domain: string, fromActor = 'observer'): Promise<FetchedCrl> {
    const localAddress = this.net.address(fromActor);
    const { url, der } = await fetchOrgCrl(this.net, domain, { localAddress });
    const client = new RegistryClient({
      url: this.registry.url,
      rootCertificate: this.registry.rootCertificate,
      localAddress,
      maxAgeSeconds: 0,
      ...(this.clock ? { clock: this.clock } : {}),
    });
    const member = await client.memberByDomain(domain);
    if (!member) throw new SsmaxError('USAGE', `Cannot check the CRL of ${domain}. The registry directory lists no member for that domain.`);
    const crl = parseCrl(der);
    const sig = verifyCrlSignature(crl, new Uint8Array(Buffer.from(member.orgCertificate, 'base64')));
    if (!sig.ok) throw new SsmaxError('BAD_SIGNATURE', `Cannot use the CRL from ${url}. ${sig.reason}.`);
    const norm = (x: string) => x.toLowerCase().replace(/^0+/, '');
    const revokedSerials = crl.revoked.filter((e) => e.reason !== 'removeFromCRL').map((e) => norm(e.serialNumber));
    return { url, orgId: member.orgId, der, crl, revokedSerials, lists: (serial) => revokedSerials.includes(norm(serial)) };
  }

  /** The registry's record of an incident case (`GET /v1/incidents/<caseId>`): state, response, outcome. */
  async incidentCase(caseId: string): Promise<Record<string, unknown>> {
    const res = await fetch(new URL(`/v1/incidents/${encodeURIComponent(caseId)}`, this.registry.url), { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) throw new SsmaxError('IO_ERROR', `Cannot read case ${caseId} at the registry. It answered ${res.status}: ${text.slice(0, 300)}.`);
    return JSON.parse(text) as Record<string, unknown>;
  }

  /** Where each service listens. */
  services(): ServiceListing[] {
    const out: ServiceListing[] = [{ name: 'registry', listen: new URL(this.registry.url).host, protocol: 'http (registry API)' }];
    for (const o of this.#orgs.values()) {
      if (o.outside) {
        out.push(...o.outside.services(), { name: `${o.id}/imap`, listen: `${o.mailbox.host}:${o.mailbox.imapPort}`, protocol: 'imap (password)' });
        continue;
      }
      const e = o.organisation.endpoints;
      out.push({
        name: `${o.id}/msa`,
        host: `${e.msa.host}:${e.msa.port}`,
        listen: `${e.msa.listen.address}:${e.msa.listen.port}`,
        protocol: 'smtp submission (AUTH)',
      });
      out.push({
        name: `${o.id}/mta-in`,
        host: `${e.mx.host}:${e.mx.port}`,
        listen: `${e.mx.listen.address}:${e.mx.listen.port}`,
        protocol: this.profile.starttls ? 'smtp (STARTTLS)' : 'smtp',
      });
      out.push({
        name: `${o.id}/imap`,
        listen: `${o.mailbox.host}:${o.mailbox.imapPort}`,
        protocol: this.profile.mailbox.secondFactor ? 'imap (password:TOTP)' : 'imap (password)',
      });
      if (e.crl)
        out.push({
          name: `${o.id}/crl`,
          host: `${e.crl.host}:${e.crl.port}`,
          listen: `${e.crl.listen.address}:${e.crl.listen.port}`,
          protocol: 'http (org CRL)',
        });
    }
    for (const x of this.#extra)
      out.push({ name: x.service, host: x.service, listen: `${x.endpoint.address}:${x.endpoint.port}`, protocol: 'https (MTA-STS policy)' });
    if (this.clamd) {
      const state = this.clamd.pid !== undefined ? `${this.clamd.version ?? 'ClamAV'}, pid ${this.clamd.pid}` : 'ClamAV, starts on the first scan';
      out.push({ name: 'clamav', listen: `unix:${this.clamd.socketPath}`, protocol: `clamd INSTREAM (${state}; local signatures, no updates)` });
    }
    return out;
  }

  async close(): Promise<void> {
    const { mailboxesStopped } = await this.shutdown();
    await mailboxesStopped;
  }

  /**
   * Stops every service, and resolves as soon as all but the Dovecot masters are stopped and every token
   * and the SoftHSM2 reader are released (so the next world may start in this process), with a promise
   * that resolves when the Dovecot masters have exited too (the storage may be removed after that).
   * Each Dovecot takes about a second to exit after SIGTERM (its master waits for its children): a caller
   * replacing one world by the next need not wait for it. {@link close} waits for everything.
   */
  async shutdown(): Promise<{ readonly mailboxesStopped: Promise<void> }> {
    if (this.#closed) return { mailboxesStopped: this.#mailboxesStopped };
    this.#closed = true;
    let stopped!: (all: Promise<void>) => void;
    // A second caller gets the same promise before the first has asked the mailboxes to stop.
    this.#mailboxesStopped = new Promise<void>((resolve) => (stopped = (all) => void all.then(resolve)));
    for (const u of this.#users.values()) if (u.hasCard) await u.card.close().catch(() => undefined);
    const mailboxes: Promise<void>[] = [];
    await Promise.all(
      [...this.#orgs.values()].map(async (o) => {
        await (o.outside ? o.outside.stop() : o.organisation.close()).catch(() => undefined);
        await o.vaultToken?.close().catch(() => undefined);
        mailboxes.push(o.mailbox.stop().catch(() => undefined));
      }),
    );
    stopped(Promise.all(mailboxes).then(() => undefined));
    for (const x of this.#extra) await x.close().catch(() => undefined);
    await this.#control?.close().catch(() => undefined);
    await this.clamd?.close().catch(() => undefined);
    await this.publicCa?.close().catch(() => undefined);
    await this.registry?.close().catch(() => undefined);
    await this.#registryToken?.close().catch(() => undefined);
    await this.net[Symbol.asyncDispose]();
    await this.hsm.close();
    return { mailboxesStopped: this.#mailboxesStopped };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A random seed for callers that want a fresh world each run. */
export function randomSeed(): number {
  return randomBytes(4).readUInt32BE(0);
}

/** sim-org's `OrgProfile.plus` from the profile's switches. */
function orgPlus(p: PlusSwitches): OrgPlus {
  return {
    pinnedTls: p.pinnedTls,
    headerProtection: p.headerProtection,
    ...(p.freshness ? { freshness: { windowSeconds: p.freshnessWindowSeconds, cacheSize: p.replayCacheSize } } : {}),
    holdSeconds: p.holdSeconds,
    retryWindowSeconds: p.retryWindowSeconds,
  };
}
