/**
 * Issue 10, "Also": `ssmax mail verify <file.eml>` is the recipient client's judgement of a whole mail as one
 * JSON line, the interface others use to regression-test mail clients against ours. Every signed or encrypted
 * message here is made by an external oracle, the `openssl cms` / `openssl smime` command line, with a CA the
 * test makes with openssl (core's testing/openssl-pki.ts); the tampered variants are byte edits of those.
 * Runs the built binary, as the other CLI tests do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftHsmNative } from '@ssmax/core';
import { createOpensslPki, type OpensslIdentity, type OpensslPki } from '@ssmax/core/testing';

const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const DAY = 86_400_000;

function ssmax(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

interface Judgement {
  signature: string;
  signers: string[];
  from: string | null;
  reasons: string[];
  encrypted: boolean;
  decrypted: boolean;
  layers: string[];
  malformed?: boolean;
  code?: string;
  signerDetails: { valid: boolean; code?: string; fromMatches: boolean; part?: string; layer: number; form: string; emailAddresses: string[] }[];
}

/** Runs `ssmax mail verify` and returns the exit code with the one JSON line it printed. */
function verify(mail: string, ...more: string[]): { status: number | null; j: Judgement; stderr: string } {
  const r = ssmax(['mail', 'verify', mail, ...more]);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  return { status: r.status, j: JSON.parse(lines[0]!) as Judgement, stderr: r.stderr };
}

let pki: OpensslPki;
let other: OpensslPki;
let dir: string;
const p = (name: string) => join(dir, name);
let bob: OpensslIdentity;
let alice: OpensslIdentity;
const BODY = 'Hello Alice,\r\nthe quarterly report is attached.\r\nBob\r\n';
let entity: string;

/** Runs openssl in the test PKI's folder; fails the test with its stderr when it fails. */
function openssl(args: string[]): void {
  const r = pki.openssl(args);
  expect(r.status, `openssl ${args.join(' ')}: ${r.stderr}`).toBe(0);
}

/** A complete mail signed by `who` with openssl: detached (multipart/signed) or opaque (signed-data). */
function signedMail(name: string, who: OpensslIdentity, opts: { from?: string; opaque?: boolean; tool?: 'cms' | 'smime' } = {}): string {
  const out = p(name);
  openssl([
    opts.tool ?? 'cms',
    '-sign',
    '-in',
    entity,
    '-signer',
    who.certPath,
    '-inkey',
    who.keyPath,
    ...(opts.opaque ? ['-nodetach'] : []),
    '-from',
    opts.from ?? who.email,
    '-to',
    alice.email,
    '-subject',
    'Quarterly report',
    '-out',
    out,
  ]);
  return out;
}

/** The mail with its header section replaced by `headers` (CRLF lines); the body stays byte for byte. */
function withHeaders(src: string, name: string, edit: (headers: string[]) => string[]): string {
  const raw = readFileSync(src, 'latin1');
  const m = /\r?\n\r?\n/.exec(raw)!;
  const headers = raw.slice(0, m.index).split(/\r?\n/);
  writeFileSync(p(name), `${edit(headers).join('\r\n')}\r\n\r\n${raw.slice(m.index + m[0].length)}`, 'latin1');
  return p(name);
}

beforeAll(() => {
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
  pki = createOpensslPki();
  other = createOpensslPki();
  bob = pki.ec;
  alice = pki.rsa;
  dir = mkdtempSync(join(tmpdir(), 'ssmax-mail-verify-'));
  entity = p('entity.txt');
  writeFileSync(entity, `Content-Type: text/plain; charset=us-ascii\r\n\r\n${BODY}`);
});
afterAll(() => {
  pki?.[Symbol.dispose]();
  other?.[Symbol.dispose]();
  rmSync(dir, { recursive: true, force: true });
});

describe("ssmax mail verify (issue 10, also: the recipient client's judgement of a whole mail)", () => {
  it('judges a detached multipart/signed mail from openssl cms valid, with the signer and the From it parsed, exit 0', () => {
    const { status, j, stderr } = verify(signedMail('detached.eml', bob, { from: `Bob <${bob.email}>` }), '--CAfile', pki.caCertPath);
    expect(status, stderr).toBe(0);
    expect(j).toMatchObject({ signature: 'valid', signers: [bob.email], from: bob.email, reasons: [], layers: ['multipart/signed'], encrypted: false });
    expect(j.signerDetails).toHaveLength(1);
    expect(j.signerDetails[0]).toMatchObject({ valid: true, fromMatches: true, layer: 1, form: 'multipart/signed' });
  });

  it('judges an opaque application/pkcs7-mime signed-data mail from openssl smime valid', () => {
    const { status, j } = verify(signedMail('opaque.eml', bob, { opaque: true, tool: 'smime' }), '--CAfile', pki.caCertPath);
    expect(status).toBe(0);
    expect(j).toMatchObject({ signature: 'valid', signers: [bob.email], layers: ['signed-data'] });
  });

  it('judges the mail invalid (exit 1) when one byte of the signed body changed', () => {
    const good = readFileSync(signedMail('to-tamper.eml', bob), 'latin1');
    const at = good.indexOf('quarterly');
    expect(at).toBeGreaterThan(0);
    writeFileSync(p('tampered.eml'), `${good.slice(0, at)}Q${good.slice(at + 1)}`, 'latin1');
    const { status, j } = verify(p('tampered.eml'), '--CAfile', pki.caCertPath);
    expect(status).toBe(1);
    expect(j.signature).toBe('invalid');
    expect(j.signerDetails[0]).toMatchObject({ valid: false, code: 'CONTENT_MISMATCH' });
    expect(j.reasons.join(' ')).toMatch(/messageDigest/);
  });

  it('judges a mail without any signature unsigned (exit 1)', () => {
    writeFileSync(p('plain.eml'), `From: ${bob.email}\r\nTo: ${alice.email}\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${BODY}`);
    const { status, j } = verify(p('plain.eml'), '--CAfile', pki.caCertPath);
    expect(status).toBe(1);
    expect(j).toMatchObject({ signature: 'unsigned', signers: [], from: bob.email, layers: [] });
    expect(j.reasons.length).toBeGreaterThan(0);
  });

  it('judges the mail invalid when the signer certificate does not chain to a --CAfile root', () => {
    const mail = signedMail('foreign-ca.eml', other.ec);
    const { status, j } = verify(mail, '--CAfile', pki.caCertPath);
    expect(status).toBe(1);
    expect(j.signature).toBe('invalid');
    expect(j.signerDetails[0]).toMatchObject({ valid: false, code: 'UNTRUSTED_CHAIN' });
    // The same mail is valid for a client that trusts the other root: the anchors decided it.
    expect(verify(mail, '--CAfile', other.caCertPath).j.signature).toBe('valid');
  });

  it('validates at --attime: invalid (CERT_EXPIRED) after the signer certificate expired, valid inside its validity', () => {
    const mail = signedMail('attime.eml', bob);
    // The openssl-pki certificates are valid for 825 days from now.
    const late = verify(mail, '--CAfile', pki.caCertPath, '--attime', new Date(Date.now() + 900 * DAY).toISOString());
    expect(late.status).toBe(1);
    expect(late.j.signature).toBe('invalid');
    expect(late.j.signerDetails[0]).toMatchObject({ valid: false, code: 'CERT_EXPIRED' });
    expect(verify(mail, '--CAfile', pki.caCertPath, '--attime', new Date(Date.now() + 800 * DAY).toISOString()).status).toBe(0);
    expect(ssmax(['mail', 'verify', mail, '--CAfile', pki.caCertPath, '--attime', 'next year']).status).toBe(2);
  });

  it('judges a signed part inside multipart/mixed with an unsigned sibling partial (exit 1), never valid', () => {
    const inner = p('inner.eml');
    openssl(['cms', '-sign', '-in', entity, '-signer', bob.certPath, '-inkey', bob.keyPath, '-out', inner]);
    const wrap = (name: string, signedPart: string) => {
      writeFileSync(
        p(name),
        `From: ${bob.email}\r\nTo: ${alice.email}\r\nSubject: Quarterly report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="wrap"\r\n\r\n` +
          `--wrap\r\n${signedPart}\r\n--wrap\r\nContent-Type: text/plain\r\n\r\nPS: pay the invoice to IBAN XX00 0000 EVIL.\r\n--wrap--\r\n`,
        'latin1',
      );
      return p(name);
    };
    const signedPart = readFileSync(inner, 'latin1');
    const { status, j } = verify(wrap('partial.eml', signedPart), '--CAfile', pki.caCertPath);
    expect(status).toBe(1);
    expect(j).toMatchObject({ signature: 'partial', signers: [bob.email], layers: [] });
    expect(j.signerDetails[0]).toMatchObject({ valid: true, part: '1' });
    expect(j.reasons.join(' ')).toMatch(/only part 1 .* unsigned/);
    // A signed part that does not verify makes the mail invalid, not partial.
    const at = signedPart.indexOf('quarterly');
    const broken = verify(wrap('partial-broken.eml', `${signedPart.slice(0, at)}Q${signedPart.slice(at + 1)}`), '--CAfile', pki.caCertPath);
    expect(broken.j.signature).toBe('invalid');
    expect(broken.j.signerDetails[0]).toMatchObject({ valid: false, code: 'CONTENT_MISMATCH', part: '1' });
  });

  it('never judges a mail valid whose From is two fields or two mailboxes, and says why', () => {
    const mail = signedMail('from.eml', bob);
    const twoFields = verify(
      withHeaders(mail, 'two-from.eml', (h) => [...h, 'From: ceo@interop.example']),
      '--CAfile',
      pki.caCertPath,
    );
    expect(twoFields.status).toBe(1);
    expect(twoFields.j).toMatchObject({ signature: 'invalid', from: null });
    expect(twoFields.j.reasons.join(' ')).toMatch(/2 From fields/);
    // The item-4 attack: the member's address first, the outsider's mailbox after a comma.
    const twoBoxes = verify(
      withHeaders(mail, 'two-boxes.eml', (h) => h.map((l) => (/^From:/i.test(l) ? `From: ${bob.email}, <m@evil.example>` : l))),
      '--CAfile',
      pki.caCertPath,
    );
    expect(twoBoxes.j).toMatchObject({ signature: 'invalid', from: null });
    expect(twoBoxes.j.reasons.join(' ')).toMatch(/From names 2 mailboxes/);
    // A Sender other than the author: two originators, one signer.
    const sender = verify(
      withHeaders(mail, 'sender.eml', (h) => [...h, 'Sender: eve@interop.example']),
      '--CAfile',
      pki.caCertPath,
    );
    expect(sender.j.signature).toBe('invalid');
    expect(sender.j.reasons.join(' ')).toMatch(/Sender eve@interop\.example/);
  });

  it('judges the mail invalid when the signer certificate does not name the From address', () => {
    const { status, j } = verify(signedMail('not-from.eml', bob, { from: alice.email }), '--CAfile', pki.caCertPath);
    expect(status).toBe(1);
    expect(j).toMatchObject({ signature: 'invalid', from: alice.email, signers: [bob.email] });
    expect(j.signerDetails[0]).toMatchObject({ valid: true, fromMatches: false });
    expect(j.reasons.join(' ')).toMatch(new RegExp(`signed by ${bob.email}, not by the From address ${alice.email}`));
  });

  it('compares the From domain case-insensitively and the local part as written', () => {
    const upper = verify(signedMail('upper-domain.eml', bob, { from: bob.email.replace('interop.example', 'Interop.EXAMPLE') }), '--CAfile', pki.caCertPath);
    expect(upper.j).toMatchObject({ signature: 'valid', from: bob.email });
    const local = verify(signedMail('upper-local.eml', bob, { from: bob.email.replace('bob', 'Bob') }), '--CAfile', pki.caCertPath);
    expect(local.j.signature).toBe('invalid');
  });

  it('exits 3 with a typed code on stderr and still one JSON line when the input is not a mail', () => {
    // Fixed bytes, no header line among them.
    writeFileSync(p('garbage.eml'), Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 151 + 7) % 256)));
    const g = verify(p('garbage.eml'), '--CAfile', pki.caCertPath);
    expect(g.status).toBe(3);
    expect(g.stderr).toMatch(/^ssmax: MALFORMED_MIME: Cannot /);
    expect(g.stderr).not.toMatch(/[\x00-\x08\x0e-\x1f]/);
    expect(g.j).toMatchObject({ signature: 'invalid', malformed: true, code: 'MALFORMED_MIME', signers: [], from: null });
    writeFileSync(p('empty.eml'), '');
    expect(verify(p('empty.eml'), '--CAfile', pki.caCertPath).status).toBe(3);
  });

  it('opens enveloped mail with --key: encrypted only is unsigned, signed-then-encrypted is valid, without a key it is not judged valid', () => {
    const encOnly = p('enc-only.eml');
    openssl(['cms', '-encrypt', '-aes-256-gcm', '-in', entity, '-from', bob.email, '-to', alice.email, '-subject', 'secret', '-out', encOnly, bob.certPath]);
    const e = verify(encOnly, '--CAfile', pki.caCertPath, '--key', bob.keyPath);
    expect(e.status).toBe(1);
    expect(e.j).toMatchObject({ signature: 'unsigned', encrypted: true, decrypted: true, layers: ['authEnveloped-data'] });

    const inner = p('to-encrypt.eml');
    openssl(['cms', '-sign', '-in', entity, '-signer', bob.certPath, '-inkey', bob.keyPath, '-out', inner]);
    const both = p('signed-then-encrypted.eml');
    openssl(['cms', '-encrypt', '-aes-256-cbc', '-in', inner, '-from', bob.email, '-to', alice.email, '-subject', 'secret', '-out', both, bob.certPath]);
    const ok = verify(both, '--CAfile', pki.caCertPath, '--key', bob.keyPath);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.j).toMatchObject({ signature: 'valid', encrypted: true, decrypted: true, layers: ['enveloped-data', 'multipart/signed'], signers: [bob.email] });
    expect(ok.j.signerDetails[0]).toMatchObject({ layer: 2 });

    const noKey = verify(both, '--CAfile', pki.caCertPath);
    expect(noKey.status).toBe(1);
    expect(noKey.j).toMatchObject({ signature: 'unsigned', encrypted: true, decrypted: false });
    expect(noKey.j.reasons.join(' ')).toMatch(/encrypted and no decryption key/);
    // Someone else's key opens nothing.
    const wrong = verify(both, '--CAfile', pki.caCertPath, '--key', other.ec.keyPath);
    expect(wrong.status).toBe(1);
    expect(wrong.j).toMatchObject({ signature: 'unsigned', decrypted: false });
    expect(wrong.j.reasons.join(' ')).toMatch(/cannot be decrypted/);
  });

  it('decrypts with a key on a SoftHSM2 token named by an RFC 7512 URI (--token, --pin)', async () => {
    const store = p('hsm');
    const label = 'mail-card';
    {
      await using reader = SoftHsmNative.open({ storageDir: store });
      reader.initToken({ label, soPin: 'so-mail-1', userPin: '5678' });
      const t = reader.openToken(label);
      await t.login('5678');
      const key = await t.generateKeyPair('enc', 'EC-P256', 'encryption');
      writeFileSync(p('card.spki'), key.spki);
      await t.close();
    }
    // The card's certificate from the openssl CA, then a signed-then-encrypted mail to it, both by openssl.
    openssl(['pkey', '-pubin', '-inform', 'DER', '-in', p('card.spki'), '-out', p('card-pub.pem')]);
    writeFileSync(p('card.cnf'), '[e]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyAgreement\nsubjectAltName=email:carol@interop.example\n');
    openssl([
      'x509',
      '-new',
      '-force_pubkey',
      p('card-pub.pem'),
      '-subj',
      '/CN=carol',
      '-CA',
      pki.caCertPath,
      '-CAkey',
      join(pki.dir, 'ca.key'),
      '-days',
      '30',
      '-extfile',
      p('card.cnf'),
      '-extensions',
      'e',
      '-out',
      p('card.pem'),
    ]);
    const inner = p('token-inner.eml');
    openssl(['cms', '-sign', '-in', entity, '-signer', bob.certPath, '-inkey', bob.keyPath, '-out', inner]);
    const mail = p('to-card.eml');
    openssl([
      'cms',
      '-encrypt',
      '-aes-256-gcm',
      '-in',
      inner,
      '-from',
      bob.email,
      '-to',
      'carol@interop.example',
      '-subject',
      'for your card',
      '-out',
      mail,
      p('card.pem'),
    ]);
    const env = { SOFTHSM2_CONF: join(store, 'softhsm2.conf') };
    const uri = `pkcs11:token=${label};object=enc`;
    const r = ssmax(['mail', 'verify', mail, '--CAfile', pki.caCertPath, '--token', uri, '--pin', '5678', '--recip', p('card.pem')], env);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ signature: 'valid', encrypted: true, decrypted: true, signers: [bob.email] });
    const badPin = ssmax(['mail', 'verify', mail, '--CAfile', pki.caCertPath, '--token', uri, '--pin', '0000'], env);
    expect(badPin.status).toBe(1);
    expect(badPin.stderr).toMatch(/PIN_INCORRECT/);
    expect(badPin.stdout).toBe('');
  });

  it('prints its usage to stdout and exits 0 with --help; exits 2 without --CAfile or a file', () => {
    for (const args of [
      ['mail', '--help'],
      ['mail', 'verify', '--help'],
    ]) {
      const r = ssmax(args);
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(/^usage:\n {2}ssmax mail verify <file\.eml/);
      expect(r.stdout).toMatch(/"signature":"valid"\|"invalid"\|"unsigned"\|"partial"/);
    }
    expect(ssmax(['--help']).stdout).toMatch(/\n {2}mail verify <file\.eml>/);
    const noCa = ssmax(['mail', 'verify', p('plain.eml')]);
    expect(noCa.status).toBe(2);
    expect(noCa.stderr).toMatch(/^ssmax: USAGE: Cannot verify the mail\. Give --CAfile/);
    expect(ssmax(['mail', 'verify', '--CAfile', pki.caCertPath]).status).toBe(2);
    expect(ssmax(['mail', 'frobnicate']).status).toBe(2);
  });
});
