/**
 * Resource limits of the org's SMTP edge, the MSA and the MTA-in (issue 11 item 5), in one place: the
 * values {@link guardSmtp} enforces on every session (smtp-listener.ts applies it), the ones smtp-server,
 * core's MIME parser and inspection (5)/(8) enforce, and the table of docs/PROTOCOL.md "Resource limits",
 * which is rendered from {@link smtpLimitRows} (smtp-limits.test.ts compares the two).
 *
 * A hostile client must not be able to starve the others: it gets at most
 * {@link SmtpLimits.sessionsPerClient} of the server's {@link SmtpLimits.sessions}, no message of its is held
 * in memory beyond the size limit, and no session of its lasts longer than {@link SmtpLimits.transactionMs}
 * between two transactions, however slowly it trickles its bytes.
 */
import { PassThrough } from 'node:stream';
import type { SMTPServer, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { DEFAULT_MIME_LIMITS, DEFAULT_ZIP_LIMITS } from '@ssmax/core';
import { SimOrgError } from './errors.js';
import { DEFAULT_INSPECTION_POLICY, DEFAULT_INSPECTION_TIME_LIMIT_MS } from './inspection.js';
import { GRACE_MS, WORKER_HEAP_MB } from './inspection-pool.js';
import type { OrgContext } from './org-context.js';
import { formatReply, replyFor, type ReplyCodeKey } from './reply-codes.js';

/** What the listener enforces on each SMTP server (MSA, MTA-in); override per org with `OrgProfile.smtpLimits`. */
export interface SmtpLimits {
  /** Sessions open at once on one server, all clients together (admitted sessions; a new one waits ≤ 100 ms for its greeting). */
  readonly sessions: number;
  /** Sessions open at once from one client address (below {@link sessions}, so one client cannot take them all). */
  readonly sessionsPerClient: number;
  /** Recipients of one mail transaction (RFC 5321 §4.5.3.1.8: a server must take at least 100). */
  readonly recipients: number;
  /** Longest command line in bytes, CRLF excluded (smtp-server `maxCommandLength`). */
  readonly commandLineBytes: number;
  /** How long the server waits for the client's next bytes (smtp-server `socketTimeout`; also the STARTTLS handshake). */
  readonly idleMs: number;
  /**
   * Longest time from the greeting, or from the end of the previous transaction, to the end of the next
   * DATA. Bounds a client that trickles a byte just before each idle timeout (slowloris). Never fires while
   * the server itself is working on a received message.
   */
  readonly transactionMs: number;
  /**
   * DATA is read up to this multiple of the message size limit; beyond it the server stops reading,
   * answers 552 and closes the session. Below it an oversized message is read to its end and answered 552
   * (RFC 5321 §4.5.3.1.10), so the session stays usable.
   */
  readonly dataCutoffFactor: number;
}

/** The limits every MSA and MTA-in runs with unless its org profile overrides them. */
export const SMTP_LIMITS: SmtpLimits = Object.freeze({
  sessions: 100,
  sessionsPerClient: 20,
  recipients: 100,
  commandLineBytes: 16 * 1024,
  idleMs: 60_000,
  transactionMs: 10 * 60_000,
  dataCutoffFactor: 2,
});

/** The message size limit msa.ts and mta-in.ts use when `OrgProfile.maxMessageBytes` is not set (they announce it as SIZE, RFC 1870). */
export const DEFAULT_MESSAGE_BYTES = 10 * 1024 * 1024;

// smtp-server 3.21's own bounds, stated here so the table can name them (a test checks the replies).
const SMTP_SERVER_UNRECOGNIZED_COMMANDS = 10;
const SMTP_SERVER_UNAUTHENTICATED_COMMANDS = 10;
const SMTP_SERVER_HELO_NAME_CHARS = 300;
const GREETING_DELAY_MS = 100;
/** At most one report per limit and client address in this window; the rest are counted in `details.suppressed`. */
const REPORT_WINDOW_MS = 1000;

export interface SmtpGuardOptions {
  readonly limits?: Partial<SmtpLimits>;
  /**
   * Told of each limit a client hits, as a typed error whose `details` name the limit, its value, the
   * client and the reply sent. At most once a second per limit and client address: a client that hits a
   * limit in a loop cannot flood the log either.
   */
  readonly onLimit?: (e: SimOrgError) => void;
}

/** The `details` of a {@link SimOrgError} a limit raised. */
export type SmtpLimitDetails = {
  readonly limit: keyof SmtpLimits;
  readonly value: number;
  readonly client: string;
  /** The reply line the client got. */
  readonly reply: string;
  /** Reports of the same limit and client left out in the last second. */
  readonly suppressed: number;
};

type LimitCode = ReplyCodeKey & SimOrgError['code'];

/** A limit a client hit: the error's code, message and details before it is reported. */
interface LimitHit {
  readonly code: LimitCode;
  readonly message: string;
  readonly details: SmtpLimitDetails;
}

interface SessionState {
  readonly client: string;
  timer?: NodeJS.Timeout;
  /** The client has sent all of DATA and waits for the server's reply. */
  busy: boolean;
  /** DATA ran past the cut-off: the session is answered 552 and closed once the handler has journaled it. */
  cut: boolean;
}

/**
 * Puts the limits on `server` before it listens: smtp-server's own (idle timeout, command line length),
 * and, by wrapping its handlers, the sessions per server and per client (onConnect), the recipients
 * (onRcptTo), the transaction time and the bytes of DATA the handler sees and the server reads (onData).
 * Reverse DNS of the client is switched off: sim-net addresses mean nothing to the host's resolver, and
 * smtp-server would hold each greeting up to 1.5 s for it. Returns the limits in force.
 */
export function guardSmtp(server: SMTPServer, o: SmtpGuardOptions = {}): SmtpLimits {
  const limits: SmtpLimits = Object.freeze({ ...SMTP_LIMITS, ...o.limits });
  const report = throttle(o.onLimit);
  Object.assign(server.options, { socketTimeout: limits.idleMs, maxCommandLength: limits.commandLineBytes, disableReverseLookup: true });
  const sessions = new Map<string, SessionState>();
  const connection = (id: string) => [...server.connections].find((c) => c.id === id);

  const armTransaction = (session: SMTPServerSession, s: SessionState): void => {
    clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      if (s.busy) return; // the server owes the reply (inspection may run); the end of the transaction re-arms
      const e = limitHit('SESSION_TIMEOUT', `Cannot wait longer for the transaction. It took more than ${limits.transactionMs} ms`, {
        limit: 'transactionMs',
        value: limits.transactionMs,
        client: s.client,
      });
      report(e);
      connection(session.id)?.send(replyFor(e.code).code, replyText(e)); // a 421 also closes
    }, limits.transactionMs);
    s.timer.unref();
  };

  const onConnect = server.onConnect.bind(server);
  server.onConnect = (session, cb) => {
    const client = session.remoteAddress;
    const fromClient = [...sessions.values()].filter((s) => s.client === client).length;
    const refusal =
      sessions.size >= limits.sessions
        ? limitHit('TOO_MANY_SESSIONS', `Cannot open another session. ${sessions.size} are open, the limit is ${limits.sessions}`, {
            limit: 'sessions',
            value: limits.sessions,
            client,
          })
        : fromClient >= limits.sessionsPerClient
          ? limitHit(
              'TOO_MANY_SESSIONS_FROM_CLIENT',
              `Cannot open another session for ${client}. It has ${fromClient} open, the limit is ${limits.sessionsPerClient}`,
              { limit: 'sessionsPerClient', value: limits.sessionsPerClient, client },
            )
          : undefined;
    if (refusal) {
      report(refusal);
      return cb(asReply(refusal));
    }
    const s: SessionState = { client, busy: false, cut: false };
    sessions.set(session.id, s);
    armTransaction(session, s);
    onConnect(session, cb);
  };

  const onClose = server.onClose.bind(server);
  server.onClose = (session, cb) => {
    clearTimeout(sessions.get(session.id)?.timer);
    sessions.delete(session.id);
    onClose(session, cb);
  };

  const onRcptTo = server.onRcptTo.bind(server);
  server.onRcptTo = (address, session, cb) => {
    const rcpts = session.envelope.rcptTo;
    const key = address.address.toLowerCase();
    // A repeated recipient replaces its earlier entry (smtp-server), so it does not count again.
    if (rcpts.length >= limits.recipients && !rcpts.some((r) => r.address.toLowerCase() === key)) {
      const e = limitHit('TOO_MANY_RECIPIENTS', `Cannot take another recipient. The transaction has ${rcpts.length}, the limit is ${limits.recipients}`, {
        limit: 'recipients',
        value: limits.recipients,
        client: session.remoteAddress,
      });
      report(e);
      return cb(asReply(e));
    }
    onRcptTo(address, session, cb);
  };

  const onData = server.onData.bind(server);
  server.onData = (stream, session, cb) => {
    const s = sessions.get(session.id) ?? { client: session.remoteAddress, busy: false, cut: false };
    const size = Number(server.options.size) || Number.POSITIVE_INFINITY;
    stream.once('end', () => {
      s.busy = true;
    });
    const bounded = boundedData(stream, size, size * limits.dataCutoffFactor, () => {
      s.cut = true;
    });
    onData(bounded, session, (err, message) => {
      s.busy = false;
      if (!s.cut) {
        if (sessions.has(session.id)) armTransaction(session, s);
        return cb(err, message);
      }
      // The client is still sending: the reply cannot wait for the end of DATA, so it ends the session.
      const e = limitHit(
        'MESSAGE_TOO_BIG',
        `Cannot read the rest of the message. More than ${size * limits.dataCutoffFactor} bytes came without the end of DATA (${limits.dataCutoffFactor} × the limit of ${size}); the session is closed`,
        { limit: 'dataCutoffFactor', value: limits.dataCutoffFactor, client: s.client },
      );
      report(e);
      const c = connection(session.id);
      c?.send(replyFor('MESSAGE_TOO_BIG').code, replyText(e));
      c?.close();
    });
  };
  return limits;
}

/**
 * The limits and the journal of one org's MSA or MTA-in: its profile's overrides, and each limit hit as a
 * journey event of the service (procedure 0: no message was taken; the reply and the limit in the check).
 */
export function orgSmtpGuard(ctx: Pick<OrgContext, 'id' | 'journey' | 'profile'>, service: 'msa' | 'mta-in'): SmtpGuardOptions {
  return {
    ...(ctx.profile.smtpLimits ? { limits: ctx.profile.smtpLimits } : {}),
    onLimit: (e) => {
      const d = e.details as SmtpLimitDetails;
      void ctx.journey
        .record({
          messageId: '',
          actor: `${ctx.id}/${service}`,
          procedure: 0,
          checks: [{ name: 'resource-limit', result: 'fail', detail: `${e.code}: ${d.limit} ${d.value}, client ${d.client}` }],
          files: 'none',
          outcome: 'rejected',
          reply: d.reply,
          detail: d.suppressed > 0 ? `${e.message} (${d.suppressed} more in the last second not journaled)` : e.message,
        })
        .catch(() => undefined);
    },
  };
}

/**
 * The DATA stream as the handler sees it: the first `keep` bytes (the size limit; what comes after is
 * counted, not held) and `sizeExceeded` as smtp-server sets it. Past `cutoff` bytes it ends at once with
 * `sizeExceeded` and calls `onCut`; the caller then closes the session.
 */
function boundedData(stream: SMTPServerDataStream, keep: number, cutoff: number, onCut: () => void): SMTPServerDataStream {
  const out: SMTPServerDataStream = Object.assign(new PassThrough(), { byteLength: 0, sizeExceeded: false });
  let seen = 0;
  let cut = false;
  stream.on('data', (chunk: Buffer) => {
    if (cut) return;
    seen += chunk.length;
    out.byteLength = seen;
    if (seen <= keep) {
      out.write(chunk);
      return;
    }
    out.sizeExceeded = true;
    if (seen > cutoff) {
      cut = true;
      onCut();
      out.end();
    }
  });
  stream.once('end', () => {
    if (cut) return;
    out.sizeExceeded ||= stream.sizeExceeded;
    out.end();
  });
  // smtp-server destroys the stream when the client leaves mid-DATA; an 'error' nobody listens to would crash the process.
  stream.once('error', (err) => (out.listenerCount('error') > 0 ? out.destroy(err) : out.destroy()));
  return out;
}

function limitHit(code: LimitCode, reason: string, d: Omit<SmtpLimitDetails, 'reply' | 'suppressed'>): LimitHit {
  return { code, message: `${reason}.`, details: { ...d, reply: formatReply(replyFor(code), `${d.limit} ${d.value}`), suppressed: 0 } };
}

/** The reply text after the code, as smtp-server sends `<code> <text>` (the enhanced code leads the text, RFC 3463). */
function replyText(e: LimitHit): string {
  return e.details.reply.slice(4);
}

function asReply(e: LimitHit): Error & { responseCode: number } {
  return Object.assign(new Error(replyText(e)), { responseCode: replyFor(e.code).code });
}

/** Reports each hit as a typed {@link SimOrgError}, at most once per {@link REPORT_WINDOW_MS} per limit and client. */
function throttle(sink: ((e: SimOrgError) => void) | undefined): (e: LimitHit) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (e) => {
    if (!sink) return;
    const d = e.details;
    const key = `${e.code} ${d.client}`;
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < REPORT_WINDOW_MS) {
      seen.suppressed++;
      return;
    }
    if (last.size > 1024) for (const [k, v] of last) if (now - v.at >= REPORT_WINDOW_MS) last.delete(k);
    last.set(key, { at: now, suppressed: 0 });
    sink(new SimOrgError(e.code, e.message, { details: { ...d, suppressed: seen?.suppressed ?? 0 } }));
  };
}

/** One row of the limits table: which servers, the limit, its value, what the client gets, where it is enforced. */
export interface SmtpLimitRow {
  readonly servers: readonly ('msa' | 'mta-in')[];
  readonly limit: string;
  readonly value: string;
  readonly exceeded: string;
  readonly enforcedBy: string;
}

const both = ['msa', 'mta-in'] as const;
const reply = (code: ReplyCodeKey): string => {
  const r = replyFor(code);
  return `\`${r.code} ${r.enhanced}\` ${code}`;
};
const mib = (n: number): string => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`);
const secs = (ms: number): string => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);

/** The limits of the MSA and the MTA-in as data, from the constants the code runs with. */
export function smtpLimitRows(l: SmtpLimits = SMTP_LIMITS): SmtpLimitRow[] {
  const listener = '`smtp-limits.ts` guardSmtp (applied by `smtp-listener.ts`)';
  const inbound = `${reply('UNINSPECTABLE')}, in the session`;
  const outbound = 'DSN (RFC 3464) `UNINSPECTABLE` after the 250';
  const zip = (what: string) => `(5)/(8) inspection, core \`readZip\` (\`DEFAULT_ZIP_LIMITS\`${what})`;
  return [
    {
      servers: both,
      limit: 'Sessions open at once (all clients)',
      value: String(l.sessions),
      exceeded: `${reply('TOO_MANY_SESSIONS')}, session closed`,
      enforcedBy: listener,
    },
    {
      servers: both,
      limit: 'Sessions open at once from one client address',
      value: String(l.sessionsPerClient),
      exceeded: `${reply('TOO_MANY_SESSIONS_FROM_CLIENT')}, session closed`,
      enforcedBy: listener,
    },
    {
      servers: both,
      limit: 'Greeting delay (client talking first is refused)',
      value: `${GREETING_DELAY_MS} ms`,
      exceeded: '`421 <host> You talk too soon`, session closed',
      enforcedBy: 'smtp-server',
    },
    {
      servers: both,
      limit: 'Idle time waiting for the client (also the STARTTLS handshake)',
      value: secs(l.idleMs),
      exceeded: '`421 Timeout - closing connection`',
      enforcedBy: 'smtp-server `socketTimeout`, set by guardSmtp',
    },
    {
      servers: both,
      limit: 'Time from the greeting or the last transaction to the end of the next DATA (slowloris)',
      value: secs(l.transactionMs),
      exceeded: `${reply('SESSION_TIMEOUT')}, session closed (never while the server works on a received message)`,
      enforcedBy: listener,
    },
    {
      servers: both,
      limit: 'Command line length',
      value: mib(l.commandLineBytes),
      exceeded: '`421 Error: Command line too long`, session closed (the stream cannot be resynchronised)',
      enforcedBy: 'smtp-server `maxCommandLength`, set by guardSmtp',
    },
    {
      servers: both,
      limit: 'HELO/EHLO name length',
      value: `${SMTP_SERVER_HELO_NAME_CHARS} characters`,
      exceeded: '`501 Error: Bad hostname syntax`',
      enforcedBy: 'smtp-server',
    },
    {
      servers: both,
      limit: 'Unrecognised commands in a row',
      value: String(SMTP_SERVER_UNRECOGNIZED_COMMANDS),
      exceeded: '`500` each, the last `421 Error: too many unrecognized commands`, session closed',
      enforcedBy: 'smtp-server',
    },
    {
      servers: ['msa'],
      limit: 'Commands before AUTH',
      value: String(SMTP_SERVER_UNAUTHENTICATED_COMMANDS),
      exceeded: '`421 Error: too many unauthenticated commands`, session closed',
      enforcedBy: 'smtp-server',
    },
    {
      servers: both,
      limit: 'Recipients per transaction',
      value: String(l.recipients),
      exceeded: `${reply('TOO_MANY_RECIPIENTS')} for each further RCPT; the transaction goes on with those taken`,
      enforcedBy: listener,
    },
    {
      servers: both,
      limit: 'Message size (`OrgProfile.maxMessageBytes`, announced as SIZE)',
      value: mib(DEFAULT_MESSAGE_BYTES),
      exceeded: `\`552\` at MAIL FROM with a larger SIZE=; else ${reply('MESSAGE_TOO_BIG')} after DATA, journaled`,
      enforcedBy: 'smtp-server `size`; `msa.ts` / `mta-in.ts` onData',
    },
    {
      servers: both,
      limit: 'Bytes of one message held in memory',
      value: 'the message size',
      exceeded: 'bytes past the size are counted and dropped, never buffered',
      enforcedBy: listener,
    },
    {
      servers: both,
      limit: 'Bytes read of an oversized DATA',
      value: `${l.dataCutoffFactor} × the message size`,
      exceeded: `${reply('MESSAGE_TOO_BIG')} at once, session closed`,
      enforcedBy: listener,
    },
    ...mimeRows('mta-in', `SSMAX mail: ${reply('MESSAGE_TOO_BIG')} at (7); outside mail: ${reply('UNINSPECTABLE')} at (8)`),
    ...mimeRows('msa', `${reply('MALFORMED_MIME')} at (4) (the user's signed entity)`),
    {
      servers: ['mta-in'],
      limit: 'Archive nesting depth (archives opened inside archives)',
      value: String(DEFAULT_INSPECTION_POLICY.maxZipDepth),
      exceeded: inbound,
      enforcedBy: '(8) inspection, `inspection.ts` (`maxZipDepth`)',
    },
    {
      servers: ['mta-in'],
      limit: 'Archive directory entries per message (one budget for every archive)',
      value: String(DEFAULT_ZIP_LIMITS.maxEntries),
      exceeded: inbound,
      enforcedBy: zip(', `ZipBudget`'),
    },
    {
      servers: ['mta-in'],
      limit: 'Inflated bytes of one archive entry',
      value: mib(DEFAULT_ZIP_LIMITS.maxEntryBytes),
      exceeded: inbound,
      enforcedBy: zip(''),
    },
    {
      servers: ['mta-in'],
      limit: 'Inflated bytes per message (one budget for every archive, any depth); bounds the compression ratio too',
      value: mib(DEFAULT_ZIP_LIMITS.maxTotalBytes),
      exceeded: inbound,
      enforcedBy: zip(', `ZipBudget`'),
    },
    {
      servers: ['mta-in'],
      limit: 'Inspection time per message',
      value: `${secs(DEFAULT_INSPECTION_TIME_LIMIT_MS)}; a worker still busy ${secs(GRACE_MS)} later is terminated`,
      exceeded: inbound,
      enforcedBy: '(8) `inspection.ts` and `inspection-pool.ts` (worker threads: the server answers other sessions meanwhile)',
    },
    {
      servers: ['mta-in'],
      limit: 'Heap of an inspection worker',
      value: `${WORKER_HEAP_MB} MiB`,
      exceeded: inbound,
      enforcedBy: '`inspection-pool.ts` (`resourceLimits`)',
    },
    {
      servers: ['msa'],
      limit: 'Archive depth, entries, inflated bytes, inspection time and worker heap',
      value: 'as at the MTA-in',
      exceeded: outbound,
      enforcedBy: '(5) outbound inspection in the MTA-out worker',
    },
  ];
}

/**
 * Core's MIME limits as each server meets them: the top-level header section is read first (`552 5.3.4`
 * at either server); the tree below it only where a check reads it, and then refused as `inTree` says.
 * (An ESP's MX, which does not inspect, and conventional mode, which reads mail with mailparser, do not
 * parse the tree of outside mail: these rows are SSMAX org mode.)
 */
function mimeRows(server: 'msa' | 'mta-in', inTree: string): SmtpLimitRow[] {
  const enforcedBy = `core's MIME parser (\`DEFAULT_MIME_LIMITS\`) at ${server === 'msa' ? '(4)' : '(7)/(8)'}`;
  const header = `top-level header: ${reply('MESSAGE_TOO_BIG')}; in a part: ${inTree}`;
  return [
    { servers: [server], limit: 'MIME nesting depth', value: String(DEFAULT_MIME_LIMITS.maxDepth), exceeded: inTree, enforcedBy },
    { servers: [server], limit: 'MIME body parts per message', value: String(DEFAULT_MIME_LIMITS.maxParts), exceeded: inTree, enforcedBy },
    { servers: [server], limit: 'Header fields per entity', value: String(DEFAULT_MIME_LIMITS.maxHeaderFields), exceeded: header, enforcedBy },
    { servers: [server], limit: 'Header section per entity', value: mib(DEFAULT_MIME_LIMITS.maxHeaderBytes), exceeded: header, enforcedBy },
  ];
}

/** The table of one server's limits as Markdown, for docs/PROTOCOL.md (regenerate rather than hand-edit). */
export function renderSmtpLimitsMarkdown(server: 'msa' | 'mta-in', l: SmtpLimits = SMTP_LIMITS): string {
  const rows = smtpLimitRows(l)
    .filter((r) => r.servers.includes(server))
    .map((r) => `| ${r.limit} | ${r.value} | ${r.exceeded} | ${r.enforcedBy} |`);
  return ['| Limit | Value | When exceeded, the client gets | Enforced in |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}
