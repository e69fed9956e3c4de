/**
 * What this machine's oracles can do, found by trying it (issue 11): a test whose outcome depends on an
 * outside tool's version asks a probe here, names the oracle and the answer in its title, and asserts the
 * oracle's success where it can and its refusal where it cannot (or is skipped, the reason in its title).
 * A probe is a real call on a tiny input made by the other oracle (the Python CMS oracle,
 * cms/enveloped/testing/pycms_oracle.py, which shares no code with ours or OpenSSL's); its answer is kept
 * for the probe set's life. A probe that gets an answer it cannot classify throws: it never guesses.
 *
 * Not exported from the package index; core's tests import it by path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeOracleVersion, spawnRunner, type CommandResult, type CommandRunner } from './oracle-versions.js';

/** What one probe found. */
export interface Capability {
  /** The oracle as the test names it, with its version: "OpenSSL 3.0.19". */
  readonly oracle: string;
  readonly can: boolean;
  /** The oracle's own words when it cannot (its first error line), '' when it can. */
  readonly refusal: string;
}

/** The plaintext of every probe message. */
export const PROBE_PLAINTEXT = 'ssmax oracle probe\n';

/**
 * AuthEnvelopedData (RFC 5083), AES-128-GCM, to KEK 000102…0f with kekid 01 (kekri, AES-128 wrap), with
 * authAttrs = { contentType id-data }. Made by pycms_oracle.py (`encrypt --cipher aes-128-gcm --kek … --kekid 01
 * --auth-attrs`); 188 bytes.
 */
export const AUTH_ATTRS_PROBE = {
  kek: '000102030405060708090a0b0c0d0e0f',
  kekId: '01',
  der: 'MIG5BgsqhkiG9w0BCRABF6CBqTCBpgIBADExoi8CAQQwAwQBATALBglghkgBZQMEAQUEGOnOi+y/gRabvlXToLKd210cvB7NlzJrhzBABgkqhkiG9w0BBwEwHgYJYIZIAWUDBAEGMBEEDMM67Yqn59tdHwzzugIBEIATB4c/FE4JcXXer/J/osf0R8abXaEaMBgGCSqGSIb3DQEJAzELBgkqhkiG9w0BBwEEEFWWNMC3VEk8fJjybsNHiu8=',
} as const;

export type ProbeCurve = 'X25519' | 'X448';
export type ProbeKdf = 'x963' | 'hkdf';

/**
 * EnvelopedData, AES-128-CBC, one kari (RFC 8418) to the key below, per curve and KDF (X9.63 or HKDF with
 * SHA-256 for X25519, SHA-512 for X448). Made by pycms_oracle.py (`encrypt --cipher aes-128-cbc --recip … --kdf …`)
 * for a certificate of that key; the private keys are PKCS#8 DER, made for these probes and nothing else.
 */
export const KEY_AGREEMENT_PROBES: { readonly [C in ProbeCurve]: { readonly key: string } & { readonly [K in ProbeKdf]: string } } = {
  X25519: {
    key: 'MC4CAQAwBQYDK2VuBCIEIKAljOGthsTfSrS22vgbv1/QvXqK3AeF867BNgsz89Jh',
    x963: 'MIHoBgkqhkiG9w0BBwOggdowgdcCAQIxgYOhgYACAQOgLKEqMAUGAytlbgMhAHV35AAzqiH52sDHlLJgZ7ZMD8d5pjw2iZ/jK7zt8cZLMBUGBiuBBAELATALBglghkgBZQMEAQUwNjA0MBgwEzERMA8GA1UEAwwIcHJvYmUtY2ECAQEEGCsp3UknXu9xsMP7K0U4L1ZbOmb9A4zfKjBMBgkqhkiG9w0BBwEwHQYJYIZIAWUDBAECBBBOyj74Di/LUAcLjKK7gnLugCDgumjuF0lycibzptL/TxpeYU9OlJ1UiYG/NoSWt8ed8w==',
    hkdf: 'MIHtBgkqhkiG9w0BBwOggd8wgdwCAQIxgYihgYUCAQOgLKEqMAUGAytlbgMhAH7PnicBnjqUvk+Jy/M8WVlOOKPVHademgg3IOeNfYFSMBoGCyqGSIb3DQEJEAMTMAsGCWCGSAFlAwQBBTA2MDQwGDATMREwDwYDVQQDDAhwcm9iZS1jYQIBAQQYDn46WeA2anRZ1Id9L77XxJOsNwmD6zqOMEwGCSqGSIb3DQEHATAdBglghkgBZQMEAQIEEKxyzZfbEWf64udtXVQZFa6AINOYZtR6S9QLCb4wcHE7yXz3fhtNczBBbQgFR18PosI7',
  },
  X448: {
    key: 'MEYCAQAwBQYDK2VvBDoEOHQUyFpwA1VBdRgUYV29V5Kk+VUbzji9m4SSV7qe722OWyCrOO4RW1x1u9g+QjXOXZ2C0wOuY+bG',
    x963: 'MIIBAAYJKoZIhvcNAQcDoIHyMIHvAgECMYGboYGYAgEDoEShQjAFBgMrZW8DOQD34Y+JvRlvUJxxq6mByOns+vkS322UEy7gFgx4CUARKLxeITdRhJEaREyubIT6we7OGf57C0VeFTAVBgYrgQQBCwMwCwYJYIZIAWUDBAEFMDYwNDAYMBMxETAPBgNVBAMMCHByb2JlLWNhAgECBBhgMMU2yQhToLhMCMEQCTd4FJ3vuuP0XCcwTAYJKoZIhvcNAQcBMB0GCWCGSAFlAwQBAgQQmKeSQqDmz7woyNKPkRKYqoAgSxKBuLCkOtD45ddds7is12Te782V0tBSeXAjDN8ntuY=',
    hkdf: 'MIIBBQYJKoZIhvcNAQcDoIH3MIH0AgECMYGgoYGdAgEDoEShQjAFBgMrZW8DOQA0RrN9ceGFHF6gZebD75rr5G7JuQz7h44YefmaOgcPaLpXShx28OcJRUQ1LBJifsxn/xdybE+SPTAaBgsqhkiG9w0BCRADFTALBglghkgBZQMEAQUwNjA0MBgwEzERMA8GA1UEAwwIcHJvYmUtY2ECAQIEGKsbnI+clETb3ID4zFhOCCeMpJu+kQ8qlDBMBgkqhkiG9w0BBwEwHQYJYIZIAWUDBAECBBDkOlpEinvXg+XIfFTwaSr/gCAsNvBfQt6jFf/18mXKfnERQbznSB8yXXGQSOgiiWiGeQ==',
  },
};

/** OpenSSL 3.0.19's answer to authAttrs in AuthEnvelopedData: its ASN.1 template wants the mac where RFC 5083 §2.1 puts [1] authAttrs. */
export const OPENSSL_AUTH_ATTRS_BUG = /Field=mac, Type=CMS_AuthEnvelopedData/;

/** The probes of one test file, each run at most once. */
export interface OracleProbes {
  /** Does `openssl cms -decrypt` read authAttrs in AuthEnvelopedData? (No on OpenSSL 3.0.19, yes on 3.0.22.) */
  opensslReadsAuthAttrs(): Capability;
  /** Does `openssl cms -decrypt` open an X25519/X448 key agreement recipient with this KDF? (No on OpenSSL 3.0.) */
  opensslReadsKeyAgreement(curve: ProbeCurve, kdf: ProbeKdf): Capability;
  /** Does `openssl cms -sign` make Ed25519 SignedData (RFC 8419)? (No on OpenSSL 3.0: "no default digest".) */
  opensslSignsEd25519(): Capability;
}

export interface OracleProbesOptions {
  /** Default: the real programs. Tests inject canned answers to check the classification alone. */
  readonly run?: CommandRunner;
}

/**
 * The reason of openssl's first queued error ("CMS_add1_signer: no default digest" out of
 * "805B…:error:17000080:CMS routines:CMS_add1_signer:no default digest:../crypto/cms/cms_sd.c:356:…", without the
 * thread id that differs per process), else its first line.
 */
function refusalOf(r: CommandResult): string {
  const lines = r.stderr.split('\n');
  const queued = lines.map((l) => /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:([^:]*):([^:]*)/.exec(l)).find((m) => m !== null);
  return queued ? `${queued[1]}: ${queued[2]}` : (lines.find((l) => l.trim() !== '') ?? '').trim();
}

function unclassified(what: string, r: CommandResult): Error {
  return new Error(
    `Cannot tell whether ${what}. The probe got exit ${String(r.status)}, stdout ${JSON.stringify(r.stdout.slice(0, 80))}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}.`,
  );
}

/** A probe set: each probe runs on first use and answers from memory after that. */
export function createOracleProbes(options: OracleProbesOptions = {}): OracleProbes {
  const run = options.run ?? spawnRunner;
  const answers = new Map<string, Capability>();
  let opensslName: string | undefined;
  const openssl = () => (opensslName ??= `OpenSSL ${probeOracleVersion('openssl', { run })}`);

  /** Runs `fn` in a throw-away directory holding `files` (base64), once per key. */
  const once = (key: string, files: Record<string, string>, fn: (dir: string) => Capability): Capability => {
    const known = answers.get(key);
    if (known) return known;
    const dir = mkdtempSync(join(tmpdir(), 'ssmax-probe-'));
    try {
      for (const [name, b64] of Object.entries(files)) writeFileSync(join(dir, name), Buffer.from(b64, 'base64'));
      const answer = fn(dir);
      answers.set(key, answer);
      return answer;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  return {
    opensslReadsAuthAttrs: () =>
      once('openssl-auth-attrs', { 'm.der': AUTH_ATTRS_PROBE.der }, (dir) => {
        const r = run('openssl', [
          'cms',
          '-decrypt',
          '-binary',
          '-inform',
          'DER',
          '-in',
          join(dir, 'm.der'),
          '-secretkey',
          AUTH_ATTRS_PROBE.kek,
          '-secretkeyid',
          AUTH_ATTRS_PROBE.kekId,
        ]);
        if (r.status === 0 && r.stdout === PROBE_PLAINTEXT) return { oracle: openssl(), can: true, refusal: '' };
        if (r.status !== 0 && OPENSSL_AUTH_ATTRS_BUG.test(r.stderr))
          return { oracle: openssl(), can: false, refusal: OPENSSL_AUTH_ATTRS_BUG.exec(r.stderr)![0] };
        throw unclassified('openssl reads authAttrs in AuthEnvelopedData', r);
      }),

    opensslReadsKeyAgreement: (curve, kdf) =>
      once(`openssl-kari-${curve}-${kdf}`, { 'm.der': KEY_AGREEMENT_PROBES[curve][kdf], 'k.der': KEY_AGREEMENT_PROBES[curve].key }, (dir) => {
        const r = run('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', join(dir, 'm.der'), '-inkey', join(dir, 'k.der'), '-keyform', 'DER']);
        if (r.status === 0 && r.stdout === PROBE_PLAINTEXT) return { oracle: openssl(), can: true, refusal: '' };
        // Exit 0 with other bytes would be a wrong decryption, not a refusal.
        if (r.status !== 0 && r.status !== null) return { oracle: openssl(), can: false, refusal: refusalOf(r) };
        throw unclassified(`openssl opens ${curve} key agreement with ${kdf}`, r);
      }),

    opensslSignsEd25519: () =>
      once('openssl-ed25519-sign', {}, (dir) => {
        const [key, cert, data] = [join(dir, 'k.pem'), join(dir, 'c.pem'), join(dir, 'd.txt')];
        writeFileSync(data, PROBE_PLAINTEXT);
        const made = run('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=ssmax probe', '-days', '1']);
        if (made.status !== 0) throw unclassified('openssl signs Ed25519 SignedData (no Ed25519 certificate to try with)', made);
        const r = run('openssl', ['cms', '-sign', '-binary', '-in', data, '-signer', cert, '-inkey', key, '-outform', 'DER', '-out', join(dir, 's.der')]);
        if (r.status === 0) return { oracle: openssl(), can: true, refusal: '' };
        if (r.status !== null) return { oracle: openssl(), can: false, refusal: refusalOf(r) };
        throw unclassified('openssl signs Ed25519 SignedData', r);
      }),
  };
}
