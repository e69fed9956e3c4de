/**
 * The real {@link CellExecutor}: runs one scenario under one defence profile in a real {@link World}
 * (registry, orgs, Dovecot mailboxes, SoftHSM2 cards on the simulated network), drives the honest
 * sender and the attacker (sim-attacker, with only the foothold the scenario grants), and MEASURES the
 * cell from observations: the recipient's user agent over IMAP, the journey, the attacker's `obtained`
 * items and the wire tap, the incident desks of procedure (12). Expected values are never read.
 *
 * One world at a time (SoftHSM2 reads its configuration once per process): the world of a profile is
 * reused by the next cell of the same profile and rebuilt when the profile changes or when a cell left
 * state a later cell must not see (see {@link needsFreshWorldAfter}). Run cells grouped by profile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { authenticate } from 'mailauth';
import { randomBytes } from 'node:crypto';
import { Oids, SoftwareKey, SsmaxError, buildMimeEntity, buildMultipartSigned, buildPkcs7Mime, decryptContent, encryptContent, getHeader, signSignedData, parseCertificate, readZip, looksLikeZip, parseMimeEntity, parseSmime, requestMailboxCertificate, type CertificateInfo } from '@ssmax/core';
import { CardObjects, IncidentDesk, conventionalProfile, assembleMixed, buildFilePart, classifyParts, orgHop, type IdentityNotice, type MailVerdict } from '@ssmax/sim-org';
import {
  LookAlikeDomain,
  OnPathMta,
  OutcomeRecorder,
  attackerContext,
  capturePassively,
  leakLevel,
  composeMail,
  messageIdOf,
  plantForwardingRule,
  readMailboxWithStolenPassword,
  readSmtpTranscript,
  replayCapturedMail,
  sendAsInsider,
  sendAsUserViaMalware,
  sendSpoofedDirect,
  sendRewrapped,
  sendViaTakenOverServer,
  spoofColleague,
  useStolenCard,
  type AttackOutcome,
  type AttackerContext,
  type ObtainedItem,
} from '@ssmax/sim-attacker';
import { World, type WorldUser } from '../world.js';
import { composeSmime, directoryLookup, readSmimeMessage, type SmimeIdentity, type SmimeMailView, type SmimeReading } from '../smime-client.js';
import { transport } from '../conventional-client.js';
import { fetchInbox } from '../imap-fetch.js';
import { getProfile } from '../profiles.js';
import type { CellContext, CellExecutor, CellRun, IdentityShown, JourneyEvent, Leak, Outcome, Scenario, Traced, Verdict } from '../runner/types.js';
import { makePayload, type Payload } from './payload.js';
import { dmarcPassed, filesReadable, openAll, payloadFilesIn, readMail, reputationSuspicious, statedPasswords, type ReadMail } from './conventional.js';
import { MATRIX_WORLD, partyAddress } from './matrix-world.js';

/** Options of {@link createMatrixExecutor}. */
export interface MatrixExecutorOptions {
  /** Parent directory for world storage (default a new temp dir, removed on close). */
  readonly storageDir?: string;
  /** World seed (address plan, generated secrets); default the matrix world's. */
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Spool retry interval (ms) of the orgs. */
  readonly retryMs?: number;
}

interface Party {
  readonly role: 'member-org-user' | 'esp-user' | 'non-member';
  readonly org?: string;
  readonly user?: string;
}

interface Step {
  readonly capability: string;
  readonly params?: Record<string, unknown>;
}

interface ScenarioData extends Scenario {
  readonly sender: Party;
  readonly recipient: Party;
  readonly mistake?: { kind: string; actualRecipient: Party; noticedWithinCancelWindow: boolean };
  readonly attacker: { foothold: string; steps: Step[] } | null;
  readonly setup?: { receivingMtaStarttls?: boolean };
  readonly payload: { files?: { kind: string; name: string }[]; body?: string };
  readonly reportedAsMalicious?: boolean;
}

const LEAK_ORDER: readonly Leak[] = ['none', 'metadata', 'body', 'files'];
const maxLeak = (a: Leak, b: Leak): Leak => (LEAK_ORDER.indexOf(a) >= LEAK_ORDER.indexOf(b) ? a : b);

/**
 * Cells after which the world must be rebuilt whatever happened: a stolen card locks; a planted
 * forwarding rule stays; setup overrides change services. Procedure (12) marks the world dirty only
 * when an incident desk actually handled a case (revocation, registry re-evaluation (13)). Everything
 * else (mail in mailboxes, journeys) is told apart by message id and marker.
 */
export function needsFreshWorldAfter(s: Scenario): boolean {
  const d = s as ScenarioData;
  return d.setup !== undefined || (d.attacker?.steps ?? []).some((x) => ['stolen-card', 'forwarding-rule'].includes(x.capability));
}

/** A scenario needs a world built for it (not one reused from an earlier cell). */
export function needsFreshWorldBefore(s: Scenario): boolean {
  return (s as ScenarioData).setup !== undefined;
}

function contains(hay: Uint8Array | undefined, needle: Uint8Array): boolean {
  return hay !== undefined && Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
}

/** How much of this cell's honest mail the obtained items reveal, by content (not by label). */
function measureLeak(items: readonly ObtainedItem[], payload: Payload): Leak {
  let leak: Leak = 'none';
  const enc = new TextEncoder();
  for (const it of items) {
    if (it.kind === 'credentials' || !it.bytes) continue;
    const bytes = it.bytes;
    // A file counts only if its plaintext is readable: an encrypted archive or CMS blob is not.
    if (payload.files.some((f) => contains(bytes, f.zip ? f.zip.inner : f.content))) leak = maxLeak(leak, 'files');
    else if (contains(bytes, enc.encode(payload.bodyMarker)) || (looksLikeBase64Body(bytes, payload.bodyMarker))) leak = maxLeak(leak, 'body');
    else if (contains(bytes, enc.encode(payload.subjectMarker))) leak = maxLeak(leak, 'metadata');
  }
  return leak;
}

/** Bodies travel base64 in SSMAX mail (RFC 8551 §3.1.1): decode base64 runs and look again. */
function looksLikeBase64Body(bytes: Uint8Array, marker: string): boolean {
  const text = Buffer.from(bytes).toString('latin1');
  for (const m of text.matchAll(/(?:[A-Za-z0-9+/]{4,}\r?\n?)+={0,2}/g)) {
    if (m[0].length < 16) continue;
    if (Buffer.from(m[0].replace(/\s+/g, ''), 'base64').toString('utf8').includes(marker)) return true;
  }
  return false;
}

/** A file as the recipient can open it (`ok`: decrypted and, in SSMAX mail, verified). */
interface UsableFile {
  readonly ok: boolean;
  readonly content?: Uint8Array;
}

/** The malicious bytes reached the recipient usable: the file decrypted on the card, the archive opened with the known password. */
function malwareIn(usable: readonly UsableFile[], payload: Payload, password: string | undefined): boolean {
  for (const f of usable) {
    const data = f.content;
    if (!f.ok || !data) continue;
    for (const p of payload.files.filter((x) => x.malicious)) {
      if (!p.zip) {
        if (Buffer.compare(Buffer.from(data), Buffer.from(p.content)) === 0) return true;
        continue;
      }
      if (!looksLikeZip(data) || password === undefined) continue;
      try {
        const z = readZip(data);
        for (const e of z.entries) if (!e.isDirectory && contains(z.read(e, e.encrypted ? { password } : {}), p.zip.inner)) return true;
      } catch {
        // not openable with the known password: not usable
      }
    }
  }
  return false;
}

class MatrixExecutor implements CellExecutor {
  #world: World | undefined;
  #profile: string | undefined;
  #dirty = false;
  #n = 0;
  readonly #root: string;
  readonly #ownRoot: boolean;

  constructor(private readonly o: MatrixExecutorOptions) {
    this.#ownRoot = o.storageDir === undefined;
    this.#root = o.storageDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-matrix-'));
    fs.mkdirSync(this.#root, { recursive: true });
    // Dovecot's unprivileged mail processes must traverse every ancestor of the mail directories.
    for (let d = this.#root; d !== path.dirname(d) && d.startsWith(os.tmpdir() + path.sep); d = path.dirname(d)) fs.chmodSync(d, 0o711);
    fs.chmodSync(this.#root, 0o711);
  }

  /** Simulated-clock lead over real time, for hold-then-send (conventional worlds only). */
  #lead = 0;

  async #worldFor(profile: string, fresh: boolean, ctx: CellContext, withoutStarttls: readonly string[] = []): Promise<World> {
    if (this.#world && this.#profile === profile && !this.#dirty && !fresh) return this.#world;
    await this.#closeWorld();
    const dir = path.join(this.#root, `w${++this.#n}-${profile}`);
    const t0 = Date.now();
    this.#world = await World.create(MATRIX_WORLD, { storageDir: dir, profile, seed: this.o.seed ?? MATRIX_WORLD.seed ?? 1, retryMs: this.o.retryMs ?? 100, ...(withoutStarttls.length > 0 ? { withoutStarttls } : {}), ...(getProfile(profile).kind === 'conventional' ? { clock: this.#clock } : {}) });
    this.#profile = profile;
    this.#dirty = false;
    ctx.log(`world ${profile} built in ${Date.now() - t0} ms`);
    return this.#world;
  }

  readonly #clock = Object.assign(() => new Date(Date.now() + this.#lead), { advance: (ms: number) => void (this.#lead += ms) });

  async #closeWorld(): Promise<void> {
    const w = this.#world;
    this.#world = undefined;
    if (w) {
      await w.close();
      fs.rmSync(w.storageDir, { recursive: true, force: true });
    }
  }

  async run(scenario: Scenario, profile: string, ctx: CellContext): Promise<CellRun> {
    const s = scenario as ScenarioData;
    // setup.receivingMtaStarttls: false — the recipient's org is a legacy peer without STARTTLS.
    const legacy = s.setup?.receivingMtaStarttls === false && s.recipient.org ? [s.recipient.org] : [];
    const world = await this.#worldFor(profile, needsFreshWorldBefore(s), ctx, legacy);
    const state = { changed: false };
    try {
      return await runCell(world, s, ctx, state);
    } finally {
      // (12) only changes the world (revocation, registry re-evaluation (13)) when a desk acted on it.
      if (needsFreshWorldAfter(s) || state.changed) this.#dirty = true;
    }
  }

  async close(): Promise<void> {
    await this.#closeWorld();
    if (this.#ownRoot) fs.rmSync(this.#root, { recursive: true, force: true });
  }
}

/** Creates the executor `ssmax run` and `npm start` use. */
export function createMatrixExecutor(options: MatrixExecutorOptions = {}): CellExecutor {
  return new MatrixExecutor(options);
}

/** The MX of a non-member domain: accepts everything and keeps it (the outside world's mail server). */
async function nonMemberMx(world: World, domain: string): Promise<{ received: Uint8Array[]; dmarcPass: Map<Uint8Array, string>; close: () => Promise<void> }> {
  const received: Uint8Array[] = [];
  // Like any receiving MTA today, it checks SPF/DKIM/DMARC (RFC 7489) with the real client address.
  const dmarcPass = new Map<Uint8Array, string>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = new Uint8Array(Buffer.concat(chunks));
        received.push(raw);
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        authenticate(Buffer.from(raw), { ip: session.remoteAddress, helo: session.hostNameAppearsAs, sender: mailFrom, mta: `mx.${domain}`, resolver: world.net.resolver as never, disableArc: true, disableBimi: true })
          .then((r) => {
            if (r.dmarc && r.dmarc.status.result === 'pass') dmarcPass.set(raw, String((r.dmarc as { domain?: string }).domain ?? ''));
          })
          .catch(() => undefined)
          .finally(() => cb());
      });
    },
  });
  const address = world.net.address(`${domain}/mx`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  const host = `mx.${domain}`;
  const exposed = await world.net.expose({ host, port: 25, target: { address, port } });
  world.net.zone.addMx(domain, host, 10);
  return {
    received,
    dmarcPass,
    close: async () => {
      await exposed.close();
      world.net.zone.remove(domain, 'MX');
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function readInbox(world: World, u: WorldUser): Promise<MailVerdict[]> {
  const totp = u.totpCode(new Date()); // Dovecot checks the code against real time (RFC 6238), not the world clock
  return u.inbox({ password: u.password, pin: u.pin, ...(totp !== undefined ? { totp } : {}) });
}

function attackerEvent(messageId: string, o: AttackOutcome, at: string): JourneyEvent {
  return {
    messageId,
    actor: `attacker/${o.capability}`,
    procedure: 0,
    at,
    checks: o.error ? [{ name: o.capability, result: 'fail', detail: `${o.error.code}: ${o.error.message}` }] : [{ name: o.capability, result: 'pass' }],
    payload: leakLevel(o) === 'files' ? 'plaintext' : 'none',
    note: o.actions.join('; ').slice(0, 2000),
    outcome: o.error ? 'failed' : o.sent ? `sent: ${o.sent.smtpReply}` : 'done',
  };
}

/** Runs one cell in `world` and measures its outcome. */
async function runCell(world: World, s: ScenarioData, ctx: CellContext, state: { changed: boolean }): Promise<CellRun> {
  const marker = `${s.id.slice(0, 12)}-${ctx.seed.toString(16)}`;
  const payload = makePayload(s.payload, marker);
  const files = payload.files.map((f) => ({ name: f.name, contentType: f.contentType, content: f.content }));
  const attachments = payload.files.map((f) => ({ filename: f.name, contentType: f.contentType, content: f.content }));
  const now = () => world.clock?.() ?? new Date();
  const outcomes: AttackOutcome[] = [];
  // Files an on-path attacker swapped in: if they reach the recipient usable, malware reached it.
  const swapped: Payload['files'][number][] = [];
  const obtained: ObtainedItem[] = [];
  const closers: (() => Promise<void>)[] = [];
  const tapSince = new Date();
  const senderAddr = partyAddress(s.sender);
  const recipientAddr = partyAddress(s.recipient, 'info');
  const intended = s.mistake?.actualRecipient ?? s.recipient;
  const targetAddr = partyAddress(intended, 'info');
  let messageId: string | undefined;
  let notSent = false;
  let refusedByReceiver = false;
  let composedId: string | undefined;
  let replayedSameId = false;
  let nonMember: Awaited<ReturnType<typeof nonMemberMx>> | undefined;
  // Domains run by honest parties (the world's orgs, a legitimate outside sender): DMARC-authenticated
  // mail from them can be traced to that operator's logs; an attacker's own domain answers to nobody.
  const honestDomains = new Set(world.orgs().map((o) => o.domain.toLowerCase()));
  if (intended.role === 'non-member') {
    nonMember = await nonMemberMx(world, targetAddr.split('@')[1]!);
    closers.push(nonMember.close);
  }
  const att: AttackerContext = attackerContext(world.net, { now });
  const steps = s.attacker?.steps ?? [];
  const smimeWorld = world.profile.conventional?.attachments === 'smime-e2e';
  // smime-e2e: an outside mailbox the attacker owns gets a certificate as anyone would (mailbox
  // validation by DNS in the domain it holds); the key stays with that mailbox's owner.
  let outsideIdentity: SmimeIdentity | undefined;
  const ownedOutside = steps.map((st) => String(st.params?.['to'] ?? '').toLowerCase()).find((a) => a.endsWith(`@${targetAddr.split('@')[1]!.toLowerCase()}`));
  if (smimeWorld && nonMember && ownedOutside) {
    const key = SoftwareKey.generate('EC-P256');
    const got = await requestMailboxCertificate(world.publicCa.endpoint(att.address), { email: ownedOutside, spki: key.spki, publishTxt: (n, v) => void world.net.zone.addTxt(n, v) });
    outsideIdentity = { key, certificate: parseCertificate(got.certificate) };
  }
  // smime-e2e replay to another recipient: the attacker is a legitimate recipient at another org
  // ("<org>/mailbox"), so the honest mail goes to it, and it re-encrypts the signed part for Bob.
  const replayStep = steps.find((st) => st.capability === 'replay');
  const replayOrg = String(replayStep?.params?.['capturedAt'] ?? '').match(/^([a-z0-9-]+)\/mailbox$/)?.[1];
  const legitRecipient = smimeWorld && replayOrg && replayOrg !== s.recipient.org ? `eve@${world.org(replayOrg).domain}` : undefined;
  try {
    // Footholds that must be in place before the honest mail moves.
    for (const st of steps) {
      const p = st.params ?? {};
      if (st.capability === 'on-path-mta') {
        const svc = String(p['service'] ?? '');
        const orgId = svc.split('/')[0]!;
        const service = `mx.${world.org(orgId).domain}:25`;
        const tamper = p['tamper'] as { kind: string; replacement?: string } | undefined;
        let mta: OnPathMta;
        if (tamper?.kind === 'swap') {
          const r = makePayload({ files: [{ kind: String(tamper.replacement), name: payload.files[0]?.name ?? 'file' }] }, `${marker}-swap`).files[0]!;
          swapped.push(r);
          mta = OnPathMta.insert(
            att,
            { kind: 'on-path', service },
            {
              tamper: {
                kind: 'swap',
                replacement: { content: r.content, filename: r.name, contentType: r.contentType },
                // PPAP: re-zip the attacker's file under the password the second mail gives away.
                ...(r.zip ? { rezip: { entries: [{ name: r.zip.innerName, data: r.zip.inner }] } } : {}),
                // S/MIME: it cannot sign as the sender, so it encrypts its own unsigned content to the
                // recipient's public certificate (the CA's directory is public).
                smime: { recipientCertificate: (a: string) => directoryLookup(world.publicCa.endpoint(att.address), a), ...(r.zip ? { password: r.zip.password } : {}) },
              },
            },
          );
        } else mta = OnPathMta.insert(att, { kind: 'on-path', service });
        closers.push(async () => {
          // A store-and-forward relay may still hold or be relaying a mail: let it finish first.
          await mta.settled();
          await world.waitIdle();
          outcomes.push(mta.outcome());
          mta[Symbol.dispose]();
        });
      } else if (st.capability === 'forwarding-rule') {
        const account = String(p['account']);
        const victim = world.user(account);
        const o = await plantForwardingRule(
          { kind: 'stolen-password', imap: { host: victim.org.mailbox.host, port: victim.org.mailbox.imapPort }, user: account, password: victim.password, rules: victim.org.mailbox },
          { forwardTo: String(p['forwardTo']) },
        );
        outcomes.push(o);
        if (!o.error) {
          const fwd = await nonMemberMx(world, String(p['forwardTo']).split('@')[1]!);
          closers.push(async () => {
            for (const raw of fwd.received) obtained.push({ kind: 'body', bytes: raw, note: 'forwarded copy' });
            await fwd.close();
          });
        }
      }
    }

    // The mail that carries the files.
    const passive = (x: Step) => ['on-path-mta', 'passive-capture', 'stolen-password-imap', 'forwarding-rule', 'replay', 'rewrap-signed'].includes(x.capability) || (x.capability === 'org-server-takeover' && x.params?.['readPassingMail'] === true);
    const sendHonest = !s.attacker || steps.every(passive);
    if (sendHonest && s.sender.role === 'non-member') {
      // A legitimate outside party in no scheme: its own domain with SPF/DKIM/DMARC, no S/MIME
      // (scenarios/README.md). Its own send is not an attack outcome.
      const own = attackerContext(world.net, { now });
      const d = await LookAlikeDomain.register(own, { domain: senderAddr.split('@')[1]! });
      honestDomains.add(d.domain.toLowerCase());
      const o = await d.send({ fromLocal: senderAddr.split('@')[0]!, to: targetAddr, smime: false, subject: payload.subject, text: payload.body, attachments });
      if (o.sent) messageId = o.sent.messageId;
      else if (o.error?.code === 'SMTP_REJECTED') refusedByReceiver = true;
      else if (o.error) throw new SsmaxError('INTERNAL', `Cannot send as the non-member ${senderAddr}. ${o.error.message}`);
    } else if (sendHonest) {
      const sender = world.user(senderAddr);
      try {
        const r = await sender.send({ to: legitRecipient ?? targetAddr, subject: payload.subject, body: payload.body, files, pin: sender.pin });
        messageId = r.messageId;
      } catch (e) {
        if (e instanceof SsmaxError && e.category === 'infrastructure') throw e;
        notSent = true;
        ctx.log(`submission refused: ${(e as Error).message}`);
      }
    }
    for (const st of steps) {
      const p = st.params ?? {};
      const to = String(p['to'] ?? recipientAddr);
      const mail = { subject: payload.subject, text: payload.body, attachments };
      let o: AttackOutcome | undefined;
      switch (st.capability) {
        case 'spoof-direct':
          o = await sendSpoofedDirect(att, { spoofedFrom: String(p['spoofedFrom']), to, ...mail });
          break;
        case 'look-alike-domain': {
          const smime = p['smime'] !== undefined && p['smime'] !== 'none';
          const d = await LookAlikeDomain.register(att, {
            domain: String(p['domain']),
            ...(smime ? { smimeLocalPart: String(p['fromLocal'] ?? 'info') } : {}),
            // A certificate from the public CA every mail client trusts, obtained by proving control of the domain.
            ...(p['smime'] === 'public-ca' ? { publicCa: world.publicCa.endpoint(att.address) } : {}),
          });
          // The registrar's record of the attacker's domain (ageDays before now): what reputation scores.
          if (typeof p['ageDays'] === 'number') world.recordDomainRegistration(d.domain, new Date(now().getTime() - p['ageDays'] * 86_400_000));
          if (p['smime'] === 'own-ca' && d.pki && world.profile.kind === 'ssmax') {
            // Dressed up as SSMAX: signed under the attacker's own "org" CA and marked as an SSMAX hop,
            // so the receiving MTA-in must verify it (7) rather than treat it as outside mail.
            const from = `${String(p['fromLocal'] ?? 'info')}@${d.domain}`;
            const inner = buildMimeEntity({ text: payload.body, attachments });
            const sig = await signSignedData(inner, { key: d.pki.userKey, certificate: d.pki.user.der, chain: d.pki.chain, detached: true, signingTime: now() });
            const raw = buildMultipartSigned(inner, sig, { headers: { from, to: [to], subject: payload.subject, date: now(), messageId: `<${randomBytes(12).toString('hex')}@${d.domain}>`, extra: [{ name: 'X-SSMAX-Hop', value: '1' }] } });
            o = await sendSpoofedDirect(att, { spoofedFrom: from, to, raw });
            o = { ...o, capability: 'look-alike-domain', actions: [...d.setupActions, 'shaped the mail as an SSMAX hop (X-SSMAX-Hop: 1) signed under its own CA', ...o.actions] };
            break;
          }
          o = await d.send({ fromLocal: String(p['fromLocal'] ?? 'info'), ...(p['displayName'] ? { displayName: String(p['displayName']) } : {}), to, smime, ...mail });
          break;
        }
        case 'org-server-takeover': {
          if (p['readPassingMail'] === true) break; // acts after the honest mail passed (below)
          const org = world.org(senderAddr.split('@')[1] === 'org-a.example' ? 'org-a' : s.sender.org!);
          if (p['signWithKms'] === true && world.profile.kind === 'ssmax') {
            const forged = await forgeOrgHop(world, org.id, { from: String(p['from'] ?? senderAddr), to, subject: payload.subject, text: payload.body, files }, now);
            composedId = forged.messageId;
            o = forged.outcome;
            break;
          }
          // Conventional orgs have no KMS: the attacker has the mail host alone.
          const kms = p['signWithKms'] === true && world.profile.kind === 'ssmax' ? org.organisation.kms : undefined;
          const ctxAt = attackerContext(world.net, { address: org.organisation.ctx.addresses.mtaOut, heloName: `mta-out.${org.domain}`, now });
          const mx = { host: `mx.${recipientAddr.split('@')[1]}`, port: 25 };
          let rawMail: Uint8Array | undefined;
          o = await sendViaTakenOverServer(
            ctxAt,
            { kind: 'org-mail-server', smtpSubmit: mx, ...(kms ? { kmsSign: { key: kms.signingKey, certificate: kms.certificates.signing, chain: [kms.certificates.org] } } : {}) },
            {
              from: String(p['from'] ?? senderAddr),
              to,
              signWithKms: kms !== undefined,
              ...mail,
              // Conventional: the mail written here (as sim-attacker would) so its Message-ID is known even
              // when the receiving MTA refuses it in the session, and its journey can be read.
              ...(world.profile.kind === 'conventional' ? { raw: (rawMail = composeMail({ from: String(p['from'] ?? senderAddr), to: [to], subject: mail.subject, text: mail.text, attachments: mail.attachments, date: now() })) } : {}),
            },
          );
          if (rawMail) composedId = messageIdOf(rawMail);
          break;
        }
        case 'spoof-colleague': {
          const account = world.user(String(p['account']));
          const msa = world.net.connectOptions(att.address, `msa.${account.org.domain}`, 587);
          o = await spoofColleague(att, { kind: 'org-account', smtpSubmit: { host: `msa.${account.org.domain}`, port: 587 }, user: account.address, password: account.password }, { colleague: String(p['colleague']), to, ...mail });
          void msa;
          break;
        }
        case 'malicious-insider':
        case 'sender-pc-malware': {
          const u = world.user(String(p['user']));
          const from = String(p['from'] ?? u.address);
          if (!u.hasCard) {
            // Conventional baselines: no card to sign with; the insider (or malware on the PC) sends
            // through the MSA with the user's own password, as the user's mail client would.
            o = await sendAsPasswordUser(world, att, st.capability, u, from, to, mail, files, (id) => (composedId = id));
            break;
          }
          const submit = { host: `msa.${u.org.domain}`, port: 587, auth: { user: u.address, pass: u.password } };
          const build = async () => {
            const m = await u.agent().compose({ to: [to], subject: payload.subject, text: payload.body, files, pin: u.pin });
            composedId = m.messageId;
            return m.raw;
          };
          const fromSwap = async () => {
            const raw = Buffer.from(await build()).toString('latin1');
            return new Uint8Array(Buffer.from(raw.replace(/^From:.*$/im, `From: ${from}`), 'latin1'));
          };
          const handle = { card: u.card, keyLabel: CardObjects.signingKey, certificate: u.registered.signingCertificate.der };
          o =
            st.capability === 'malicious-insider'
              ? await sendAsInsider(att, { kind: 'insider', ...handle, pin: u.pin, submit }, { to, ...mail, build: from === u.address ? build : fromSwap })
              : await sendAsUserViaMalware(att, { kind: 'sender-pc-malware', ...handle, keyloggedPin: u.pin, submit }, { to, ...mail, build });
          break;
        }
        case 'stolen-card': {
          const u = world.user(String(p['user']));
          if (!u.hasCard) {
            o = { capability: 'stolen-card', actions: [`${u.address} has no card under ${world.profile.id}: nothing to steal`], obtained: [], error: { code: 'NO_CARD', message: 'Cannot use a stolen card. The user has none under this profile.' } };
            break;
          }
          o = await useStolenCard({ kind: 'stolen-card', card: u.card, keyLabel: CardObjects.signingKey, certificate: u.registered.signingCertificate.der }, { guesses: (p['guesses'] as string[] | undefined) ?? [] });
          break;
        }
        default:
          break;
      }
      if (o) {
        outcomes.push(o);
        if (o.sent) messageId = o.sent.messageId;
        else if (o.error && ['spoof-direct', 'look-alike-domain', 'org-server-takeover', 'rewrap-signed', 'replay'].includes(o.capability)) {
          // Sent straight to the receiving MX: a refusal there is the receiving side's.
          if (o.error.code === 'SMTP_REJECTED') refusedByReceiver = true;
          else notSent = true;
        } else if (o.error && ['spoof-colleague', 'malicious-insider', 'sender-pc-malware', 'stolen-card'].includes(o.capability)) notSent = true;
      }
    }
    await releaseHeld(world, s, senderAddr, messageId ?? composedId, ctx);
    await world.waitIdle();

    // Steps that act on what already passed.
    for (const st of steps) {
      const p = st.params ?? {};
      if (st.capability === 'org-server-takeover' && p['readPassingMail'] === true) {
        outcomes.push(await readPassingMail(world, world.user(senderAddr).org.id, p['signWithKms'] === true));
      } else if (st.capability === 'stolen-password-imap') {
        const u = world.user(String(p['account']));
        const phished = p['secondFactor'] === 'phished';
        // The code the victim's phone shows now: Dovecot checks it against real time, not the world clock.
        const code = phished ? u.totpCode(new Date()) : undefined;
        const o = await readMailboxWithStolenPassword(att, { kind: 'stolen-password', imap: { host: u.org.mailbox.host, port: u.org.mailbox.imapPort }, user: u.address, password: code ? `${u.password}:${code}` : u.password });
        outcomes.push(o);
      } else if (st.capability === 'passive-capture') {
        outcomes.push(capturePassively(world.net.tap, { service: `mx.${world.org(String(p['service']).split('/')[0]!).domain}:25`, since: tapSince }));
      } else if (st.capability === 'replay' || st.capability === 'rewrap-signed') {
        // The captured copy: taken off the wire between the MTAs when the step says so (readable only
        // where the link ran without TLS), else the mail as it arrived in the recipient's mailbox over
        // IMAP (what a recipient, or anyone with a copy, holds).
        if (smimeWorld && st.capability === 'rewrap-signed' && p['capturedAt'] === 'attacker/outbox') {
          // "Johnny" From/signer mismatch: the attacker signs a mail itself with a genuine public-CA
          // certificate for its own mailbox, then puts someone else in From and sends it to the MX.
          const d = await LookAlikeDomain.register(att, { domain: 'quick-mail.example', smimeLocalPart: 'ceo-office', publicCa: world.publicCa.endpoint(att.address) });
          const own = await d.compose({ to: recipientAddr, subject: payload.subject, text: payload.body, attachments, smime: true });
          const o = await sendRewrapped(att, { signedRaw: own.raw, technique: p['technique'] as 'from-swap', from: String(p['from']), to: recipientAddr });
          outcomes.push({ ...o, actions: [...d.setupActions, ...o.actions] });
          messageId = o.sent?.messageId;
          if (!o.sent) o.error?.code === 'SMTP_REJECTED' ? (refusedByReceiver = true) : (notSent = true);
          await world.waitIdle();
          continue;
        }
        if (legitRecipient && st.capability === 'replay') {
          const o = await resendToOther(world, att, world.user(legitRecipient), messageId, String(p['to'] ?? recipientAddr));
          outcomes.push(o);
          messageId = o.sent?.messageId;
          if (!o.sent) o.error?.code === 'SMTP_REJECTED' ? (refusedByReceiver = true) : (notSent = true);
          await world.waitIdle();
          continue;
        }
        let copy: Uint8Array | undefined;
        // capturedAt "<org>/mta-out-><org>/mta-in" is a link; "<org>/mailbox" a stored copy (taken from
        // the recipient's mailbox: every org's copy carries its own org signature, as the recipient's does).
        if (String(p['capturedAt'] ?? '').includes('->')) {
          const service = `mx.${recipientAddr.split('@')[1]}:25`;
          for (const c of world.net.tap.connections().filter((x) => x.service === service && x.startedAt >= tapSince)) {
            const msgs = readSmtpTranscript(c.captured('client-to-server')).messages;
            copy ??= msgs.find((m) => messageId !== undefined && Buffer.from(m).toString('latin1').includes(bareId(messageId)));
            // Whatever crossed the link in clear is the attacker's, not only the copy it replays (PPAP:
            // the password mail follows the archive on the same link).
            for (const m of msgs) obtained.push({ kind: 'body', bytes: m, note: `captured on ${service}` });
          }
        } else copy = await fetchRaw(world, world.user(recipientAddr), messageId);
        if (!copy) {
          outcomes.push({ capability: st.capability, actions: ['found no readable copy of the mail to replay'], obtained: [], error: { code: 'NOTHING_CAPTURED', message: 'Cannot replay. No readable copy of the mail was captured.' } });
          messageId = undefined;
          notSent = true;
          break;
        }
        if (st.capability === 'replay') replayedSameId = true;
        const o =
          st.capability === 'replay'
            ? await replayCapturedMail(att, { raw: copy, to: String(p['to'] ?? recipientAddr) })
            : await sendRewrapped(att, { signedRaw: copy, technique: p['technique'] as 'from-swap', from: String(p['from']), to: recipientAddr });
        outcomes.push(o);
        // From here on the mail that carries the files is the attacker's copy, not the honest original.
        if (o.sent) messageId = o.sent.messageId;
        else {
          messageId = undefined;
          if (o.error?.code === 'SMTP_REJECTED') refusedByReceiver = true;
          else notSent = true;
        }
        await world.waitIdle();
      }
    }
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  }
  for (const o of outcomes) obtained.push(...o.obtained);

  // MEASURE: the recipient's view over IMAP.
  const conventional = world.profile.kind === 'conventional';
  let convMalware = false;
  let verdict: Verdict;
  let identityShown: IdentityShown = 'none';
  let traced: Traced = 'none';
  let mine: MailVerdict | undefined;
  let usable: readonly UsableFile[] = [];
  if (nonMember) {
    const got = nonMember.received.find((r) => messageId && Buffer.from(r).toString('latin1').includes(bareId(messageId)));
    if (got) {
      verdict = 'delivered';
      identityShown = 'unverified';
      if (s.mistake) obtained.push({ kind: 'body', bytes: got, note: 'the unintended recipient reads it' });
      if (smimeWorld) {
        // The outside mailbox's owner reads it with its own S/MIME client (and its key, when it has one).
        const r = await readSmimeMessage(got, { ...(outsideIdentity ? { identity: outsideIdentity } : {}), trustAnchors: [world.publicCa.root.der], now: now() });
        identityShown = r.signature === 'valid' ? 'signature-valid' : 'unverified';
        traced = tracedBySigner(r, honestDomains);
        for (const a of r.attachments) obtained.push({ kind: 'files', bytes: a.content, note: `decrypted by the owner of ${ownedOutside ?? targetAddr}` });
      }
      const authDomain = conventional ? nonMember.dmarcPass.get(got) : undefined;
      if (authDomain !== undefined) {
        identityShown = 'domain-authenticated';
        if (honestDomains.has(authDomain.toLowerCase()) && !steps.some((x) => x.capability === 'replay')) traced = 'org';
      }
      // PPAP: the password mail went to the same outside address; whoever holds that mailbox (the
      // unintended recipient, or the attacker who addressed it there) has both mails.
      const outsideDomain = targetAddr.split('@')[1]!.toLowerCase();
      const attackerOwnsIt = steps.some((st) => String(st.params?.['to'] ?? '').toLowerCase().endsWith(`@${outsideDomain}`));
      if (conventional && (s.mistake || attackerOwnsIt)) for (const r of nonMember.received) obtained.push({ kind: 'body', bytes: r, note: `held by the owner of ${outsideDomain}` });
    } else verdict = notSent || !messageId ? 'not-sent' : 'not-sent';
  } else if (smimeWorld) {
    // smime-e2e: the recipient's S/MIME client over IMAP decrypts with the user's key and judges the
    // signature (whole message, trusted root, From = signer); nothing on the way could inspect.
    const target = world.user(targetAddr);
    const inbox = messageId ? ((await readInbox(world, target)) as SmimeMailView[]) : [];
    const copies = inbox.filter((m) => bareId(m.messageId) === bareId(messageId));
    const got = replayedSameId ? (copies.length >= 2 ? copies.at(-1) : undefined) : copies[0];
    if (got) {
      const r = got.smime;
      verdict = r.signature === 'invalid' || r.signature === 'partial' ? 'flagged' : 'delivered';
      identityShown = r.signature === 'valid' ? 'signature-valid' : 'unverified';
      traced = steps.some((x) => x.capability === 'replay') ? 'none' : tracedBySigner(r, honestDomains);
      const sameSender = inbox.filter((m) => m.senderAddress === got.senderAddress);
      convMalware = malwareOpened(r.attachments.map((a) => a.content), sameSender.map((m) => m.smime.text), payload, swapped);
      if (s.mistake) {
        for (const a of r.attachments) obtained.push({ kind: 'files', bytes: a.content, note: `the unintended recipient decrypted ${a.filename}` });
        obtained.push({ kind: 'body', bytes: new TextEncoder().encode(r.text), note: 'the unintended recipient reads the body' });
      }
    } else verdict = missingVerdict(world, target.org.id, messageId, refusedByReceiver, notSent);
  } else if (conventional) {
    // Conventional baselines: the recipient's mail client over IMAP; what it shows is what the
    // receiving MTA-in wrote (Authentication-Results, X-SSMAX-Reputation).
    const target = world.user(targetAddr);
    const raws = messageId ? await fetchAllRaw(world, target) : [];
    const mails = (await Promise.all(raws.map(async (raw) => ({ raw, m: await readMail(raw) })))).filter((x): x is { raw: Uint8Array; m: ReadMail } => x.m !== undefined);
    const copies = mails.filter((x) => x.m.messageId === bareId(messageId));
    const got = replayedSameId ? (copies.length >= 2 ? copies.at(-1) : undefined) : copies[0];
    if (got) {
      verdict = reputationSuspicious(got.m) ? 'flagged' : 'delivered';
      identityShown = dmarcPassed(got.m, target.org.domain) ? 'domain-authenticated' : 'unverified';
      // The authenticated domain's operator can name the account from its logs (seed 002: no person is
      // identified); a replayed copy authenticates the original transmission, not this one.
      const replayed = steps.some((x) => x.capability === 'replay');
      if (identityShown === 'domain-authenticated' && honestDomains.has(got.m.from.split('@')[1] ?? '') && !replayed) traced = 'org';
      // The recipient opens the attachments with any password the same sender stated (the PPAP second mail).
      const sameSender = mails.filter((x) => x.m.from === got.m.from);
      convMalware = malwareOpened(got.m.attachments, sameSender.map((x) => x.m.text), payload, swapped);
      if (s.mistake) for (const x of sameSender) obtained.push({ kind: 'body', bytes: x.raw, note: 'the unintended recipient reads it' });
    } else verdict = missingVerdict(world, target.org.id, messageId, refusedByReceiver, notSent);
    if (verdict === 'blocked' && (messageId ?? composedId)) {
      const ev = world.journey(journeyId(world, messageId ?? composedId)!) as unknown as { actor: string }[];
      // Refused after the receiving MTA-in authenticated the From domain (its dmarc check, "pass … (domain)"):
      // the refused mail is still attributable to that domain's operator.
      const recv = ev as unknown as { actor: string; checks: { name: string; result: string; detail?: string }[] }[];
      const dm = recv.filter((e) => e.actor.startsWith(`${target.org.id}/`)).flatMap((e) => e.checks).find((c) => c.name === 'dmarc' && c.result === 'pass');
      const dmDomain = /\(([^)\s]+)\)\s*$/.exec(dm?.detail ?? '')?.[1]?.toLowerCase();
      if (verdict === 'blocked' && dmDomain && honestDomains.has(dmDomain) && !steps.some((x) => x.capability === 'replay')) traced = 'org';
    }
  } else {
    const target = world.user(targetAddr);
    const inbox = messageId ? await readInbox(world, target) : [];
    const copies = inbox.filter((m) => bareId(m.messageId) === bareId(messageId));
    // A replay carries the original's Message-ID: the replayed copy is the second one to arrive.
    mine = replayedSameId ? (copies.length >= 2 ? copies.at(-1) : undefined) : copies[0];
    const events = messageId ? world.journey(journeyId(world, messageId)!) : [];
    if (mine) {
      // Outside mail: the receiving org's MTA-in took it as non-member mail and marked it unverified
      // (X-SSMAX-Verdict), so the recipient sees it with the "not SSMAX-verified" banner; an SSMAX
      // signature that fails is refused instead (no downgrade).
      const recvOrgId = world.user(targetAddr).org.id;
      const markedUnverified = (events as unknown as { actor: string; outcome: string; detail?: string }[]).some((e) => e.actor === `${recvOrgId}/mta-in` && e.outcome === 'accepted' && e.detail === 'non-member mail, marked unverified');
      const unsigned = !mine.verified && (markedUnverified || mine.problems.some((p) => p.startsWith('the mail carries no organisation signature')));
      verdict = mine.verified ? 'delivered' : unsigned ? 'flagged' : 'blocked';
      usable = mine.verified ? mine.files : unsigned ? await plainAttachments(world, target, messageId) : [];
      identityShown = mine.verified ? (mine.identityNotice?.cardAndPinUsed ? 'identity-proofed' : 'signature-valid') : unsigned ? 'unverified' : 'none';
      if (mine.verified && mine.identityNotice) traced = mine.identityNotice.cardAndPinUsed ? 'sender' : 'org';
      // A replayed copy carries the original's signatures unchanged: they bind the original mail to its
      // sender and org, not this transmission to whoever replayed it, so nobody is traced for the copy
      // (neither here nor by the (7) rule below).
      if (replayedSameId) traced = 'none';
      if (s.mistake && mine.verified) {
        for (const f of mine.files) {
          const data = (f as { content?: Uint8Array }).content;
          if (f.ok && data) obtained.push({ kind: 'files', bytes: data, note: `the unintended recipient decrypted ${f.name}` });
        }
        obtained.push({ kind: 'body', bytes: new TextEncoder().encode(mine.text), note: 'the unintended recipient reads the body' });
      }
    } else if (refusedByReceiver) verdict = 'blocked';
    else if (notSent || !messageId) verdict = 'not-sent';
    else {
      const senderDomain = senderAddr.split('@')[1];
      const senderOrg = world.orgs().find((o) => o.domain === senderDomain);
      // Refused before leaving the sending org (MSA, outbound inspection, non-member policy) or after.
      // The receiving server's refusal shows either in its own journey or as the 5xx reply the sending
      // MTA-out got back (a message too broken for the MTA-in to log under its Message-ID).
      const leftSender = senderOrg === undefined || (events as unknown as { actor: string; reply?: string }[]).some((e) => e.actor.endsWith('/mta-in') || (e.actor === `${senderOrg.id}/mta-out` && /^5\d\d /.test(e.reply ?? '')));
      verdict = leftSender ? 'blocked' : 'not-sent';
    }
  }

  // Stopped at the sending org after its MSA verified a card signature chained to the org CA (4): the
  // org holds evidence binding the mail to one card, i.e. to one registered person. (A mail refused on
  // the receiving side is attributed by what the receiving side could verify, below.)
  if (verdict === 'not-sent' && traced === 'none') {
    const id = journeyId(world, messageId ?? composedId);
    const ev = id ? (world.journey(id) as unknown as { actor: string; procedure: number; checks: { name: string; result: string }[] }[]) : [];
    const msa = ev.find((e) => e.procedure === 4 && e.actor.endsWith('/msa'));
    const ok = (n: string) => msa?.checks.some((c) => c.name === n && c.result === 'pass') === true;
    if (ok('user-signature') && ok('certificate-chain')) traced = 'sender';
  }

  // (7) at the receiving org verified a member org's signature, chain and From domain: that
  // organisation is answerable for the mail even when (8) or the recipient agent (10) refused it.
  if (traced === 'none' && !nonMember && !replayedSameId) {
    const id = journeyId(world, messageId ?? composedId);
    const ev = id ? (world.journey(id) as unknown as { actor: string; procedure: number; checks: { name: string; result: string }[] }[]) : [];
    const recvOrgId = world.user(targetAddr).org.id;
    const at7 = ev.find((e) => e.procedure === 7 && e.actor === `${recvOrgId}/mta-in`);
    const ok = (n: string) => at7?.checks.some((c) => c.name === n && c.result === 'pass') === true;
    if (ok('org-signature') && ok('org-chain') && ok('from-domain')) traced = 'org';
  }

  // (12): the recipient side reports; the sending org traces through its vault.
  if (s.reportedAsMalicious && world.profile.kind === 'ssmax') {
    let evidence: Evidence | undefined;
    if (mine?.verified && mine.identityNotice?.certSerial) {
      evidence = { messageId: mine.messageId, sendingDomain: mine.identityNotice.sendingDomain ?? mine.senderAddress.split('@')[1]!, certSerial: mine.identityNotice.certSerial };
    } else if (verdict === 'blocked' && !nonMember && !mine) {
      // Refused at (8) after (7) verified the sending org and the sender's certificate: the receiving
      // org's own journey holds the message id, the sending domain and the certificate serial. A mail
      // the recipient's agent refused (10) names no verified person: the org is answerable (above).
      const id = journeyId(world, messageId);
      const ev = id ? (world.journey(id) as unknown as { actor: string; procedure: number; checks: { name: string; result: string; detail?: string }[] }[]) : [];
      const at7 = ev.find((e) => e.procedure === 7 && e.actor === `${world.user(targetAddr).org.id}/mta-in`);
      const serial = /^serial ([0-9a-fA-F]+):/.exec(at7?.checks.find((c) => c.name === 'sender-certificate' && c.result === 'pass')?.detail ?? '')?.[1];
      const domain = at7?.checks.find((c) => c.name === 'from-domain' && c.result === 'pass')?.detail;
      if (id && serial && domain) evidence = { messageId: id, sendingDomain: domain, certSerial: serial };
    }
    if (evidence) {
      state.changed = true;
      traced = await procedure12(world, targetAddr, evidence, ctx);
    }
  }

  let leaked = measureLeak(obtained, payload);
  if (conventional && leaked !== 'files') {
    // Whatever the attacker holds, opened as it would: every archive with every password it read.
    const raws = obtained.filter((o) => o.kind !== 'credentials' && o.kind !== 'files' && o.bytes).map((o) => o.bytes!);
    const loose = obtained.filter((o) => o.kind === 'files' && o.bytes).map((o) => o.bytes!);
    if (await filesReadable(raws, loose, payload)) leaked = 'files';
  }
  const malwareReached = verdict === 'delivered' || verdict === 'flagged' ? (conventional ? convMalware : malwareIn(usable, payload, payload.zipPassword)) : false;
  const at = new Date().toISOString();
  const jid = journeyId(world, messageId ?? composedId);
  const journey = jid ? (world.journey(jid) as unknown as JourneyEvent[]) : [];
  const events = [...journey, ...outcomes.map((o) => attackerEvent(messageId ?? '', o, at))];
  const actual: Outcome = { verdict, leaked, malwareReached, traced, identityShown };
  return { actual, events };
}


/**
 * An insider, or malware on the PC, under a conventional baseline: the user's own mail client (PPAP
 * where the profile zips) for mail in the user's own name; a From of someone else goes through the
 * MSA under the user's login (seed 002 §3.1: nothing ties From to the login).
 */
async function sendAsPasswordUser(
  world: World,
  att: AttackerContext,
  capability: string,
  u: WorldUser,
  from: string,
  to: string,
  mail: { subject: string; text: string; attachments: { filename: string; contentType: string; content: Uint8Array }[] },
  files: { name: string; contentType: string; content: Uint8Array }[],
  onId: (id: string) => void,
): Promise<AttackOutcome> {
  const who = capability === 'malicious-insider' ? `insider ${u.address}` : `malware on ${u.address}'s PC (password keylogged)`;
  if (u.smime && from.toLowerCase() !== u.address) {
    // smime-e2e: the insider's own S/MIME key signs, whatever From says; the MSA takes any From.
    try {
      const { raw, messageId } = await composeSmime(u.smime, { from, to: [to], subject: mail.subject, text: mail.text, files, date: world.clock?.() ?? new Date(), domain: u.org.domain }, (a) => directoryLookup(world.publicCa.endpoint(world.net.address(`${u.address}/ua`)), a));
      const t = transport(world, u);
      try {
        const info = await t.sendMail({ envelope: { from: u.address, to: [to] }, raw: Buffer.from(raw) });
        onId(messageId);
        return { capability, actions: [`${who} signs with the user's own S/MIME key, writes From: ${from}, and submits with the user's password`], obtained: [], sent: { messageId, smtpReply: String(info.response), raw, envelope: { from: u.address, to: [to] } } };
      } finally {
        t.close();
      }
    } catch (e) {
      if (e instanceof SsmaxError && e.category === 'infrastructure') throw e;
      return { capability, actions: [`${who} tried to send a mail signed with the user's key under From: ${from}`], obtained: [], error: { code: 'SMTP_REJECTED', message: (e as Error).message } };
    }
  }
  if (from.toLowerCase() !== u.address) {
    const o = await spoofColleague(att, { kind: 'org-account', smtpSubmit: { host: `msa.${u.org.domain}`, port: 587 }, user: u.address, password: u.password }, { colleague: from, to, ...mail });
    return { ...o, capability, actions: [`${who} has no card under ${world.profile.id}; submits From: ${from} with the password`, ...o.actions] };
  }
  try {
    const r = await u.send({ to, subject: mail.subject, body: mail.text, files, pin: u.pin });
    onId(r.messageId);
    return { capability, actions: [`${who} has no card under ${world.profile.id}; sent with the user's mail client and password`], obtained: [], sent: { messageId: r.messageId, smtpReply: r.response, raw: new Uint8Array(), envelope: { from: u.address, to: [to] } } };
  } catch (e) {
    if (e instanceof SsmaxError && e.category === 'infrastructure') throw e;
    return { capability, actions: [`${who} tried to send with the user's mail client`], obtained: [], error: { code: 'SMTP_REJECTED', message: (e as Error).message } };
  }
}

/**
 * Hold-then-send (seed 002): the MSA holds every submission for the profile's cancel window on the
 * org clock. A sender who noticed a mistake within the window cancels it by Message-ID; then the
 * simulated clock moves past the window so whatever is still held leaves.
 */
async function releaseHeld(world: World, s: ScenarioData, senderAddr: string, messageId: string | undefined, ctx: CellContext): Promise<void> {
  const preset = world.profile.conventional?.preset;
  const hold = preset ? (conventionalProfile(preset).conventional?.holdSeconds ?? 0) : 0;
  const clock = world.clock as (() => Date) & { advance?: (ms: number) => void };
  if (hold <= 0 || !clock?.advance) return;
  const senderOrg = world.orgs().find((o) => o.domain === senderAddr.split('@')[1]);
  if (s.mistake?.noticedWithinCancelWindow && messageId && senderOrg) {
    const r = await senderOrg.organisation.cancelSubmission(messageId, senderAddr);
    ctx.log(`hold-then-send: ${senderAddr} cancels ${messageId}: ${r}`);
  }
  clock.advance(hold * 1000 + 1000);
}

/** The journey key of a mail: orgs log the Message-ID as written in the header, with or without brackets. */
function journeyId(world: World, id: string | undefined): string | undefined {
  if (!id) return undefined;
  const b = bareId(id);
  return world.journey(`<${b}>`).length > 0 ? `<${b}>` : b;
}

/** Message-IDs compared without the angle brackets (RFC 5322 §3.6.4 msg-id). */
function bareId(id: string | undefined): string {
  return (id ?? '').trim().replace(/^<|>$/g, '');
}

/**
 * Incident 1 with the KMS: the attacker holds the org's mail host and its KMS, so it can do what the
 * MTA-out does at (6) without the checks before it: write a mail of its own, encrypt the files to the
 * receiving org (public registry certificate), attest and sign it with the org KMS, and send it from
 * the org's MTA-out address. It has no card, so there is no sender manifest; the identity notice is
 * made up from the From user's certificate (public: it travels in every mail of that user). Nothing
 * passes the MSA (4), outbound inspection (5) or the trace vault.
 */
async function forgeOrgHop(world: World, orgId: string, m: { from: string; to: string; subject: string; text: string; files: readonly { name: string; contentType: string; content: Uint8Array }[] }, now: () => Date): Promise<{ outcome: AttackOutcome; messageId: string }> {
  const org = world.org(orgId);
  const kms = org.organisation.kms;
  const recipientOrg = world.orgs().find((o) => o.domain === m.to.split('@')[1]);
  const b64 = (b: Uint8Array) => (Buffer.from(b).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  const parts: Uint8Array[] = [Buffer.from(`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(Buffer.from(m.text.replace(/\r?\n/g, '\r\n'), 'utf8'))}`, 'latin1')];
  for (const [i, f] of m.files.entries()) {
    const entity = Buffer.from(`Content-Type: ${f.contentType}; name="${f.name}"\r\nContent-Disposition: attachment; filename="${f.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(f.content)}`, 'latin1');
    // Encrypted to the org's own KMS first, as a user agent would at (3): orgHop decrypts and re-encrypts.
    parts.push(buildFilePart(i + 1, await encryptContent(entity, { recipients: [kms.certificates.encryption] })));
  }
  const entity = assembleMixed(parts);
  const messageId = `<${randomBytes(12).toString('hex')}@${org.domain}>`;
  const draft = parseSmime(buildMultipartSigned(entity, await kms.signDetached(entity, now()), { headers: { from: m.from, to: [m.to], subject: m.subject, date: now(), messageId } }));
  if (draft.kind !== 'multipart-signed') throw new SsmaxError('INTERNAL', 'Cannot forge the org hop. The draft is not multipart/signed.');
  let notice: IdentityNotice = { sender: m.from, certSerial: '', traceId: '', proofing: 'employeeCardPin', proofedAt: now().toISOString(), cardAndPinUsed: true };
  const victim = world.users().find((u) => u.address === m.from);
  if (victim) {
    const der = victim.registered.signingCertificate.der;
    notice = { ...notice, certSerial: parseCertificate(der).serialNumber, certificate: Buffer.from(der).toString('base64') };
  }
  const hop = await orgHop({
    kms,
    mode: 'org',
    direction: 'outbound',
    entity: draft.signedEntity,
    headers: draft.headers,
    recipients: recipientOrg ? [recipientOrg.organisation.kms.certificates.encryption] : [],
    org: org.organisation.registryOrgId,
    domain: org.domain,
    hop: 1,
    messageId,
    checks: [],
    identityNotice: notice,
    inspect: false,
    clock: now,
  });
  if (hop.blocked) throw new SsmaxError('INTERNAL', 'Cannot forge the org hop. orgHop blocked without inspection.');
  const ctxAt = attackerContext(world.net, { address: org.organisation.ctx.addresses.mtaOut, heloName: `mta-out.${org.domain}`, now });
  const o = await sendViaTakenOverServer(ctxAt, { kind: 'org-mail-server', smtpSubmit: { host: `mx.${m.to.split('@')[1]}`, port: 25 } }, { from: m.from, to: m.to, raw: hop.message });
  const outcome: AttackOutcome = {
    ...o,
    actions: [
      `controls the ${org.domain} mail host and its KMS; wrote From: ${m.from} with no card signature and no sender manifest`,
      `made up an identity notice${victim ? ` naming ${m.from}'s certificate` : ''} (card and PIN claimed); attested and signed hop 1 with the org KMS, skipping (4), (5) and the trace vault`,
      ...o.actions,
    ],
  };
  return { outcome, messageId };
}

/**
 * Incident 1, reading variant: the attacker holds the sending org's mail host. The outbound spool keeps
 * what the MSA accepted, files encrypted to this org's KMS (procedure (3)); with the host's KMS access
 * the attacker decrypts them, as outbound inspection (5) does. Without KMS access it gets only headers
 * and body.
 */
async function readPassingMail(world: World, orgId: string, kmsAccess: boolean): Promise<AttackOutcome> {
  const org = world.org(orgId).organisation;
  const rec = new OutcomeRecorder('org-server-takeover');
  const spool = org.ctx.outbound;
  for (const state of ['delivered', 'outgoing', 'incoming', 'bounced'] as const) {
    for (const id of await spool.list(state)) {
      const entry = await spool.read(id, state);
      rec.act(`read outbound spool entry ${id} (${state})`);
      rec.obtain({ kind: 'body', bytes: entry.bytes, note: `spooled mail ${id}` });
      if (!kmsAccess) continue;
      try {
        const parsed = parseSmime(entry.bytes);
        if (parsed.kind !== 'multipart-signed') continue;
        for (const f of classifyParts(parsed.signedEntity).files) {
          const { content } = await org.kms.decrypt(f.der);
          rec.obtain({ kind: 'files', bytes: parseMimeEntity(content).body, note: `file ${f.n} of ${id} decrypted with the org KMS` });
        }
        rec.act(`decrypted the files of ${id} with the org KMS`);
      } catch (e) {
        rec.act(`could not decrypt ${id}: ${(e as Error).message}`);
      }
    }
  }
  return rec.done();
}

/** The attachments of an unverified (outside) mail as the recipient's mail client opens them. */
async function plainAttachments(world: World, u: WorldUser, messageId: string | undefined): Promise<UsableFile[]> {
  const raw = await fetchRaw(world, u, messageId);
  if (!raw) return [];
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(Buffer.from(raw));
  return parsed.attachments.map((a) => ({ ok: true, content: new Uint8Array(a.content) }));
}

/** Every message in the user's INBOX, raw (the conventional mail client's view). */
async function fetchAllRaw(world: World, u: WorldUser): Promise<Uint8Array[]> {
  const totp = u.totpCode(new Date()); // Dovecot checks the code against real time (RFC 6238), not the world clock
  return (await fetchInbox({ host: u.org.mailbox.host, port: u.org.mailbox.imapPort, user: u.address, pass: totp ? `${u.password}:${totp}` : u.password })).map((m) => m.source);
}

async function fetchRaw(world: World, u: WorldUser, messageId: string | undefined): Promise<Uint8Array | undefined> {
  if (!messageId) return undefined;
  const { ImapFlow } = await import('imapflow');
  const totp = u.totpCode(new Date()); // Dovecot checks the code against real time (RFC 6238), not the world clock
  const client = new ImapFlow({ host: u.org.mailbox.host, port: u.org.mailbox.imapPort, secure: false, auth: { user: u.address, pass: totp ? `${u.password}:${totp}` : u.password }, logger: false });
  await client.connect();
  try {
    const lock = await client.getMailboxLock('INBOX');
    try {
      for await (const m of client.fetch('1:*', { source: true, envelope: true })) {
        if (bareId(m.envelope?.messageId) === bareId(messageId) && m.source) return new Uint8Array(m.source);
      }
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
  return undefined;
}

/** What the receiving side holds about a mail it reports under (12). */
interface Evidence {
  readonly messageId: string;
  readonly sendingDomain: string;
  readonly certSerial: string;
}

async function procedure12(world: World, recipient: string, mail: Evidence, ctx: CellContext): Promise<Traced> {
  const recvOrg = world.user(recipient).org;
  const sendOrg = world.orgs().find((o) => o.domain === mail.sendingDomain);
  if (!sendOrg) return 'none';
  const rk = recvOrg.organisation.kms;
  const sk = sendOrg.organisation.kms;
  const deskB = new IncidentDesk({ registryUrl: world.registry.url, orgId: recvOrg.organisation.registryOrgId, signer: { key: rk.signingKey, certificate: rk.certificates.signing } });
  const c = await deskB.report({ messageId: mail.messageId, senderOrgId: sendOrg.organisation.registryOrgId, senderCertificateSerial: mail.certSerial, summary: 'reported as malicious by the recipient' });
  const deskA = new IncidentDesk({ registryUrl: world.registry.url, orgId: sendOrg.organisation.registryOrgId, signer: { key: sk.signingKey, certificate: sk.certificates.signing }, orgCa: sendOrg.orgCa, vault: sendOrg.vault, vaultKey: sendOrg.vaultKey });
  const notice = (await deskA.notices()).find((n) => n.caseId === c.caseId);
  if (!notice) return 'org';
  // The sending org first reviews its own operation (paper §4 (12)): its MSA journal must show that
  // this message passed (4) with a verified card signature. If it never did, the mail came from its
  // own compromised hosts, whatever certificate the identity notice names: the org is answerable and
  // no user is traced or revoked on the strength of that notice.
  const atMsa = world.journey(mail.messageId).concat(world.journey(bareId(mail.messageId))) as unknown as { actor: string; procedure: number; outcome: string; checks: { name: string; result: string }[] }[];
  const passedMsa = atMsa.some((e) => e.actor === `${sendOrg.id}/msa` && e.procedure === 4 && e.outcome === 'accepted' && e.checks.some((x) => x.name === 'user-signature' && x.result === 'pass'));
  if (!passedMsa) {
    ctx.log(`(12) case ${c.caseId}: ${sendOrg.id} finds no MSA (4) record of ${mail.messageId}: its own hosts sent it; no user traced`);
    return 'org';
  }
  const finding = await deskA.handle(notice);
  ctx.log(`(12) case ${c.caseId}: identified=${finding.identified} revoked=${finding.revokedSerials.length}`);
  // Observe, do not trust the finding: the serial must now be revoked in the org CA's directory.
  const revoked = finding.revokedSerials.length > 0 && sendOrg.orgCa.entries().some((e) => e.serialNumber === mail.certSerial && e.status !== 'valid');
  if (revoked && finding.identified) return 'sender-revoked';
  return finding.identified ? 'sender' : 'org';
}

/**
 * The verdict of a mail the recipient's client does not show (conventional and S/MIME baselines):
 * refused in the session at the receiving MX (blocked), never submitted, or accepted by the MSA but not
 * in the inbox — blocked when the receiving org's MTA-in or inspection logged it, else not sent.
 */
function missingVerdict(world: World, targetOrgId: string, messageId: string | undefined, refusedByReceiver: boolean, notSent: boolean): Verdict {
  if (refusedByReceiver) return 'blocked';
  if (notSent || !messageId) return 'not-sent';
  const ev = world.journey(journeyId(world, messageId)!) as unknown as { actor: string }[];
  return ev.some((e) => e.actor.startsWith(`${targetOrgId}/`)) ? 'blocked' : 'not-sent';
}

/**
 * Malware reached the recipient usable: the attachments opened with every password the same sender
 * stated (the PPAP second mail), holding a malicious payload file or the attacker's swapped one.
 */
function malwareOpened(attachments: readonly Uint8Array[], senderTexts: readonly string[], payload: Payload, swapped: readonly Payload['files'][number][]): boolean {
  const passwords = [...new Set(senderTexts.flatMap(statedPasswords))];
  const opened = openAll(attachments, passwords);
  return payloadFilesIn(opened, payload, (f) => f.malicious) || payloadFilesIn(opened, { ...payload, files: swapped }, (f) => f.malicious);
}

/**
 * Who a valid S/MIME signature leads to (smime-e2e). Only a signature that verifies and chains to the
 * trusted root counts, even when it names another address than From. A sponsor-validated certificate
 * names a person of the sponsoring organisation; a mailbox-validated one only the mailbox, which its
 * (honest) provider can map to an account; a certificate for the attacker's own domain leads nowhere.
 */
function tracedBySigner(r: SmimeReading, honestDomains: ReadonlySet<string>): Traced {
  const c: CertificateInfo | undefined = r.trustedSigner;
  if (!c) return 'none';
  const domain = (c.emailAddresses[0] ?? '').split('@')[1]?.toLowerCase() ?? '';
  if (!honestDomains.has(domain)) return 'none';
  if (c.policies?.includes(Oids.smimeBrSponsorValidated)) return 'sender';
  return 'org';
}

/**
 * smime-e2e replay to another recipient: the attacker legitimately received the sender's mail at its
 * own org; it decrypts its copy with its own key, keeps the signed part byte for byte, encrypts it to
 * the victim's public certificate from the CA's directory and sends it to the victim's MX under the
 * original From. S/MIME signs the content, not who it was for.
 */
async function resendToOther(world: World, att: AttackerContext, eve: WorldUser, messageId: string | undefined, to: string): Promise<AttackOutcome> {
  const fail = (message: string): AttackOutcome => ({ capability: 'replay', actions: [`as ${eve.address}, looked for its copy of ${messageId ?? 'the mail'}`], obtained: [], error: { code: 'NOTHING_CAPTURED', message } });
  if (!eve.smime || !messageId) return fail('Cannot replay. The legitimate recipient has no S/MIME key or no mail arrived.');
  const raws = await fetchInbox({ host: eve.org.mailbox.host, port: eve.org.mailbox.imapPort, user: eve.address, pass: eve.password });
  const mine = raws.find((r) => Buffer.from(r.source).toString('latin1').includes(bareId(messageId)));
  if (!mine) return fail(`Cannot replay. ${eve.address} never received ${messageId}.`);
  const top = parseSmime(mine.source);
  if (top.kind !== 'pkcs7-mime') return fail('Cannot replay. The received copy is not S/MIME-encrypted.');
  const { content } = await decryptContent(top.der, { key: eve.smime.key, certificate: eve.smime.certificate.der });
  const victim = await directoryLookup(world.publicCa.endpoint(att.address), to);
  if (!victim) return fail(`Cannot replay. The directory has no certificate for ${to}.`);
  const h = (n: string) => getHeader(top.headers, n);
  const raw = buildPkcs7Mime(await encryptContent(content, { recipients: [victim] }), 'authEnveloped-data', { headers: { from: h('from') ?? '', to: [to], subject: h('subject') ?? '', ...(h('date') ? { date: h('date')! } : {}), ...(h('message-id') ? { messageId: h('message-id')! } : {}) } });
  const o = await replayCapturedMail(att, { raw, to });
  return { ...o, actions: [`as ${eve.address} (a legitimate recipient), decrypted its copy of ${messageId} with its own key`, `kept the signed part byte for byte and encrypted it to ${to}'s public certificate from the CA directory`, ...o.actions] };
}
