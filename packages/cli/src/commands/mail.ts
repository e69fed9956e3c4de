/**
 * `ssmax mail verify`: the recipient client's judgement of a whole mail as one JSON line (core judgeMail), the
 * interface others use to regression-test mail clients against ours (ssmax issue 10, "Also"). The contract is
 * in docs/mail-verify.md.
 */
import { SsmaxError, judgeMail, parseCertificate, toDer, type MailJudgement, type MailSigner } from '@ssmax/core';
import { many, one, parseArgs } from '../args.js';
import { readInput } from '../io.js';
import { KEY_OPTS, readCert, readCertBundle, validationTime, withKey } from './cms.js';
import { CARD_OPTS, cardRequest, verifyWithCard } from './mail-ssmax.js';

type Out = { write(line: string): void };

export const MAIL_USAGE = `usage:
  ssmax mail verify <file.eml | -> --CAfile CERT… [--crl CRL…] [--certfile CERT…] [--attime ISO]
                    [(--key KEY | --token URI [--pin PIN]) [--recip CERT]]
      One JSON line on stdout: {"signature":"valid"|"invalid"|"unsigned"|"partial","signers":[…],
      "from":…,"reasons":[…],…}. Exit 0 valid, 1 anything else, 2 usage, 3 not a mail, 4 infrastructure.
      (valid: signed as a whole, every signer valid at now or --attime, chained to a --CAfile root, revocation
      from the --crl files only, and naming the one From mailbox; --key/--token open encrypted layers)
  ssmax mail verify <file.eml | -> --token pkcs11:token=CARD --card-state DIR [--pin PIN]
                    [--org-signing-cert CERT] [--mode end-to-end|paper] [--attime ISO]
      SSMAX mail judged as the recipient's SSMAX user agent does (procedure 10) with their card (SOFTHSM2_CONF
      names its store; --card-state is the issuing org's card-state directory, which counts wrong PINs):
      the same JSON line plus "mode", "identityNotice", "files" [{name, ok, sha256}], "manifestSigner".
      valid: the agent verified the mail (org signature chained to the org certificate on the card, and in
      end-to-end mode the sender manifest and every attestation chained to the registry root on the card).
      --org-signing-cert pins the organisation's signature to the recipient org's KMS signing certificate.
      Outside (non-member) mail is unsigned. A wrong PIN: exit 1, PIN_INCORRECT, no JSON line.
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
  const a = parseArgs(argv, { values: ['CAfile', 'crl', 'certfile', 'attime', 'recip', ...KEY_OPTS, ...CARD_OPTS], flags: [] });
  if (a.positionals.length !== 1)
    throw new SsmaxError('USAGE', `Cannot verify the mail. Give exactly one file (or - for stdin), not ${a.positionals.length}.\n${MAIL_USAGE}`);
  const card = cardRequest(a);
  if (card) {
    // The recipient's SSMAX user agent judges the mail with the card; no --CAfile: the card holds the anchors.
    const time = validationTime(a);
    const raw = readInput(a.positionals[0]!, 'the mail');
    // "Not a mail" (exit 3), From and Message-ID as on the S/MIME path: judgeMail's. Its signature verdict is unused (no anchors).
    const pre = await judgeMail(raw, { trustAnchors: [], time });
    if (pre.malformed) {
      io.stdout.write(line(pre, time));
      io.stderr.write(`ssmax: ${pre.malformed.code}: ${pre.malformed.message}\n`);
      return 3;
    }
    return verifyWithCard(raw, pre, card, time, io);
  }
  const anchors = many(a, 'CAfile').flatMap((p) => readCertBundle(p, io.stderr));
  if (anchors.length === 0)
    throw new SsmaxError(
      'USAGE',
      'Cannot verify the mail. Give --CAfile CERT (one or more): the roots this client trusts (or, for SSMAX mail, the card: --token URI --card-state DIR).',
    );
  // Read every certificate the caller gave now, so a later malformed error can only be the mail's.
  for (const c of anchors) parseCertificate(c);
  const crls = many(a, 'crl').map((p) => toDer(readInput(p, 'the CRL'), 'X509 CRL'));
  const certificates = many(a, 'certfile').flatMap((p) => readCertBundle(p, io.stderr));
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
