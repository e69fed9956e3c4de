/**
 * The references measured in the same run as our hop: the same hop as four `openssl cms` processes,
 * the start-up of one `openssl cms` process, and the crypto floor (node:crypto's own AES and SHA-256
 * streamed in 64 KiB chunks, with `openssl speed` beside it).
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { join } from 'node:path';
import { SsmaxError, type ContentCipher } from '@ssmax/core';
import { fixedContent, openssl, opensslCipher, recipientKeyopts, type BenchPki, type Suite } from './fixtures.js';

/** The four commands of one organisation hop, as an OpenSSL-based gateway would run them. */
export function opensslHopCommands(pki: BenchPki, suite: Suite, cipher: ContentCipher, inPath: string, workDir: string, tag = 'ossl'): string[][] {
  const p = pki.suites[suite];
  const signedIn = join(workDir, `${tag}-1-signed.der`);
  const content = join(workDir, `${tag}-2-content.bin`);
  const signedOut = join(workDir, `${tag}-3-signed.der`);
  const out = join(workDir, `${tag}-4-out.der`);
  return [
    ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', inPath, '-recip', p.org.certPath, '-inkey', p.org.keyPath, '-out', signedIn],
    ['cms', '-verify', '-binary', '-inform', 'DER', '-in', signedIn, '-CAfile', pki.caPath, '-out', content],
    [
      'cms',
      '-sign',
      '-binary',
      '-nodetach',
      '-outform',
      'DER',
      '-md',
      'sha256',
      '-in',
      content,
      '-signer',
      p.org.certPath,
      '-inkey',
      p.org.keyPath,
      '-out',
      signedOut,
    ],
    [
      'cms',
      '-encrypt',
      '-binary',
      '-outform',
      'DER',
      opensslCipher(cipher),
      '-in',
      signedOut,
      '-out',
      out,
      '-recip',
      p.next.certPath,
      ...recipientKeyopts(suite),
    ],
  ];
}

/** Runs the hop; every exit code is checked (`cms -decrypt` leaves output behind even when it fails). */
export function runOpensslHop(commands: readonly string[][]): void {
  for (const c of commands) openssl(c);
}

/** `openssl cms` on a trivial input: parse a small CMS message and write it out (process start-up and config). */
export function opensslTrivialCommand(tinyCmsPath: string): string[] {
  return ['cms', '-cmsout', '-inform', 'DER', '-in', tinyCmsPath, '-outform', 'DER', '-out', '/dev/null'];
}

/** Peak RSS (bytes) of an openssl command, via GNU time's %M (KiB). */
export function opensslPeakRss(args: readonly string[]): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'openssl', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new SsmaxError('INTERNAL', `Cannot measure openssl ${args[1]}. It exited ${r.status}: ${r.stderr.toString().trim()}`);
  const lines = r.stderr.toString().trim().split('\n');
  return Number(lines[lines.length - 1]) * 1024;
}

export const FLOOR_CHUNK = 64 * 1024;

/**
 * The crypto floor of one hop on `size` bytes: decrypt, two SHA-256 (verify + sign), encrypt, each
 * streamed in 64 KiB chunks through node:crypto, in memory, no framing, no I/O.
 */
export function cryptoFloorTask(cipher: ContentCipher, size: number): () => void {
  const key = Buffer.alloc(32, 7);
  const iv = Buffer.alloc(cipher === 'aes-256-gcm' ? 12 : 16, 9);
  const plaintext = Buffer.from(fixedContent(size));
  const enc = createCipheriv(cipher, key, iv);
  const ciphertext = Buffer.concat([enc.update(plaintext), enc.final()]);
  const tag = cipher === 'aes-256-gcm' ? (enc as CipherGCM).getAuthTag() : undefined;
  return () => {
    const dec = createDecipheriv(cipher, key, iv);
    if (tag) (dec as DecipherGCM).setAuthTag(tag);
    const h1 = createHash('sha256');
    const h2 = createHash('sha256');
    const out = createCipheriv(cipher, key, iv);
    const pass = (pt: Buffer): void => {
      h1.update(pt);
      h2.update(pt);
      out.update(pt);
    };
    for (let o = 0; o < ciphertext.byteLength; o += FLOOR_CHUNK) pass(dec.update(ciphertext.subarray(o, o + FLOOR_CHUNK)));
    pass(dec.final());
    out.final();
    h1.digest();
    h2.digest();
  };
}

export interface OpensslSpeed {
  /** Bytes per second at 64 KiB blocks. */
  readonly 'aes-256-gcm': number;
  readonly 'aes-256-cbc-encrypt': number;
  readonly 'aes-256-cbc-decrypt': number;
  readonly sha256: number;
}

function speed(args: string[]): number {
  const out = openssl(['speed', ...args, '-bytes', String(FLOOR_CHUNK), '-seconds', '1']).toString();
  const last = out.trim().split('\n').pop() ?? '';
  const m = /([\d.]+)k\s*$/.exec(last);
  if (!m) throw new SsmaxError('INTERNAL', `Cannot read openssl speed output. The last line was: ${last}`);
  return Number(m[1]) * 1000;
}

export function measureOpensslSpeed(): OpensslSpeed {
  return {
    'aes-256-gcm': speed(['-evp', 'aes-256-gcm']),
    'aes-256-cbc-encrypt': speed(['-evp', 'aes-256-cbc']),
    'aes-256-cbc-decrypt': speed(['-evp', 'aes-256-cbc', '-decrypt']),
    sha256: speed(['-evp', 'sha256']),
  };
}

/** Hop time on `size` bytes implied by openssl speed: two symmetric passes and two digests. */
export function opensslSpeedFloorSeconds(s: OpensslSpeed, cipher: ContentCipher, size: number): number {
  const sym = cipher === 'aes-256-gcm' ? (2 * size) / s['aes-256-gcm'] : size / s['aes-256-cbc-encrypt'] + size / s['aes-256-cbc-decrypt'];
  return sym + (2 * size) / s.sha256;
}
