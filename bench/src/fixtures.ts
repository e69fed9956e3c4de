/**
 * Fixed benchmark inputs: a PKI made by the openssl CLI (so neither side grades itself with its own
 * certificates), deterministic file contents from a fixed seed, and per size one incoming message
 * made by `openssl cms -sign -nodetach | openssl cms -encrypt` that both our hop and the OpenSSL
 * reference read.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePem, SoftwareKey, SsmaxError, type ContentCipher } from '@ssmax/core';

export type Suite = 'rsa' | 'ec';

export interface Party {
  readonly name: string;
  readonly keyPath: string;
  readonly certPath: string;
  readonly certDer: Uint8Array;
  readonly key: SoftwareKey;
}

export interface SuiteParties {
  readonly sender: Party;
  readonly org: Party;
  readonly next: Party;
}

export interface BenchPki {
  readonly dir: string;
  readonly caPath: string;
  readonly caDer: Uint8Array;
  readonly suites: Readonly<Record<Suite, SuiteParties>>;
}

/** Runs openssl, throwing with its stderr on a non-zero exit (`cms -decrypt` writes output even when it fails). */
export function openssl(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Buffer {
  const r = spawnSync('openssl', args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    throw new SsmaxError('INTERNAL', `Cannot run openssl ${args.slice(0, 2).join(' ')}. It exited ${r.status ?? r.signal}: ${r.stderr?.toString().trim()}`);
  }
  return r.stdout;
}

/** Creates a CA and, per suite, the sender, the organisation and the next party (RSA-2048 or P-256). */
export function createBenchPki(dir: string): BenchPki {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'ee.cnf'),
    [
      '[ee]',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,keyAgreement',
      'extendedKeyUsage=emailProtection',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      'subjectAltName=email:${ENV::SSMAX_EMAIL}',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '3650',
      '-subj',
      '/O=SSMAX Bench/CN=Bench Root',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { cwd: dir },
  );
  let serial = 1;
  const issue = (name: string, suite: Suite): Party => {
    const email = `${name}@bench.example`;
    const keyPath = join(dir, `${name}.key`);
    const certPath = join(dir, `${name}.pem`);
    const keyArgs = suite === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', join(dir, `${name}.csr`), '-subj', `/O=SSMAX Bench/CN=${name}`], { cwd: dir });
    openssl(
      [
        'x509',
        '-req',
        '-in',
        join(dir, `${name}.csr`),
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        String(++serial),
        '-days',
        '825',
        '-extfile',
        'ee.cnf',
        '-extensions',
        'ee',
        '-out',
        certPath,
      ],
      { cwd: dir, env: { ...process.env, SSMAX_EMAIL: email } },
    );
    return { name, keyPath, certPath, certDer: decodePem(readFileSync(certPath, 'latin1'), 'CERTIFICATE'), key: SoftwareKey.fromBytes(readFileSync(keyPath)) };
  };
  const suite = (s: Suite): SuiteParties => ({ sender: issue(`sender-${s}`, s), org: issue(`org-${s}`, s), next: issue(`next-${s}`, s) });
  const caPath = join(dir, 'ca.pem');
  return { dir, caPath, caDer: decodePem(readFileSync(caPath, 'latin1'), 'CERTIFICATE'), suites: { rsa: suite('rsa'), ec: suite('ec') } };
}

/** The seed of every file content: changing it changes every input (and should be noted in results). */
export const CONTENT_SEED = 'ssmax-bench-content-v1';

/**
 * `size` bytes of text: base64 lines of an AES-256-CTR keystream keyed by SHA-256(seed). Text, so the
 * DLP rules really read it; pseudo-random, so nothing compresses or short-circuits.
 */
export function fixedContent(size: number, seed = CONTENT_SEED): Uint8Array {
  const key = createHash('sha256').update(seed).digest();
  const ks = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(Math.ceil((size * 3) / 4) + 64));
  const text = ks.toString('base64').replace(/(.{76})/g, '$1\n');
  return new Uint8Array(Buffer.from(text.slice(0, size), 'latin1'));
}

/** openssl -keyopt arguments for a recipient of this suite. */
export function recipientKeyopts(suite: Suite): string[] {
  // RFC 8017 OAEP with SHA-256 (MGF1-SHA-256); RFC 5753 ECDH with the SHA-256 X9.63 KDF.
  return suite === 'rsa' ? ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'] : ['-keyopt', 'ecdh_kdf_md:sha256'];
}

export function opensslCipher(cipher: ContentCipher): string {
  return cipher === 'aes-256-gcm' ? '-aes-256-gcm' : '-aes-256-cbc';
}

/** Writes `<dir>/content-<size>.bin` and the incoming message `<dir>/in-<suite>-<cipher>-<size>.der`. */
export function makeIncoming(
  pki: BenchPki,
  dir: string,
  suite: Suite,
  cipher: ContentCipher,
  size: number,
  orgCertPath = pki.suites[suite].org.certPath,
  tag = '',
): { contentPath: string; inPath: string } {
  const contentPath = join(dir, `content-${size}.bin`);
  writeFileSync(contentPath, fixedContent(size));
  const p = pki.suites[suite];
  const signedPath = join(dir, `signed-${suite}-${size}.der`);
  openssl([
    'cms',
    '-sign',
    '-binary',
    '-nodetach',
    '-outform',
    'DER',
    '-md',
    'sha256',
    '-in',
    contentPath,
    '-signer',
    p.sender.certPath,
    '-inkey',
    p.sender.keyPath,
    '-out',
    signedPath,
  ]);
  const inPath = join(dir, `in-${suite}-${cipher}-${size}${tag}.der`);
  openssl([
    'cms',
    '-encrypt',
    '-binary',
    '-outform',
    'DER',
    opensslCipher(cipher),
    '-in',
    signedPath,
    '-out',
    inPath,
    '-recip',
    orgCertPath,
    ...recipientKeyopts(suite),
  ]);
  rmSync(signedPath, { force: true });
  return { contentPath, inPath };
}

/** A fresh working directory for one run (removed by the caller). */
export function makeWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'ssmax-bench-'));
}

/** Certifies a public key held elsewhere (a token key) with the bench CA, as an e-mail certificate. */
export function certifyPublicKey(
  pki: BenchPki,
  name: string,
  spkiDer: Uint8Array,
  serial: number,
): { readonly certPath: string; readonly certDer: Uint8Array } {
  const pubPath = join(pki.dir, `${name}.pub.pem`);
  writeFileSync(
    pubPath,
    `-----BEGIN PUBLIC KEY-----\n${Buffer.from(spkiDer)
      .toString('base64')
      .replace(/(.{64})/g, '$1\n')
      .trim()}\n-----END PUBLIC KEY-----\n`,
  );
  const certPath = join(pki.dir, `${name}.pem`);
  openssl(
    [
      'x509',
      '-new',
      '-subj',
      `/O=SSMAX Bench/CN=${name}`,
      '-force_pubkey',
      pubPath,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      String(serial),
      '-days',
      '825',
      '-extfile',
      'ee.cnf',
      '-extensions',
      'ee',
      '-out',
      certPath,
    ],
    { cwd: pki.dir, env: { ...process.env, SSMAX_EMAIL: `${name}@bench.example` } },
  );
  return { certPath, certDer: decodePem(readFileSync(certPath, 'latin1'), 'CERTIFICATE') };
}
