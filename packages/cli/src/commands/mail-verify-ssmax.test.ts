/**
 * Issue 10, "Also": `ssmax mail verify` judges SSMAX mail as the recipient's SSMAX user agent does (procedure
 * (10)), with the recipient's card, so others can regression-test an SSMAX client against ours.
 *
 * Real parts only: a whole world (registry, two orgs, Dovecot mailboxes, SoftHSM2 cards) under ssmax-org;
 * alice sends bob a mail with a file through both orgs, an outside host sends bob a plain mail over SMTP, and
 * both are taken from bob's mailbox over IMAP as his client sees them. The world is closed before the CLI runs:
 * SoftHSM2 serves one token store per process, and the CLI (the built binary, as the other CLI tests run it)
 * opens bob's card in that store (SOFTHSM2_CONF) with the PIN counter of his org (--card-state).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardObjects, World, fetchInbox, parseWorldConfig } from '@ssmax/world';

const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const ALICE = 'alice@org-a.example';
const BOB = 'bob@org-b.example';
const OUTSIDER = 'billing@quick-mail.example';
const REPORT = new Uint8Array(Buffer.from('Quarterly figures: revenue up 4%.\n'));

const PAIR = parseWorldConfig(`
version: 1
seed: 1010
orgs:
  - { id: org-a, domain: org-a.example, role: sender, users: [ { address: alice, pin: "1111", password: alice-pass } ] }
  - { id: org-b, domain: org-b.example, role: recipient, users: [ { address: bob, pin: "2222", password: bob-pass } ] }
`);

interface Line {
  signature: string;
  signers: string[];
  from: string | null;
  reasons: string[];
  ssmax?: boolean;
  judgedBy?: string;
  mode?: string;
  recipient?: string;
  outside?: boolean;
  orgSignerPinned?: boolean;
  manifestSigner?: { serial: string; address: string };
  identityNotice?: { proofing: string; cardAndPinUsed: boolean; sendingDomain?: string; certSerial?: string } | null;
  files?: { n: number; name: string; ok: boolean; sha256?: string; withheld?: string }[];
}

let root: string;
const p = (name: string) => join(root, name);
/** What the CLI needs of the closed world: bob's card (token label, store, PIN counter) and the mails. */
const bob = { label: '', conf: '', stateDir: '', stateFile: '' };
let mailId = '';

function ssmax(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, SOFTHSM2_CONF: bob.conf }, maxBuffer: 16 << 20, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** `ssmax mail verify` with bob's card; returns the exit code and the one JSON line. */
function verifyAsBob(mail: string, ...more: string[]): { status: number | null; j: Line; stderr: string } {
  const r = ssmax(['mail', 'verify', mail, '--token', `pkcs11:token=${bob.label}`, '--card-state', bob.stateDir, ...more]);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  return { status: r.status, j: JSON.parse(lines[0]!) as Line, stderr: r.stderr };
}

/** An outside host's plain SMTP session to org-b's MX (no SSMAX hop, no signature). Returns the reply to DATA. */
async function sendFromOutside(world: World, raw: string): Promise<string> {
  const mx = world.services().find((s) => s.name === 'org-b/mta-in')!.host!;
  const i = mx.lastIndexOf(':');
  const sock = await world.net.connect(world.net.address('outsider/mta'), mx.slice(0, i), Number(mx.slice(i + 1)));
  let buf = '';
  const waiters: (() => void)[] = [];
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    waiters.splice(0).forEach((w) => w());
  });
  /** The next complete reply (last line "NNN "). */
  const reply = async (): Promise<string> => {
    for (;;) {
      const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buf);
      if (m) {
        const end = m.index + m[0].length;
        const r = buf.slice(0, end);
        buf = buf.slice(end);
        return r.trim();
      }
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        sock.once('error', reject);
      });
    }
  };
  const say = async (line: string): Promise<string> => {
    sock.write(`${line}\r\n`);
    return reply();
  };
  try {
    expect(await reply()).toMatch(/^220/);
    expect(await say('EHLO mta.quick-mail.example')).toMatch(/^250/);
    expect(await say(`MAIL FROM:<${OUTSIDER}>`)).toMatch(/^250/);
    expect(await say(`RCPT TO:<${BOB}>`)).toMatch(/^250/);
    expect(await say('DATA')).toMatch(/^354/);
    return await say(`${raw.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..')}\r\n.`);
  } finally {
    sock.write('QUIT\r\n');
    sock.end();
  }
}

/** Replaces one base64 character in the middle of the body of file part 1. */
function tamperFilePart(raw: string): string {
  const at = raw.indexOf('X-SSMAX-File: 1');
  expect(at).toBeGreaterThan(0);
  const body = raw.indexOf('\r\n\r\n', at) + 4;
  const i = body + 100;
  expect(raw.slice(body, i + 1)).toMatch(/^[A-Za-z0-9+/\r\n]+$/);
  return `${raw.slice(0, i)}${raw[i] === 'A' ? 'B' : 'A'}${raw.slice(i + 1)}`;
}

function failuresOnCard(): number {
  return (JSON.parse(fs.readFileSync(bob.stateFile, 'utf8')) as { failures: number }).failures;
}

beforeAll(async () => {
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
  root = fs.mkdtempSync(join(tmpdir(), 'ssmax-mail-verify-ssmax-'));
  fs.chmodSync(root, 0o711);
  const storageDir = p('world');
  const world = await World.create(PAIR, { storageDir, profile: 'ssmax-org' });
  try {
    const sent = await world.user(ALICE).send({
      to: BOB,
      subject: 'Quarterly report',
      body: 'The report is attached.',
      files: [{ name: 'report.txt', contentType: 'text/plain', content: REPORT }],
      pin: '1111',
    });
    expect(sent.response).toMatch(/^250/);
    mailId = sent.messageId;
    const outside = [
      `From: <${OUTSIDER}>`,
      `To: <${BOB}>`,
      'Subject: New bank details',
      'Message-ID: <outside-1@quick-mail.example>',
      'Date: Mon, 07 Dec 2026 09:00:00 +0000',
      '',
      'Please pay to our new account today.',
      '',
    ].join('\r\n');
    expect(await sendFromOutside(world, outside)).toMatch(/^250/);
    await world.waitIdle();
    const u = world.user(BOB);
    const raws = (await fetchInbox({ host: u.org.mailbox.host, port: u.org.mailbox.imapPort, user: BOB, pass: u.password })).map((m) =>
      Buffer.from(m.source).toString('latin1'),
    );
    const ssmaxMail = raws.find((r) => r.includes(mailId));
    const outsideMail = raws.find((r) => r.includes('<outside-1@quick-mail.example>'));
    expect(ssmaxMail, 'the SSMAX mail reached bob').toBeDefined();
    expect(outsideMail, 'the outside mail reached bob').toBeDefined();
    fs.writeFileSync(p('ssmax.eml'), ssmaxMail!, 'latin1');
    fs.writeFileSync(p('tampered.eml'), tamperFilePart(ssmaxMail!), 'latin1');
    fs.writeFileSync(p('outside.eml'), outsideMail!, 'latin1');
    fs.writeFileSync(p('org-b-signing.der'), world.org('org-b').organisation.kms.certificates.signing);
    fs.writeFileSync(p('org-a-signing.der'), world.org('org-a').organisation.kms.certificates.signing);
    fs.writeFileSync(p('org-b-ca.der'), (await u.card.getCertificate(CardObjects.orgCertificate))!);
    bob.label = u.registered.cardLabel;
  } finally {
    await world.close();
  }
  bob.conf = join(storageDir, 'hsm', 'softhsm2.conf');
  bob.stateDir = join(storageDir, 'orgs', 'org-b', 'registration', 'cards');
  bob.stateFile = join(bob.stateDir, `card-${encodeURIComponent(bob.label)}.json`);
  // The org's own PIN counter for bob's card, not a fresh one: registration left it there.
  expect(fs.existsSync(bob.stateFile), bob.stateFile).toBe(true);
}, 300_000);
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('ssmax mail verify (SSMAX mail) — issue 10, also', () => {
  it("judges the delivered mail valid with bob's card: alice's manifest signature, the identity notice, the file intact, exit 0", () => {
    const { status, j, stderr } = verifyAsBob(p('ssmax.eml'), '--pin', '2222', '--org-signing-cert', p('org-b-signing.der'));
    expect(status, stderr).toBe(0);
    expect(j).toMatchObject({
      signature: 'valid',
      from: ALICE,
      reasons: [],
      ssmax: true,
      judgedBy: 'ssmax-user-agent',
      mode: 'end-to-end',
      recipient: BOB,
      orgSignerPinned: true,
    });
    // The person (the manifest signer) and the recipient's organisation, whose signature the card anchors.
    expect(j.signers).toEqual([ALICE, 'org-b.example']);
    expect(j.manifestSigner?.address).toBe(ALICE);
    expect(j.identityNotice).toMatchObject({ proofing: 'employeeCardPin', cardAndPinUsed: true, sendingDomain: 'org-a.example' });
    expect(j.identityNotice?.certSerial?.toLowerCase()).toBe(j.manifestSigner?.serial.toLowerCase());
    expect(j.files).toEqual([{ n: 1, name: 'report.txt', contentType: 'text/plain', ok: true, sha256: createHash('sha256').update(REPORT).digest('hex') }]);
  });

  it('judges it in paper mode too: the organisation signs, no manifest signer is named', () => {
    const { status, j } = verifyAsBob(p('ssmax.eml'), '--pin', '2222', '--mode', 'paper');
    expect(status).toBe(0);
    expect(j).toMatchObject({ signature: 'valid', mode: 'paper', orgSignerPinned: false });
    expect(j.manifestSigner).toBeUndefined();
    expect(j.signers).toEqual(['org-b.example']);
  });

  it('judges the mail invalid (exit 1) when one byte of the file part changed, with the reason, and releases no file', () => {
    const { status, j } = verifyAsBob(p('tampered.eml'), '--pin', '2222', '--org-signing-cert', p('org-b-signing.der'));
    expect(status).toBe(1);
    // Nothing the broken mail claims is shown as fact: no signer, no identity notice.
    expect(j).toMatchObject({ signature: 'invalid', signers: [], from: ALICE, ssmax: true, identityNotice: null });
    expect(j.reasons.join('; ')).toMatch(/the organisation signature does not verify \(CONTENT_MISMATCH\)/);
    expect(j.files).toHaveLength(1);
    expect(j.files![0]).toMatchObject({ ok: false, withheld: 'mail-not-verified' });
    expect(j.files![0]!.sha256).toBeUndefined();
  });

  it("judges the mail invalid when --org-signing-cert names another org's KMS signing certificate", () => {
    const { status, j } = verifyAsBob(p('ssmax.eml'), '--pin', '2222', '--org-signing-cert', p('org-a-signing.der'));
    expect(status).toBe(1);
    expect(j.signature).toBe('invalid');
    expect(j.reasons.join('; ')).toMatch(/not your organisation's KMS signing certificate/);
  });

  it("refuses a wrong PIN: exit 1, PIN_INCORRECT, no JSON line, counted on the card's own counter", () => {
    expect(failuresOnCard()).toBe(0);
    const r = ssmax(['mail', 'verify', p('ssmax.eml'), '--token', `pkcs11:token=${bob.label}`, '--card-state', bob.stateDir, '--pin', '9999']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ssmax: PIN_INCORRECT: Cannot log in to card .*2 tries remain/);
    expect(r.stdout).toBe('');
    expect(failuresOnCard()).toBe(1);
    // The right PIN clears the count.
    expect(verifyAsBob(p('ssmax.eml'), '--pin', '2222').status).toBe(0);
    expect(failuresOnCard()).toBe(0);
  });

  it('judges outside (non-member) mail unsigned and outside, exit 1', () => {
    const { status, j } = verifyAsBob(p('outside.eml'), '--pin', '2222');
    expect(status).toBe(1);
    expect(j).toMatchObject({ signature: 'unsigned', signers: [], from: OUTSIDER, outside: true, identityNotice: null });
    expect(j.ssmax).toBeUndefined();
    expect(j.reasons.join('; ')).toMatch(/not from an SSMAX member/);
  });

  it('exits 3 for input that is not a mail, before the card is opened (a wrong PIN is not even tried)', () => {
    fs.writeFileSync(p('garbage.eml'), 'this is no mail\r\n');
    const r = ssmax(['mail', 'verify', p('garbage.eml'), '--token', `pkcs11:token=${bob.label}`, '--card-state', bob.stateDir, '--pin', '9999']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^ssmax: MALFORMED_MIME: Cannot /);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ malformed: true, code: 'MALFORMED_MIME' });
    expect(failuresOnCard()).toBe(0);
  });

  it("without the card judges the SSMAX mail as S/MIME only and says the SSMAX judgement needs the recipient's card", () => {
    const r = ssmax(['mail', 'verify', p('ssmax.eml'), '--CAfile', p('org-b-ca.der')]);
    const j = JSON.parse(r.stdout.trim()) as Line;
    expect(r.status).toBe(1);
    expect(j.ssmax).toBe(true);
    expect(j.judgedBy).toBeUndefined();
    expect(j.reasons.join('; ')).toMatch(/needs the recipient's card/);
  });
});
