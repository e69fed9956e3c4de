import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pkcs11js from 'pkcs11js';
import type { StartedTestContainer } from 'testcontainers';
import { checkLocalDocker } from '../docker-endpoint.js';
import { SsmaxError } from '../errors.js';
import { Pkcs11Module } from './pkcs11-module.js';
import { Pkcs11Token } from './pkcs11-token.js';
import type { TokenCapabilities } from './token.js';

export const SOFTHSM_CONTAINER_IMAGE = 'ssmax/softhsm2:bookworm-1';
/** The p11-kit RPC client module on the host (Debian p11-kit-modules). */
export const P11KIT_CLIENT_MODULE_PATH = '/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so';
const CONTAINER_SOFTHSM_MODULE = '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so';

/**
 * Measured over p11-kit 0.24.1 remoting to SoftHSM2 2.6.1 (both Debian bookworm); see docs/tokens.md and
 * softhsm-container.test.ts, which also proves each refusal.
 */
export const SOFTHSM_CONTAINER_CAPABILITIES: TokenCapabilities = Object.freeze<TokenCapabilities>({
  backend: 'softhsm-container',
  keyAlgorithms: ['RSA-2048', 'RSA-3072', 'EC-P256'],
  signSchemes: ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'ECDSA-SHA256'],
  oaepHashesNative: ['SHA-1'],
  oaepHashes: ['SHA-1', 'SHA-256'],
  ecdh: false,
  signInput: 'digest',
  keyStorage: 'token',
  pinLockout: false,
  notes: [
    'CKM_ECDH1_DERIVE is refused over p11-kit 0.24 remoting (CKR_MECHANISM_INVALID: the RPC layer cannot carry CK_ECDH1_DERIVE_PARAMS): no ECDH, use RSA keys for decryption on this backend.',
    'CKM_ECDSA_SHA256 is refused (CKR_MECHANISM_INVALID): the host hashes and the token signs with CKM_ECDSA.',
    'Ed25519/Ed448 are refused over p11-kit 0.24.1 remoting (issue 12): the client lists neither CKM_EC_EDWARDS_KEY_PAIR_GEN nor CKM_EDDSA and answers CKR_MECHANISM_INVALID to both, even for an Ed25519 key the token made natively; SoftHSM2 itself has them (see softhsm-native).',
    'CKM_RSA_PKCS_OAEP with SHA-256 returns CKR_ARGUMENTS_BAD (SoftHSM): OAEP-SHA-256 runs as raw RSA (CKM_RSA_X_509) in the token plus EME-OAEP decoding on the host.',
    'The token never locks the user PIN; the Card layer counts failures.',
  ],
});

export interface SoftHsmContainerOptions {
  /** Label of the one token the container initialises and serves. */
  readonly label: string;
  readonly soPin: string;
  readonly userPin: string;
  readonly image?: string;
  /** Host directory for the p11-kit socket (bind-mounted to /sock). Default: a fresh temp dir, removed on dispose. */
  readonly socketDir?: string;
  readonly clientModulePath?: string;
  /**
   * The Docker endpoint (`unix:///path` or `tcp://host:port`). Default: DOCKER_HOST, else
   * unix:///var/run/docker.sock. Checked before testcontainers runs, because testcontainers silently
   * falls back to other daemons when the configured one does not answer.
   */
  readonly dockerHost?: string;
}

function containerError(message: string, cause?: unknown): SsmaxError {
  return new SsmaxError('CONTAINER_ERROR', message, { cause });
}

/**
 * SoftHSM2 in a container, reached over p11-kit remoting: the container initialises one token with
 * softhsm2-util and serves it with `p11-kit server` on a unix socket in a bind-mounted host directory;
 * this process loads p11-kit-client.so pointed at that socket. Disposing stops the container.
 *
 * p11-kit-client reads P11_KIT_SERVER_ADDRESS at C_Initialize, so one container is reachable per process
 * at a time (tests: one container per test file).
 */
export class SoftHsmContainer implements AsyncDisposable {
  private disposed = false;

  private constructor(
    readonly label: string,
    readonly socketPath: string,
    private readonly socketDir: string,
    private readonly ownsSocketDir: boolean,
    private readonly container: StartedTestContainer,
    private readonly module: Pkcs11Module,
  ) {}

  /** Starts the container, initialises the token and connects the host's p11-kit client. */
  static async start(options: SoftHsmContainerOptions): Promise<SoftHsmContainer> {
    await checkLocalDocker(options.dockerHost, 'the SoftHSM2 container');
    // testcontainers reads DOCKER_HOST itself; point it at the endpoint just checked.
    if (options.dockerHost !== undefined) process.env['DOCKER_HOST'] = options.dockerHost;
    const tc = await import('testcontainers');
    try {
      await tc.getContainerRuntimeClient();
    } catch (cause) {
      throw containerError('Cannot start the SoftHSM2 container. Docker is not reachable; run scripts/docker-up.sh.', cause);
    }
    const image = options.image ?? SOFTHSM_CONTAINER_IMAGE;
    const ownsSocketDir = options.socketDir === undefined;
    const socketDir = options.socketDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-p11kit-'));
    // The container's server creates the socket here; the host must be able to enter and connect.
    fs.chmodSync(socketDir, 0o777);
    let container: StartedTestContainer;
    try {
      container = await new tc.GenericContainer(image)
        .withPullPolicy({ shouldPull: () => false })
        .withBindMounts([{ source: socketDir, target: '/sock', mode: 'rw' }])
        .withCommand(['/bin/sleep', 'infinity'])
        .start();
    } catch (cause) {
      if (ownsSocketDir) fs.rmSync(socketDir, { recursive: true, force: true });
      throw containerError(
        `Cannot start the SoftHSM2 container. Image ${image} did not start; build it with images/softhsm2/build.sh (and run scripts/docker-up.sh).`,
        cause,
      );
    }
    const socketPath = path.join(socketDir, 'p11kit.sock');
    try {
      const init = await container.exec([
        'softhsm2-util',
        '--init-token',
        '--free',
        '--label',
        options.label,
        '--so-pin',
        options.soPin,
        '--pin',
        options.userPin,
      ]);
      if (init.exitCode !== 0)
        throw containerError(`Cannot initialise token ${options.label} in the container. softhsm2-util exited ${init.exitCode}: ${init.output.trim()}`);
      const uri = `pkcs11:token=${encodeURIComponent(options.label)}`;
      const serve = await container.exec([
        '/bin/sh',
        '-c',
        `nohup p11-kit server -f --provider ${CONTAINER_SOFTHSM_MODULE} -n /sock/p11kit.sock '${uri.replace(/'/g, '')}' >/tmp/p11-kit-server.log 2>&1 &`,
      ]);
      if (serve.exitCode !== 0) throw containerError(`Cannot start p11-kit server in the container. It exited ${serve.exitCode}: ${serve.output.trim()}`);
      const deadline = Date.now() + 10_000;
      while (!fs.existsSync(socketPath)) {
        if (Date.now() > deadline) {
          const log = await container.exec(['cat', '/tmp/p11-kit-server.log']);
          throw containerError(`Cannot reach p11-kit server in the container. No socket after 10 s: ${log.output.trim()}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const chmod = await container.exec(['chmod', '0666', '/sock/p11kit.sock']);
      if (chmod.exitCode !== 0) throw containerError(`Cannot open the p11-kit socket to the host. chmod exited ${chmod.exitCode}.`);
      const module = Pkcs11Module.acquire({
        path: options.clientModulePath ?? P11KIT_CLIENT_MODULE_PATH,
        // p11-kit-client insists on the OS locking model (it runs its own RPC threads).
        initializeFlags: pkcs11js.CKF_OS_LOCKING_OK,
        env: { P11_KIT_SERVER_ADDRESS: `unix:path=${socketPath}` },
      });
      return new SoftHsmContainer(options.label, socketPath, socketDir, ownsSocketDir, container, module);
    } catch (err) {
      await container.stop({ timeout: 1 }).catch(() => undefined);
      if (ownsSocketDir) fs.rmSync(socketDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Opens the served token (not logged in). `capabilities` can be overridden by tests that probe refusals. */
  openToken(capabilities: TokenCapabilities = SOFTHSM_CONTAINER_CAPABILITIES): Pkcs11Token {
    if (this.disposed) throw new SsmaxError('USAGE', `Cannot open token ${this.label}. The container is stopped.`);
    const slot = this.module.slotByLabel(this.label);
    if (!slot) throw new SsmaxError('TOKEN_ERROR', `Cannot open token ${this.label}. The p11-kit server does not offer it.`);
    const module = Pkcs11Module.acquire({
      path: this.module.path,
      initializeFlags: pkcs11js.CKF_OS_LOCKING_OK,
      env: { P11_KIT_SERVER_ADDRESS: `unix:path=${this.socketPath}` },
    });
    try {
      return Pkcs11Token.open({ module, slot, label: this.label, capabilities });
    } catch (err) {
      module.release();
      throw err;
    }
  }

  /** Runs a command in the container (diagnostics, tests). */
  async exec(command: string[]): Promise<{ exitCode: number; output: string }> {
    const r = await this.container.exec(command);
    return { exitCode: r.exitCode, output: r.output };
  }

  /** Disconnects the client module and stops the container. Open tokens should be closed first. */
  async stop(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.module.release();
    } finally {
      await this.container.stop({ timeout: 1 }).catch((cause: unknown) => {
        throw containerError(`Cannot stop the SoftHSM2 container ${this.container.getId()}.`, cause);
      });
      if (this.ownsSocketDir) fs.rmSync(this.socketDir, { recursive: true, force: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
