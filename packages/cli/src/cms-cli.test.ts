import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftHsmNative } from '@ssmax/core';
import { createOpensslPki, type OpensslPki } from '@ssmax/core/testing';

// The CLI is a contract other tools depend on, so these tests run the built binary as a process.
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

function ssmax(args: string[], opts: { input?: Uint8Array; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input: opts.input, env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

let pki: OpensslPki;
let dir: string;
const content = Buffer.concat([Buffer.from('SSMAX CLI test\r\nline two\n'), Buffer.from([0, 1, 2, 255, 13, 10])]);
let inPath: string;

beforeAll(() => {
  pki = createOpensslPki();
  dir = mkdtempSync(join(tmpdir(), 'ssmax-cli-'));
  inPath = join(dir, 'in.bin');
  writeFileSync(inPath, content);
  // The tests run against dist/: make sure it is current for this file's run.
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
});
afterAll(() => {
  pki[Symbol.dispose]();
  rmSync(dir, { recursive: true, force: true });
});

const p = (name: string) => join(dir, name);

describe('ssmax cms sign / verify', () => {
  for (const [label, id, extra] of [
    ['RSA PKCS#1 v1.5', 'rsa', []],
    ['RSA-PSS', 'rsa', ['--pss']],
    ['ECDSA P-256', 'ec', []],
  ] as const) {
    for (const detached of [false, true]) {
      it(`produces SignedData openssl verifies when signing with ${label}${detached ? ' (detached)' : ''}`, () => {
        const who = id === 'rsa' ? pki.rsa : pki.ec;
        const out = p(`sig-${id}-${extra.length}-${detached}.der`);
        const r = ssmax([
          'cms',
          'sign',
          '--in',
          inPath,
          '--out',
          out,
          '--signer',
          who.certPath,
          '--key',
          who.keyPath,
          ...extra,
          ...(detached ? ['--detached'] : []),
        ]);
        expect(r.status, r.stderr).toBe(0);
        const v = pki.openssl([
          'cms',
          '-verify',
          '-binary',
          '-inform',
          'DER',
          '-in',
          out,
          '-CAfile',
          pki.caCertPath,
          '-purpose',
          'smimesign',
          ...(detached ? ['-content', inPath] : []),
        ]);
        expect(v.status, v.stderr).toBe(0);
        expect(Buffer.compare(v.stdout, content)).toBe(0);
      });
    }
  }

  it('writes the content and one JSON line about the signer when the chain holds', () => {
    const sig = p('os.der');
    expect(
      pki.openssl([
        'cms',
        '-sign',
        '-binary',
        '-nodetach',
        '-md',
        'sha256',
        '-in',
        inPath,
        '-signer',
        pki.ec.certPath,
        '-inkey',
        pki.ec.keyPath,
        '-outform',
        'DER',
        '-out',
        sig,
      ]).status,
    ).toBe(0);
    const out = p('os.out');
    const r = ssmax(['cms', 'verify', '--in', sig, '--out', out, '--CAfile', pki.caCertPath]);
    expect(r.status, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout.toString().trim());
    expect(line.valid).toBe(true);
    expect(line.signer.email).toBe(pki.ec.email);
    expect(readFileSync(out)).toEqual(content);
  });

  it('exits 1 and writes nothing when the content was altered', () => {
    const sig = p('det.der');
    expect(ssmax(['cms', 'sign', '--in', inPath, '--out', sig, '--signer', pki.rsa.certPath, '--key', pki.rsa.keyPath, '--detached']).status).toBe(0);
    const altered = p('altered.bin');
    writeFileSync(altered, Buffer.concat([content, Buffer.from('x')]));
    const out = p('never.out');
    const r = ssmax(['cms', 'verify', '--in', sig, '--content', altered, '--out', out, '--CAfile', pki.caCertPath]);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout.toString()).valid).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 1 when the signer does not chain to the given CA', () => {
    const other = createOpensslPki();
    try {
      const sig = p('untrusted.der');
      expect(ssmax(['cms', 'sign', '--in', inPath, '--out', sig, '--signer', pki.ec.certPath, '--key', pki.ec.keyPath]).status).toBe(0);
      const r = ssmax(['cms', 'verify', '--in', sig, '--CAfile', other.caCertPath]);
      expect(r.status).toBe(1);
      expect(JSON.parse(r.stdout.toString()).code).toBe('UNTRUSTED_CHAIN');
      expect(ssmax(['cms', 'verify', '--in', sig, '--no-chain']).status).toBe(0);
    } finally {
      other[Symbol.dispose]();
    }
  });

  it('reads S/MIME input and writes S/MIME output that openssl smime verifies', () => {
    const entity = Buffer.from('Content-Type: text/plain\r\n\r\nhello\r\n');
    const ent = p('entity.eml');
    writeFileSync(ent, entity);
    const mail = p('mail.eml');
    expect(
      ssmax(['cms', 'sign', '--in', ent, '--out', mail, '--signer', pki.rsa.certPath, '--key', pki.rsa.keyPath, '--detached', '--outform', 'smime']).status,
    ).toBe(0);
    expect(pki.openssl(['smime', '-verify', '-in', mail, '-CAfile', pki.caCertPath]).status).toBe(0);
    const r = ssmax(['cms', 'verify', '--in', mail, '--CAfile', pki.caCertPath, '--out', p('mail.out')]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(p('mail.out'))).toEqual(entity);
  });
});

describe('ssmax cms encrypt / decrypt / reencrypt', () => {
  for (const cipher of ['aes-256-gcm', 'aes-256-cbc']) {
    for (const id of ['rsa', 'ec'] as const) {
      it(`makes ${cipher} messages openssl decrypts for an ${id} recipient, and decrypts openssl's`, () => {
        const who = id === 'rsa' ? pki.rsa : pki.ec;
        const enc = p(`enc-${cipher}-${id}.der`);
        expect(ssmax(['cms', 'encrypt', '--in', inPath, '--out', enc, '--recip', who.certPath, '--cipher', cipher]).status).toBe(0);
        const d = pki.openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', enc, '-recip', who.certPath, '-inkey', who.keyPath]);
        expect(d.status, d.stderr).toBe(0);
        expect(Buffer.compare(d.stdout, content)).toBe(0);

        const theirs = p(`theirs-${cipher}-${id}.der`);
        const keyopt = id === 'rsa' ? ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'] : [];
        expect(
          pki.openssl(['cms', '-encrypt', '-binary', `-${cipher}`, '-in', inPath, '-outform', 'DER', '-out', theirs, '-recip', who.certPath, ...keyopt]).status,
        ).toBe(0);
        const out = p(`theirs-${cipher}-${id}.out`);
        const r = ssmax(['cms', 'decrypt', '--in', theirs, '--out', out, '--key', who.keyPath, '--recip', who.certPath]);
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(out)).toEqual(content);
      });
    }
  }

  it('exits 1 and leaves no output file when the GCM tag was tampered with', () => {
    const enc = p('tamper.der');
    expect(ssmax(['cms', 'encrypt', '--in', inPath, '--out', enc, '--recip', pki.ec.certPath]).status).toBe(0);
    const bytes = readFileSync(enc);
    bytes[bytes.length - 1]! ^= 1; // the mac is the last field (RFC 5083 §2.1)
    writeFileSync(enc, bytes);
    const out = p('tamper.out');
    const r = ssmax(['cms', 'decrypt', '--in', enc, '--out', out, '--key', pki.ec.keyPath]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ssmax: AUTH_TAG_MISMATCH: /);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('tamper.out'))).toEqual([]);
  });

  it('re-encrypts to a new recipient through an inspector, and blocks when the inspector exits non-zero', () => {
    const enc = p('hop.der');
    expect(ssmax(['cms', 'encrypt', '--in', inPath, '--out', enc, '--recip', pki.rsa.certPath]).status).toBe(0);
    const out = p('hop.out');
    const ok = ssmax([
      'cms',
      'reencrypt',
      '--in',
      enc,
      '--out',
      out,
      '--key',
      pki.rsa.keyPath,
      '--recip',
      pki.ec.certPath,
      '--inspect',
      'grep -q "SSMAX CLI test"',
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    const d = pki.openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', out, '-recip', pki.ec.certPath, '-inkey', pki.ec.keyPath]);
    expect(Buffer.compare(d.stdout, content)).toBe(0);
    const blocked = p('blocked.out');
    const no = ssmax([
      'cms',
      'reencrypt',
      '--in',
      enc,
      '--out',
      blocked,
      '--key',
      pki.rsa.keyPath,
      '--recip',
      pki.ec.certPath,
      '--inspect',
      'echo leak >&2; exit 3',
    ]);
    expect(no.status).toBe(1);
    expect(no.stderr).toMatch(/INSPECTION_BLOCKED: .*leak/);
    expect(existsSync(blocked)).toBe(false);
  });

  it('takes the verdict of an inspector that decides before reading all the plaintext (EPIPE is not an I/O failure)', () => {
    // 4 MiB does not fit a pipe buffer: an inspector that exits at once always leaves the write with EPIPE.
    const bigIn = p('big.txt');
    writeFileSync(bigIn, Buffer.concat([Buffer.from('SSMAX CLI test\n'), Buffer.alloc(4 << 20, 0x41)]));
    const enc = p('big.der');
    expect(ssmax(['cms', 'encrypt', '--in', bigIn, '--out', enc, '--recip', pki.rsa.certPath]).status).toBe(0);
    const no = ssmax([
      'cms',
      'reencrypt',
      '--in',
      enc,
      '--out',
      p('big-blocked.out'),
      '--key',
      pki.rsa.keyPath,
      '--recip',
      pki.ec.certPath,
      '--inspect',
      'echo leak >&2; exit 3',
    ]);
    expect(no.stderr).toMatch(/INSPECTION_BLOCKED: inspector exited 3: leak/);
    expect(no.status).toBe(1);
    // grep -q stops reading at the first match and allows.
    const ok = ssmax([
      'cms',
      'reencrypt',
      '--in',
      enc,
      '--out',
      p('big-ok.out'),
      '--key',
      pki.rsa.keyPath,
      '--recip',
      pki.ec.certPath,
      '--inspect',
      'grep -q "SSMAX CLI test"',
    ]);
    expect(ok.status, ok.stderr).toBe(0);
  });
});

describe('ssmax exit codes', () => {
  it('exits 2 on usage errors, 3 on malformed input, 4 on missing files', () => {
    expect(ssmax(['cms', 'sign', '--in', inPath]).status).toBe(2);
    expect(ssmax(['cms', 'frobnicate']).status).toBe(2);
    const junk = p('junk.der');
    writeFileSync(junk, Buffer.from([0x30, 0x82, 0xff, 0xff, 1, 2, 3]));
    const m = ssmax(['cms', 'verify', '--in', junk, '--no-chain']);
    expect(m.status).toBe(3);
    expect(m.stderr).toMatch(/^ssmax: MALFORMED_CMS: Cannot /);
    expect(ssmax(['cms', 'encrypt', '--in', p('missing'), '--out', p('x'), '--recip', pki.ec.certPath]).status).toBe(4);
  });
});

describe('ssmax cms with --token', () => {
  it('signs with a key on a SoftHSM2 token named by an RFC 7512 URI, and refuses a wrong PIN', async () => {
    const store = join(dir, 'hsm');
    // Provision in a child process: a PKCS#11 module is configured once per process.
    const label = 'cli-card';
    {
      await using reader = SoftHsmNative.open({ storageDir: store });
      reader.initToken({ label, soPin: 'so-1234', userPin: '4321' });
      const t = reader.openToken(label);
      await t.login('4321');
      await t.generateKeyPair('sig', 'EC-P256');
      const keys = await t.listKeys();
      writeFileSync(join(dir, 'token.spki'), keys[0]!.spki);
      await t.close();
    }
    // A certificate for the token key, issued by the openssl CA.
    const spkiPem = p('token-pub.pem');
    expect(pki.openssl(['pkey', '-pubin', '-inform', 'DER', '-in', join(dir, 'token.spki'), '-out', spkiPem]).status).toBe(0);
    const cert = p('token-cert.pem');
    const mk = pki.openssl([
      'x509',
      '-new',
      '-force_pubkey',
      spkiPem,
      '-subj',
      '/CN=cli-card',
      '-CA',
      pki.caCertPath,
      '-CAkey',
      join(pki.dir, 'ca.key'),
      '-days',
      '30',
      '-out',
      cert,
    ]);
    expect(mk.status, mk.stderr).toBe(0);
    const env = { SOFTHSM2_CONF: join(store, 'softhsm2.conf') };
    const uri = `pkcs11:token=${label};object=sig`;
    const out = p('token-sig.der');
    const r = ssmax(['cms', 'sign', '--in', inPath, '--out', out, '--signer', cert, '--token', uri, '--pin', '4321'], { env });
    expect(r.status, r.stderr).toBe(0);
    const v = pki.openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-in', out, '-noverify']);
    expect(v.status, v.stderr).toBe(0);
    expect(Buffer.compare(v.stdout, content)).toBe(0);
    const bad = ssmax(['cms', 'sign', '--in', inPath, '--out', p('bad.der'), '--signer', cert, '--token', uri], { env: { ...env, SSMAX_PIN: '0000' } });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/PIN_INCORRECT/);
    expect(existsSync(p('bad.der'))).toBe(false);
  });

  it('decrypts with an ECDH key on a token (the token stays open until the decryption is done)', async () => {
    // Failed before withKey awaited its callback: `await using` closed the token first (PIN_REQUIRED).
    const store = join(dir, 'hsm-dec');
    const label = 'cli-dec';
    {
      await using reader = SoftHsmNative.open({ storageDir: store });
      reader.initToken({ label, soPin: 'so-5678', userPin: '8765' });
      const t = reader.openToken(label);
      await t.login('8765');
      writeFileSync(join(dir, 'dec.spki'), (await t.generateKeyPair('enc', 'EC-P256', 'encryption')).spki);
      await t.close();
    }
    expect(pki.openssl(['pkey', '-pubin', '-inform', 'DER', '-in', join(dir, 'dec.spki'), '-out', p('dec-pub.pem')]).status).toBe(0);
    const cert = p('dec-cert.pem');
    expect(
      pki.openssl([
        'x509',
        '-new',
        '-force_pubkey',
        p('dec-pub.pem'),
        '-subj',
        '/CN=cli-dec',
        '-CA',
        pki.caCertPath,
        '-CAkey',
        join(pki.dir, 'ca.key'),
        '-days',
        '30',
        '-out',
        cert,
      ]).status,
    ).toBe(0);
    const enc = p('to-token.der');
    expect(pki.openssl(['cms', '-encrypt', '-binary', '-aes-256-gcm', '-in', inPath, '-outform', 'DER', '-out', enc, cert]).status).toBe(0);
    const out = p('from-token.bin');
    const r = ssmax(['cms', 'decrypt', '--in', enc, '--out', out, '--token', `pkcs11:token=${label};object=enc`, '--pin', '8765'], {
      env: { SOFTHSM2_CONF: join(store, 'softhsm2.conf') },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out)).toEqual(content);
  });
});
