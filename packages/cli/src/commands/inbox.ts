/**
 * `ssmax inbox --user A [--password P] [--pin P] [--totp CODE] [--json] [--state FILE]`: reads A's
 * mailbox over IMAP through the user agent in the running world, which verifies each mail (10) and
 * decrypts its files on A's card, and prints each mail's verdict and identity-proofing notice.
 * Password: --password, else SSMAX_PASSWORD, else asked; PIN: --pin, else SSMAX_PIN, else asked.
 */
import { SsmaxError } from '@ssmax/core';
import { controlRequest, readWorldState, stateFilePath, type InboxMail } from '@ssmax/world';
import { one, parseArgs } from '../args.js';
import { promptSecret, reportControlError } from './send.js';
import type { CommandIo } from './up.js';

export const INBOX_USAGE = `usage: ssmax inbox --user A [--password P] [--pin P] [--totp CODE] [--json] [--state FILE]
  Reads A's mailbox through the user agent of the running world (ssmax up): each mail's verdict,
  identity-proofing notice and files. Password: --password, SSMAX_PASSWORD or asked; card PIN
  (to decrypt the files): --pin, SSMAX_PIN or asked; --totp for a mailbox second factor.
`;

const PROOFING: Record<string, string> = {
  employeeCardPin: 'employee ID card + PIN (identity checked by the employer)',
  myNumberCardPin: 'My Number card + PIN (identity checked against the national ID card)',
};

/** What the user agent did with one file: released verified, released unverified, or withheld and why. */
function fileState(f: InboxMail['files'][number]): string {
  if (f.withheld) return `withheld (${f.withheld})`;
  if (f.unverified) return 'released UNVERIFIED (not SSMAX-verified)';
  return f.ok ? 'ok' : 'NOT OK';
}

/** The human-readable lines for one mail. */
export function formatMail(i: number, m: InboxMail): string {
  const lines = [`[${i}] ${m.messageId}`, `    From:     ${m.from}`, `    Subject:  ${m.subject}`];
  lines.push(`    Verdict:  ${m.verified ? `VERIFIED (${m.mode})` : `NOT VERIFIED (${m.mode})`}`);
  if (m.outside) lines.push('              outside mail, not SSMAX-verified: attachments scanned by your organisation only');
  for (const p of m.problems) lines.push(`              - ${p}`);
  if (m.signer) lines.push(`    Signer:   ${m.signer}`);
  const n = m.identityNotice;
  if (n) {
    lines.push(`    Identity: ${PROOFING[n.proofing] ?? n.proofing}${n.proofedAt ? `, proofed ${n.proofedAt}` : ''}`);
    lines.push(
      `              card and PIN used for this mail: ${n.cardAndPinUsed ? 'yes' : 'NO'}; sending org ${n.sendingOrg ?? '?'} (${n.sendingDomain ?? '?'}); certificate ${n.certSerial ?? '?'}`,
    );
  } else {
    lines.push('    Identity: none (no identity-proofing notice)');
  }
  for (const f of m.files)
    lines.push(
      `    File:     ${f.name} (${f.contentType}${f.size !== undefined ? `, ${f.size} bytes` : ''}) ${fileState(f)}${f.sha256 ? ` sha256 ${f.sha256}` : ''}`,
    );
  const text = m.text.trim();
  if (text)
    lines.push(
      '    ---',
      ...text
        .split(/\r?\n/)
        .slice(0, 12)
        .map((l) => `    ${l}`),
    );
  return `${lines.join('\n')}\n`;
}

export async function runInboxCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, { values: ['user', 'password', 'pin', 'totp', 'state'], flags: ['json', 'help'] });
  if (args.flags.has('help')) {
    io.stdout.write(INBOX_USAGE);
    return 0;
  }
  if (args.positionals.length > 0) throw new SsmaxError('USAGE', `Cannot read the mailbox. Unexpected argument "${args.positionals[0]}".\n${INBOX_USAGE}`);
  const user = one(args, 'user');
  if (!user) throw new SsmaxError('USAGE', `Cannot read the mailbox. --user is required.\n${INBOX_USAGE}`);
  const state = readWorldState(stateFilePath(one(args, 'state')));
  const password = one(args, 'password') ?? process.env['SSMAX_PASSWORD'] ?? (await promptSecret(`Mail password for ${user}: `, 'mail password'));
  const pin = one(args, 'pin') ?? process.env['SSMAX_PIN'] ?? (await promptSecret(`Card PIN for ${user}: `, 'card PIN'));
  const totp = one(args, 'totp');
  let r: { mails: InboxMail[] };
  try {
    r = await controlRequest<{ mails: InboxMail[] }>(state.socket, 'POST', '/v1/inbox', { user, password, pin, ...(totp !== undefined ? { totp } : {}) });
  } catch (e) {
    return reportControlError('inbox', e, io);
  }
  if (args.flags.has('json')) {
    io.stdout.write(`${JSON.stringify(r.mails, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`${user}: ${r.mails.length} mail(s)\n`);
  r.mails.forEach((m, i) => io.stdout.write(`\n${formatMail(i + 1, m)}`));
  return 0;
}
