import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decryptContent } from '../cms/enveloped/index.js';
import { ORACLE, PYTHON } from '../cms/enveloped/testing/oracles.js';
import { SoftwareKey } from '../software-key.js';
import {
  AUTH_ATTRS_PROBE,
  createOracleProbes,
  KEY_AGREEMENT_PROBES,
  OPENSSL_AUTH_ATTRS_BUG,
  PROBE_PLAINTEXT,
  type ProbeCurve,
  type ProbeKdf,
} from './oracle-capabilities.js';
import { probeOracleVersion, spawnRunner, type CommandResult, type CommandRunner } from './oracle-versions.js';

const work = mkdtempSync(join(tmpdir(), 'ssmax-probe-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const der = (b64: string) => Buffer.from(b64, 'base64');
const pem = (b64: string) => `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
const KARI: [ProbeCurve, ProbeKdf][] = [
  ['X25519', 'x963'],
  ['X25519', 'hkdf'],
  ['X448', 'x963'],
  ['X448', 'hkdf'],
];

/** The Python oracle's decryption of a probe message (the independent check that the message is what it claims). */
function pythonDecrypts(message: string, args: string[]): string {
  const [inPath, outPath] = [join(work, `py-${Math.random()}.der`), join(work, `py-${Math.random()}.out`)];
  writeFileSync(inPath, der(message));
  const r = spawnSync(PYTHON, [ORACLE, 'decrypt', '--in', inPath, '--out', outPath, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(outPath, 'utf8');
}

/** Counts the commands a runner is asked to run. */
function counting(inner: CommandRunner): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  return Object.assign((c: string, a: readonly string[]) => (calls.push([c, ...a].join(' ')), inner(c, a)), { calls });
}

describe('the probe messages (made by the Python oracle, committed)', () => {
  it('authAttrs: the Python oracle and we open it to the probe plaintext, and it carries authAttrs ([1] after the ciphertext)', async () => {
    expect(pythonDecrypts(AUTH_ATTRS_PROBE.der, ['--kek', AUTH_ATTRS_PROBE.kek, '--kekid', AUTH_ATTRS_PROBE.kekId])).toBe(PROBE_PLAINTEXT);
    const ours = await decryptContent(der(AUTH_ATTRS_PROBE.der), {
      secretKey: { id: Buffer.from(AUTH_ATTRS_PROBE.kekId, 'hex'), key: Buffer.from(AUTH_ATTRS_PROBE.kek, 'hex') },
    });
    expect(Buffer.from(ours.content).toString()).toBe(PROBE_PLAINTEXT);
    expect(ours.cipher).toBe('aes-128-gcm');
    // The contentType attribute (id-contentType, id-data) inside an [1] IMPLICIT SET before the 16-byte mac.
    expect(
      der(AUTH_ATTRS_PROBE.der)
        .subarray(-18 - 28, -18)
        .toString('hex'),
    ).toBe('a11a301806092a864886f70d010903310b06092a864886f70d010701');
  });

  for (const [curve, kdf] of KARI) {
    it(`${curve} ${kdf}: the Python oracle and we open it to the probe plaintext with the ${curve} key`, async () => {
      const p = KEY_AGREEMENT_PROBES[curve];
      const keyPath = join(work, `${curve}.pem`);
      writeFileSync(keyPath, pem(p.key));
      expect(pythonDecrypts(p[kdf], ['--key', keyPath])).toBe(PROBE_PLAINTEXT);
      const ours = await decryptContent(der(p[kdf]), { key: SoftwareKey.fromBytes(Buffer.from(pem(p.key))) });
      expect(Buffer.from(ours.content).toString()).toBe(PROBE_PLAINTEXT);
      expect(ours.keyManagement?.algorithm).toBe(`ECDH-${curve}+${kdf === 'hkdf' ? 'HKDF' : 'X9.63'}-${curve === 'X25519' ? 'SHA256' : 'SHA512'}+AES128-WRAP`);
    });
  }
});

describe("createOracleProbes (this machine's openssl)", () => {
  const run = counting(spawnRunner);
  const probes = createOracleProbes({ run });
  const oracle = `OpenSSL ${probeOracleVersion('openssl')}`;

  it('authAttrs: answers as openssl itself does when asked directly, names the oracle, and asks once', () => {
    const cap = probes.opensslReadsAuthAttrs();
    const direct = spawnSync(
      'openssl',
      ['cms', '-decrypt', '-binary', '-inform', 'DER', '-secretkey', AUTH_ATTRS_PROBE.kek, '-secretkeyid', AUTH_ATTRS_PROBE.kekId],
      {
        input: der(AUTH_ATTRS_PROBE.der),
        encoding: 'utf8',
      },
    );
    expect(cap).toEqual(
      direct.status === 0 ? { oracle, can: true, refusal: '' } : { oracle, can: false, refusal: expect.stringMatching(OPENSSL_AUTH_ATTRS_BUG) as unknown },
    );
    if (direct.status === 0) expect(direct.stdout).toBe(PROBE_PLAINTEXT);
    const asked = run.calls.length;
    expect(probes.opensslReadsAuthAttrs()).toBe(cap);
    expect(run.calls.length).toBe(asked);
  });

  for (const [curve, kdf] of KARI) {
    it(`${curve} ${kdf}: answers as openssl itself does when asked directly`, () => {
      const p = KEY_AGREEMENT_PROBES[curve];
      const keyPath = join(work, `direct-${curve}.pem`);
      writeFileSync(keyPath, pem(p.key));
      const direct = spawnSync('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-inkey', keyPath], { input: der(p[kdf]), encoding: 'utf8' });
      const cap = probes.opensslReadsKeyAgreement(curve, kdf);
      expect(cap.oracle).toBe(oracle);
      expect(cap.can).toBe(direct.status === 0 && direct.stdout === PROBE_PLAINTEXT);
      if (!cap.can) expect(direct.stderr.replace(/^[0-9A-F]+:error:[0-9A-F]+:[^:]*:([^:]*):([^:]*).*$/gm, '$1: $2')).toContain(cap.refusal);
    });
  }

  it('Ed25519 SignedData: answers as openssl cms -sign does with an Ed25519 key', () => {
    const key = join(work, 'ed.pem');
    const cert = join(work, 'ed-cert.pem');
    expect(spawnSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=t']).status).toBe(0);
    const direct = spawnSync('openssl', ['cms', '-sign', '-binary', '-signer', cert, '-inkey', key, '-outform', 'DER'], { input: 'x', encoding: 'latin1' });
    const cap = probes.opensslSignsEd25519();
    expect(cap.can).toBe(direct.status === 0);
    if (!cap.can) expect(direct.stderr.replace(/^[0-9A-F]+:error:[0-9A-F]+:[^:]*:([^:]*):([^:]*).*$/gm, '$1: $2')).toContain(cap.refusal);
  });
});

describe('createOracleProbes (canned answers: the classification alone)', () => {
  const answer =
    (cms: Partial<CommandResult>): CommandRunner =>
    (command, args) =>
      args[0] === 'version'
        ? { status: 0, stdout: 'OpenSSL 3.0.22 11 Feb 2026 (Library: OpenSSL 3.0.22 11 Feb 2026)\n', stderr: '' }
        : args[0] === 'req'
          ? { status: 0, stdout: '', stderr: '' }
          : { status: 0, stdout: '', stderr: '', ...cms };

  it('says can when openssl returns the plaintext, cannot with its words when it refuses', () => {
    expect(createOracleProbes({ run: answer({ stdout: PROBE_PLAINTEXT }) }).opensslReadsAuthAttrs()).toEqual({
      oracle: 'OpenSSL 3.0.22',
      can: true,
      refusal: '',
    });
    const bug = createOracleProbes({
      run: answer({
        status: 4,
        stderr:
          'Error reading SMIME Content Info\n80:error:0688010A:asn1 encoding routines:asn1_template_noexp_d2i:nested asn1 error:tasn_dec.c:712:Field=mac, Type=CMS_AuthEnvelopedData\n',
      }),
    });
    expect(bug.opensslReadsAuthAttrs()).toEqual({ oracle: 'OpenSSL 3.0.22', can: false, refusal: 'Field=mac, Type=CMS_AuthEnvelopedData' });
    const kari = createOracleProbes({
      run: answer({
        status: 4,
        stderr: 'Error decrypting CMS using private key\n80:error:17000084:CMS routines:CMS_decrypt_set1_pkey_and_peer:no matching recipient\n',
      }),
    });
    expect(kari.opensslReadsKeyAgreement('X448', 'hkdf')).toMatchObject({ can: false, refusal: 'CMS_decrypt_set1_pkey_and_peer: no matching recipient' });
    expect(createOracleProbes({ run: answer({ status: 3, stderr: 'cms: no default digest\n' }) }).opensslSignsEd25519()).toMatchObject({
      can: false,
      refusal: 'cms: no default digest',
    });
    expect(createOracleProbes({ run: answer({}) }).opensslSignsEd25519()).toMatchObject({ can: true });
  });

  it('throws instead of guessing: another authAttrs error, wrong plaintext, openssl missing, no Ed25519 key to try with', () => {
    expect(() => createOracleProbes({ run: answer({ status: 1, stderr: 'Error: bad decrypt\n' }) }).opensslReadsAuthAttrs()).toThrow(
      /Cannot tell whether openssl reads authAttrs/,
    );
    expect(() => createOracleProbes({ run: answer({ stdout: 'garbage' }) }).opensslReadsKeyAgreement('X25519', 'x963')).toThrow(
      /Cannot tell whether openssl opens X25519/,
    );
    expect(() => createOracleProbes({ run: () => ({ status: null, stdout: '', stderr: '' }) }).opensslReadsAuthAttrs()).toThrow(/exit null/);
    const noKey: CommandRunner = (c, a) => (a[0] === 'req' ? { status: 1, stdout: '', stderr: 'unknown algorithm ed25519\n' } : answer({})(c, a));
    expect(() => createOracleProbes({ run: noKey }).opensslSignsEd25519()).toThrow(/no Ed25519 certificate/);
  });
});
