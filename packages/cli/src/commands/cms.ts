import { spawnSync } from 'node:child_process';
import {
  SsmaxError,
  SoftwareKey,
  type SignerJudgement,
  buildMultipartSigned,
  buildPkcs7Mime,
  decryptContent,
  detectCmsInput,
  encodePem,
  encryptContent,
  CONTENT_CIPHERS,
  PRODUCIBLE_CIPHERS,
  digestAlgorithmForScheme,
  judgeSigners,
  parseCertificate,
  readCertificateBundle,
  reencrypt,
  signSignedData,
  toDer,
  verifySignedData,
  type ContentCipher,
  type PrivateKeyOps,
  type SecretKeyRecipient,
  type SignScheme,
} from '@ssmax/core';
import { many, one, parseArgs, required, type ParsedArgs } from '../args.js';
import { readInput, writeOutput } from '../io.js';
import { openTokenKey } from '../token-uri.js';

type Out = { write(line: string): void };

/** Issue 12: every cipher we write (AES-128/192/256 CBC and GCM, ChaCha20-Poly1305); 3DES is only read. */
const CIPHERS = PRODUCIBLE_CIPHERS;
type Cipher = ContentCipher;

function cipherOf(args: ParsedArgs): Cipher {
  const c = one(args, 'cipher') ?? 'aes-256-gcm';
  if (!(CIPHERS as readonly string[]).includes(c)) throw new SsmaxError('USAGE', `Cannot use --cipher ${c}. Choose ${CIPHERS.join(', ')}.`);
  return c as Cipher;
}

/** AuthEnvelopedData for the authenticated ciphers (RFC 5083), EnvelopedData for CBC (S/MIME smime-type, RFC 8551 §3.2.2). */
const smimeTypeOf = (cipher: Cipher) => (CONTENT_CIPHERS[cipher].aead ? 'authEnveloped-data' : 'enveloped-data');

/** Hex bytes of --secretkey / --secretkeyid (openssl's names). */
function hexOption(args: ParsedArgs, name: string): Uint8Array | undefined {
  const v = one(args, name);
  if (v === undefined) return undefined;
  if (!/^([0-9a-fA-F]{2})+$/.test(v)) throw new SsmaxError('USAGE', `Cannot use --${name} ${v}. Give an even number of hex digits.`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

/** `--secretkey HEX --secretkeyid HEX` (a KEKRecipientInfo, RFC 5652 §6.2.3): both or neither. */
function secretKeyOf(args: ParsedArgs): SecretKeyRecipient | undefined {
  const key = hexOption(args, 'secretkey');
  const id = hexOption(args, 'secretkeyid');
  if ((key === undefined) !== (id === undefined)) throw new SsmaxError('USAGE', 'Cannot use a KEK. Give both --secretkey HEX and --secretkeyid HEX.');
  return key && id ? { key, id } : undefined;
}

const ENVELOPE_OPTS = ['secretkey', 'secretkeyid', 'pwri-password'];

function outform(args: ParsedArgs): 'der' | 'pem' | 'smime' {
  const f = one(args, 'outform') ?? 'der';
  if (f !== 'der' && f !== 'pem' && f !== 'smime') throw new SsmaxError('USAGE', `Cannot use --outform ${f}. Choose der, pem or smime.`);
  return f;
}

export function readCert(path: string): Uint8Array {
  return toDer(readInput(path, 'the certificate'), 'CERTIFICATE');
}

/**
 * Every certificate of a file (a PEM bundle such as /etc/ssl/certs/ca-certificates.crt, or one DER
 * certificate). One that cannot be used is skipped with a warning on stderr and never hides the others
 * (issue 12); a file without any usable certificate is MALFORMED_CERTIFICATE.
 */
export function readCertBundle(path: string, stderr: Out): Uint8Array[] {
  const b = readCertificateBundle(readInput(path, 'the certificates'), path === '-' ? 'the certificates on stdin' : path);
  for (const s of b.skipped) {
    stderr.write(`ssmax: warning: ${path}: skipped certificate ${s.index}${s.subject ? ` ("${s.subject}")` : ''}: ${s.reason}\n`);
  }
  return b.certificates;
}

/** A private key from --key (PEM/DER file) or --token (RFC 7512 URI); disposed after use. */
export async function withKey<T>(args: ParsedArgs, matchCert: Uint8Array | undefined, fn: (key: PrivateKeyOps) => Promise<T>): Promise<T> {
  const keyPath = one(args, 'key');
  const uri = one(args, 'token');
  if ((keyPath === undefined) === (uri === undefined)) throw new SsmaxError('USAGE', 'Cannot run the command. Give exactly one of --key KEY or --token URI.');
  if (keyPath !== undefined) return fn(SoftwareKey.fromBytes(readInput(keyPath, 'the private key')));
  const spki = matchCert ? parseCertificate(matchCert).spki : undefined;
  await using opened = await openTokenKey(uri!, one(args, 'pin') ?? process.env['SSMAX_PIN'], spki);
  // await: `await using` closes the token when the block exits, which must be after fn is done with the key.
  return await fn(opened.key);
}

function emit(der: Uint8Array, form: 'der' | 'pem' | 'smime', smimeType: 'signed-data' | 'enveloped-data' | 'authEnveloped-data'): Uint8Array | string {
  if (form === 'der') return der;
  if (form === 'pem') return encodePem(der, 'CMS');
  return buildPkcs7Mime(der, smimeType);
}

export const KEY_OPTS = ['key', 'token', 'pin'];

/**
 * The scheme `ssmax cms sign` uses: the key decides (Ed25519/Ed448 keys PureEdDSA per RFC 8419, EC keys
 * ECDSA, RSA keys PKCS#1 v1.5 or --pss); --md picks SHA-256/384/512 where the scheme has a choice.
 */
function signScheme(key: PrivateKeyOps, pss: boolean, md: string | undefined): SignScheme {
  const bits = md === undefined ? undefined : { sha256: '256', sha384: '384', sha512: '512' }[md];
  if (md !== undefined && bits === undefined) throw new SsmaxError('USAGE', `Cannot use --md ${md}. Choose sha256, sha384 or sha512.`);
  if (key.algorithm === 'Ed25519' || key.algorithm === 'Ed448') {
    if (pss || md !== undefined)
      throw new SsmaxError(
        'USAGE',
        `Cannot sign with ${pss ? '--pss' : `--md ${md}`}. The key is ${key.algorithm}, whose digest RFC 8419 fixes (${key.algorithm === 'Ed25519' ? 'SHA-512' : 'SHAKE256'}).`,
      );
    return key.algorithm;
  }
  const ec = key.algorithm.startsWith('EC-');
  if (pss && ec) throw new SsmaxError('USAGE', `Cannot sign with --pss. The key is ${key.algorithm}.`);
  const defaultBits = key.algorithm === 'EC-P384' ? '384' : key.algorithm === 'EC-P521' ? '512' : '256';
  const scheme = (ec ? `ECDSA-SHA${bits ?? defaultBits}` : pss ? `RSASSA-PSS-SHA${bits ?? '256'}` : `RSASSA-PKCS1-v1_5-SHA${bits ?? '256'}`) as SignScheme;
  if (!key.signSchemes.includes(scheme))
    throw new SsmaxError('USAGE', `Cannot sign with ${scheme}. The ${key.algorithm} key offers ${key.signSchemes.join(', ') || 'no scheme'}.`);
  return scheme;
}

async function sign(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { values: ['in', 'out', 'signer', 'outform', 'certfile', 'md', ...KEY_OPTS], flags: ['pss', 'detached', 'keyid', 'nocerts'] });
  const content = readInput(required(a, 'in'), 'the content');
  const cert = readCert(required(a, 'signer'));
  const chain = many(a, 'certfile').map(readCert);
  const form = outform(a);
  const detached = a.flags.has('detached');
  let micalg = 'sha-256';
  const der = await withKey(a, cert, async (key) => {
    const scheme = signScheme(key, a.flags.has('pss'), one(a, 'md'));
    // RFC 8551 §3.5.3.2: micalg names the SignerInfo's digest algorithm.
    micalg = digestAlgorithmForScheme(scheme).toLowerCase();
    return signSignedData(content, {
      key,
      certificate: cert,
      chain,
      scheme,
      detached,
      ...(a.flags.has('keyid') ? { signerIdentifier: 'subjectKeyIdentifier' as const } : {}),
      ...(a.flags.has('nocerts') ? { omitCertificates: true } : {}),
    });
  });
  if (form === 'smime' && detached) {
    // RFC 8551 §3.5.3: the content is the MIME entity the signature covers.
    writeOutput(required(a, 'out'), buildMultipartSigned(content, der, { micalg }));
  } else {
    writeOutput(required(a, 'out'), emit(der, form, 'signed-data'));
  }
  return 0;
}

/** `--attime ISO`: the validation time the caller chose; default now. */
export function validationTime(args: ParsedArgs): Date {
  const at = one(args, 'attime');
  if (at === undefined) return new Date();
  // ISO 8601 date-time with an explicit zone, so the same argument means the same instant everywhere.
  const t = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(at) ? new Date(at) : new Date(NaN);
  if (Number.isNaN(t.getTime()))
    throw new SsmaxError('USAGE', `Cannot parse --attime ${at}. Give an ISO 8601 date-time with a zone, e.g. 2026-12-01T09:00:00Z.`);
  return t;
}

/** One signer as `ssmax cms verify` reports it: core's judgement without the parsed certificate and the address list. */
type SignerReport = Omit<SignerJudgement, 'certificate' | 'emailAddresses'>;

/**
 * `ssmax cms verify`: valid only when there is a signer and every signer's signature holds and (unless
 * --no-chain) its certificate chains to a --CAfile anchor at the validation time. The time is now or
 * --attime, never the signingTime in the message: the signer chooses that, and a signer whose certificate
 * has expired or been revoked would simply date the signature earlier. Revocation uses only the --crl
 * files: CRLs embedded in the message are the signer's choice too (an old one, still inside its
 * nextUpdate, would hide a revocation).
 */
async function verify(argv: string[], out: Out, err: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['in', 'out', 'content', 'CAfile', 'crl', 'certfile', 'attime'], flags: ['no-chain'] });
  const input = detectCmsInput(readInput(required(a, 'in'), 'the signed message'));
  const contentPath = one(a, 'content');
  const detachedContent = contentPath !== undefined ? readInput(contentPath, 'the detached content') : input.detachedContent;
  const anchors = many(a, 'CAfile').flatMap((p) => readCertBundle(p, err));
  const noChain = a.flags.has('no-chain');
  if (noChain === anchors.length > 0) throw new SsmaxError('USAGE', 'Cannot verify. Give --CAfile CERT (one or more) or --no-chain, not both or neither.');
  const crls = many(a, 'crl').map((p) => toDer(readInput(p, 'the CRL'), 'X509 CRL'));
  if (noChain && crls.length > 0) throw new SsmaxError('USAGE', 'Cannot verify. --crl needs a chain to check; it does nothing with --no-chain.');
  const time = validationTime(a);
  const extra = many(a, 'certfile').flatMap((p) => readCertBundle(p, err));
  const res = verifySignedData(input.der, { ...(detachedContent ? { detachedContent } : {}), ...(extra.length ? { certificates: extra } : {}) });

  // The same signer judgement as `ssmax mail verify` (core judgeSigners); the JSON keeps its fields.
  const signers: SignerReport[] = judgeSigners(res, { trustAnchors: noChain ? 'skip' : anchors, intermediates: extra, crls, time }).map(
    ({ certificate: _certificate, emailAddresses: _addresses, ...report }) => report,
  );

  const failed = signers.findIndex((s) => !s.valid);
  const code = signers.length === 0 ? 'BAD_SIGNATURE' : failed >= 0 ? signers[failed]!.code : undefined;
  const reasons =
    signers.length === 0
      ? ['the SignedData has no signer']
      : signers.flatMap((s, i) => (signers.length > 1 ? s.reasons.map((r) => `signer ${i + 1}: ${r}`) : s.reasons));
  const first = signers[0];
  out.write(
    JSON.stringify({
      valid: code === undefined,
      ...(code ? { code, reasons } : {}),
      validatedAt: time.toISOString(),
      // The first signer again, as before `signers` existed (kept for scripts that read it).
      signer: first?.subject
        ? { subject: first.subject, email: first.email, serial: first.serial, identityProofing: first.identityProofing, traceId: first.traceId }
        : null,
      signingTime: first?.signingTime ?? null,
      signers,
    }) + '\n',
  );
  if (code !== undefined) return 1;
  const outPath = one(a, 'out');
  if (outPath !== undefined) writeOutput(outPath, res.content ?? detachedContent ?? new Uint8Array());
  return 0;
}

async function encrypt(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { values: ['in', 'out', 'recip', 'cipher', 'outform', 'oaep-hash', 'kdf', ...ENVELOPE_OPTS], flags: [] });
  const content = readInput(required(a, 'in'), 'the content');
  const recips = many(a, 'recip').map(readCert);
  const secretKey = secretKeyOf(a);
  const password = one(a, 'pwri-password');
  if (recips.length === 0 && !secretKey && password === undefined) {
    throw new SsmaxError('USAGE', 'Cannot encrypt. Give at least one --recip CERT, --secretkey HEX --secretkeyid HEX, or --pwri-password P.');
  }
  const oaep = one(a, 'oaep-hash');
  const oaepHash = oaep === undefined ? undefined : ({ sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' } as const)[oaep];
  if (oaep !== undefined && !oaepHash) throw new SsmaxError('USAGE', `Cannot use --oaep-hash ${oaep}. Choose sha1, sha256, sha384 or sha512.`);
  const kdf = one(a, 'kdf');
  if (kdf !== undefined && kdf !== 'x963' && kdf !== 'hkdf')
    throw new SsmaxError('USAGE', `Cannot use --kdf ${kdf}. Choose x963 or hkdf (RFC 8418, X25519/X448 recipients).`);
  const cipher = cipherOf(a);
  const der = await encryptContent(content, {
    recipients: recips,
    cipher,
    ...(secretKey ? { secretKeys: [secretKey] } : {}),
    ...(password !== undefined ? { passwords: [{ password }] } : {}),
    ...(oaepHash ? { oaepHash } : {}),
    ...(kdf ? { keyAgreementKdf: kdf } : {}),
  });
  writeOutput(required(a, 'out'), emit(der, outform(a), smimeTypeOf(cipher)));
  return 0;
}

/**
 * Writes the plaintext and one JSON line saying how the message was protected: cipher, key management and
 * the legacy algorithms it needed (3DES-CBC, RSA PKCS#1 v1.5: read for old mail, never written), with the
 * reasons. The line goes to stdout, or to stderr when the plaintext does (--out -).
 */
async function decrypt(argv: string[], io: { stdout: Out; stderr: Out }): Promise<number> {
  const a = parseArgs(argv, { values: ['in', 'out', 'recip', ...KEY_OPTS, ...ENVELOPE_OPTS], flags: [] });
  const secretKey = secretKeyOf(a);
  const password = one(a, 'pwri-password');
  const input = detectCmsInput(readInput(required(a, 'in'), 'the encrypted message'));
  const recipPath = one(a, 'recip');
  const cert = recipPath !== undefined ? readCert(recipPath) : undefined;
  const others = { ...(secretKey ? { secretKey } : {}), ...(password !== undefined ? { password } : {}) };
  const withoutKey = one(a, 'key') === undefined && one(a, 'token') === undefined && (secretKey !== undefined || password !== undefined);
  const res = withoutKey
    ? await decryptContent(input.der, others)
    : await withKey(a, cert, (key) => decryptContent(input.der, { key, ...(cert ? { certificate: cert } : {}), ...others }));
  const outPath = required(a, 'out');
  writeOutput(outPath, res.content);
  const legacy = res.legacy ?? [];
  const line = {
    decrypted: true,
    cipher: res.cipher,
    contentType: res.contentType,
    ...(res.keyManagement ? { recipient: res.keyManagement.recipient, keyManagement: res.keyManagement.algorithm } : {}),
    legacy: legacy.length > 0,
    reasons: legacy.map((r) => `legacy: ${r}`),
  };
  (outPath === '-' ? io.stderr : io.stdout).write(`${JSON.stringify(line)}\n`);
  return 0;
}

async function reencryptCmd(argv: string[], err: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['in', 'out', 'recip', 'cipher', 'inspect', 'cert', 'outform', ...KEY_OPTS], flags: [] });
  const input = detectCmsInput(readInput(required(a, 'in'), 'the encrypted message'));
  const recips = many(a, 'recip').map(readCert);
  if (recips.length === 0) throw new SsmaxError('USAGE', 'Cannot re-encrypt. Give at least one --recip CERT.');
  const ownCertPath = one(a, 'cert');
  const ownCert = ownCertPath !== undefined ? readCert(ownCertPath) : undefined;
  const cmd = one(a, 'inspect');
  const cipher = cipherOf(a);
  const res = await withKey(a, ownCert, (key) =>
    reencrypt(input.der, {
      key,
      ...(ownCert ? { certificate: ownCert } : {}),
      recipients: recips,
      cipher,
      ...(cmd
        ? {
            // The plaintext goes to the inspector's stdin through a pipe, never through a file.
            inspect: async (plaintext: Uint8Array) => {
              const r = spawnSync('/bin/sh', ['-c', cmd], { input: plaintext, stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 20 });
              // An inspector may decide before it has read everything (`grep -q` stops at the first match, a
              // blocking one may exit at once): the write then fails with EPIPE, and its exit status decides.
              const decidedEarly = (r.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' && (r.status !== null || r.signal !== null);
              if (r.error && !decidedEarly) throw new SsmaxError('IO_ERROR', `Cannot run the inspector "${cmd}". ${r.error.message}`, { cause: r.error });
              const why = (r.stderr?.toString() ?? '').trim();
              return r.status === 0
                ? { allow: true, reasons: [] }
                : { allow: false, reasons: [`inspector exited ${r.status ?? r.signal}${why ? `: ${why}` : ''}`] };
            },
          }
        : {}),
    }),
  );
  if (!res.verdict.allow || !res.output) {
    err.write(`ssmax: INSPECTION_BLOCKED: ${res.verdict.reasons.join('; ') || 'blocked by inspection'}\n`);
    return 1;
  }
  writeOutput(required(a, 'out'), emit(res.output, outform(a), smimeTypeOf(cipher)));
  return 0;
}

/** Each subcommand's synopsis (and a note), the one source of `ssmax cms --help` and `ssmax cms <sub> --help`. */
const CMS_SYNOPSES = {
  sign: [
    '--in F --out F --signer CERT (--key KEY | --token URI) [--pss] [--md sha256|sha384|sha512] [--keyid] [--nocerts]',
    '[--certfile CERT…] [--detached] [--outform der|pem|smime]   (Ed25519/Ed448 keys sign per RFC 8419)',
  ],
  verify: [
    '--in F [--out F] [--content F] [--certfile CERT…] (--CAfile CERT… [--crl CRL…] | --no-chain) [--attime ISO]',
    '(valid when every signer is; chains are checked at now or --attime, against the --crl files only)',
  ],
  encrypt: [
    '--in F --out F (--recip CERT… | --secretkey HEX --secretkeyid HEX | --pwri-password P) [--cipher C] [--oaep-hash H] [--kdf x963|hkdf] [--outform der|pem|smime]',
    `(C: ${PRODUCIBLE_CIPHERS.join(', ')}; default aes-256-gcm)`,
  ],
  decrypt: [
    '--in F --out F ((--key KEY | --token URI) [--recip CERT] | --secretkey HEX --secretkeyid HEX | --pwri-password P)',
    '(also reads 3DES-CBC and RSA PKCS#1 v1.5, reported as legacy in the JSON line)',
  ],
  reencrypt: ['--in F --out F (--key KEY | --token URI) --recip CERT… [--cipher C] [--inspect CMD]'],
} as const;
type CmsSub = keyof typeof CMS_SYNOPSES;
const CMS_NOTE = '  (--token takes an RFC 7512 pkcs11: URI; the PIN comes from --pin or SSMAX_PIN; "-" is stdin/stdout)\n';
const synopsis = (sub: CmsSub): string => {
  const [first, ...more] = CMS_SYNOPSES[sub];
  return [`  ssmax cms ${sub.padEnd(9)} ${first}`, ...more.map((m) => `${' '.repeat(22)}${m}`)].join('\n') + '\n';
};

export const CMS_USAGE = `usage:\n${(Object.keys(CMS_SYNOPSES) as CmsSub[]).map(synopsis).join('')}${CMS_NOTE}`;

/** `ssmax cms <sub> …`; returns the exit code (errors are thrown and mapped by the caller). */
export async function runCms(argv: string[], io: { stdout: Out; stderr: Out }): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === 'help') {
    io.stdout.write(CMS_USAGE);
    return 0;
  }
  if (sub !== undefined && Object.hasOwn(CMS_SYNOPSES, sub) && rest.includes('--help')) {
    io.stdout.write(`usage:\n${synopsis(sub as CmsSub)}${CMS_NOTE}`);
    return 0;
  }
  switch (sub) {
    case 'sign':
      return sign(rest);
    case 'verify':
      return verify(rest, io.stdout, io.stderr);
    case 'encrypt':
      return encrypt(rest);
    case 'decrypt':
      return decrypt(rest, io);
    case 'reencrypt':
      return reencryptCmd(rest, io.stderr);
    default:
      throw new SsmaxError('USAGE', `Cannot run "ssmax cms ${sub ?? ''}". Unknown subcommand.\n${CMS_USAGE}`);
  }
}
