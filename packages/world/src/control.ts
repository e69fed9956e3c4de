/**
 * The control API of a running world (`ssmax up`): HTTP/1.1 over a unix socket, so `ssmax send` and
 * `ssmax inbox` in another terminal act as a user through the world process, where the cards live.
 * Only the local user can reach it (socket mode 0600). JSON in, JSON out.
 *
 *   GET  /v1/world                   profile, services, users (with their initial PIN/password)
 *   POST /v1/send                    { from, to: [..], cc?, subject?, body?, files?: [{ name, contentType?, base64 }], pin, wait? }
 *                                    → { messageId, response, journey? }   (wait: until the world is idle)
 *   POST /v1/inbox                   { user, password, totp?, pin } → { mails: [InboxMail] }
 *   POST /v1/cancel                  { from, messageId } → { messageId, result: cancelled | too-late | not-found }
 *                                    (hold-then-send / ssmax-plus hold: the sender cancels a held mail)
 *   GET  /v1/journey?messageId=<id>  → { events: [JourneyEvent] }
 *
 * Errors: `{ error: { code, message, reply? } }` with 400 (usage), 422 (a verdict, e.g. an SMTP
 * refusal; `reply` is the server's reply line) or 500.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { Oids, SsmaxError, ErrorCodes, type CertificateInfo } from '@ssmax/core';
import type { JourneyEvent, MailVerdict, WithheldReason } from '@ssmax/sim-org';
import type { World } from './world.js';
import type { SmimeMailView } from './smime-client.js';

/** "alice@org-a.example, sponsor-validated (O=…, CN=…) by <issuer>": what the signer certificate vouches for. */
function describeSigner(c: CertificateInfo): string {
  const how = c.policies?.includes(Oids.smimeBrSponsorValidated)
    ? 'sponsor-validated (a named person of the sponsoring org)'
    : c.policies?.includes(Oids.smimeBrMailboxValidated)
      ? 'mailbox-validated (control of the mailbox only)'
      : 'validation type not stated';
  return `${c.emailAddresses.join(', ')}, ${how}: ${c.subject}; issued by ${c.issuer}`;
}

/** One mail as `ssmax inbox` shows it (file contents stay in the world process). */
export interface InboxMail {
  readonly uid?: number;
  readonly messageId: string;
  readonly from: string;
  readonly subject: string;
  readonly verified: boolean;
  readonly mode: string;
  readonly identityNotice?: MailVerdict['identityNotice'];
  /** smime-e2e: who the S/MIME signature names, and how the public CA validated them. */
  readonly signer?: string;
  readonly problems: readonly string[];
  /** Outside mail the receiving MX marked unverified (shown under the "not SSMAX-verified" banner). */
  readonly outside?: boolean;
  /**
   * Each file as the agent handled it: `ok` (verified and released), `unverified` (an outside mail's
   * attachment, released without SSMAX verification) or `withheld` with the agent's reason (not released).
   * `size` is present only for a released file, `sha256` only when the agent computed it.
   */
  readonly files: readonly {
    readonly name: string;
    readonly contentType: string;
    readonly size?: number;
    readonly sha256?: string;
    readonly ok: boolean;
    readonly unverified?: boolean;
    readonly withheld?: WithheldReason;
  }[];
  readonly text: string;
}

export interface SendRequest {
  readonly from: string;
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly subject?: string;
  readonly body?: string;
  readonly files?: readonly { readonly name: string; readonly contentType?: string; readonly base64: string }[];
  readonly pin: string;
  readonly wait?: boolean;
}

export interface SendResponse {
  readonly messageId: string;
  readonly response: string;
  readonly journey?: readonly JourneyEvent[];
}

/** POST /v1/cancel: what the sender's org did with the held mail. */
export interface CancelResponse {
  readonly messageId: string;
  /** `cancelled`: it will never be sent; `too-late`: the MTA-out already took it; `not-found`: no held mail of this sender has that Message-ID. */
  readonly result: 'cancelled' | 'too-late' | 'not-found';
}

/** A description of the running world (GET /v1/world, and the state file). */
export function describeWorld(world: World) {
  return {
    profile: world.profile.id,
    seed: world.seed,
    storageDir: world.storageDir,
    services: world.services(),
    users: world.users().map((u) => ({
      address: u.address,
      org: u.org.id,
      mode: u.org.mode,
      pin: u.pin,
      password: u.password,
      proofing: u.hasCard ? u.registered.identityProofing.method : 'password only',
      ...(u.totpSecret ? { totpSecret: u.totpSecret } : {}),
    })),
  };
}

const MAX_BODY = 64 * 1024 * 1024;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new SsmaxError('USAGE', `Cannot read the request. It is larger than ${MAX_BODY} bytes.`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (cause) {
    throw new SsmaxError('USAGE', 'Cannot read the request. The body is not JSON.', { cause });
  }
}

function str(v: unknown, what: string, optional = false): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw new SsmaxError('USAGE', `Cannot handle the request. "${what}" must be a string.`);
  return v;
}

function strs(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new SsmaxError('USAGE', `Cannot handle the request. "${what}" must be a list of strings.`);
  return v as string[];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(e: unknown): { status: number; body: unknown } {
  // nodemailer reports the MSA's refusal with the reply line; it is the server's verdict, not a fault here.
  const smtp = e as { responseCode?: number; response?: string };
  if (typeof smtp.responseCode === 'number' && smtp.responseCode >= 400) {
    return {
      status: 422,
      body: {
        error: {
          code: 'SMTP_REFUSED',
          message: `Cannot send the mail. The MSA answered ${smtp.response ?? smtp.responseCode}.`,
          reply: smtp.response ?? String(smtp.responseCode),
        },
      },
    };
  }
  // imapflow marks a refused LOGIN (wrong password, missing or wrong TOTP): the server's verdict.
  if ((e as { authenticationFailed?: boolean }).authenticationFailed === true) {
    return {
      status: 422,
      body: { error: { code: 'AUTH_FAILED', message: 'Cannot read the mailbox. The IMAP server refused the login (wrong password or second factor).' } },
    };
  }
  if (e instanceof SsmaxError) {
    const cat = ErrorCodes[e.code];
    return { status: cat === 'usage' ? 400 : cat === 'verdict' || cat === 'malformed' ? 422 : 500, body: { error: { code: e.code, message: e.message } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) } } };
}

async function handle(world: World, req: IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? '/', 'http://control');
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /v1/world':
      return describeWorld(world);
    case 'GET /v1/journey':
      return { events: world.journey(url.searchParams.get('messageId') ?? '') };
    case 'POST /v1/send': {
      const b = (await readJson(req)) as Record<string, unknown>;
      const files = (Array.isArray(b['files']) ? b['files'] : []) as Record<string, unknown>[];
      const user = world.user(str(b['from'], 'from')!);
      const to = strs(b['to'], 'to');
      if (to.length === 0) throw new SsmaxError('USAGE', 'Cannot send the mail. It needs at least one recipient ("to").');
      const sent = await user.send({
        to,
        cc: strs(b['cc'], 'cc'),
        subject: str(b['subject'], 'subject', true) ?? '',
        body: str(b['body'], 'body', true) ?? '',
        files: files.map((f, i) => ({
          name: str(f['name'], `files[${i}].name`)!,
          ...(f['contentType'] !== undefined ? { contentType: str(f['contentType'], `files[${i}].contentType`)! } : {}),
          content: new Uint8Array(Buffer.from(str(f['base64'], `files[${i}].base64`)!, 'base64')),
        })),
        pin: str(b['pin'], 'pin')!,
      });
      if (b['wait'] === true) {
        await world.waitIdle();
        return { ...sent, journey: world.journey(sent.messageId) } satisfies SendResponse;
      }
      return sent satisfies SendResponse;
    }
    case 'POST /v1/cancel': {
      const b = (await readJson(req)) as Record<string, unknown>;
      const user = world.user(str(b['from'], 'from')!);
      const messageId = str(b['messageId'], 'messageId')!;
      return { messageId, result: await user.org.organisation.cancelSubmission(messageId, user.address) } satisfies CancelResponse;
    }
    case 'POST /v1/inbox': {
      const b = (await readJson(req)) as Record<string, unknown>;
      const user = world.user(str(b['user'], 'user')!);
      const totp = str(b['totp'], 'totp', true);
      const verdicts = await user.inbox({ password: str(b['password'], 'password')!, pin: str(b['pin'], 'pin')!, ...(totp !== undefined ? { totp } : {}) });
      const mails: InboxMail[] = verdicts.map((v) => ({
        ...(v.uid !== undefined ? { uid: v.uid } : {}),
        messageId: v.messageId,
        from: v.senderAddress,
        subject: v.subject,
        verified: v.verified,
        mode: 'smime' in v ? 'S/MIME' : v.mode,
        ...(v.identityNotice ? { identityNotice: v.identityNotice } : {}),
        ...('smime' in v && (v as SmimeMailView).smime.trustedSigner ? { signer: describeSigner((v as SmimeMailView).smime.trustedSigner!) } : {}),
        problems: v.problems,
        ...(v.outside ? { outside: true } : {}),
        files: v.files.map((f) => ({
          name: f.name,
          contentType: f.contentType,
          ...(f.content ? { size: f.content.byteLength } : {}),
          ...(f.sha256 !== undefined ? { sha256: f.sha256 } : {}),
          ok: f.ok,
          ...(f.unverified ? { unverified: true } : {}),
          ...(f.withheld ? { withheld: f.withheld } : {}),
        })),
        text: v.text,
      }));
      return { mails };
    }
    default:
      throw new SsmaxError('USAGE', `Cannot handle ${route}. No such control route.`);
  }
}

/** Serves the control API of `world` on the unix socket `socketPath` (replacing a stale socket file). */
export async function startControlServer(world: World, socketPath: string): Promise<AsyncDisposable & { close(): Promise<void> }> {
  await fs.mkdir(dirname(socketPath), { recursive: true });
  await fs.rm(socketPath, { force: true });
  const server = createServer((req, res) => {
    handle(world, req).then(
      (body) => send(res, 200, body),
      (e: unknown) => {
        const { status, body } = errorBody(e);
        send(res, status, body);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await fs.chmod(socketPath, 0o600);
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await fs.rm(socketPath, { force: true });
  };
  return { close, [Symbol.asyncDispose]: close };
}

/** Calls the control API at `socketPath`; a non-2xx answer throws an SsmaxError carrying the server's code and message. */
export async function controlRequest<T>(socketPath: string, method: 'GET' | 'POST', pathAndQuery: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { socketPath, method, path: pathAndQuery, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', (cause) =>
      reject(
        new SsmaxError(
          'IO_ERROR',
          `Cannot reach the running world at ${socketPath}. Is \`ssmax up\` running? (${(cause as NodeJS.ErrnoException).code ?? cause.message})`,
          { cause },
        ),
      ),
    );
    req.end(payload);
  });
  let parsed: { error?: { code: string; message: string; reply?: string } };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (cause) {
    throw new SsmaxError('IO_ERROR', `Cannot read the answer of the running world at ${socketPath}. It is not JSON (HTTP ${status}).`, { cause });
  }
  if (status >= 200 && status < 300) return parsed as T;
  const err = parsed.error ?? { code: 'INTERNAL', message: text };
  throw new ControlApiError(status, err.code, err.message, err.reply);
}

/**
 * A refusal by the running world's control API: `status` 400 (usage), 422 (a verdict such as the MSA's
 * SMTP refusal, whose reply line is `reply`) or 500. The CLI maps them to exit codes 2, 1 and 4.
 */
export class ControlApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reply?: string,
  ) {
    super(message);
    this.name = 'ControlApiError';
  }

  /** The CLI exit code (0 ok, 1 negative verdict, 2 usage, 4 infrastructure). */
  get exitCode(): number {
    return this.status === 400 ? 2 : this.status === 422 ? 1 : 4;
  }
}
