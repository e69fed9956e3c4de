/**
 * Issue 3, "Reliability and bad input": no server crashes on any input, every reply is a well-formed
 * SMTP reply (RFC 5321 §4.2: three digits, then SP or "-"), and nothing is spooled without a 250 to
 * the end of DATA. fast-check drives raw sockets against a running MSA (RFC 6409) and MTA-in with
 * random and mutated command sequences; after each case a fresh connection must still get EHLO → 250
 * and QUIT → 221. Explicit cases: unknown recipient, expired and revoked user certificate, malformed
 * and oversized mail, and a card locked by three wrong PINs as the user agent reports it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftHsmNative, SoftwareKey, SsmaxError, bindTokenKey, type PrivateKeyOps } from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';
import { OrgCa } from './org-ca.js';
import { Organisation, SimpleUserDirectory } from './organisation.js';
import { composeSignedMail } from './testing/signed-mail.js';
import { SpoolCensus } from './testing/spool-census.js';
import { TraceVault } from './trace-vault.js';
import { UserAgent } from './user-agent.js';
import { UserRegistration } from './user-registration.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-smtp-edge-'));
const MAX_BYTES = 200_000;
const DAY = 86_400_000;
let hsm: SoftHsmNative;
let net: SimNet;
let registry: Registry;
let org: Organisation;
let skewMs = 0;
let alice: { address: string; key: PrivateKeyOps; cert: Uint8Array };
let fuzzFrom = '';

let cardN = 0;
async function card(): Promise<PrivateKeyOps> {
  const label = `edge-card-${++cardN}`;
  hsm.initToken({ label, soPin: '87654321', userPin: '1234' });
  const t = hsm.openToken(label);
  await t.login('1234');
  return bindTokenKey(t, await t.generateKeyPair('user', 'EC-P256'));
}

async function addUser(local: string): Promise<{ address: string; key: PrivateKeyOps; cert: Uint8Array }> {
  const key = await card();
  const u = await (org.users as SimpleUserDirectory).register({ address: `${local}@${org.domain}`, password: `pw-${local}`, signingSpki: key.spki });
  return { address: u.address, key, cert: u.signing.der };
}

beforeAll(async () => {
  hsm = SoftHsmNative.open({ storageDir: join(dir, 'hsm') });
  net = await SimNet.create({ seed: 9100 + (process.pid % 1000) });
  registry = await Registry.start({
    dataDir: join(dir, 'registry'),
    signer: SoftwareKey.generate('EC-P256'),
    log: () => {},
    adminToken: 'admin',
    resolver: net.resolver,
  });
  org = await Organisation.start({
    id: 'edge',
    domain: 'edge.example',
    mode: 'org',
    net,
    registryUrl: registry.url,
    registryRootCert: registry.rootCertificate,
    storageDir: join(dir, 'edge'),
    hsm,
    mailbox: { deliver: async () => undefined },
    profile: { maxMessageBytes: MAX_BYTES },
    registryMaxAgeSeconds: 0,
    retryMs: 60_000,
    // A fake clock the expired-certificate test turns back while the org CA issues.
    clock: () => new Date(Date.now() + skewMs),
  });
  alice = await addUser('alice');
  fuzzFrom = net.address('fuzzer/client');
  census = new SpoolCensus(['inbound', 'outbound'].map((which) => join(dir, 'edge', 'spool', which)));
}, 120_000);

afterAll(async () => {
  await org?.close();
  await registry?.close();
  await net?.[Symbol.asyncDispose]();
  await hsm?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every message the org ever spooled, by id: a worker may rename one between two directory listings (spool-census.ts). */
let census: SpoolCensus;
const spooled = (): number => census.count();

type Ep = { address: string; port: number };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function open(ep: Ep): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void>; waitData: (ms: number) => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ep.address, port: ep.port, localAddress: fuzzFrom });
    const chunks: Buffer[] = [];
    let wake: (() => void) | undefined;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      wake?.();
    });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    const waitData = (ms: number) =>
      new Promise<void>((r) => {
        const t = setTimeout(() => ((wake = undefined), r()), ms);
        wake = () => ((wake = undefined), clearTimeout(t), r());
      });
    socket.once('connect', () => resolve({ socket, received: () => Buffer.concat(chunks), closed, waitData }));
    socket.once('error', reject);
  });
}

/** Reply lines (CRLF-terminated) up to a STARTTLS handshake, after which the bytes are TLS records. */
function replyLines(raw: Buffer): { lines: string[]; trailing: string } {
  const text = raw.toString('latin1');
  const parts = text.split('\r\n');
  const trailing = parts.pop() ?? '';
  const lines: string[] = [];
  for (const l of parts) {
    lines.push(l);
    if (/^220 .*Ready to start TLS/.test(l)) return { lines, trailing: '' };
  }
  return { lines, trailing };
}

/** Waits until the spool count has not changed for 150 ms (a session still in DATA processing may add one). */
async function settled(): Promise<void> {
  let last = spooled();
  for (let i = 0; i < 40; i++) {
    await sleep(150);
    const now = spooled();
    if (now === last) return;
    last = now;
  }
}

/** A fresh session must still be served: greeting 220, EHLO 250, QUIT 221. */
async function stillServes(ep: Ep): Promise<void> {
  const c = await open(ep);
  await c.waitData(2000);
  c.socket.write('EHLO health.example\r\n');
  while (!/^250 /m.test(c.received().toString('latin1'))) await c.waitData(2000);
  c.socket.write('QUIT\r\n');
  await Promise.race([c.closed, sleep(2000)]);
  c.socket.destroy();
  const lines = replyLines(c.received()).lines;
  expect(lines[0]).toMatch(/^220 /);
  expect(lines.some((l) => /^250 /.test(l))).toBe(true);
  expect(lines.at(-1)).toMatch(/^221 /);
}

const crlf = (s: string) => Buffer.from(s + '\r\n', 'latin1');
const garbage = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((u) => Buffer.from(u));
const word = fc.stringMatching(/^[\x21-\x7e]{0,40}$/);

function steps(kind: 'msa' | 'mx', validBody: Buffer) {
  const local = kind === 'msa' ? alice.address : alice.address;
  const ehlo = fc.oneof(
    fc.constant(crlf('EHLO fuzz.example')),
    fc.constant(crlf('HELO fuzz.example')),
    fc.constant(crlf('EHLO')),
    fc.constant(crlf('EHLO [127.0.0.1]')),
    word.map((w) => crlf(`ehlo ${w}`)),
    fc.integer({ min: 600, max: 20_000 }).map((n) => crlf(`EHLO ${'h'.repeat(n)}`)),
  );
  const auth = fc.oneof(
    fc.constant(crlf(`AUTH PLAIN ${Buffer.from(`\0${alice.address}\0pw-alice`).toString('base64')}`)),
    fc.constant(crlf(`AUTH PLAIN ${Buffer.from(`\0${alice.address}\0wrong`).toString('base64')}`)),
    fc.constant(crlf('AUTH LOGIN')),
    word.map((w) => crlf(`AUTH ${w}`)),
  );
  const mail = fc.oneof(
    fc.constant(crlf(`MAIL FROM:<${local}>`)),
    fc.constant(crlf('MAIL FROM:<>')),
    fc.constant(crlf(`MAIL FROM:<${local}> SIZE=99999999999999`)),
    fc.constant(crlf(`MAIL FROM:<${local}> BODY=8BITMIME SMTPUTF8`)),
    word.map((w) => crlf(`MAIL FROM:<${local}> ${w}=${w}`)),
    word.map((w) => crlf(`MAIL FROM:${w}`)),
    fc.constant(crlf('MAIL FROM:<carol@outside.example>')),
  );
  const rcpt = fc.oneof(
    fc.constant(crlf(`RCPT TO:<${alice.address}>`)),
    fc.constant(crlf(`RCPT TO:<nobody@${org.domain}>`)),
    fc.constant(crlf('RCPT TO:<someone@elsewhere.example>')),
    fc.constant(crlf('RCPT TO:<>')),
    word.map((w) => crlf(`RCPT TO:${w}`)),
  );
  const body = fc.oneof(
    { weight: 3, arbitrary: garbage },
    // Bare LF, NUL and a bare-LF dot line (only CRLF.CRLF ends DATA, RFC 5321 §4.1.1.4); no From, so not a mail.
    { weight: 1, arbitrary: fc.constant(Buffer.from('Subject: x\nTo: alice@edge.example\n\n\0\0bare LF\n.\nmore\r\n..\r\n', 'latin1')) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 60_000 }).map((n) => Buffer.from(`Subject: long\r\n\r\n${'L'.repeat(n)}`)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(MAX_BYTES + 1000, 0x61)) },
  );
  const data = fc.tuple(body, fc.boolean()).map(([b, terminated]) => Buffer.concat([crlf('DATA'), b, terminated ? Buffer.from('\r\n.\r\n') : Buffer.alloc(0)]));
  const misc = fc.oneof(
    fc.constant(crlf('RSET')),
    fc.constant(crlf('NOOP')),
    fc.constant(crlf('HELP')),
    fc.constant(crlf('VRFY alice')),
    fc
      .integer({ min: 0, max: 64 })
      .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.concat([crlf(`BDAT ${n} LAST`), Buffer.from(u)]))),
    fc.constant(crlf('STARTTLS')).chain(() => garbage.map((g) => Buffer.concat([crlf('STARTTLS'), g]))),
    fc.integer({ min: 2000, max: 100_000 }).map((n) => crlf('X'.repeat(n))),
    garbage,
    word.map((w) => crlf(`${w}\0${w}`)),
  );
  // A transaction the server must accept: the positive control for "spooled exactly when answered 250".
  const valid = fc.constant([
    crlf('EHLO fuzz.example'),
    ...(kind === 'msa' ? [crlf(`AUTH PLAIN ${Buffer.from(`\0${alice.address}\0pw-alice`).toString('base64')}`)] : []),
    crlf(`MAIL FROM:<${kind === 'msa' ? alice.address : 'carol@outside.example'}>`),
    crlf(`RCPT TO:<${kind === 'msa' ? 'dave@nonmember.example' : alice.address}>`),
    crlf('DATA'),
    validBody,
    Buffer.from('\r\n.\r\n'),
  ]);
  // Mostly plausible transactions (so DATA is reached), interleaved with noise.
  const transaction = fc
    .tuple(ehlo, kind === 'msa' ? fc.option(auth, { nil: undefined }) : fc.constant(undefined), mail, fc.array(rcpt, { minLength: 0, maxLength: 3 }), data)
    .map(([e, a, m, r, d]) => [e, ...(a ? [a] : []), m, ...r, d]);
  return fc
    .array(
      fc.oneof(
        { weight: 1, arbitrary: valid },
        { weight: 3, arbitrary: transaction },
        { weight: 2, arbitrary: fc.array(fc.oneof(ehlo, auth, mail, rcpt, data, misc), { minLength: 1, maxLength: 6 }) },
      ),
      { minLength: 1, maxLength: 3 },
    )
    .map((xs) => xs.flat());
}

async function runCase(ep: Ep, script: Buffer[], pipelined: boolean, ending: 'quit' | 'abrupt'): Promise<Buffer> {
  const c = await open(ep);
  await c.waitData(2000);
  if (pipelined) c.socket.write(Buffer.concat(script));
  else {
    for (const s of script) {
      if (c.socket.destroyed) break;
      c.socket.write(s);
      await c.waitData(60);
    }
  }
  if (ending === 'abrupt') {
    await sleep(5);
    c.socket.destroy();
  } else {
    // Ends a DATA left open (elsewhere "." is just an unknown command), then QUIT: the server closes after 221,
    // so every reply, including a slow "250 queued", is read before the count.
    if (!c.socket.destroyed) c.socket.write('\r\n.\r\nQUIT\r\n');
    await Promise.race([c.closed, sleep(5000)]);
    c.socket.destroy();
  }
  return c.received();
}

for (const kind of ['msa', 'mx'] as const) {
  describe(`SMTP edge fuzz (${kind === 'msa' ? 'MSA' : 'MTA-in'})`, () => {
    it(`answers only well-formed replies, spools only what it answered "250 queued", and keeps serving when fed random sessions (${kind})`, async () => {
      const ep: Ep = kind === 'msa' ? org.endpoints.msa.listen : org.endpoints.mx.listen;
      const { raw: signed } = await composeSignedMail({
        from: alice.address,
        to: ['dave@nonmember.example'],
        subject: 'edge',
        text: 'fuzz base',
        key: alice.key,
        signingCertificate: alice.cert,
        orgCertificate: org.kms.certificates.org,
        orgEncryptionCertificate: org.kms.certificates.encryption,
      });
      // MSA: a valid user-signed mail; MX: plain mail from a non-member (accepted, marked unverified).
      const validBody =
        kind === 'msa'
          ? Buffer.from(signed)
          : Buffer.from('From: carol@outside.example\r\nTo: alice@edge.example\r\nSubject: hi\r\nMessage-ID: <fz@outside.example>\r\n\r\nhello\r\n');
      let queuedReplies = 0;
      await fc.assert(
        fc.asyncProperty(
          steps(kind, validBody),
          fc.boolean(),
          fc.constantFrom('quit', 'abrupt') as fc.Arbitrary<'quit' | 'abrupt'>,
          async (script, pipelined, ending) => {
            const before = spooled();
            const raw = await runCase(ep, script, pipelined, ending);
            const validCount = script.filter((b) => b === validBody).length;
            // A client that hangs up right after "." may miss a 250 for mail already stored: let the server finish.
            if (ending === 'abrupt' && validCount > 0) await settled();
            const { lines, trailing } = replyLines(raw);
            expect(lines[0], 'greeting').toMatch(/^220 /);
            for (const l of lines) expect(l, 'reply line').toMatch(/^[2-5]\d\d(?:[ -][^\r\n]*)?$/);
            if (ending === 'quit') expect(trailing, 'partial reply line').toBe('');
            const queued = lines.filter((l) => /^250 2\.0\.0 queued/.test(l)).length;
            queuedReplies += queued;
            // fsync'd before the 250 (spool.ts): every "250 queued" is on disk when it arrives; only the valid
            // transactions may be stored, so invalid input spools nothing.
            const delta = spooled() - before;
            expect(delta, 'spooled fewer than answered "250 queued"').toBeGreaterThanOrEqual(queued);
            expect(delta, 'spooled more than the valid transactions').toBeLessThanOrEqual(validCount);
            if (ending === 'quit' && !script.some((b) => b.subarray(0, 8).toString('latin1') === 'STARTTLS')) expect(delta).toBe(queued);
            await stillServes(ep);
          },
        ),
        { numRuns: 45 },
      );
      await stillServes(ep);
      expect(queuedReplies, 'positive control: some valid transactions were accepted').toBeGreaterThan(0);
      console.info(`[smtp-edge] ${kind}: ${queuedReplies} session(s) ended in "250 queued" (valid mail); every other one spooled nothing`);
    }, 60_000);
  });
}

async function session(ep: Ep, cmds: (string | Buffer)[]): Promise<string[]> {
  const c = await open(ep);
  await c.waitData(2000);
  for (const cmd of cmds) {
    const n = replyLines(c.received()).lines.filter((l) => /^\d{3} /.test(l)).length;
    c.socket.write(typeof cmd === 'string' ? crlf(cmd) : cmd);
    for (let i = 0; i < 100 && replyLines(c.received()).lines.filter((l) => /^\d{3} /.test(l)).length === n; i++) await c.waitData(100);
  }
  c.socket.destroy();
  // Final lines of each reply, without the greeting: one per command.
  return replyLines(c.received())
    .lines.filter((l) => /^\d{3} /.test(l))
    .slice(1);
}

describe('SMTP edge replies', () => {
  it('refuses an unknown recipient at RCPT with 550 5.1.1 and accepts a known one (MTA-in)', async () => {
    const r = await session(org.endpoints.mx.listen, [
      'EHLO peer.example',
      'MAIL FROM:<x@peer.example>',
      `RCPT TO:<nobody@${org.domain}>`,
      `RCPT TO:<${alice.address}>`,
      'RCPT TO:<bob@not-ours.example>',
    ]);
    expect(r[2]).toMatch(/^550 5\.1\.1 /);
    expect(r[3]).toMatch(/^250 /);
    expect(r[4]).toMatch(/^550 5\.1\.1 /);
  });

  it('refuses a user certificate that expired (fake clock at issuance) with 550 5.7.1 at the MSA', async () => {
    skewMs = -800 * DAY;
    let old;
    try {
      old = await addUser('old');
    } finally {
      skewMs = 0;
    }
    const { raw } = await composeSignedMail({
      from: old.address,
      to: [alice.address],
      subject: 'old',
      text: 'x',
      key: old.key,
      signingCertificate: old.cert,
      orgCertificate: org.kms.certificates.org,
      orgEncryptionCertificate: org.kms.certificates.encryption,
    });
    const before = spooled();
    const r = await submitRaw(old.address, `pw-old`, raw);
    expect(r).toMatch(/^550 5\.7\.1 Signer certificate is expired/);
    expect(spooled()).toBe(before);
    // Control: the same steps with a current certificate are accepted.
    const { raw: ok } = await composeSignedMail({
      from: alice.address,
      to: ['dave@nonmember.example'],
      subject: 'now',
      text: 'x',
      key: alice.key,
      signingCertificate: alice.cert,
      orgCertificate: org.kms.certificates.org,
      orgEncryptionCertificate: org.kms.certificates.encryption,
    });
    expect(await submitRaw(alice.address, 'pw-alice', ok)).toMatch(/^250 2\.0\.0 queued/);
  });

  it("refuses a revoked user certificate, malformed MIME, a broken signature and an oversized mail at the MSA with the table's replies", async () => {
    const eve = await addUser('eve');
    const mail = async (u: typeof eve) =>
      (
        await composeSignedMail({
          from: u.address,
          to: [alice.address],
          subject: 's',
          text: 't',
          key: u.key,
          signingCertificate: u.cert,
          orgCertificate: org.kms.certificates.org,
          orgEncryptionCertificate: org.kms.certificates.encryption,
        })
      ).raw;
    const evesMail = await mail(eve);
    await (org.users as SimpleUserDirectory).revoke(eve.address);
    const before = spooled();
    expect(await submitRaw(eve.address, 'pw-eve', evesMail)).toMatch(/^550 5\.7\.1 Signer certificate is revoked/);
    const bad = Buffer.from('From: alice@edge.example\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"\r\n\r\nno boundary at all\r\n');
    expect(await submitRaw(alice.address, 'pw-alice', bad)).toMatch(/^554 5\.6\.0 /);
    expect(await submitRaw(alice.address, 'pw-alice', Buffer.from('From: alice@edge.example\r\nSubject: plain\r\n\r\nunsigned\r\n'))).toMatch(/^550 5\.7\.7 /);
    const alicesMail = Buffer.from(await mail(alice)).toString('latin1');
    expect(await submitRaw(alice.address, 'pw-alice', Buffer.from(alicesMail.replace('\r\n\r\nt\r\n', '\r\n\r\nT\r\n'), 'latin1'))).toMatch(/^550 5\.7\.7 /);
    expect(await submitRaw(alice.address, 'pw-alice', Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(MAX_BYTES + 10, 0x62)]))).toMatch(
      /^552 5\.3\.4 /,
    );
    expect(await submitRaw(alice.address, 'wrong', Buffer.from('x'))).toMatch(/^535 5\.7\.8 /);
    expect(spooled()).toBe(before);
  });

  it('(3) reports a card locked after three wrong PINs through the user agent, and the card then refuses the right PIN', async () => {
    const orgCa = await OrgCa.open({
      certificate: org.kms.certificates.org,
      key: org.kms.caKey,
      chain: [org.kms.certificates.root],
      storageDir: join(dir, 'edge', 'ca'),
    });
    hsm.initToken({ label: 'edge-vault', soPin: '13579111', userPin: '246810' });
    await using vt = hsm.openToken('edge-vault');
    await vt.login('246810');
    const vaultKey = bindTokenKey(vt, await vt.generateKeyPair('vault-seal', 'RSA-2048'));
    const vault = new TraceVault({
      storageDir: join(dir, 'edge', 'vault'),
      sealingCertificate: (await orgCa.issueService(vaultKey.spki, 'encryption', 'edge vault')).der,
    });
    const registration = new UserRegistration({ reader: hsm, orgCa, vault, soPin: '13579111', storageDir: join(dir, 'edge', 'registration') });
    const user = await registration.register({
      address: `pat@${org.domain}`,
      employeeNumber: 'EMP-pat',
      identityCheck: { method: 'employeeCardPin', proofedBy: 'edge desk' },
      userPin: '4321',
    });
    await using c = await registration.openCard(user.cardLabel);
    const ua = new UserAgent({ address: user.address, card: c, mode: 'end-to-end', orgEncryptionCertificate: org.kms.certificates.encryption });
    const codes: string[] = [];
    for (const pin of ['0000', '1111', '2222', '4321']) {
      const e = await ua.compose({ to: [alice.address], subject: 's', text: 't', pin }).then(
        () => undefined,
        (err: unknown) => err,
      );
      codes.push(e instanceof SsmaxError ? e.code : String(e));
    }
    expect(codes).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_LOCKED']);
    expect(c.locked).toBe(true);
  });
});

/** Submits over AUTH PLAIN on a raw socket and returns the final reply line to the end of DATA. */
async function submitRaw(user: string, password: string, raw: Uint8Array): Promise<string> {
  const body = Buffer.from(raw).toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  const r = await session(org.endpoints.msa.listen, [
    'EHLO ua.example',
    `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`,
    `MAIL FROM:<${user}>`,
    'RCPT TO:<dave@nonmember.example>',
    'DATA',
    Buffer.from(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1'),
  ]);
  return r[1]?.startsWith('235') ? (r[5] ?? r.at(-1) ?? '') : (r[1] ?? '');
}
