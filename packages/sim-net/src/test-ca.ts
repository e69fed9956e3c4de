import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SsmaxError } from '@ssmax/core';

/** A TLS server identity issued by the {@link TestCa}. */
export interface ServerIdentity {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** Leaf then CA, for servers that send the chain. */
  readonly chainPem: string;
}

export interface TestCaOptions {
  /** Parent of the CA's temporary directory (default: the OS temp dir). */
  readonly tmpDir?: string;
  /** Path of the `openssl` binary (default `openssl`). */
  readonly openssl?: string;
  /**
   * A CA directory to use and keep: the CA is made there when it holds none and reused when it does,
   * so several processes (each with its own sim-net) trust one CA. Default: a fresh temporary one.
   */
  readonly dir?: string;
}

function run(openssl: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(openssl, args, { cwd }, (err, _stdout, stderr) => {
      if (err) reject(new SsmaxError('IO_ERROR', `Cannot run openssl ${args[0] ?? ''}. ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/**
 * The simulated world's Web PKI: a P-256 CA made by the openssl CLI (an implementation independent
 * of ours), issuing server certificates for MTA-STS policy hosts and STARTTLS endpoints. Clients
 * trust it by passing {@link certificatePem} as `ca`; nothing touches the system trust store.
 */
export class TestCa implements AsyncDisposable {
  readonly certificatePem: string;
  readonly #dir: string;
  readonly #openssl: string;
  readonly #owned: boolean;
  #serial = 0;

  private constructor(dir: string, certificatePem: string, openssl: string, owned: boolean) {
    this.#dir = dir;
    this.certificatePem = certificatePem;
    this.#openssl = openssl;
    this.#owned = owned;
  }

  static async create(options: TestCaOptions = {}): Promise<TestCa> {
    const openssl = options.openssl ?? 'openssl';
    if (options.dir !== undefined) {
      const existing = await readFile(join(options.dir, 'ca.pem'), 'utf8').catch(() => undefined);
      if (existing !== undefined) return new TestCa(options.dir, existing, openssl, false);
      await mkdir(options.dir, { recursive: true });
    }
    const dir = options.dir ?? (await mkdtemp(join(options.tmpDir ?? tmpdir(), 'ssmax-sim-net-ca-')));
    try {
      await run(
        openssl,
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
          '/O=SSMAX sim-net/CN=sim-net test CA',
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        dir,
      );
      return new TestCa(dir, await readFile(join(dir, 'ca.pem'), 'utf8'), openssl, options.dir === undefined);
    } catch (err) {
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Issues a serverAuth certificate whose subjectAltName lists `names` (DNS names or IP
   * addresses; RFC 6125 §6.4 has clients match the SAN, not the CN).
   */
  async issueServerCertificate(names: readonly string[]): Promise<ServerIdentity> {
    if (names.length === 0) throw new SsmaxError('USAGE', 'Cannot issue a server certificate. No names were given.');
    const bad = names.find((n) => !isIP(n) && !/^[a-z0-9*]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(n));
    if (bad !== undefined) throw new SsmaxError('USAGE', `Cannot issue a server certificate. "${bad}" is neither a host name nor an IP address.`);
    // Unique across processes sharing the directory; `req -x509 -CA` draws a random serial itself.
    const n = `${process.pid}-${++this.#serial}`;
    const san = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
    await run(
      this.#openssl,
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `leaf${n}.key`,
        '-out',
        `leaf${n}.pem`,
        '-days',
        '825',
        '-subj',
        `/CN=${names[0]}`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-addext',
        `subjectAltName=${san}`,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        'keyUsage=critical,digitalSignature',
        '-addext',
        'extendedKeyUsage=serverAuth',
      ],
      this.#dir,
    );
    const certificatePem = await readFile(join(this.#dir, `leaf${n}.pem`), 'utf8');
    const privateKeyPem = await readFile(join(this.#dir, `leaf${n}.key`), 'utf8');
    await Promise.all([rm(join(this.#dir, `leaf${n}.key`)), rm(join(this.#dir, `leaf${n}.pem`))]);
    return { certificatePem, privateKeyPem, chainPem: certificatePem + this.certificatePem };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#owned) await rm(this.#dir, { recursive: true, force: true });
  }
}
