/**
 * Issue 10 item 6: path building under hostile input. A signed mail may carry any number of certificates;
 * ~50 with the same subject and issuer (and the real CA's key identifier copied) used to make the builder
 * try every one at every level, 50^5 paths. The builder now checks each candidate issuer's signature
 * before going up, never revisits a subject + key already on the path (RFC 4158 §5.2), drops duplicates,
 * and stops after `maxCandidates` candidate issuers. The certificates come from openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePem } from '../pem.js';
import { parseCertificate, validateChain, type CertificateInfo } from './index.js';

let dir: string;
// x.cnf reads SKI from the environment in every section's parse, so it always needs a value.
const ssl = (args: string[], env: Record<string, string> = {}) =>
  execFileSync('openssl', args, { cwd: dir, env: { ...process.env, SKI: '00', ...env }, stdio: 'pipe' });
const cert = (name: string): CertificateInfo => parseCertificate(decodePem(readFileSync(join(dir, name), 'latin1'), 'CERTIFICATE'));

let root: CertificateInfo;
let orgCa: CertificateInfo;
let leaf: CertificateInfo;
/** Self-issued "Org CA" look-alikes with the real org CA's key identifier, all one attacker key. */
let junk: CertificateInfo[];
/** A leaf the attacker signed with that key, naming "Org CA" as issuer. */
let attackerLeaf: CertificateInfo;
// Inside every certificate's validity: openssl stamps notBefore with the second it signs (after this
// module loads), so "now" at load time can fall just before it.
const TIME = new Date(Date.now() + 24 * 3600 * 1000);
const JUNK = 50;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-path-building-'));
  writeFileSync(
    join(dir, 'x.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      '[ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      '[junk]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = ${ENV::SKI}',
      'authorityKeyIdentifier = keyid:always',
      '[ee]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'authorityKeyIdentifier = keyid:always',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl([
    'req',
    '-x509',
    '-config',
    'x.cnf',
    '-extensions',
    'ca',
    ...ec,
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-subj',
    '/O=Chain Test/CN=Chain Root',
    '-days',
    '30',
  ]);
  ssl(['req', '-new', '-config', 'x.cnf', ...ec, '-keyout', 'org.key', '-out', 'org.csr', '-subj', '/O=Chain Test/CN=Org CA']);
  ssl([
    'x509',
    '-req',
    '-in',
    'org.csr',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-set_serial',
    '2',
    '-days',
    '30',
    '-extfile',
    'x.cnf',
    '-extensions',
    'ca',
    '-out',
    'org.pem',
  ]);
  ssl(['req', '-new', '-config', 'x.cnf', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/O=Chain Test/CN=alice']);
  ssl([
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'org.pem',
    '-CAkey',
    'org.key',
    '-set_serial',
    '3',
    '-days',
    '30',
    '-extfile',
    'x.cnf',
    '-extensions',
    'ee',
    '-out',
    'leaf.pem',
  ]);
  root = cert('root.pem');
  orgCa = cert('org.pem');
  leaf = cert('leaf.pem');
  ssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'attacker.key']);
  junk = [];
  for (let i = 0; i < JUNK; i++) {
    ssl(
      [
        'req',
        '-x509',
        '-config',
        'x.cnf',
        '-extensions',
        'junk',
        '-key',
        'attacker.key',
        '-subj',
        '/O=Chain Test/CN=Org CA',
        '-set_serial',
        String(1000 + i),
        '-days',
        '30',
        '-out',
        `junk${i}.pem`,
      ],
      { SKI: orgCa.subjectKeyIdentifier! },
    );
    junk.push(cert(`junk${i}.pem`));
  }
  ssl([
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'junk0.pem',
    '-CAkey',
    'attacker.key',
    '-set_serial',
    '4',
    '-days',
    '30',
    '-extfile',
    'x.cnf',
    '-extensions',
    'ee',
    '-out',
    'attacker-leaf.pem',
  ]);
  attackerLeaf = cert('attacker-leaf.pem');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('validateChain path building (issue 10 item 6)', () => {
  it('builds the look-alikes as real candidates: same subject, issuer and key identifier as the org CA', () => {
    for (const j of junk) {
      expect(j.subjectDer).toEqual(orgCa.subjectDer);
      expect(j.issuerDer).toEqual(orgCa.subjectDer);
      expect(j.subjectKeyIdentifier).toBe(orgCa.subjectKeyIdentifier);
    }
    expect(leaf.authorityKeyIdentifier).toBe(orgCa.subjectKeyIdentifier);
  });

  it('finds the real path behind 50 look-alikes and 20 copies of the org CA, trying each distinct candidate once', () => {
    const r = validateChain({ leaf, intermediates: [...junk, ...Array(20).fill(orgCa)], trustAnchors: [root, root], time: TIME, revocation: 'none' });
    expect(r.reasons).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.chain.map((c) => c.subject)).toEqual([leaf.subject, orgCa.subject, root.subject]);
    // Level 1: the 50 look-alikes (their key does not verify the leaf) and the org CA once; level 2: the root.
    expect(r.candidatesTried).toBe(JUNK + 1 + 1);
  });

  it('gives up on 50 look-alikes that chain among themselves under one key, after one try each', () => {
    const r = validateChain({ leaf: attackerLeaf, intermediates: junk, trustAnchors: [root], time: TIME, revocation: 'none' });
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    // Every look-alike verifies the attacker's leaf; none may follow another (same subject and key).
    expect(r.candidatesTried).toBe(JUNK);
  });

  it('stops after maxCandidates candidate issuers and says so', () => {
    const r = validateChain({ leaf, intermediates: [...junk, orgCa], trustAnchors: [root], time: TIME, revocation: 'none', maxCandidates: 10 });
    expect(r).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    expect(r.candidatesTried).toBe(10);
    expect(r.reasons.join('; ')).toMatch(/gave up after 10 candidate issuers/);
  });
});
