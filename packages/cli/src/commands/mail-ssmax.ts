/**
 * `ssmax mail verify` with the recipient's card: the mail judged as the recipient's SSMAX user agent judges
 * it, procedure (10) (sim-org user-agent.ts `UserAgent.read`, reached through @ssmax/world), printed as the
 * same one JSON line as the S/MIME judgement. Offline: the registry root and the org certificate come from
 * the card, the org CRLs are stapled in the attestations, the files are decrypted on the card (and zeroed:
 * only their SHA-256 is printed). The contract is in docs/mail-verify.md.
 */
import * as fs from 'node:fs';
import { Card, SsmaxError, parseCertificate, type MailJudgement } from '@ssmax/core';
import type { MailVerdict, VerificationMode } from '@ssmax/world';
import { one, type ParsedArgs } from '../args.js';
import { openUriToken, parsePkcs11Uri } from '../token-uri.js';
import { readCert } from './cms.js';

/** Options only the card judgement takes. */
export const CARD_OPTS = ['card-state', 'mode', 'org-signing-cert'];

type Out = { write(line: string): void };

/** What the caller asked of the card judgement, read before the mail so a usage error is never the mail's. */
export interface CardRequest {
  readonly uri: string;
  readonly pin: string | undefined;
  readonly stateDir: string;
  readonly mode: VerificationMode;
  readonly orgSigningCertificate?: Uint8Array;
}

/** The card judgement is asked for with --card-state (and --token); undefined when it is not. */
export function cardRequest(a: ParsedArgs): CardRequest | undefined {
  const stateDir = one(a, 'card-state');
  const modeArg = one(a, 'mode');
  const orgCertPath = one(a, 'org-signing-cert');
  if (stateDir === undefined) {
    if (modeArg !== undefined || orgCertPath !== undefined) {
      throw new SsmaxError(
        'USAGE',
        'Cannot verify the mail. --mode and --org-signing-cert belong to the SSMAX judgement with the card: give --token URI and --card-state DIR too.',
      );
    }
    return undefined;
  }
  const uri = one(a, 'token');
  if (uri === undefined) throw new SsmaxError('USAGE', 'Cannot verify the mail with the card. Give --token URI (pkcs11:token=<card label>) with --card-state.');
  if (one(a, 'key') !== undefined || one(a, 'recip') !== undefined)
    throw new SsmaxError('USAGE', 'Cannot verify the mail with the card. --key and --recip are for S/MIME layers; the card holds its own keys.');
  const mode = modeArg ?? 'end-to-end';
  if (mode !== 'end-to-end' && mode !== 'paper') throw new SsmaxError('USAGE', `Cannot parse --mode ${mode}. Give end-to-end or paper.`);
  let isDir = false;
  try {
    isDir = fs.statSync(stateDir).isDirectory();
  } catch {
    isDir = false;
  }
  // A fresh directory would give the card a fresh PIN counter: wrong PINs here would not count toward its lock.
  if (!isDir)
    throw new SsmaxError(
      'USAGE',
      `Cannot open the card. The card-state directory ${stateDir} does not exist; give the issuing org's card-state directory, which holds the card's PIN counter.`,
    );
  return {
    uri,
    pin: one(a, 'pin') ?? process.env['SSMAX_PIN'],
    stateDir,
    mode,
    ...(orgCertPath !== undefined ? { orgSigningCertificate: readCert(orgCertPath) } : {}),
  };
}

/** `valid` only for a mail the agent verified without a problem; mail without an SSMAX hop is `unsigned`. */
function stateOf(v: MailVerdict, pre: MailJudgement): 'valid' | 'invalid' | 'unsigned' {
  if (v.verified && v.problems.length === 0) return 'valid';
  return v.outside === true || pre.ssmax !== true ? 'unsigned' : 'invalid';
}

/**
 * Judges `raw`, a mail (judgeMail found it readable: `pre`), with the recipient's card and prints the one JSON
 * line. Returns the exit code: 0 valid, 1 anything else. A wrong PIN throws PIN_INCORRECT (exit 1, no JSON
 * line), counted on the card.
 */
export async function verifyWithCard(raw: Uint8Array, pre: MailJudgement, req: CardRequest, time: Date, io: { stdout: Out }): Promise<number> {
  const u = parsePkcs11Uri(req.uri);
  const pin = req.pin ?? u.pinValue;
  if (pin === undefined) throw new SsmaxError('PIN_REQUIRED', `Cannot use card ${u.token ?? ''}. No PIN given (--pin or SSMAX_PIN).`);
  const token = openUriToken(u);
  let card: Card;
  try {
    card = await Card.open({ token, stateDir: req.stateDir });
  } catch (err) {
    await token.close();
    throw err;
  }
  try {
    return await judgeOnCard(raw, pre, req, card, pin, time, io);
  } finally {
    await card.close();
  }
}

async function judgeOnCard(raw: Uint8Array, pre: MailJudgement, req: CardRequest, card: Card, pin: string, time: Date, io: { stdout: Out }): Promise<number> {
  // Loaded here: the world pulls in every simulator package, which the S/MIME path never needs.
  const { UserAgent, CardObjects } = await import('@ssmax/world');
  const signing = await card.getCertificate(CardObjects.signingCertificate);
  const holder = signing ? parseCertificate(signing).emailAddresses[0] : undefined;
  if (!holder)
    throw new SsmaxError(
      'KEY_NOT_FOUND',
      `Cannot use card ${card.label} as an SSMAX card. It holds no ${CardObjects.signingCertificate} certificate naming the holder's address.`,
    );
  const orgDer = await card.getCertificate(CardObjects.orgCertificate);
  if (!orgDer)
    throw new SsmaxError(
      'KEY_NOT_FOUND',
      `Cannot use card ${card.label} as an SSMAX card. It holds no ${CardObjects.orgCertificate} certificate (the trust anchor of procedure (10)).`,
    );
  const org = parseCertificate(orgDer).dnsNames[0]?.toLowerCase() ?? holder.slice(holder.lastIndexOf('@') + 1).toLowerCase();
  const agent = new UserAgent({
    address: holder,
    card,
    mode: req.mode,
    // Read-only agent: (3) never runs here, so it encrypts to nobody; encryptContent would refuse this empty certificate.
    orgEncryptionCertificate: new Uint8Array(0),
    ...(req.orgSigningCertificate ? { orgSigningCertificate: req.orgSigningCertificate } : {}),
    now: () => time,
  });
  const v = await agent.read(raw, pin);
  const signature = stateOf(v, pre);
  const signers = signature !== 'valid' ? [] : [...(v.manifestSigner ? [v.manifestSigner.address] : []), org];
  // The notice is the orgs' attested claim: shown only when the agent verified the signatures that carry it.
  const n = signature === 'valid' ? v.identityNotice : undefined;
  io.stdout.write(
    `${JSON.stringify({
      signature,
      signers,
      from: pre.from,
      reasons: signature === 'valid' ? [] : v.problems.length > 0 ? v.problems : ['the user agent did not verify the mail'],
      ...(pre.sender !== undefined ? { sender: pre.sender } : {}),
      messageId: pre.messageId,
      ...(pre.ssmax ? { ssmax: true } : {}),
      judgedBy: 'ssmax-user-agent',
      mode: v.mode,
      recipient: holder,
      organisation: org,
      orgSignerPinned: req.orgSigningCertificate !== undefined,
      ...(v.outside ? { outside: true } : {}),
      ...(v.manifestSigner ? { manifestSigner: v.manifestSigner } : {}),
      identityNotice: n
        ? {
            proofing: n.proofing,
            ...(n.proofedAt !== undefined ? { proofedAt: n.proofedAt } : {}),
            cardAndPinUsed: n.cardAndPinUsed,
            ...(n.sendingOrg !== undefined ? { sendingOrg: n.sendingOrg } : {}),
            ...(n.sendingDomain !== undefined ? { sendingDomain: n.sendingDomain } : {}),
            ...(n.certSerial !== undefined ? { certSerial: n.certSerial } : {}),
          }
        : null,
      files: v.files.map((f) => ({
        n: f.n,
        name: f.name,
        contentType: f.contentType,
        ok: f.ok,
        ...(f.sha256 !== undefined ? { sha256: f.sha256 } : {}),
        ...(f.withheld ? { withheld: f.withheld } : {}),
        ...(f.unverified ? { unverified: true } : {}),
      })),
      validatedAt: time.toISOString(),
    })}\n`,
  );
  // The plaintext of released files is the user's; this command prints only hashes, so drop it now.
  for (const f of v.files) f.content?.fill(0);
  return signature === 'valid' ? 0 : 1;
}
