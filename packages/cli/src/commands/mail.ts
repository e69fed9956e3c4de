/**
 * `ssmax mail verify`: the recipient client's judgement of a whole mail as one JSON line (core judgeMail), the
 * interface others use to regression-test mail clients against ours (ssmax issue 10, "Also"). The contract is
 * in docs/mail-verify.md.
 */
import { SsmaxError, judgeMail, parseCertificate, toDer, type MailJudgement, type MailSigner } from '@ssmax/core';
import { many, one, parseArgs } from '../args.js';
import { readInput } from '../io.js';
import { KEY_OPTS, readCert, validationTime, withKey } from './cms.js';

type Out = { write(line: string): void };

export const MAIL_USAGE = `usage:
  ssmax mail verify <file.eml | -> --CAfile CERT… [--crl CRL…] [--certfile CERT…] [--attime ISO]
                    [(--key KEY | --token URI [--pin PIN]) [--recip CERT]]
      One JSON line on stdout: {"signature":"valid"|"invalid"|"unsigned"|"partial","signers":[…],
      "from":…,"reasons":[…],…}. Exit 0 valid, 1 anything else, 2 usage, 3 not a mail, 4 infrastructure.
      (valid: signed as a whole, every signer valid at now or --attime, chained to a --CAfile root, revocation
      from the --crl files only, and naming the one From mailbox; --key/--token open encrypted layers)
`;

/** A signer in the JSON line: the judgement without the parsed certificate. */
function signerJson(s: MailSigner): Record<string, unknown> {
  return {
    valid: s.valid,
    ...(s.code ? { code: s.code } : {}),
    reasons: s.reasons,
    layer: s.layer,
    form: s.form,
    ...(s.part ? { part: s.part } : {}),
    fromMatches: s.fromMatches,
    subject: s.subject,
    email: s.email,
    emailAddresses: s.emailAddresses,
    serial: s.serial,
    signingTime: s.signingTime,
  };
}

function line(j: MailJudgement, time: Date): string {
  const { signature, signers, from, reasons, signerDetails, malformed, ...rest } = j;
  return (
    JSON.stringify({
      signature,
      signers,
      from,
      reasons,
      ...rest,
      signerDetails: signerDetails.map(signerJson),
      validatedAt: time.toISOString(),
      ...(malformed ? { malformed: true, code: malformed.code } : {}),
    }) + '\n'
  );
}

async function verify(argv: string[], io: { stdout: Out; stderr: Out }): Promise<number> {
  const a = parseArgs(argv, { values: ['CAfile', 'crl', 'certfile', 'attime', 'recip', ...KEY_OPTS], flags: [] });
  if (a.positionals.length !== 1) throw new SsmaxError('USAGE', `Cannot verify the mail. Give exactly one file (or - for stdin), not ${a.positionals.length}.\n${MAIL_USAGE}`);
  const anchors = many(a, 'CAfile').map(readCert);
  if (anchors.length === 0) throw new SsmaxError('USAGE', 'Cannot verify the mail. Give --CAfile CERT (one or more): the roots this client trusts.');
  // Read every certificate the caller gave now, so a later malformed error can only be the mail's.
  for (const c of anchors) parseCertificate(c);
  const crls = many(a, 'crl').map((p) => toDer(readInput(p, 'the CRL'), 'X509 CRL'));
  const certificates = many(a, 'certfile').map(readCert);
  const time = validationTime(a);
  const recipPath = one(a, 'recip');
  const recipCert = recipPath !== undefined ? readCert(recipPath) : undefined;
  const raw = readInput(a.positionals[0]!, 'the mail');
  const options = { trustAnchors: anchors, time, crls, certificates };
  const wantsKey = one(a, 'key') !== undefined || one(a, 'token') !== undefined;
  const j = wantsKey
    ? await withKey(a, recipCert, (key) => judgeMail(raw, { ...options, recipient: { key, ...(recipCert ? { certificate: recipCert } : {}) } }))
    : await judgeMail(raw, options);
  io.stdout.write(line(j, time));
  if (j.malformed) {
    io.stderr.write(`ssmax: ${j.malformed.code}: ${j.malformed.message}\n`);
    return 3;
  }
  return j.signature === 'valid' ? 0 : 1;
}

/** `ssmax mail <sub> …`; returns the exit code (errors are thrown and mapped by the caller). */
export async function runMail(argv: string[], io: { stdout: Out; stderr: Out }): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === 'help' || (sub === 'verify' && rest.includes('--help'))) {
    io.stdout.write(MAIL_USAGE);
    return 0;
  }
  if (sub === 'verify') return verify(rest, io);
  throw new SsmaxError('USAGE', `Cannot run "ssmax mail ${sub ?? ''}". Unknown subcommand.\n${MAIL_USAGE}`);
}
