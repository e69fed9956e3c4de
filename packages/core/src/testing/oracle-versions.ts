/**
 * The versions of the outside programs the test bed relies on: the oracles that grade our CMS (openssl,
 * gpgsm, the Python oracle's interpreter and libraries) and the real parts the worlds run (Dovecot,
 * SoftHSM2, p11-kit, clamd, Docker and the SoftHSM2 image). What an oracle can do depends on its
 * version (issue 11: OpenSSL 3.0.19 cannot parse authAttrs in AuthEnvelopedData, 3.0.22 can), so a test
 * run and a matrix.json record them. A missing program is recorded as {@link ABSENT}, never an error.
 */
import { spawnSync } from 'node:child_process';
import { SOFTHSM_CONTAINER_IMAGE } from '../tokens/softhsm-container.js';

/** The outside programs, in the order they are printed and recorded. */
export const ORACLES = [
  'openssl',
  'gpgsm',
  'dovecot',
  'softhsm2',
  'p11-kit',
  'clamd',
  'python3',
  'python3-cryptography',
  'python3-asn1crypto',
  'node',
  'docker',
  'softhsm2-image',
] as const;
export type OracleName = (typeof ORACLES)[number];

/** The version of an outside program that is not installed (or, for Docker, not reachable). */
export const ABSENT = 'absent';

/** Each oracle's version ("3.0.19"), {@link ABSENT}, or the first line it printed when that has no version in it. */
export type OracleVersions = { readonly [K in OracleName]: string };

/** The interpreter the Python oracles run with (testing/cms_oracle.py, pycms_oracle.py, the olefile oracle). */
export const ORACLE_PYTHON = '/usr/bin/python3';

/** What one command printed; `status` is null when it could not be started or timed out. */
export interface CommandResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command to completion. Never throws: a program that is not installed gives status null. */
export type CommandRunner = (command: string, args: readonly string[]) => CommandResult;

/** spawnSync with a timeout, so an unreachable Docker daemon cannot hold up a test run. */
export const spawnRunner: CommandRunner = (command, args) => {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

export interface ProbeOptions {
  /** Default: {@link spawnRunner}. Tests inject canned outputs to check the parsing alone. */
  readonly run?: CommandRunner;
  /** Default: process.version. */
  readonly node?: string;
  /** Default: {@link ORACLE_PYTHON}. */
  readonly python?: string;
  /** Default: {@link SOFTHSM_CONTAINER_IMAGE}. */
  readonly softhsmImage?: string;
}

/** One way to ask a program its version, and where in the answer the version is. */
interface Query {
  readonly command: string;
  readonly args: readonly string[];
  readonly version: RegExp;
}

/** The ways to ask, tried in order until one answers with a version. */
type Probe = (o: Required<Omit<ProbeOptions, 'run' | 'node'>>) => readonly Query[];

const pythonModule =
  (name: string): Probe =>
  (o) => [{ command: o.python, args: ['-c', `import ${name}; print(${name}.__version__)`], version: /^(\d+\.\d+(?:\.\d+)*)\s*$/m }];

/** The table: one row per oracle (node is read from the running process). */
const PROBES: { readonly [K in Exclude<OracleName, 'node'>]: Probe } = {
  // "OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)"
  openssl: () => [{ command: 'openssl', args: ['version'], version: /^OpenSSL (\d+\.\d+\.\d+\S*)/m }],
  // "gpgsm (GnuPG) 2.2.40"
  gpgsm: () => [{ command: 'gpgsm', args: ['--version'], version: /^gpgsm \(GnuPG\) (\d+\.\d+\.\d+\S*)/m }],
  // "2.3.19.1 (9b53102964)"; /usr/sbin is not on every user's PATH.
  dovecot: () => ['dovecot', '/usr/sbin/dovecot'].map((command) => ({ command, args: ['--version'], version: /^(\d+\.\d+\.\d+(?:\.\d+)?)/m })),
  // "2.6.1"
  softhsm2: () => [{ command: 'softhsm2-util', args: ['--version'], version: /^(\d+\.\d+\.\d+)\s*$/m }],
  // p11-kit 0.24 has no --version ("unknown global option"); then its build's pkg-config, then the Debian package.
  'p11-kit': () => [
    { command: 'p11-kit', args: ['--version'], version: /(\d+\.\d+\.\d+)/ },
    { command: 'pkg-config', args: ['--modversion', 'p11-kit-1'], version: /^(\d+\.\d+\.\d+)\s*$/m },
    { command: 'dpkg-query', args: ['-W', '-f=${Version}', 'p11-kit'], version: /^(?:\d+:)?(\d+\.\d+\.\d+)/ },
  ],
  // "ClamAV 1.4.6" or, with a database, "ClamAV 1.4.6/27412/Tue Oct  7 10:03:02 2025"
  clamd: () => ['clamd', '/usr/sbin/clamd'].map((command) => ({ command, args: ['--version'], version: /^ClamAV (\d+\.\d+\.\d+\S*?)(?:\/|\s*$)/m })),
  // "Python 3.11.2"
  python3: (o) => [{ command: o.python, args: ['--version'], version: /^Python (\d+\.\d+\.\d+\S*)/m }],
  'python3-cryptography': pythonModule('cryptography'),
  'python3-asn1crypto': pythonModule('asn1crypto'),
  // "20.10.24+dfsg1": the daemon's version, absent when the daemon is not reachable.
  docker: () => [{ command: 'docker', args: ['version', '--format', '{{.Server.Version}}'], version: /^(\d+\.\d+\.\d+\S*)\s*$/m }],
  // "sha256:b01798482ba6…": the locally built image (images/softhsm2/build.sh), absent until it is built.
  'softhsm2-image': (o) => [
    { command: 'docker', args: ['image', 'inspect', '--format', '{{.Id}}', o.softhsmImage], version: /^(sha256:[0-9a-f]{12})[0-9a-f]{52}\s*$/m },
  ],
};

/** The first line a program printed, for a version it answered in a form the table does not know. */
function firstLine(r: CommandResult): string {
  return (`${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 80);
}

function ask(run: CommandRunner, queries: readonly Query[]): string {
  let unparsed: string | undefined;
  for (const q of queries) {
    const r = run(q.command, q.args);
    if (r.status !== 0) continue;
    const m = q.version.exec(r.stdout) ?? q.version.exec(r.stderr);
    if (m?.[1] !== undefined) return m[1];
    unparsed ??= firstLine(r) || undefined;
  }
  return unparsed ?? ABSENT;
}

/**
 * Asks every oracle its version (a dozen short processes, about a second with Docker). Programs that are
 * missing, or a Docker daemon that does not answer, are {@link ABSENT}.
 */
export function probeOracleVersions(options: ProbeOptions = {}): OracleVersions {
  const run = options.run ?? spawnRunner;
  const o = { python: options.python ?? ORACLE_PYTHON, softhsmImage: options.softhsmImage ?? SOFTHSM_CONTAINER_IMAGE };
  const found = {} as Record<OracleName, string>;
  for (const name of ORACLES) found[name] = name === 'node' ? (options.node ?? process.version) : ask(run, PROBES[name](o));
  return found;
}

/** One oracle's version, asked alone (tests that depend on one oracle name it without probing all). */
export function probeOracleVersion(name: Exclude<OracleName, 'node'>, options: Omit<ProbeOptions, 'node'> = {}): string {
  return ask(
    options.run ?? spawnRunner,
    PROBES[name]({ python: options.python ?? ORACLE_PYTHON, softhsmImage: options.softhsmImage ?? SOFTHSM_CONTAINER_IMAGE }),
  );
}

/** The one line a test run prints: "oracles: openssl 3.0.19, gpgsm 2.2.40, …, softhsm2-image absent". */
export function formatOracleVersions(v: OracleVersions): string {
  return `oracles: ${ORACLES.map((name) => `${name} ${v[name]}`).join(', ')}`;
}
