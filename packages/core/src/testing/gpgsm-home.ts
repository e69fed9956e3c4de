/**
 * Test support: a throw-away gpgsm home (GnuPG's S/MIME tool) as an outside CMS implementation for the
 * interop tests. Not exported from the package index; tests import it by path.
 *
 * Private keys go to gpg-agent as unprotected key files (`private-keys-v1.d/<keygrip>.key`, the agent's
 * canonical S-expression), not through `gpgsm --import` of a PKCS#12: gpgsm 2.2.40 dies with SIGSEGV on
 * every EC PKCS#12 OpenSSL 3.0 writes (legacy PBE-SHA1-3DES, -nomac, unencrypted bags alike; see
 * gpgsm-issue12.interop.test.ts), and an imported RSA PKCS#12 comes out passphrase-protected.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ABSENT, probeOracleVersion } from './oracle-versions.js';

/** The gpgsm version the README interop table was measured with. */
export const GPGSM_MEASURED_VERSION = '2.2.40';

/** `gpgsm --version` of this machine, e.g. "2.2.40" ('' when gpgsm is missing); read by testing/oracle-versions.ts. */
export function gpgsmVersion(): string {
  const v = probeOracleVersion('gpgsm');
  return v === ABSENT ? '' : v;
}

export interface GpgsmRun {
  /** Exit status; -1 when gpgsm died of a signal (then `signal` names it). */
  readonly status: number;
  readonly signal: NodeJS.Signals | null;
  /** The `[GNUPG:] …` lines of --status-fd, without the prefix. */
  readonly statusLines: readonly string[];
  readonly stderr: string;
  /** The --output file when gpgsm exited 0 and wrote one, else empty. */
  readonly out: Buffer;
}

/** True when one status line starts with `keyword` (GOODSIG, BADSIG, DECRYPTION_OKAY, …). */
export function hasStatus(run: GpgsmRun, keyword: string): boolean {
  return run.statusLines.some((l) => l === keyword || l.startsWith(`${keyword} `));
}

const atom = (b: Uint8Array): Buffer => Buffer.concat([Buffer.from(`${b.length}:`), b]);
const str = (s: string): Buffer => atom(Buffer.from(s));
const list = (...items: Buffer[]): Buffer => Buffer.concat([Buffer.from('('), ...items, Buffer.from(')')]);
const b64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');
/** libgcrypt reads S-expression numbers as signed: a leading 1 bit needs a zero byte in front. */
const unsigned = (b: Buffer): Buffer => ((b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const big = (b: Buffer): bigint => BigInt(`0x${b.toString('hex') || '0'}`);

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

function bytes(n: bigint): Buffer {
  const h = n.toString(16);
  return Buffer.from(h.length % 2 ? `0${h}` : h, 'hex');
}

/**
 * gpg-agent's unprotected key file for a PKCS#8 PEM key: `(private-key (rsa …))` or `(private-key (ecc …))`.
 * RSA: libgcrypt wants p < q and u = p⁻¹ mod q. NIST curves: q is the uncompressed point. EdDSA: the
 * 32/57-byte public and secret keys with the eddsa flag.
 */
export function agentKeyFile(pem: string | Uint8Array): Buffer {
  const jwk = createPrivateKey(typeof pem === 'string' ? pem : Buffer.from(pem)).export({ format: 'jwk' });
  if (jwk.kty === 'RSA') {
    let [p, q] = [b64u(jwk.p), b64u(jwk.q)];
    if (big(p) > big(q)) [p, q] = [q, p];
    const u = bytes(modInverse(big(p), big(q)));
    const part = (name: string, v: Buffer) => list(str(name), atom(unsigned(v)));
    return list(
      str('private-key'),
      list(str('rsa'), part('n', b64u(jwk.n)), part('e', b64u(jwk.e)), part('d', b64u(jwk.d)), part('p', p), part('q', q), part('u', u)),
    );
  }
  if (jwk.kty === 'EC') {
    const curve = { 'P-256': 'NIST P-256', 'P-384': 'NIST P-384', 'P-521': 'NIST P-521' }[jwk.crv ?? ''];
    if (!curve) throw new Error(`agentKeyFile: curve ${jwk.crv} not mapped`);
    const point = Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)]);
    return list(str('private-key'), list(str('ecc'), list(str('curve'), str(curve)), list(str('q'), atom(point)), list(str('d'), atom(unsigned(b64u(jwk.d))))));
  }
  if (jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448')) {
    return list(
      str('private-key'),
      list(
        str('ecc'),
        list(str('curve'), str(jwk.crv)),
        list(str('flags'), str('eddsa')),
        list(str('q'), atom(b64u(jwk.x))),
        list(str('d'), atom(b64u(jwk.d))),
      ),
    );
  }
  throw new Error(`agentKeyFile: key type ${jwk.kty}/${jwk.crv ?? ''} not mapped`);
}

/** SHA-1 fingerprint of a PEM certificate file, upper-case hex: gpgsm's name for it. */
export function certificateFingerprint(certPath: string): string {
  const out = execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-fingerprint', '-sha1']).toString();
  return (out.split('=')[1] ?? '').trim().replace(/:/g, '');
}

export interface GpgsmRunOptions {
  /** Written to gpgsm's stdin; with `passphrase`, stdin carries the passphrase instead (--passphrase-fd 0). */
  readonly passphrase?: string;
}

/**
 * An isolated gpgsm home: its own keybox, trustlist (the test CA marked as S/MIME root) and gpg-agent (loopback
 * pinentry allowed), no dirmngr (no network), CRL and policy checks off because the openssl test PKI publishes
 * neither. Dispose kills its agent and removes the directory.
 */
export class GpgsmHome implements Disposable {
  readonly home = mkdtempSync(join(tmpdir(), 'ssmax-gpgsm-'));
  private readonly env = { ...process.env, GNUPGHOME: this.home };
  private n = 0;

  constructor(caCertPath: string) {
    writeFileSync(join(this.home, 'gpg-agent.conf'), 'allow-loopback-pinentry\n');
    mkdirSync(join(this.home, 'private-keys-v1.d'), { mode: 0o700 });
    this.mustImport(caCertPath);
    // gpg-agent's trustlist: fingerprint, then S marking an S/MIME root.
    writeFileSync(join(this.home, 'trustlist.txt'), `${certificateFingerprint(caCertPath)} S\n`);
  }

  /** Imports a certificate; returns its fingerprint. */
  addCertificate(certPath: string): string {
    this.mustImport(certPath);
    return certificateFingerprint(certPath);
  }

  /** Imports the certificate and hands its private key to gpg-agent; returns the certificate's fingerprint. */
  addIdentity(certPath: string, keyPath: string): string {
    const fpr = this.addCertificate(certPath);
    const cols = this.run(['--with-colons', '--with-keygrip', '--list-keys', fpr]);
    const grip = cols.out
      .toString()
      .split('\n')
      .find((l) => l.startsWith('grp:'))
      ?.split(':')[9];
    if (!grip) throw new Error(`gpgsm lists no keygrip for ${certPath}: ${cols.stderr}`);
    writeFileSync(join(this.home, 'private-keys-v1.d', `${grip}.key`), agentKeyFile(readFileSync(keyPath)), { mode: 0o600 });
    return fpr;
  }

  /** Writes `data` to a file in the home and returns its path (gpgsm reads files, stdin may carry a passphrase). */
  file(data: Uint8Array | string): string {
    const p = join(this.home, `in-${++this.n}`);
    writeFileSync(p, data);
    return p;
  }

  /**
   * Runs gpgsm in this home with --batch, --status-fd 1 and loopback pinentry. `--output` is added (to a fresh
   * file) unless the arguments list keys.
   */
  run(args: readonly string[], opts: GpgsmRunOptions = {}): GpgsmRun {
    const listing = args.includes('--list-keys') || args.includes('--import');
    const outPath = join(this.home, `out-${++this.n}`);
    const r = spawnSync(
      'gpgsm',
      [
        '--batch',
        '--disable-dirmngr',
        '--disable-crl-checks',
        '--disable-policy-checks',
        '--status-fd',
        '2',
        '--pinentry-mode',
        'loopback',
        ...(opts.passphrase !== undefined ? ['--passphrase-fd', '0'] : []),
        ...(listing ? [] : ['--output', outPath]),
        ...args,
      ],
      { env: this.env, input: opts.passphrase !== undefined ? `${opts.passphrase}\n` : '', maxBuffer: 64 * 1024 * 1024 },
    );
    const stderr = r.stderr?.toString() ?? '';
    const status = r.status ?? -1;
    const statusLines = stderr
      .split('\n')
      .filter((l) => l.startsWith('[GNUPG:] '))
      .map((l) => l.slice(9));
    const out = listing ? (r.stdout ?? Buffer.alloc(0)) : status === 0 && existsSync(outPath) ? readFileSync(outPath) : Buffer.alloc(0);
    return {
      status,
      signal: r.signal,
      statusLines,
      stderr: stderr
        .split('\n')
        .filter((l) => !l.startsWith('[GNUPG:] '))
        .join('\n'),
      out,
    };
  }

  private mustImport(certPath: string): void {
    const r = this.run(['--import', certPath]);
    if (!hasStatus(r, 'IMPORT_OK')) throw new Error(`gpgsm did not import ${certPath}: ${r.stderr}`);
  }

  [Symbol.dispose](): void {
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: this.env });
    rmSync(this.home, { recursive: true, force: true });
  }
}
