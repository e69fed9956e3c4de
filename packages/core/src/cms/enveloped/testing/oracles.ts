/**
 * Test support for the issue-12 interop tests (not exported from the package): recipients of every key
 * type made by the openssl CLI, and the two outside implementations, openssl 3.0 and the Python oracle
 * (pycms_oracle.py on Debian's python3-cryptography 38 and python3-asn1crypto).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SoftwareKey } from '../../../software-key.js';
import { decodePem } from '../../../pem.js';
import type { OpensslPki } from '../../../testing/openssl-pki.js';

export type IdentityKind = 'rsa' | 'P-256' | 'P-384' | 'P-521' | 'X25519' | 'X448';

export interface Identity {
  readonly name: string;
  readonly kind: IdentityKind;
  readonly keyPath: string;
  readonly certPath: string;
  readonly certDer: Uint8Array;
  readonly key: SoftwareKey;
}

let serial = 1000;

/** Issues a certificate for a fresh key of `kind` from the openssl PKI's CA (X25519/X448 via -force_pubkey). */
export function issueIdentity(pki: OpensslPki, name: string, kind: IdentityKind): Identity {
  const dir = pki.dir;
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', env: { ...process.env, SSMAX_EMAIL: `${name}@interop.example` } });
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.pem`);
  const gen =
    kind === 'rsa'
      ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
      : kind === 'X25519' || kind === 'X448'
        ? ['-algorithm', kind]
        : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind}`];
  run(['genpkey', ...gen, '-out', keyPath]);
  run(['pkey', '-in', keyPath, '-pubout', '-out', `${name}.pub`]);
  // A key-agreement key cannot sign its request: a throwaway key signs it and -force_pubkey puts ours in.
  run([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.csrkey`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/O=Interop/CN=${name}`,
  ]);
  run([
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    String(++serial),
    '-days',
    '825',
    '-force_pubkey',
    `${name}.pub`,
    '-extfile',
    'ee.cnf',
    '-extensions',
    'ee',
    '-out',
    certPath,
  ]);
  return {
    name,
    kind,
    keyPath,
    certPath,
    certDer: decodePem(readFileSync(certPath, 'latin1'), 'CERTIFICATE'),
    key: SoftwareKey.fromBytes(readFileSync(keyPath)),
  };
}

export const PYTHON = '/usr/bin/python3';
export const ORACLE = fileURLToPath(new URL('../../../../src/cms/enveloped/testing/pycms_oracle.py', import.meta.url));

export interface Run {
  readonly status: number;
  readonly stderr: string;
  readonly out: Buffer;
}

let n = 0;

/** Runs the Python oracle on `input`; returns its output file (empty when it failed). */
export function python(dir: string, op: 'encrypt' | 'decrypt', input: Uint8Array, args: string[]): Run {
  const tag = ++n;
  const inPath = join(dir, `py-in-${tag}`);
  const outPath = join(dir, `py-out-${tag}`);
  writeFileSync(inPath, input);
  const r = spawnSync(PYTHON, [ORACLE, op, '--in', inPath, '--out', outPath, ...args], { encoding: 'utf8' });
  return {
    status: r.status ?? -1,
    stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
    out: r.status === 0 ? readFileSync(outPath) : Buffer.alloc(0),
  };
}

/** `openssl cms -decrypt -binary`; the output file is read only when openssl exits 0 (it writes one even on failure). */
export function opensslDecrypt(pki: OpensslPki, der: Uint8Array, args: string[]): Run {
  const tag = ++n;
  writeFileSync(join(pki.dir, `os-in-${tag}.der`), der);
  const r = pki.openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', `os-in-${tag}.der`, '-out', `os-out-${tag}.bin`, ...args]);
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? readFileSync(join(pki.dir, `os-out-${tag}.bin`)) : Buffer.alloc(0) };
}

/** `openssl cms -encrypt -binary -outform DER`; throws with openssl's stderr when it refuses. */
export function opensslEncrypt(pki: OpensslPki, content: Uint8Array, args: string[]): Buffer {
  const tag = ++n;
  writeFileSync(join(pki.dir, `os-plain-${tag}.bin`), content);
  const r = pki.openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', '-in', `os-plain-${tag}.bin`, '-out', `os-enc-${tag}.der`, ...args]);
  if (r.status !== 0) throw new Error(`openssl cms -encrypt ${args.join(' ')} failed: ${r.stderr}`);
  return readFileSync(join(pki.dir, `os-enc-${tag}.der`));
}
