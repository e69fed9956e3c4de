/**
 * The SMTP target: one case is one session against org-b's MX (sim-org MTA-in on smtp-server), from an outside
 * address. Sessions are mostly plausible transactions (so DATA is reached) carrying a real SSMAX mail, a plain mail,
 * or their structure-aware and byte-level mutations, interleaved with noise: bare LF and bare CR line ends,
 * end-of-data smuggling attempts (`<LF>.<CR><LF>`, `<CR><LF>.<LF>`, … followed by a second transaction inside the
 * data, RFC 5321 §4.1.1.4 and the 2023 SMTP smuggling reports), overlong lines, NUL bytes, pipelined garbage, BDAT,
 * STARTTLS followed by junk, and sessions cut off mid-way.
 *
 * Oracles per session: every reply line is well formed (RFC 5321 §4.2); the MX never answers "queued" more often than
 * the client ended a message (a proper `<CR><LF>.<CR><LF>` or BDAT LAST): more would mean smuggled mail; a
 * `451 4.3.0` (reply-codes.ts INTERNAL: an error no table maps) is an untyped error; after the client has sent
 * everything and closed its side, the MX closes within 2 s (else a hang).
 */
import fc from 'fast-check';
import { mimeTokenSoup, mutatedFrom } from '@ssmax/core/fuzz';
import type { HostReady } from './fuzz-host.js';
import { mimeMutatedFrom } from './mime-mutator.js';
import { HANG_MS, type CaseResult } from './outcome.js';
import { RawConnection } from './raw-connection.js';

export interface SmtpCase {
  readonly steps: readonly Uint8Array[];
  readonly pipelined: boolean;
  readonly ending: 'quit' | 'abrupt';
}

const line = (s: string) => new Uint8Array(Buffer.from(`${s}\r\n`, 'latin1'));
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** RFC 5321 §4.5.2 transparency: a line that starts with "." gets another. */
function dotStuffed(mail: Uint8Array): Uint8Array {
  const text = Buffer.from(mail).toString('latin1').replace(/\r?\n/g, '\r\n');
  return bytes(text.replace(/^\./gm, '..') + (text.endsWith('\r\n') ? '' : '\r\n'));
}

/** End-of-data look-alikes that only a lenient reader takes for `<CR><LF>.<CR><LF>`. */
const FAKE_ENDS = ['\n.\r\n', '\r\n.\n', '\n.\n', '\r.\r\n', '\r\n.\r', '\r\n\0.\r\n', '\r\n .\r\n'];

/** The flat client bytes of a case (what the smuggling oracle counts). */
export function smtpCaseBytes(c: SmtpCase): Uint8Array {
  return cat(...c.steps);
}

export function smtpCases(ready: HostReady): fc.Arbitrary<SmtpCase> {
  const seeds = [ready.seeds.ssmaxMail, ready.seeds.plainMail].filter((m): m is Uint8Array => m !== undefined);
  const rcpt = ready.recipient;
  const domain = rcpt.slice(rcpt.indexOf('@') + 1);
  const word = fc.stringMatching(/^[\x21-\x7e]{0,40}$/);
  const junk = fc.uint8Array({ maxLength: 300 });

  const ehlo = fc.oneof(
    { weight: 6, arbitrary: fc.constant(line('EHLO fuzz.outside.example')) },
    fc.constantFrom(line('HELO fuzz.example'), line('EHLO'), line('ehlo [127.0.0.1]'), bytes('EHLO bare-lf.example\n'), line('EHLO a\0b')),
    fc.integer({ min: 500, max: 70_000 }).map((n) => line(`EHLO ${'h'.repeat(n)}`)),
  );
  const mailFrom = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(line('MAIL FROM:<alice@org-a.example>'), line('MAIL FROM:<carol@outside.example>')) },
    fc.constantFrom(
      line('MAIL FROM:<>'),
      line('MAIL FROM:<carol@outside.example> SIZE=99999999999999'),
      line('MAIL FROM:<carol@outside.example> BODY=8BITMIME SMTPUTF8'),
    ),
    word.map((w) => line(`MAIL FROM:<carol@outside.example> ${w}=${w}`)),
    word.map((w) => line(`MAIL FROM:${w}`)),
  );
  const rcptTo = fc.oneof(
    { weight: 8, arbitrary: fc.constant(line(`RCPT TO:<${rcpt}>`)) },
    fc.constantFrom(
      line(`RCPT TO:<nobody@${domain}>`),
      line('RCPT TO:<someone@elsewhere.example>'),
      line('RCPT TO:<>'),
      line(`RCPT TO:<${rcpt.toUpperCase()}>`),
    ),
    word.map((w) => line(`RCPT TO:${w}`)),
    fc.integer({ min: 100, max: 300 }).map((n) => cat(...Array.from({ length: n }, (_, i) => line(`RCPT TO:<u${i}@${domain}>`)))),
  );
  const body = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...seeds).map(dotStuffed) },
    { weight: 6, arbitrary: mimeMutatedFrom(seeds).map(dotStuffed) },
    { weight: 2, arbitrary: mutatedFrom(seeds) },
    { weight: 1, arbitrary: mimeTokenSoup() },
    { weight: 1, arbitrary: fc.constantFrom(...seeds).map((m) => bytes(Buffer.from(m).toString('latin1').replace(/\r\n/g, '\n'))) },
    { weight: 1, arbitrary: fc.integer({ min: 2000, max: 200_000 }).map((n) => bytes(`Subject: long line\r\n\r\n${'L'.repeat(n)}\r\n`)) },
    { weight: 1, arbitrary: junk },
  );
  // A transaction hidden in the data behind a fake end: accepted twice only by a server that reads the fake end.
  const smuggled = fc
    .tuple(fc.constantFrom(...seeds).map(dotStuffed), fc.constantFrom(...FAKE_ENDS))
    .map(([m, end]) =>
      cat(
        m.subarray(0, Math.max(0, m.length - 2)),
        bytes(end),
        line('MAIL FROM:<smuggler@outside.example>'),
        line(`RCPT TO:<${rcpt}>`),
        line('DATA'),
        bytes('From: smuggler@outside.example\r\nTo: bob\r\nSubject: smuggled\r\n\r\nsmuggled\r\n'),
      ),
    );
  const data = fc
    .tuple(fc.oneof({ weight: 5, arbitrary: body }, { weight: 2, arbitrary: smuggled }), fc.constantFrom('\r\n.\r\n', '.\r\n', '', '\n.\n'))
    .map(([b, end]) => cat(line('DATA'), b, bytes(end === '.\r\n' && !Buffer.from(b).toString('latin1').endsWith('\r\n') ? `\r\n${end}` : end)));
  const bdat = fc.tuple(body, fc.boolean()).map(([b, last]) => cat(line(`BDAT ${b.length}${last ? ' LAST' : ''}`), b));
  const misc = fc.oneof(
    fc.constantFrom(
      line('RSET'),
      line('NOOP'),
      line('HELP'),
      line('VRFY bob'),
      line('EXPN staff'),
      line('AUTH PLAIN AGJvYgBwdw=='),
      bytes('NOOP\n'),
      bytes('NOOP\r'),
      line('QUIT'),
    ),
    junk.map((g) => cat(line('STARTTLS'), g)),
    fc.integer({ min: 1000, max: 100_000 }).map((n) => line('X'.repeat(n))),
    junk,
    word.map((w) => line(`${w}\0${w}`)),
  );
  const transaction = fc
    .tuple(ehlo, mailFrom, fc.array(rcptTo, { minLength: 0, maxLength: 3 }), fc.oneof({ weight: 5, arbitrary: data }, { weight: 1, arbitrary: bdat }))
    .map(([e, m, r, d]) => [e, m, ...r, d]);
  const valid = fc
    .constantFrom(...seeds)
    .map((m) => [
      line('EHLO fuzz.outside.example'),
      line('MAIL FROM:<alice@org-a.example>'),
      line(`RCPT TO:<${rcpt}>`),
      line('DATA'),
      dotStuffed(m),
      line('.'),
    ]);
  const steps = fc
    .array(
      fc.oneof(
        { weight: 2, arbitrary: valid },
        { weight: 5, arbitrary: transaction },
        { weight: 2, arbitrary: fc.array(fc.oneof(ehlo, mailFrom, rcptTo, data, bdat, misc), { minLength: 1, maxLength: 6 }) },
      ),
      { minLength: 1, maxLength: 3 },
    )
    .map((xs) => xs.flat());
  return fc.record({ steps, pipelined: fc.boolean(), ending: fc.constantFrom<'quit' | 'abrupt'>('quit', 'quit', 'quit', 'abrupt') });
}

/** A session with the MX, from the fuzz client's outside address. */
const openSession = (ready: HostReady) => RawConnection.open({ host: ready.mx.address, port: ready.mx.port, localAddress: ready.clientAddress }, HANG_MS);

/** Reply lines up to a STARTTLS handshake (after it the bytes are TLS records). */
function replyLines(text: string): string[] {
  const lines = text.split('\r\n').slice(0, -1);
  const tls = lines.findIndex((l) => /^220 /.test(l) && /TLS/i.test(l));
  return tls >= 0 && tls > 0 ? lines.slice(0, tls + 1) : lines;
}

const finalReplies = (text: string) => replyLines(text).filter((l) => /^\d{3} /.test(l)).length;

function countOf(hay: Buffer, needle: string): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/** Runs one session and judges it (the host's liveness is the runner's business). */
export async function runSmtpCase(ready: HostReady, c: SmtpCase): Promise<CaseResult> {
  const t0 = performance.now();
  let s: RawConnection;
  try {
    s = await openSession(ready);
  } catch (e) {
    return { outcome: 'crash', ms: performance.now() - t0, reached: [], errorType: 'ConnectFailed', detail: (e as Error).message };
  }
  try {
    if (!(await s.until(() => /\r\n/.test(s.text), HANG_MS))) return { outcome: 'hang', ms: performance.now() - t0, reached: [], detail: 'no greeting' };
    if (c.pipelined) s.write(smtpCaseBytes(c));
    else {
      for (const step of c.steps) {
        if (s.closed) break;
        const before = finalReplies(s.text);
        s.write(step);
        // Wait for this step's reply, if it gets one: a quiet 50 ms means it is data or a fragment.
        await s.until(() => finalReplies(s.text) > before, 50);
      }
    }
    let hang = false;
    // The MX's own time: until it closed after our last byte, less the time it rightly waited for bytes we never sent.
    let waited = 0;
    if (c.ending === 'abrupt') s.socket.destroy();
    else {
      s.write(bytes('\r\n.\r\nQUIT\r\n'));
      const sent = performance.now();
      if (!(await s.until(() => false, HANG_MS))) {
        // Still open: the MX may be reading a BDAT chunk or a long line that swallowed QUIT. After our EOF it must close.
        waited = performance.now() - sent;
        s.socket.end();
        hang = !(await s.until(() => false, HANG_MS));
      }
    }
    const ms = performance.now() - t0 - waited;
    const lines = replyLines(s.text);
    const reached = ['greeting'];
    if (lines.some((l) => /^354[ -]/.test(l))) reached.push('data');
    const queued = lines.filter((l) => /^250[ -]2\.0\.0 queued/.test(l)).length;
    if (queued > 0) reached.push('queued');
    const sent = Buffer.from(cat(smtpCaseBytes(c), c.ending === 'quit' ? bytes('\r\n.\r\n') : new Uint8Array(0)));
    const ends =
      countOf(sent, '\r\n.\r\n') +
      (Buffer.from(smtpCaseBytes(c))
        .toString('latin1')
        .match(/BDAT \d+ LAST/gi)?.length ?? 0);
    const malformed = lines.find((l) => !/^[2-5]\d\d(?:[ -][^\r\n]*)?$/.test(l));
    const violation =
      queued > ends
        ? `smuggling: ${queued} messages queued from ${ends} end-of-data markers`
        : malformed !== undefined
          ? `malformed reply line "${malformed.slice(0, 80)}"`
          : undefined;
    const internal = lines.find((l) => /^451[ -]4\.3\.0/.test(l));
    const outcome = hang ? 'hang' : internal !== undefined ? 'untyped' : lines.some((l) => /^[45]\d\d /.test(l)) ? 'typed' : 'ok';
    return {
      outcome,
      ms,
      reached,
      ...(internal !== undefined ? { errorType: 'SMTP 451 4.3.0', detail: internal.slice(0, 200) } : {}),
      ...(hang ? { detail: 'the MX did not close within 2 s of the client closing its side' } : {}),
      ...(violation !== undefined ? { violation } : {}),
    };
  } finally {
    s.socket.destroy();
  }
}

/** A fresh session still gets 220, 250 to EHLO and 221 to QUIT within 2 s each: the MX is answering. */
export async function smtpAnswers(ready: HostReady): Promise<boolean> {
  let s: RawConnection;
  try {
    s = await openSession(ready);
  } catch {
    return false;
  }
  try {
    if (!(await s.until(() => /^220 /m.test(s.text), HANG_MS))) return false;
    s.write(line('EHLO probe.example'));
    if (!(await s.until(() => /^250 /m.test(s.text), HANG_MS))) return false;
    s.write(line('QUIT'));
    return await s.until(() => /^221 /m.test(s.text), HANG_MS);
  } finally {
    s.socket.destroy();
  }
}
