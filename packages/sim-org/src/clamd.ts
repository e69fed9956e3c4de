/**
 * ClamAV as the malware engine of inbound inspection (8) and of a conventional MX (issue 16): one
 * `clamd` per world, started from a config and a signature database written here, talked to over its
 * Unix socket with the INSTREAM command (clamd(8): "zINSTREAM\0", chunks prefixed by their length as a
 * 4-byte big-endian integer, a zero-length chunk to end; reply "stream: OK" or "stream: <name> FOUND").
 *
 * Nothing here reaches the network: no freshclam, no TCP socket, and the database is the few local
 * signatures of {@link LOCAL_SIGNATURES}; the verdicts that matter in the test bed come from ClamAV's
 * parsers and heuristics (encrypted archives, VBA macros in OLE2, broken executables, limits exceeded).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimOrgError } from './errors.js';

/** What one scan found; a scanner never rejects, a fault is an `error` outcome (the caller fails closed). */
export type MalwareScanOutcome =
  { readonly result: 'clean' } | { readonly result: 'found'; readonly signature: string } | { readonly result: 'error'; readonly detail: string };

/** A malware engine as inspection uses it: one file's bytes in, one outcome out. */
export interface MalwareScanner {
  /** The engine's name in the journey, e.g. `clamav`. */
  readonly engine: string;
  /** Engine and database as a person reads them, e.g. "ClamAV 1.4.6, local signatures"; known once it has answered. */
  readonly description: string;
  scan(bytes: Uint8Array, options?: { readonly timeoutMs?: number }): Promise<MalwareScanOutcome>;
}

/**
 * clamd's limits, set so that ClamAV alerts (`AlertExceedsMax`: Heuristics.Limits.Exceeded.*) where
 * our own archive reader would refuse, and always answers before inspection's own time limit:
 *
 * - `maxFileSize` 32 MiB = core's `DEFAULT_ZIP_LIMITS.maxEntryBytes`: no file or member larger than
 *   what our reader inflates is passed unscanned.
 * - `maxScanSize` 128 MiB = `DEFAULT_ZIP_LIMITS.maxTotalBytes`, the budget of one mail (ClamAV counts
 *   it per file: the archive plus everything extracted from it).
 * - `maxFiles` 4096 = `DEFAULT_ZIP_LIMITS.maxEntries`.
 * - `maxRecursion` 8: ClamAV counts every layer it extracts (archive, gzip, OOXML package, OLE2 file,
 *   VBA project). Measured with clamd 1.4.6: a macro document inside four nested ZIPs is found
 *   (Heuristics.OLE2.ContainsMacros.VBA); from five on its layers reach the limit and clamd reports
 *   whichever of the two alerts it records first (both block); a plain file passes inside seven nested
 *   ZIPs or gzips and is refused inside eight. Our own reader opens three ZIP levels (`maxZipDepth`),
 *   but no gzip at all.
 * - `maxScanTimeMs` 8000, below inspection's 10 s (`DEFAULT_INSPECTION_TIME_LIMIT_MS`), so a slow scan
 *   ends as ClamAV's own verdict (Heuristics.Limits.Exceeded.MaxScanTime) rather than our timeout.
 * - `streamMaxLength` 32 MiB: above the largest message an MX accepts (10 MiB by default); a larger
 *   stream is an error reply, which fails closed.
 */
export interface ClamdLimits {
  readonly maxFileSize: number;
  readonly maxScanSize: number;
  readonly maxFiles: number;
  readonly maxRecursion: number;
  readonly maxScanTimeMs: number;
  readonly streamMaxLength: number;
}

export const CLAMD_LIMITS: ClamdLimits = Object.freeze({
  maxFileSize: 32 * 1024 * 1024,
  maxScanSize: 128 * 1024 * 1024,
  maxFiles: 4096,
  maxRecursion: 8,
  maxScanTimeMs: 8_000,
  streamMaxLength: 32 * 1024 * 1024,
});

const EICAR_HEX = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*', 'latin1').toString('hex');

/**
 * The signature database clamd loads (no signature updates can be fetched: the test bed has no
 * network, and freshclam is never run). ClamAV 1.x has no built-in EICAR signature; it ships in the
 * official daily database, so it is written here. The other malicious payload kinds
 * (scenarios/payload-kinds.json) carry a per-cell marker, so they have no fixed hash to list: ClamAV
 * catches them by its heuristics, and `novel-malware` (a zero-day) by nothing, on purpose. clamd
 * reports signatures from a database it cannot verify with a `.UNOFFICIAL` suffix.
 */
export const LOCAL_SIGNATURES: readonly { readonly file: 'ssmax.hdb' | 'ssmax.ndb'; readonly line: string; readonly why: string }[] = Object.freeze([
  // sigtool --md5: MD5:size:name of the exact 68-byte file.
  { file: 'ssmax.hdb', line: `44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature`, why: 'the EICAR test file as distributed (https://www.eicar.org)' },
  // Body signature (signatures.md, .ndb): target 0 (any file), offset * (anywhere), the 68 bytes; finds EICAR inside other files too.
  { file: 'ssmax.ndb', line: `Eicar-Test-Signature:0:*:${EICAR_HEX}`, why: 'the EICAR string anywhere in a file or an extracted member' },
]);

const STDERR_KEEP = 4096;

function clamdBinary(): string {
  return existsSync('/usr/sbin/clamd') ? '/usr/sbin/clamd' : 'clamd';
}

/**
 * One INSTREAM request. Resolves with clamd's reply without its NUL terminator; rejects on a socket
 * fault or when no reply came within `timeoutMs`.
 */
function clamdRequest(socketPath: string, command: string, payload: Uint8Array | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    const got: Buffer[] = [];
    let settled = false;
    const settle = (err: Error | undefined, reply?: string) => {
      if (settled) return;
      settled = true;
      s.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const replySoFar = (): string | undefined => {
      const b = Buffer.concat(got);
      const nul = b.indexOf(0);
      return nul >= 0 ? b.subarray(0, nul).toString('utf8') : b.length > 0 ? b.toString('utf8') : undefined;
    };
    s.setTimeout(timeoutMs, () => settle(new Error(`no reply within ${timeoutMs} ms`)));
    s.on('data', (c: Buffer) => {
      got.push(c);
      if (c.includes(0)) settle(undefined, replySoFar());
    });
    s.on('end', () => {
      const r = replySoFar();
      settle(r === undefined ? new Error('clamd closed the connection without a reply') : undefined, r);
    });
    // clamd answers "INSTREAM size limit exceeded" and closes while we may still be writing: that reply wins over EPIPE.
    s.on('error', (e) => {
      const r = replySoFar();
      settle(r === undefined ? e : undefined, r);
    });
    s.on('connect', () => {
      s.write(`z${command}\0`);
      if (payload === undefined) return;
      const CHUNK = 64 * 1024;
      for (let at = 0; at < payload.byteLength; at += CHUNK) {
        const part = payload.subarray(at, at + CHUNK);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(part.byteLength);
        s.write(len);
        s.write(part);
      }
      s.write(Buffer.alloc(4));
    });
  });
}

/** Reads clamd's INSTREAM reply (clamd(8)): "stream: OK", "stream: <name> FOUND", "<message> ERROR". */
export function parseClamdReply(reply: string): MalwareScanOutcome {
  const r = reply.trim();
  if (r === 'stream: OK') return { result: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(r);
  if (found) return { result: 'found', signature: found[1]! };
  return { result: 'error', detail: `clamd answered "${r.slice(0, 200)}"` };
}

/** A client of a running clamd's Unix socket. */
export class ClamdClient implements MalwareScanner {
  readonly engine = 'clamav';
  description = 'ClamAV (clamd)';

  constructor(readonly socketPath: string) {}

  /** Sends one command without payload (PING, VERSION) and returns the reply. */
  command(name: 'PING' | 'VERSION', timeoutMs = 5_000): Promise<string> {
    return clamdRequest(this.socketPath, name, undefined, timeoutMs);
  }

  async scan(bytes: Uint8Array, options: { readonly timeoutMs?: number } = {}): Promise<MalwareScanOutcome> {
    try {
      return parseClamdReply(await clamdRequest(this.socketPath, 'INSTREAM', bytes, options.timeoutMs ?? 30_000));
    } catch (e) {
      return { result: 'error', detail: `clamd at ${this.socketPath}: ${(e as Error).message}` };
    }
  }
}

export interface ClamdDaemonOptions {
  /** Where the config, the signature database, the log and clamd's temporary files go (created). */
  readonly dir: string;
  readonly limits?: Partial<ClamdLimits>;
  /** More signature lines (.hdb `md5:size:name`, .ndb `name:target:offset:hex`) beside {@link LOCAL_SIGNATURES}. */
  readonly signatures?: { readonly hdb?: readonly string[]; readonly ndb?: readonly string[] };
  /** The clamd binary; default /usr/sbin/clamd (Debian's clamav-daemon), else `clamd` from PATH. */
  readonly binary?: string;
  /** How long clamd may take to answer PING after it is spawned (default 30 s). */
  readonly startTimeoutMs?: number;
}

/**
 * One clamd process, started on the first scan (or by {@link ClamdDaemon.start}) and stopped by
 * {@link ClamdDaemon.close}. Its socket lives in a short temporary directory (a Unix socket path has at
 * most 107 bytes); everything else under `dir`, so the process shows `dir` in its command line.
 * If it cannot start or has died, every scan is an `error` outcome and inspection fails closed.
 */
export class ClamdDaemon implements MalwareScanner, AsyncDisposable {
  readonly engine = 'clamav';
  readonly socketPath: string;
  readonly configPath: string;
  readonly limits: ClamdLimits;
  /** clamd's VERSION reply once started, e.g. "ClamAV 1.4.6". */
  version: string | undefined;
  /** Milliseconds from spawn to the first PONG, once started. */
  startMs: number | undefined;
  readonly #socketDir: string;
  readonly #client: ClamdClient;
  #proc: ChildProcess | undefined;
  #starting: Promise<void> | undefined;
  #exited: string | undefined;
  #closed = false;

  constructor(private readonly options: ClamdDaemonOptions) {
    this.limits = { ...CLAMD_LIMITS, ...options.limits };
    // Created when clamd starts, so a daemon that never scans leaves nothing behind.
    this.#socketDir = join(tmpdir(), `ssmax-clamd-${randomBytes(6).toString('hex')}`);
    this.socketPath = join(this.#socketDir, 'clamd.sock');
    this.configPath = join(options.dir, 'clamd.conf');
    this.#client = new ClamdClient(this.socketPath);
  }

  get description(): string {
    return `${this.version ?? 'ClamAV'}, local signatures`;
  }

  /** The process id while clamd runs. */
  get pid(): number | undefined {
    return this.#proc && this.#exited === undefined ? this.#proc.pid : undefined;
  }

  /** Starts clamd once; later calls wait for the same start. Rejects with INSPECTION_UNAVAILABLE. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new SimOrgError('INSPECTION_UNAVAILABLE', 'Cannot start clamd. The daemon was closed.'));
    // A failed start is not cached: the next scan tries again (and fails closed meanwhile).
    this.#starting ??= this.#start().catch((e: unknown) => {
      this.#starting = undefined;
      throw e;
    });
    return this.#starting;
  }

  async scan(bytes: Uint8Array, options: { readonly timeoutMs?: number } = {}): Promise<MalwareScanOutcome> {
    try {
      await this.start();
    } catch (e) {
      return { result: 'error', detail: (e as Error).message };
    }
    if (this.#exited !== undefined) return { result: 'error', detail: `clamd is not running: ${this.#exited}` };
    return this.#client.scan(bytes, options);
  }

  async #start(): Promise<void> {
    const dir = this.options.dir;
    const db = join(dir, 'db');
    const tmp = join(dir, 'tmp');
    mkdirSync(db, { recursive: true });
    mkdirSync(tmp, { recursive: true });
    mkdirSync(this.#socketDir, { recursive: true, mode: 0o700 });
    // A clamd of an earlier process on this directory that was killed (SIGKILL runs no exit handler) is
    // still running: stop it, as a service manager stops a restarted service's old process.
    stopStaleClamd(join(dir, 'clamd.pid'), this.configPath);
    for (const file of ['ssmax.hdb', 'ssmax.ndb'] as const) {
      const extra = this.options.signatures?.[file === 'ssmax.hdb' ? 'hdb' : 'ndb'] ?? [];
      writeFileSync(join(db, file), [...LOCAL_SIGNATURES.filter((s) => s.file === file).map((s) => s.line), ...extra].join('\n') + '\n');
    }
    const l = this.limits;
    const config = [
      `LocalSocket ${this.socketPath}`,
      'LocalSocketMode 600',
      'Foreground yes',
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${tmp}`,
      `LogFile ${join(dir, 'clamd.log')}`,
      // Do not lock the log: a second clamd on the same directory must not fail on it.
      'LogFileUnlock yes',
      'LogTime yes',
      `PidFile ${join(dir, 'clamd.pid')}`,
      'SelfCheck 0',
      // Heuristics on (clamd.conf(5)): encrypted archives and documents, VBA macros in OLE2, broken PE/ELF, limits.
      'HeuristicAlerts yes',
      'AlertEncrypted yes',
      'AlertEncryptedArchive yes',
      'AlertEncryptedDoc yes',
      'AlertOLE2Macros yes',
      'AlertBrokenExecutables yes',
      'AlertExceedsMax yes',
      // A signature found anywhere in a file wins over a heuristic alert found earlier in it.
      'HeuristicScanPrecedence no',
      `MaxFileSize ${l.maxFileSize}`,
      `MaxScanSize ${l.maxScanSize}`,
      `MaxFiles ${l.maxFiles}`,
      `MaxRecursion ${l.maxRecursion}`,
      `MaxScanTime ${l.maxScanTimeMs}`,
      `StreamMaxLength ${l.streamMaxLength}`,
      // Our DLP rules run on text; ClamAV's credit-card/SSN detector stays off.
      'StructuredDataDetection no',
      '',
    ].join('\n');
    writeFileSync(this.configPath, config);

    const binary = this.options.binary ?? clamdBinary();
    if (binary.includes('/') && !existsSync(binary)) {
      throw new SimOrgError('INSPECTION_UNAVAILABLE', `Cannot start clamd. ${binary} was not found: install clamav-daemon (scripts/bootstrap.sh).`);
    }
    const t0 = performance.now();
    // setpriv --pdeathsig (util-linux): clamd is killed when this process dies, even by SIGKILL, which runs
    // no exit handler; without setpriv the handler below and the next start's stale-pid check remain.
    const [cmd, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, '-c', this.configPath]] : [binary, ['-c', this.configPath]];
    const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-STDERR_KEEP)));
    let spawnError: Error | undefined;
    proc.once('error', (e) => (spawnError = e));
    // A process that exits without close() (a crashed test, process.exit) must not leave clamd behind.
    const reap = (): void => {
      proc.kill('SIGKILL');
      rmSync(this.#socketDir, { recursive: true, force: true });
    };
    process.once('exit', reap);
    proc.once('exit', (code, signal) => {
      this.#exited = signal ? `clamd was stopped by ${signal}` : `clamd exited with code ${code}`;
      process.off('exit', reap);
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 30_000);
    for (;;) {
      if (spawnError) {
        const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
        throw new SimOrgError(
          'INSPECTION_UNAVAILABLE',
          `Cannot start clamd. ${missing ? `${binary} was not found: install clamav-daemon (scripts/bootstrap.sh)` : spawnError.message}.`,
          { cause: spawnError },
        );
      }
      if (this.#exited !== undefined)
        throw new SimOrgError(
          'INSPECTION_UNAVAILABLE',
          `Cannot start clamd. ${this.#exited}: ${stderr.trim().slice(-500) || `see ${join(dir, 'clamd.log')}`}.`,
        );
      if (this.#closed) throw new SimOrgError('INSPECTION_UNAVAILABLE', 'Cannot start clamd. The daemon was closed while starting.');
      const pong = await this.#client.command('PING', 1_000).catch(() => '');
      if (pong === 'PONG') break;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new SimOrgError('INSPECTION_UNAVAILABLE', `Cannot start clamd. It did not answer PING within ${this.options.startTimeoutMs ?? 30_000} ms.`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    this.startMs = Math.round(performance.now() - t0);
    this.version = (await this.#client.command('VERSION').catch(() => 'ClamAV')).split('/')[0]!.trim();
    this.#client.description = this.description;
  }

  /** Stops clamd (SIGTERM, SIGKILL after 5 s) and removes its socket directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#starting?.catch(() => undefined);
    const proc = this.#proc;
    if (proc && this.#exited === undefined && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.#socketDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const SETPRIV = '/usr/bin/setpriv';

/**
 * Kills the clamd named by `pidFile` when it is still alive and was started with `configPath` (checked in
 * /proc, so a recycled pid of another program is never touched).
 */
function stopStaleClamd(pidFile: string, configPath: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  const args = cmdline.split('\0');
  if (!/clamd$/.test(args[0] ?? '') || !args.includes(configPath)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
