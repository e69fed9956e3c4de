/**
 * One organisation (or ESP) as a set of real network services on the simulated network: KMS on a
 * SoftHSM2 token, enrolment with the registry over HTTP (1), MSA (4), outbound worker (5)/(6) with
 * MTA-out, MTA-in (7)/(8) and the delivery worker (9), a durable spool for each direction and the
 * journey log. `Organisation.start` enrols on first start and resumes its spools on every start.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  issueCrl,
  issueUserCertificate,
  newTraceId,
  parseCertificate,
  parseCrl,
  SoftHsmNative,
  SsmaxError,
  type CertificateInfo,
  type IdentityProofingMethod,
  type RevokedEntry,
  type UserCertificateUsage,
} from '@ssmax/core';
import type { ExposedService, SimNet } from '@ssmax/sim-net';
import { ClamdDaemon, type MalwareScanner } from './clamd.js';
import { processInbound } from './delivery.js';
import { crlUrl, startCrlPublisher } from './crl-publisher.js';
import { IncidentDesk, type IncidentBackOffice, type IncidentFinding, type MaliciousMailReport, type MaliciousReportResult } from './incident-desk.js';
import { SimOrgError } from './errors.js';
import { JourneyLog } from './journey.js';
import { Kms } from './kms.js';
import { startMsa, type Msa } from './msa.js';
import { startMtaIn, type MtaIn } from './mta-in.js';
import { processSubmission, spkiPinOf } from './mta-out.js';
import type { MailboxDelivery, OrgContext, OrgProfile, OrgUserDirectory } from './org-context.js';
import { RegistryClient, type EvaluationData } from './registry-client.js';
import { Spool, type SpoolEntry } from './spool.js';
import { createPlusRuntime } from './plus.js';
import {
  cancelSubmission,
  createConventionalRuntime,
  isHeld,
  PasswordUserDirectory,
  processConventionalInbound,
  publishConventionalDns,
  type TlsReportEvent,
} from './conventional.js';
import { processConventionalSubmission } from './mta-out.js';

export interface OrganisationOptions {
  /** Short id used in actor names and token labels, e.g. "org-a". */
  readonly id: string;
  readonly domain: string;
  readonly name?: string;
  readonly mode: 'org' | 'esp';
  readonly net: SimNet;
  /** The registry's URL; required unless `profile.security` is 'conventional' (no registry then). */
  readonly registryUrl?: string;
  /** DER of the registry root, obtained out of band (the trust anchor); required with `registryUrl`. */
  readonly registryRootCert?: Uint8Array;
  readonly storageDir: string;
  readonly profile?: Partial<OrgProfile>;
  readonly clock?: () => Date;
  /** The process's SoftHSM2 reader; default: one opened at `<storageDir>/hsm` (only one per process). */
  readonly hsm?: SoftHsmNative;
  readonly kmsPin?: string;
  readonly kmsSoPin?: string;
  /** The org's users; default a {@link SimpleUserDirectory} (user-registration.ts plugs in here), in conventional mode a {@link PasswordUserDirectory}. */
  readonly users?: OrgUserDirectory;
  /** Where delivered mail goes (mailbox.ts: Dovecot over LMTP). */
  readonly mailbox: MailboxDelivery;
  readonly evaluation?: Partial<EvaluationData>;
  /**
   * Fixed ports for the MTA-in and the MSA (default: any free port), so a process restarted on the same
   * storage answers where its peers and users already send (the chaos harness).
   */
  readonly listenPorts?: { readonly mx?: number; readonly msa?: number };
  /** Do not run the delivery worker (a test kills the process after 250 and restarts it). */
  readonly holdInbound?: boolean;
  /** Seconds a registry document is cached at most (default 60). */
  readonly registryMaxAgeSeconds?: number;
  /**
   * Workers per spool (default 1: one message at a time, in arrival order). More let an org work on
   * several messages at once (their SoftHSM2, scrypt and file I/O overlap); claims stay exclusive
   * (rename), so each message is still processed by one worker at a time.
   */
  readonly spoolWorkers?: number;
  /** Group commit of the spools' directory fsyncs (default true; false only to measure the lever, spool.ts SpoolOptions.groupCommit). */
  readonly spoolGroupCommit?: boolean;
  /** Retry interval of the spool workers in ms (default 1000). */
  readonly retryMs?: number;
  /**
   * How often the incident desk polls the registry outbox for (12) notices once the back office is
   * attached ({@link Organisation.attachBackOffice}), in ms; default 1000, 0 = only when
   * {@link Organisation.processIncidents} is called.
   */
  readonly incidentPollMs?: number;
  /**
   * How the org writes a record into its own domain's DNS for the registry's domain-control challenge
   * (1); default: a TXT record in `net.zone`, the simulated DNS the registry reads. Withdrawn after
   * the registry decided.
   */
  readonly dns?: OrgDnsPublisher;
  /**
   * The malware engine of inbound inspection (8) and of a conventional MX (issue 16). Default: a clamd
   * of the org's own under `<storageDir>/clamd`, started on the first scan and stopped by `close`; a
   * world passes one shared daemon to all its orgs. ESPs never inspect and get none.
   */
  readonly malwareScanner?: MalwareScanner;
}

/** The org's write access to its own zone, as its DNS provider's API would give it. */
export interface OrgDnsPublisher {
  publishTxt(name: string, value: string): Promise<void>;
  withdrawTxt(name: string, value: string): Promise<void>;
}

/** Publishes in the simulated network's zone (where the org's MX and SPF records live too). */
function zonePublisher(net: SimNet): OrgDnsPublisher {
  return {
    publishTxt: async (name, value) => void net.zone.addTxt(name, value),
    withdrawTxt: async (name, value) => void net.zone.remove(name, 'TXT', (v) => (v as string[]).join('') === value),
  };
}

const DEFAULT_PROFILE: OrgProfile = { starttls: true, endToEnd: true };

export function defaultEvaluation(now: Date, domain: string, mode: 'org' | 'esp'): EvaluationData {
  return {
    ismsCertified: true,
    outboundInspection: mode === 'org',
    inboundInspection: mode === 'org',
    kmsOnHsm: true,
    identityProofing: mode === 'esp' ? 'my-number-card+pin' : 'employee-card+pin',
    incidentContact: `csirt@${domain}`,
    lastAudit: { date: new Date(now.getTime() - 30 * 86_400_000).toISOString().slice(0, 10), auditor: 'Audit Co.', findings: [] },
  };
}

/** A registered user as the stand-in directory keeps it. */
export interface SimpleUser {
  readonly address: string;
  readonly password: string;
  readonly signing: CertificateInfo;
  readonly encryption: CertificateInfo;
}

/**
 * The built-in user directory: issues user certificates with the KMS token's org CA key and keeps a
 * CRL. It stands in for user-registration.ts / org-ca.ts (the user side), which implement
 * {@link OrgUserDirectory} with card tokens, identity checks and the sealed trace table.
 */
export class SimpleUserDirectory implements OrgUserDirectory {
  readonly #users = new Map<string, SimpleUser>();
  readonly #revoked: RevokedEntry[] = [];
  #crl: Uint8Array | undefined;
  #crlNumber = 0;

  constructor(
    private readonly kms: Kms,
    private readonly clock: () => Date,
  ) {}

  /** Issues the user's certificate(s) for keys generated on their card, and stores the password. */
  async register(o: {
    address: string;
    password: string;
    signingSpki: Uint8Array;
    encryptionSpki?: Uint8Array;
    proofing?: IdentityProofingMethod;
    traceId?: Uint8Array;
  }): Promise<SimpleUser> {
    const address = o.address.toLowerCase();
    const issue = (spki: Uint8Array, usage: UserCertificateUsage) =>
      issueUserCertificate({
        issuer: { certificate: this.kms.certificates.org, key: this.kms.caKey },
        subjectSpki: spki,
        email: address,
        usage,
        identityProofing: { method: o.proofing ?? 'employeeCardPin', proofedAt: this.clock() },
        traceId: o.traceId ?? newTraceId(),
        now: this.clock,
      });
    const signing = await issue(o.signingSpki, o.encryptionSpki ? 'signing' : 'combined');
    const encryption = o.encryptionSpki ? await issue(o.encryptionSpki, 'encryption') : signing;
    const user = { address, password: o.password, signing, encryption };
    this.#users.set(address, user);
    return user;
  }

  /** Revokes every certificate of `address` (procedure (12)'s corrective action). */
  async revoke(address: string): Promise<void> {
    const u = this.#users.get(address.toLowerCase());
    if (!u) throw new SimOrgError('UNKNOWN_RECIPIENT', `Cannot revoke ${address}. No such user.`);
    for (const c of new Set([u.signing.serialNumber, u.encryption.serialNumber]))
      this.#revoked.push({ serialNumber: c, revocationDate: this.clock(), reason: 'keyCompromise' });
    this.#crl = undefined;
  }

  get(address: string): SimpleUser | undefined {
    return this.#users.get(address.toLowerCase());
  }

  async authenticate(username: string, password: string): Promise<boolean> {
    const u = this.#users.get(username.toLowerCase());
    return u !== undefined && u.password === password;
  }

  async has(address: string): Promise<boolean> {
    return this.#users.has(address.toLowerCase());
  }

  async encryptionCertificate(address: string): Promise<Uint8Array | undefined> {
    return this.#users.get(address.toLowerCase())?.encryption.der;
  }

  async crl(): Promise<Uint8Array | undefined> {
    const now = this.clock();
    if (this.#crl) {
      const next = parseCertificateCrlNext(this.#crl);
      if (next === undefined || next > now.getTime() + 3_600_000) return this.#crl;
    }
    const info = await issueCrl({
      issuer: { certificate: this.kms.certificates.org, key: this.kms.caKey },
      now: this.clock,
      nextUpdateHours: 24,
      crlNumber: ++this.#crlNumber,
      revoked: this.#revoked,
    });
    this.#crl = info.der;
    return info.der;
  }
}

function parseCertificateCrlNext(der: Uint8Array): number | undefined {
  return parseCrl(der).nextUpdate?.getTime();
}

export class Organisation implements AsyncDisposable {
  #closed = false;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #active = { outbound: 0, inbound: 0 };
  readonly #again = new Set<'outbound' | 'inbound'>();
  #workers = 1;

  private constructor(
    readonly ctx: OrgContext,
    readonly msa: Msa,
    readonly mtaIn: MtaIn,
    private readonly exposed: ExposedService[],
    private readonly ownsHsm: SoftHsmNative | undefined,
    readonly users: OrgUserDirectory,
    private readonly ownKms: Kms | undefined,
    /** Procedure (12) (SSMAX mode only). */
    private readonly desk: IncidentDesk | undefined,
    private readonly incidentPollMs: number,
  ) {}

  get id(): string {
    return this.ctx.id;
  }
  get domain(): string {
    return this.ctx.domain;
  }
  get journey(): JourneyLog {
    return this.ctx.journey;
  }
  /** The KMS (SSMAX mode only; throws in conventional mode). */
  get kms(): Kms {
    return this.ctx.kms;
  }
  /** 'ssmax' or 'conventional' (the baseline defence profiles). */
  get security(): 'ssmax' | 'conventional' {
    return this.ctx.conventional ? 'conventional' : 'ssmax';
  }
  /** TLS report results MTA-out recorded (RFC 8460 §4.3 result types); conventional mode with MTA-STS only. */
  get tlsReports(): readonly TlsReportEvent[] {
    return this.ctx.conventional?.tlsReports ?? [];
  }

  /**
   * Hold-then-send (conventional mode with `holdSeconds` > 0): cancels the sender's held mail by its
   * Message-ID. 'cancelled' means it will never be sent; 'too-late' means MTA-out already took it.
   */
  cancelSubmission(messageId: string, sender: string): Promise<'cancelled' | 'too-late' | 'not-found'> {
    return cancelSubmission(this.ctx, messageId, sender);
  }
  get registry(): RegistryClient {
    return this.ctx.registry;
  }
  /** The org id the registry assigned at enrolment. */
  get registryOrgId(): string {
    return this.ctx.registryOrgId;
  }
  /** Where clients reach the services: names (through the sim-net directory) and real endpoints. */
  get endpoints() {
    return {
      msa: { host: `msa.${this.ctx.domain}`, port: 587, listen: this.msa.endpoint },
      mx: { host: this.ctx.mxHost, port: 25, listen: this.mtaIn.endpoint },
      ...(this.desk
        ? {
            crl: {
              url: crlUrl(this.ctx.domain),
              host: `crl.${this.ctx.domain}`,
              port: 80,
              listen: this.exposed.find((e) => e.service === `crl.${this.ctx.domain}:80`)!.endpoint,
            },
          }
        : {}),
    };
  }

  /**
   * Hands the incident desk the org's back office (org CA, sealed trace vault and its opening key), opened
   * after the KMS; from then on the desk handles the registry's (12) notices by itself (poll every
   * `incidentPollMs`) and {@link processIncidents} may be called.
   */
  attachBackOffice(b: IncidentBackOffice): void {
    const desk = this.#desk('attach a back office');
    desk.attachBackOffice(b);
    if (this.incidentPollMs > 0) this.#timers.push(setInterval(() => this.#pollIncidents(), this.incidentPollMs));
  }

  /**
   * Procedure (12), receiving side: a user (or the org's SOC) reports the mail `messageId` as malicious.
   * The org takes the sending domain, the sending org and the sender certificate's serial from its own
   * MTA-in (7) record and files a case with the registry; 'not-reported' when that record is missing or
   * names no sender certificate. Each step is a journey event of `<org>/incident-desk`.
   */
  async reportMalicious(input: MaliciousMailReport): Promise<MaliciousReportResult> {
    const desk = this.#desk(`report ${input.messageId}`);
    if (input.reportedBy !== undefined && !(await this.ctx.users.has(input.reportedBy))) {
      throw new SimOrgError('USAGE', `Cannot report ${input.messageId} for ${input.reportedBy}. That is no user of ${this.ctx.domain}.`);
    }
    return desk.reportFromRecords(input);
  }

  /**
   * Procedure (12), sending side: handles every registry notice still awaiting this org's answer (self-review
   * against the MSA journal, then tracing and revocation when a user of ours sent it) and resolves with the
   * findings of this pass (they stay inside the org: the employee number is among them). Runs after any
   * pass already under way (the poll's too), so every notice filed before the call is handled when it
   * resolves; a case the poll handled first is in {@link handledIncidents}, not in this pass. Throws on
   * registry faults.
   */
  processIncidents(): Promise<IncidentFinding[]> {
    const desk = this.#desk('process incidents');
    if (!desk.canHandle)
      return Promise.reject(new SimOrgError('USAGE', `Cannot process the incidents of ${this.id}. No back office (org CA, trace vault) is attached.`));
    const run = this.#incidents.then(async () => {
      if (this.#closed) return [];
      const found = await desk.handlePending();
      this.#handled.push(...found);
      return found;
    });
    this.#incidents = run.catch(() => undefined);
    return run;
  }

  /** Every case this org's desk has answered since start (poll and explicit passes), oldest first. */
  handledIncidents(): readonly IncidentFinding[] {
    return [...this.#handled];
  }

  readonly #handled: IncidentFinding[] = [];
  #incidents: Promise<unknown> = Promise.resolve();
  #polling = false;

  /** One background pass; a fault is recorded in the journey (the next poll retries the case). */
  #pollIncidents(): void {
    if (this.#closed || this.#polling) return;
    this.#polling = true;
    this.processIncidents()
      .catch((e: unknown) =>
        this.ctx.journey.record({
          messageId: '',
          actor: `${this.id}/incident-desk`,
          procedure: 12,
          checks: [],
          files: 'none',
          outcome: 'deferred',
          detail: `incident poll failed: ${(e as Error).message}`.slice(0, 500),
        }),
      )
      .finally(() => {
        this.#polling = false;
      });
  }

  #desk(what: string): IncidentDesk {
    if (!this.desk) throw new SimOrgError('USAGE', `Cannot ${what} at ${this.id}. The organisation runs in conventional mode (no SSMAX incident desk).`);
    return this.desk;
  }

  static async start(o: OrganisationOptions): Promise<Organisation> {
    const clock = o.clock ?? (() => new Date());
    const profile: OrgProfile = { ...DEFAULT_PROFILE, ...(o.mode === 'esp' ? { inspection: undefined } : {}), ...o.profile };
    if (profile.security === 'conventional') return Organisation.#startConventional(o, profile, clock);
    if (o.registryUrl === undefined || o.registryRootCert === undefined)
      throw new SimOrgError('USAGE', `Cannot start ${o.id}. SSMAX mode needs registryUrl and registryRootCert.`);
    const registryUrl = o.registryUrl;
    await fs.mkdir(o.storageDir, { recursive: true });
    const ownsHsm = o.hsm ? undefined : SoftHsmNative.open({ storageDir: join(o.storageDir, 'hsm') });
    const hsm = o.hsm ?? ownsHsm!;
    const kms = await Kms.open({ hsm, label: `kms-${o.id}`, userPin: o.kmsPin ?? '246810', soPin: o.kmsSoPin ?? '13579111' });
    let ownScanner: ClamdDaemon | undefined;
    try {
      const addresses = orgAddresses(o);
      const registry = new RegistryClient({
        url: registryUrl,
        rootCertificate: o.registryRootCert,
        clock,
        localAddress: addresses.mtaOut,
        maxAgeSeconds: o.registryMaxAgeSeconds ?? 60,
      });
      const registryOrgId = await enrolIfNeeded(o, kms, registry, clock);
      const { ca, mxHost, identity, outbound, inbound, journey } = await openCommon(o, addresses, clock);
      // ssmax-plus addition 1: the MX's TLS key (new at every start) goes into the signed directory, signed with the KMS key.
      if (profile.plus)
        await registry.publishMtaTlsPins(registryOrgId, [spkiPinOf(identity.chainPem)], { key: kms.signingKey, certificate: kms.certificates.signing });
      const users = o.users ?? new SimpleUserDirectory(kms, clock);
      let org: Organisation | undefined;
      const { scanner, owned } = malwareScannerOf(o, o.mode === 'org');
      ownScanner = owned;
      const ctx: OrgContext = {
        id: o.id,
        domain: o.domain.toLowerCase(),
        mode: o.mode,
        net: o.net,
        kms,
        registry,
        users,
        mailbox: o.mailbox,
        outbound,
        inbound,
        journey,
        clock,
        profile,
        registryOrgId,
        addresses,
        mxHost,
        tlsCa: ca.certificatePem,
        kick: (which) => org?.kick(which),
        ...(scanner ? { malwareScanner: scanner } : {}),
        ...(profile.plus ? { plus: createPlusRuntime(profile.plus) } : {}),
      };
      const { msa, mtaIn, exposed } = await startEdges(o, ctx, identity);
      exposed.push(await startCrlPublisher({ net: o.net, domain: ctx.domain, actorOrg: o.id, crl: () => users.crl() }));
      const desk = new IncidentDesk({
        registryUrl,
        orgId: registryOrgId,
        signer: { key: kms.signingKey, certificate: kms.certificates.signing },
        now: clock,
        journey,
        actorOrg: o.id,
        memberByDomain: (d) => registry.memberByDomain(d),
      });
      org = new Organisation(ctx, msa, mtaIn, exposed, ownsHsm, users, kms, desk, o.incidentPollMs ?? 1000);
      org.#ownScanner = ownScanner;
      org.#startWorkers(o);
      return org;
    } catch (e) {
      await ownScanner?.close();
      await kms.close();
      await ownsHsm?.close();
      throw e;
    }
  }

  #holdInbound = false;
  /** The clamd this org started for itself (no scanner was passed in); stopped by close. */
  #ownScanner: ClamdDaemon | undefined;

  /** Conventional mode: the same services without KMS and registry, configured by `profile.conventional`. */
  static async #startConventional(o: OrganisationOptions, profile: OrgProfile, clock: () => Date): Promise<Organisation> {
    await fs.mkdir(o.storageDir, { recursive: true });
    const rt = createConventionalRuntime(profile.conventional);
    const addresses = orgAddresses(o);
    const { ca, mxHost, identity, outbound, inbound, journey } = await openCommon(o, addresses, clock);
    const users = o.users ?? new PasswordUserDirectory();
    let org: Organisation | undefined;
    // The conventional MX inspects attachments in either mode (OrgDefences.inboundInspection).
    const { scanner, owned } = malwareScannerOf(o, true);
    const ctx: OrgContext = {
      id: o.id,
      domain: o.domain.toLowerCase(),
      mode: o.mode,
      net: o.net,
      users,
      mailbox: o.mailbox,
      outbound,
      inbound,
      journey,
      clock,
      profile,
      registryOrgId: '',
      addresses,
      mxHost,
      tlsCa: ca.certificatePem,
      get kms(): Kms {
        return conventionalOnly(o.id, 'KMS');
      },
      get registry(): RegistryClient {
        return conventionalOnly(o.id, 'registry client');
      },
      kick: (which) => org?.kick(which),
      conventional: rt,
      ...(scanner ? { malwareScanner: scanner } : {}),
    };
    let started;
    try {
      started = await startEdges(o, ctx, identity);
    } catch (e) {
      await owned?.close();
      throw e;
    }
    const { msa, mtaIn, exposed } = started;
    publishConventionalDns(ctx, rt);
    if (rt.options.mtaSts !== 'off') {
      // RFC 8461 §3: the policy id changes whenever the policy does; one policy per start is enough here.
      exposed.push(await o.net.serveMtaSts(o.domain, { id: `p${clock().getTime()}`, mode: rt.options.mtaSts, mx: [mxHost], maxAge: 86_400 }));
    }
    org = new Organisation(ctx, msa, mtaIn, exposed, undefined, users, undefined, undefined, 0);
    org.#ownScanner = owned;
    org.#startWorkers(o);
    return org;
  }

  /** Starts the spool workers: a retry timer per spool (inbound held when asked) and one immediate run. */
  #startWorkers(o: { readonly retryMs?: number; readonly holdInbound?: boolean; readonly spoolWorkers?: number }): void {
    const retry = o.retryMs ?? 1000;
    this.#workers = Math.max(1, Math.floor(o.spoolWorkers ?? 1));
    this.#timers.push(setInterval(() => this.kick('outbound'), retry));
    if (!o.holdInbound) this.#timers.push(setInterval(() => this.kick('inbound'), retry));
    this.#holdInbound = o.holdInbound === true;
    this.kick('outbound');
    this.kick('inbound');
  }

  /**
   * Starts a worker on one spool unless `spoolWorkers` already run there; then the kick is remembered and
   * served when one of them finishes (coalescing concurrent kicks).
   */
  kick(which: 'outbound' | 'inbound'): void {
    if (this.#closed || (which === 'inbound' && this.#holdInbound)) return;
    if (this.#active[which] >= this.#workers) {
      this.#again.add(which);
      return;
    }
    this.#active[which]++;
    const run: Promise<void> = this.#drain(which).finally(() => {
      this.#active[which]--;
      this.#running.delete(run);
      if (this.#again.delete(which)) this.kick(which);
    });
    this.#running.add(run);
  }

  /** Resolves when both spools are empty and no worker runs (tests wait on this). */
  async idle(timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      await Promise.all([...this.#running]);
      const outbound = await this.ctx.outbound.list('incoming');
      // Mail in its hold-then-send window is not work to wait for: only the clock (or a cancel) moves it.
      const due =
        this.ctx.conventional || this.ctx.plus
          ? await filterAsync(
              outbound,
              async (id) =>
                !isHeld(this.ctx, (await this.ctx.outbound.read(id, 'incoming').catch(() => undefined))?.envelope.meta as { notBefore?: string } | undefined),
            )
          : outbound;
      const pending = [...due, ...(this.#holdInbound ? [] : await this.ctx.inbound.list('incoming'))];
      if (pending.length === 0 && this.#running.size === 0) return;
      if (Date.now() > end)
        throw new SimOrgError('USAGE', `Cannot wait for ${this.id} to be idle. ${pending.length} message(s) still queued after ${timeoutMs} ms.`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #drain(which: 'outbound' | 'inbound'): Promise<void> {
    const spool = which === 'outbound' ? this.ctx.outbound : this.ctx.inbound;
    const seen = new Set<string>();
    for (;;) {
      if (this.#closed) return;
      const entry: SpoolEntry | undefined = await spool.claim('incoming');
      if (!entry) return;
      if (seen.has(entry.id)) {
        await spool.move(entry.id, 'incoming');
        return;
      }
      seen.add(entry.id);
      try {
        const conventional = this.ctx.conventional !== undefined;
        if (which === 'outbound') {
          const r = conventional ? await processConventionalSubmission(this.ctx, entry) : await processSubmission(this.ctx, entry);
          await spool.move(
            entry.id,
            r === 'retry' ? 'incoming' : (conventional || this.ctx.plus) && (await spool.isDone(entry.id, 'cancelled')) ? 'bounced' : 'delivered',
          );
        } else if (conventional) {
          await processConventionalInbound(this.ctx, entry);
          await spool.move(entry.id, 'delivered');
        } else {
          await processInbound(this.ctx, entry);
          await spool.move(entry.id, 'delivered');
        }
      } catch (e) {
        // Hostile content (malformed or undecryptable) will fail the same way on every retry: park it as bounced.
        const poison = e instanceof SsmaxError && (e.category === 'malformed' || e.category === 'verdict');
        await this.ctx.journey.record({
          messageId: String((entry.envelope.meta as { messageId?: string } | undefined)?.messageId ?? ''),
          actor: `${this.id}/${which}-worker`,
          procedure: which === 'outbound' ? 6 : 9,
          checks: [],
          files: 'ciphertext',
          outcome: poison ? 'bounced' : 'deferred',
          detail: (e as Error).message.slice(0, 500),
        });
        await spool.move(entry.id, poison ? 'bounced' : 'incoming');
        if (!poison) return;
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await Promise.allSettled([...this.#running, this.#incidents]);
    await Promise.allSettled(this.exposed.map((e) => e.close()));
    await Promise.allSettled([this.msa.close(), this.mtaIn.close()]);
    await this.ctx.journey.flush();
    await this.#ownScanner?.close();
    await this.ownKms?.close();
    await this.ownsHsm?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The scanner an inspecting org uses: the one passed in, else a clamd of its own (started on first scan). */
function malwareScannerOf(o: OrganisationOptions, inspects: boolean): { scanner?: MalwareScanner; owned?: ClamdDaemon } {
  if (o.malwareScanner) return { scanner: o.malwareScanner };
  if (!inspects) return {};
  const owned = new ClamdDaemon({ dir: join(o.storageDir, 'clamd') });
  return { scanner: owned, owned };
}

/** The org's own addresses on the simulated network: MSA, MTA-in and MTA-out. */
function orgAddresses(o: OrganisationOptions): OrgContext['addresses'] {
  return { msa: o.net.address(`${o.id}/msa`), mtaIn: o.net.address(`${o.id}/mta-in`), mtaOut: o.net.address(`${o.id}/mta-out`) };
}

/** What every org opens, whatever its security: the TLS identity of its MX and MSA, its durable spools (recovered) and its journey log. */
async function openCommon(o: OrganisationOptions, addresses: OrgContext['addresses'], clock: () => Date) {
  const ca = await o.net.ca();
  const mxHost = `mx.${o.domain.toLowerCase()}`;
  const identity = await ca.issueServerCertificate([mxHost, `msa.${o.domain}`, addresses.mtaIn, addresses.msa]);
  const spoolOptions = o.spoolGroupCommit === false ? { groupCommit: false } : {};
  const outbound = await Spool.open(join(o.storageDir, 'spool', 'outbound'), spoolOptions);
  const inbound = await Spool.open(join(o.storageDir, 'spool', 'inbound'), spoolOptions);
  await outbound.recover();
  await inbound.recover();
  const journey = new JourneyLog(join(o.storageDir, 'journey.jsonl'), clock);
  return { ca, mxHost, identity, outbound, inbound, journey };
}

/** Starts the MSA and the MTA-in with the org's TLS identity and publishes them: `mx.<domain>:25` (with the MX record) and `msa.<domain>:587`. */
async function startEdges(o: OrganisationOptions, ctx: OrgContext, identity: { readonly privateKeyPem: string; readonly chainPem: string }) {
  const tls = { key: identity.privateKeyPem, cert: identity.chainPem };
  const msa = await startMsa(ctx, tls, o.listenPorts?.msa);
  const mtaIn = await startMtaIn(ctx, { tls, ...(o.listenPorts?.mx !== undefined ? { port: o.listenPorts.mx } : {}) });
  const exposed: ExposedService[] = [
    await o.net.expose({ host: ctx.mxHost, port: 25, target: mtaIn.endpoint }),
    await o.net.expose({ host: `msa.${o.domain}`, port: 587, target: msa.endpoint }),
  ];
  o.net.zone.addMx(o.domain, ctx.mxHost, 10);
  return { msa, mtaIn, exposed };
}

async function filterAsync<T>(items: readonly T[], keep: (t: T) => Promise<boolean>): Promise<T[]> {
  const out: T[] = [];
  for (const t of items) if (await keep(t)) out.push(t);
  return out;
}

function conventionalOnly(id: string, what: string): never {
  throw new SimOrgError('USAGE', `Cannot use the ${what} of ${id}. The organisation runs in conventional mode (no SSMAX ${what}).`);
}

async function enrolIfNeeded(o: OrganisationOptions, kms: Kms, registry: RegistryClient, clock: () => Date): Promise<string> {
  const statePath = join(o.storageDir, 'org.json');
  const state = await fs.readFile(statePath, 'utf8').then(
    (t) => JSON.parse(t) as { registryOrgId: string },
    () => undefined,
  );
  if (state && kms.enrolled) return state.registryOrgId;
  const domains = [o.domain.toLowerCase()];
  // (1) Proof of domain control: the registry's token for our org CA key, published in our own zone.
  const challenges = await registry.domainChallenges(domains, kms.caKey.spki);
  const dns = o.dns ?? zonePublisher(o.net);
  let res;
  try {
    for (const c of challenges) await dns.publishTxt(c.txtName, c.txtValue);
    const app = await RegistryClient.buildApplication(kms, {
      name: o.name ?? o.id,
      domains,
      mode: o.mode,
      evaluation: { ...defaultEvaluation(clock(), o.domain, o.mode), ...o.evaluation },
      domainChallenges: challenges.map((c) => c.id),
    });
    res = await registry.enrol(app);
  } finally {
    for (const c of challenges) await dns.withdrawTxt(c.txtName, c.txtValue);
  }
  if (res.decision !== 'admitted' || !res.orgId || !res.certificates) {
    throw new SimOrgError(
      'USAGE',
      `Cannot start ${o.id}. The registry refused enrolment: ${res.failedCriteria.map((c) => `${c.id} (${c.reason})`).join('; ')}.`,
    );
  }
  const root = new Uint8Array(Buffer.from(res.certificates.root, 'base64'));
  if (!o.registryRootCert || !Buffer.from(root).equals(Buffer.from(o.registryRootCert))) {
    throw new SimOrgError('USAGE', `Cannot start ${o.id}. The registry answered with a root certificate other than the configured trust anchor.`);
  }
  const orgCert = new Uint8Array(Buffer.from(res.certificates.org, 'base64'));
  parseCertificate(orgCert);
  await kms.storeCertificates({ root, org: orgCert });
  const { signing, encryption } = await kms.issueKmsCertificates(clock);
  await registry.registerKms(res.orgId, signing.der, encryption.der);
  await fs.writeFile(statePath, JSON.stringify({ registryOrgId: res.orgId }), { mode: 0o600 });
  return res.orgId;
}
