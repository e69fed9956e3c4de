/**
 * Test support: a small PKI made by the `openssl` command line, independent of our own X.509 code, so
 * interop tests do not grade our CMS with certificates our own code made. Not exported from the
 * package index; tests import it by path.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SoftwareKey } from '../software-key.js';
import { decodePem } from '../pem.js';

export interface OpensslIdentity {
  readonly name: string;
  readonly email: string;
  readonly keyPath: string;
  readonly certPath: string;
  readonly certDer: Uint8Array;
  readonly certPem: string;
  readonly key: SoftwareKey;
}

/** Key algorithms of {@link OpensslPki.issueKey}: RSA-2048, the NIST curves, Ed25519, Ed448. */
export type OpensslKeyAlgorithm = 'rsa' | 'P-256' | 'P-384' | 'P-521' | 'ed25519' | 'ed448';

export interface OpensslPki extends Disposable {
  readonly dir: string;
  readonly caCertPath: string;
  readonly caCertDer: Uint8Array;
  readonly rsa: OpensslIdentity;
  readonly ec: OpensslIdentity;
  /** Issues another end-entity certificate from the same CA. */
  issue(name: string, kind: 'rsa' | 'ec'): OpensslIdentity;
  /** Issues an end-entity certificate for a new key of any algorithm openssl genpkey makes (issue 12). */
  issueKey(name: string, alg: OpensslKeyAlgorithm): OpensslIdentity;
  openssl(args: string[], input?: Uint8Array): { status: number; stdout: Buffer; stderr: string };
}

function run(args: string[], cwd: string, input?: Uint8Array): Buffer {
  return execFileSync('openssl', args, { cwd, input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function createOpensslPki(): OpensslPki {
  const dir = mkdtempSync(join(tmpdir(), 'ssmax-openssl-pki-'));
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
  run(
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
      '/O=Interop Test CA/CN=Interop Test Root',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const caCertDer = decodePem(readFileSync(join(dir, 'ca.pem'), 'latin1'), 'CERTIFICATE');

  let serial = 1;
  /** Signs `name`'s CSR (already written beside its key) with the test CA and loads the identity. */
  const certify = (name: string, email: string, keyPath: string): OpensslIdentity => {
    const certPath = join(dir, `${name}.pem`);
    execFileSync(
      'openssl',
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
      { cwd: dir, env: { ...process.env, SSMAX_EMAIL: email }, stdio: 'pipe' },
    );
    const certPem = readFileSync(certPath, 'latin1');
    return { name, email, keyPath, certPath, certPem, certDer: decodePem(certPem, 'CERTIFICATE'), key: SoftwareKey.fromBytes(readFileSync(keyPath)) };
  };

  const subject = (name: string, email: string): string => `/O=Interop/CN=${name}/emailAddress=${email}`;

  const issue = (name: string, kind: 'rsa' | 'ec'): OpensslIdentity => {
    const email = `${name}@interop.example`;
    const keyPath = join(dir, `${name}.key`);
    const keyArgs = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    run(['req', '-new', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', join(dir, `${name}.csr`), '-subj', subject(name, email)], dir);
    return certify(name, email, keyPath);
  };

  const issueKey = (name: string, alg: OpensslKeyAlgorithm): OpensslIdentity => {
    const email = `${name}@interop.example`;
    const keyPath = join(dir, `${name}.key`);
    const gen =
      alg === 'rsa'
        ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        : alg.startsWith('P-')
          ? ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${alg}`]
          : ['-algorithm', alg];
    run(['genpkey', ...gen, '-out', keyPath], dir);
    run(['req', '-new', '-key', keyPath, '-out', join(dir, `${name}.csr`), '-subj', subject(name, email)], dir);
    return certify(name, email, keyPath);
  };

  return {
    dir,
    caCertPath: join(dir, 'ca.pem'),
    caCertDer,
    rsa: issue('alice-rsa', 'rsa'),
    ec: issue('bob-ec', 'ec'),
    issue,
    issueKey,
    openssl(args, input) {
      try {
        const stdout = execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
        return { status: 0, stdout, stderr: '' };
      } catch (e) {
        const err = e as { status?: number; stdout?: Buffer; stderr?: Buffer };
        return { status: err.status ?? -1, stdout: err.stdout ?? Buffer.alloc(0), stderr: err.stderr?.toString() ?? String(e) };
      }
    },
    [Symbol.dispose]() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
