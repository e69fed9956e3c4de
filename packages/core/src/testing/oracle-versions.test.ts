import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  ABSENT,
  formatOracleVersions,
  ORACLES,
  probeOracleVersion,
  probeOracleVersions,
  spawnRunner,
  type CommandResult,
  type CommandRunner,
} from './oracle-versions.js';

/** A runner that answers from a table of canned outputs, keyed by the command line; anything else is not installed. */
function canned(answers: Record<string, Partial<CommandResult>>): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = (command, args) => {
    const line = [command, ...args].join(' ');
    calls.push(line);
    const a = answers[line];
    return a === undefined ? { status: null, stdout: '', stderr: '' } : { status: 0, stdout: '', stderr: '', ...a };
  };
  return Object.assign(run, { calls });
}

// Outputs as printed by Debian bookworm's packages, and a few from other versions.
const BOOKWORM: Record<string, Partial<CommandResult>> = {
  'openssl version': { stdout: 'OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)\n' },
  'gpgsm --version': { stdout: 'gpgsm (GnuPG) 2.2.40\nlibgcrypt 1.10.1\nlibksba 1.6.3\nCopyright (C) 2022 g10 Code GmbH\n' },
  'dovecot --version': { stdout: '2.3.19.1 (9b53102964)\n' },
  'softhsm2-util --version': { stdout: '2.6.1\n' },
  'p11-kit --version': { status: 2, stderr: 'p11-kit: unknown global option: --version\n' },
  'dpkg-query -W -f=${Version} p11-kit': { stdout: '0.24.1-2' },
  'clamd --version': { stdout: 'ClamAV 1.4.6/27412/Tue Oct  7 10:03:02 2025\n' },
  '/usr/bin/python3 --version': { stdout: 'Python 3.11.2\n' },
  '/usr/bin/python3 -c import cryptography; print(cryptography.__version__)': { stdout: '38.0.4\n' },
  '/usr/bin/python3 -c import asn1crypto; print(asn1crypto.__version__)': { stdout: '1.5.1\n' },
  'docker version --format {{.Server.Version}}': { stdout: '20.10.24+dfsg1\n' },
  'docker image inspect --format {{.Id}} ssmax/softhsm2:bookworm-1': { stdout: 'sha256:b01798482ba6cd933a4134a8880d3cb0ad607504357d64ece801644e092a93a9\n' },
};

describe('probeOracleVersions (canned outputs: the parsing alone)', () => {
  it('reads each version out of what bookworm prints, p11-kit from the Debian package when it has no --version', () => {
    const v = probeOracleVersions({ run: canned(BOOKWORM), node: 'v20.20.2' });
    expect(v).toEqual({
      openssl: '3.0.19',
      gpgsm: '2.2.40',
      dovecot: '2.3.19.1',
      softhsm2: '2.6.1',
      'p11-kit': '0.24.1',
      clamd: '1.4.6',
      python3: '3.11.2',
      'python3-cryptography': '38.0.4',
      'python3-asn1crypto': '1.5.1',
      node: 'v20.20.2',
      docker: '20.10.24+dfsg1',
      'softhsm2-image': 'sha256:b01798482ba6',
    });
    expect(formatOracleVersions(v)).toBe(
      'oracles: openssl 3.0.19, gpgsm 2.2.40, dovecot 2.3.19.1, softhsm2 2.6.1, p11-kit 0.24.1, clamd 1.4.6, python3 3.11.2, ' +
        'python3-cryptography 38.0.4, python3-asn1crypto 1.5.1, node v20.20.2, docker 20.10.24+dfsg1, softhsm2-image sha256:b01798482ba6',
    );
  });

  it('records a missing program, a failing one and an unreachable Docker daemon as absent, and asks no further', () => {
    const run = canned({
      'openssl version': { stdout: 'OpenSSL 3.5.1 1 Jul 2025 (Library: OpenSSL 3.5.1 1 Jul 2025)\n' },
      // Docker's CLI is there but the daemon is not: exit 1 with the client's complaint.
      'docker version --format {{.Server.Version}}': {
        status: 1,
        stdout: '\n',
        stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n',
      },
      'docker image inspect --format {{.Id}} ssmax/softhsm2:bookworm-1': { status: 1, stderr: 'Error: No such image: ssmax/softhsm2:bookworm-1\n' },
      '/usr/bin/python3 --version': { stdout: 'Python 3.13.5\n' },
      '/usr/bin/python3 -c import cryptography; print(cryptography.__version__)': {
        status: 1,
        stderr: "ModuleNotFoundError: No module named 'cryptography'\n",
      },
    });
    const v = probeOracleVersions({ run, node: 'v22.1.0' });
    expect(v.openssl).toBe('3.5.1');
    expect(v.python3).toBe('3.13.5');
    for (const name of ['gpgsm', 'dovecot', 'softhsm2', 'p11-kit', 'clamd', 'python3-cryptography', 'python3-asn1crypto', 'docker', 'softhsm2-image'] as const)
      expect(v[name], name).toBe(ABSENT);
    // Each of the probes ran, the fallbacks only after the first way failed: 12 oracles less node, plus the fallbacks.
    expect(run.calls.filter((c) => c.startsWith('openssl'))).toEqual(['openssl version']);
    expect(run.calls).toContain('/usr/sbin/dovecot --version');
    expect(run.calls).toContain('dpkg-query -W -f=${Version} p11-kit');
  });

  it('takes the second way when the first is not on PATH (dovecot and clamd in /usr/sbin), and other version forms', () => {
    const run = canned({
      '/usr/sbin/dovecot --version': { stdout: '2.4.1-4 (7d8c0e5759)\n' },
      '/usr/sbin/clamd --version': { stdout: 'ClamAV 1.0.9\n' },
      'p11-kit --version': { stdout: 'p11-kit 0.25.5\n' },
      'gpgsm --version': { stdout: 'gpgsm (GnuPG) 2.4.7\nlibgcrypt 1.11.0\nlibksba 1.6.7\n' },
    });
    const v = probeOracleVersions({ run });
    expect([v.dovecot, v.clamd, v['p11-kit'], v.gpgsm]).toEqual(['2.4.1', '1.0.9', '0.25.5', '2.4.7']);
    expect(v.node).toBe(process.version);
    expect(run.calls).not.toContain('dpkg-query -W -f=${Version} p11-kit');
  });

  it('keeps the first line of an answer it cannot read instead of dropping it', () => {
    const run = canned({ 'openssl version': { stdout: 'LibreSSL-ish build, no number\n' } });
    expect(probeOracleVersion('openssl', { run })).toBe('LibreSSL-ish build, no number');
  });
});

describe('probeOracleVersions (the real programs of this machine)', () => {
  const v = probeOracleVersions();

  it('finds each version the way the program itself prints it', () => {
    // Each version is compared with the program's own answer, read here without the probe's table.
    const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
    expect(sh('openssl', ['version']).startsWith(`OpenSSL ${v.openssl} `)).toBe(true);
    expect(sh('gpgsm', ['--version']).split('\n')[0]).toBe(`gpgsm (GnuPG) ${v.gpgsm}`);
    expect(sh('softhsm2-util', ['--version']).trim()).toBe(v.softhsm2);
    expect(sh('/usr/sbin/dovecot', ['--version']).startsWith(`${v.dovecot} (`)).toBe(true);
    expect(sh('/usr/sbin/clamd', ['--version']).startsWith(`ClamAV ${v.clamd}`)).toBe(true);
    expect(sh('/usr/bin/python3', ['--version']).trim()).toBe(`Python ${v.python3}`);
    expect(sh('/usr/bin/python3', ['-c', 'import cryptography; print(cryptography.__version__)']).trim()).toBe(v['python3-cryptography']);
    expect(v['p11-kit']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(v.node).toBe(process.version);
    for (const name of ORACLES) expect(v[name], name).toMatch(/^(v?\d+\.\d+\.\d+\S*|sha256:[0-9a-f]{12}|absent)$/);
  });

  it('reports Docker and the SoftHSM2 image as the daemon answers, absent only when it does not', () => {
    const daemon = spawnRunner('docker', ['version', '--format', '{{.Server.Version}}']);
    if (daemon.status !== 0) {
      expect([v.docker, v['softhsm2-image']]).toEqual([ABSENT, ABSENT]);
      return;
    }
    expect(v.docker).toBe(daemon.stdout.trim());
    const image = spawnRunner('docker', ['image', 'inspect', '--format', '{{.Id}}', 'ssmax/softhsm2:bookworm-1']);
    expect(v['softhsm2-image']).toBe(image.status === 0 ? image.stdout.trim().slice(0, 'sha256:'.length + 12) : ABSENT);
  });
});
