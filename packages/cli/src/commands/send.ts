/**
 * `ssmax send --from A --to B [--to C…] [--cc X…] [--subject S] [--body TEXT | --body-file F]
 *  [--file F…] [--pin P] [--no-wait] [--json] [--state FILE]`: sends as user A through the running
 * world (`ssmax up`). The card lives in the world process, so the mail is composed and signed there:
 * this command talks to it over the control socket (see @ssmax/world control.ts). The PIN comes from
 * --pin, else SSMAX_PIN, else it is asked on the terminal without echo.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import { ControlApiError, controlRequest, readWorldState, stateFilePath, type CancelResponse, type SendRequest, type SendResponse } from '@ssmax/world';
import { many, one, parseArgs } from '../args.js';
import type { CommandIo } from './up.js';

export const SEND_USAGE = `usage: ssmax send --from A --to B [--to C…] [--cc X…] [--subject S] [--body TEXT | --body-file F]
                  [--file F…] [--pin P] [--no-wait] [--json] [--state FILE]
       ssmax send --from A --cancel MESSAGE-ID [--json] [--state FILE]
  Sends a card-signed SSMAX mail as A through the running world (ssmax up). PIN: --pin, SSMAX_PIN or asked.
  Waits until the mail is delivered or refused and prints its journey, unless --no-wait.
  --cancel: A cancels a mail of theirs still held at their org (best-practice hold-then-send, the ssmax-plus
  hold); exit 0 when cancelled, 1 when too late or not found.
`;

const TYPES: Record<string, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  pdf: 'application/pdf',
  zip: 'application/zip',
  html: 'text/html',
  xml: 'application/xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/** Asks for a secret on the terminal without echo; a usage error when there is no terminal. */
export async function promptSecret(question: string, what: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new SsmaxError('USAGE', `Cannot ask for the ${what}. There is no terminal; pass it as an option or in the environment.`);
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (d: Buffer): void => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new SsmaxError('USAGE', `Cannot read the ${what}. Interrupted.`));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Reports a control API refusal on stderr and returns the CLI exit code. */
export function reportControlError(cmd: string, e: unknown, io: CommandIo): number {
  if (!(e instanceof ControlApiError)) throw e;
  io.stderr.write(`ssmax ${cmd}: ${e.code}: ${e.message}\n`);
  return e.exitCode;
}

export async function runSendCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, {
    values: ['from', 'to', 'cc', 'subject', 'body', 'body-file', 'file', 'pin', 'state', 'cancel'],
    flags: ['no-wait', 'json', 'help'],
  });
  if (args.flags.has('help')) {
    io.stdout.write(SEND_USAGE);
    return 0;
  }
  if (args.positionals.length > 0) throw new SsmaxError('USAGE', `Cannot send. Unexpected argument "${args.positionals[0]}".\n${SEND_USAGE}`);
  const cancel = one(args, 'cancel');
  if (cancel !== undefined) return cancelHeld(one(args, 'from'), cancel, args, io);
  const from = one(args, 'from');
  const to = many(args, 'to')
    .flatMap((t) => t.split(','))
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (!from || to.length === 0) throw new SsmaxError('USAGE', `Cannot send. --from and at least one --to are required.\n${SEND_USAGE}`);
  const bodyArg = one(args, 'body');
  const bodyFile = one(args, 'body-file');
  if (bodyArg !== undefined && bodyFile !== undefined) throw new SsmaxError('USAGE', 'Cannot send. Give --body or --body-file, not both.');
  const readLocal = (p: string, what: string): Buffer => {
    try {
      return readFileSync(p);
    } catch (cause) {
      throw new SsmaxError(
        'USAGE',
        `Cannot read ${what} ${p}. ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'It does not exist' : (cause as Error).message}.`,
        { cause },
      );
    }
  };
  const body = bodyFile !== undefined ? readLocal(bodyFile, 'the body file').toString('utf8') : (bodyArg ?? '');
  const files = many(args, 'file').map((p) => {
    const name = basename(p);
    const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
    return { name, contentType: TYPES[ext] ?? 'application/octet-stream', base64: readLocal(p, 'the file').toString('base64') };
  });
  const state = readWorldState(stateFilePath(one(args, 'state')));
  const pin = one(args, 'pin') ?? process.env['SSMAX_PIN'] ?? (await promptSecret(`Card PIN for ${from}: `, 'card PIN'));
  const cc = many(args, 'cc');
  const request: SendRequest = {
    from,
    to,
    ...(cc.length ? { cc } : {}),
    subject: one(args, 'subject') ?? '',
    body,
    files,
    pin,
    wait: !args.flags.has('no-wait'),
  };
  let r: SendResponse;
  try {
    r = await controlRequest<SendResponse>(state.socket, 'POST', '/v1/send', request);
  } catch (e) {
    return reportControlError('send', e, io);
  }
  if (args.flags.has('json')) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`Sent ${r.messageId} from ${from} to ${to.join(', ')}${files.length ? ` with ${files.length} file(s)` : ''}.\nMSA: ${r.response}\n`);
  if (r.journey) {
    io.stdout.write('Journey:\n');
    for (const e of r.journey) {
      const failed = e.checks.filter((c) => c.result === 'fail').map((c) => c.name);
      io.stdout.write(
        `  ${e.at}  ${e.actor.padEnd(22)} (${e.procedure})  ${e.outcome.padEnd(9)} files=${e.files}${failed.length ? `  failed: ${failed.join(', ')}` : ''}${e.reply ? `  ${e.reply}` : ''}\n`,
      );
    }
    const refused = r.journey.find((e) => e.outcome === 'rejected' || e.outcome === 'bounced');
    if (refused) {
      io.stdout.write(
        `Not delivered: ${refused.actor} ${refused.outcome} it${refused.reply ? ` (${refused.reply})` : refused.detail ? ` (${refused.detail})` : ''}.\n`,
      );
      return 1;
    }
    io.stdout.write(r.journey.some((e) => e.outcome === 'delivered') ? 'Delivered.\n' : 'Queued (not yet delivered).\n');
  }
  return 0;
}

/** `ssmax send --from A --cancel MESSAGE-ID`: the sender cancels a mail still held at their org. */
async function cancelHeld(from: string | undefined, messageId: string, args: ReturnType<typeof parseArgs>, io: CommandIo): Promise<number> {
  if (!from || messageId.trim() === '') throw new SsmaxError('USAGE', `Cannot cancel. --from and a Message-ID after --cancel are required.\n${SEND_USAGE}`);
  const state = readWorldState(stateFilePath(one(args, 'state')));
  let r: CancelResponse;
  try {
    r = await controlRequest<CancelResponse>(state.socket, 'POST', '/v1/cancel', { from, messageId });
  } catch (e) {
    return reportControlError('send', e, io);
  }
  if (args.flags.has('json')) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else
    io.stdout.write(
      r.result === 'cancelled'
        ? `Cancelled ${r.messageId}: it will not be sent.\n`
        : r.result === 'too-late'
          ? `Too late: ${r.messageId} has already left the hold.\n`
          : `Not found: ${from} has no held mail ${r.messageId}.\n`,
    );
  return r.result === 'cancelled' ? 0 : 1;
}
