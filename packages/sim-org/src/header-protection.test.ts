/**
 * ssmax-plus addition 2 through two orgs with real services (registry over HTTP, KMS and cards on
 * SoftHSM2, SMTP on the simulated network with its wire tap, Dovecot): the whole message, headers
 * included, crosses every link and rests in every spool and mailbox inside the chain of encryption (RFC
 * 9788 Header Protection, outer Subject `[...]`), while (5) and (8) still inspect body and files and the
 * recipient's agent shows the real Subject and flags an outer field changed after the sender.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildMimeEntity, buildPkcs7Mime, encryptContent } from '@ssmax/core';
import { Registry } from '@ssmax/sim-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { myNumberCheckDigit } from './dlp-rules.js';
import { EICAR } from './malware-scan.js';
import type { OrgPlus } from './org-context.js';
import { ReplayCache } from './plus.js';
import { UserAgent } from './user-agent.js';
import { createOrgWorld, type OrgWorld, type WorldOrg, type WorldUser } from './testing/org-world.js';

const PLUS: OrgPlus = { pinnedTls: false, headerProtection: true, holdSeconds: 0 };

let world: OrgWorld;
let a: WorldOrg;
let b: WorldOrg;
let c: WorldOrg;
let alice: WorldUser;
let bob: WorldUser;
let carol: WorldUser;

beforeAll(async () => {
  world = await createOrgWorld({ prefix: 'ssmax-hp-', seed: 15, startRegistry: (o) => Registry.start(o) });
  a = await world.startOrg('hpa', { plus: PLUS });
  b = await world.startOrg('hpb', { plus: PLUS });
  // A member without the addition: its mail reaches b as ssmax-org mail.
  c = await world.startOrg('hpc');
  alice = await a.addUser('alice', '1111');
  bob = await b.addUser('bob', '2222');
  carol = await c.addUser('carol', '3333');
});
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

const FILES = [{ name: 'report.txt', contentType: 'text/plain', content: new Uint8Array(Buffer.from('Quarterly figures: revenue up 4%.\n')) }];

/** Every file under `dir` whose bytes contain `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(p);
    } catch {
      continue;
    }
    if (bytes.includes(needle)) out.push(p);
  }
  return out;
}

/** The stored message of `messageId` in bob's Dovecot mailbox (the bytes a stolen mailbox password reads). */
function storedAtBob(messageId: string): Buffer {
  const hit = filesHolding(path.join(world.dir, 'hpb', 'mail'), messageId.replace(/^<|>$/g, '')).filter((p) => /\/Maildir\/(cur|new)\//.test(p));
  expect(hit, 'one stored copy').toHaveLength(1);
  return fs.readFileSync(hit[0]!);
}

async function sendAndSettle(from: WorldUser, pin: string, subject: string, text: string, files = FILES) {
  const sent = await from.ua.send({ to: [bob.user.address], subject, text, files, pin });
  expect(sent.response).toMatch(/^250/);
  await from.org.org.idle();
  await b.org.idle();
  return sent;
}

describe('Header protection between two ssmax-plus orgs (RFC 9788)', () => {
  let firstId = '';

  it('delivers Subject and body only inside the chain of encryption: neither the wire, the spools nor the mailbox hold them, and the agent shows them', async () => {
    world.net.tap.clear();
    const text = 'Two files for you. body-hp1 is the marker of this body.';
    const sent = await sendAndSettle(alice, '1111', 'Q3 numbers ref-hp1', text);
    firstId = sent.messageId;
    const v = (await bob.ua.inbox('2222')).find((m) => m.messageId === sent.messageId);
    expect(v, 'delivered').toBeDefined();
    expect(v!.problems).toEqual([]);
    expect(v!.verified).toBe(true);
    expect(v!.subject).toBe('Q3 numbers ref-hp1');
    expect(v!.text).toContain('body-hp1');
    expect(v!.headerProtection).toEqual({ protected: true, outerDifferences: [] });
    expect(v!.files.map((f) => [f.name, f.ok])).toEqual([['report.txt', true]]);

    // The wire: UA→MSA and MTA→MX were tapped; the outer Subject is the obscured one, the real one is nowhere,
    // nor the body in its base64 transfer encoding.
    // (Between the MTAs STARTTLS hides the bytes from the tap; the matrix's STARTTLS-stripping cells test that link.)
    const seen = world.net.tap.search('Subject: [...]').map((m) => m.connection.service);
    expect(seen, 'positive control: the tap saw the submission').toContain(`msa.${a.org.domain}:587`);
    expect(world.net.tap.search('ref-hp1')).toEqual([]);
    expect(world.net.tap.search(Buffer.from(text.slice(0, 27)).toString('base64'))).toEqual([]);
    // At rest: no spool, journal, vault or mailbox file of any org holds the Subject or the body.
    expect(filesHolding(world.dir, 'ref-hp1')).toEqual([]);
    expect(filesHolding(world.dir, Buffer.from(text.slice(0, 27)).toString('base64'))).toEqual([]);
    const stored = storedAtBob(sent.messageId).toString('latin1');
    expect(stored).toMatch(/^Subject: \[\.\.\.\]\r?$/m);
    expect(stored).toMatch(/smime-type=authEnveloped-data/);

    // (5) and (8) opened the whole message: each journal shows the files in plaintext at its inspection.
    const inspected = (org: WorldOrg, n: number) => org.org.journey.events(sent.messageId).find((e) => e.procedure === n);
    expect(inspected(a, 5)).toMatchObject({ outcome: 'accepted', files: 'plaintext' });
    expect(inspected(b, 8)?.outcome).toBe('accepted');
  });

  it('(5) still reads the body inside the envelope: a My Number in the body is blocked outbound', async () => {
    const first11 = '12345678901';
    const myNumber = `${first11}${myNumberCheckDigit(first11)}`;
    const sent = await sendAndSettle(alice, '1111', 'HR data ref-hp2', `Employee number ${myNumber} as requested.`, []);
    const e5 = a.org.journey.events(sent.messageId).find((e) => e.procedure === 5);
    expect(e5?.outcome).toBe('bounced');
    expect(e5?.checks.find((c) => c.name === 'dlp')).toMatchObject({ result: 'fail', detail: expect.stringContaining('my-number') });
    expect(b.org.journey.events(sent.messageId)).toEqual([]);
  });

  it('(8) still reads the files inside the envelope: an EICAR file is refused in the MX session', async () => {
    const sent = await sendAndSettle(alice, '1111', 'tool ref-hp3', 'see file', [
      { name: 'tool.com', contentType: 'application/octet-stream', content: new Uint8Array(Buffer.from(EICAR)) },
    ]);
    const e8 = b.org.journey.events(sent.messageId).find((e) => e.procedure === 8);
    expect(e8?.outcome).toBe('rejected');
    expect(e8?.reply).toMatch(/^550 5\.7\.1 /);
  });

  it('refuses at (4) a submission whose outer From is not the protected From the card signs for', async () => {
    const m = await alice.ua.compose({ to: [bob.user.address], subject: 'forged From ref-hp6', text: 'body-hp6', files: [], pin: '1111' });
    const outer = Buffer.from(m.raw).toString('latin1');
    expect(outer).toMatch(/^Subject: \[\.\.\.\]/m);
    const forged = outer.replace(/^From:.*$/m, `From: cfo@${a.org.domain}`);
    expect(forged).not.toBe(outer);
    const reply = await alice.ua.submit(new Uint8Array(Buffer.from(forged, 'latin1')), [bob.user.address]).catch((e: unknown) => String(e));
    expect(reply).toMatch(/^5\d\d|\b5\d\d\b/);
    expect(reply).toMatch(/outer From cfo@.* is not the protected From alice@/);
  });

  it('flags a forged outer Subject as a reason beside the verified mail, and shows the protected Subject', async () => {
    const stored = storedAtBob(firstId).toString('latin1');
    const forged = stored.replace(/^Subject: \[\.\.\.\]/m, 'Subject: Invoice overdue - pay today');
    expect(forged).not.toBe(stored);
    const v = await bob.ua.read(new Uint8Array(Buffer.from(forged, 'latin1')), '2222');
    expect(v.verified).toBe(true);
    expect(v.subject).toBe('Q3 numbers ref-hp1');
    expect(v.headerProtection?.protected).toBe(true);
    expect(v.headerProtection?.outerDifferences).toEqual([
      'the outer subject "Invoice overdue - pay today" is not what the sender put outside ("[...]"); shown: the protected subject "Q3 numbers ref-hp1"',
    ]);
    // The unchanged copy flags nothing.
    expect((await bob.ua.read(new Uint8Array(Buffer.from(stored, 'latin1')), '2222')).headerProtection?.outerDifferences).toEqual([]);
  });

  it('refuses at the MX, as data with its reason, an envelope that is not for this org (a copy taken from a mailbox and replayed)', async () => {
    // The stored copy is enveloped to bob's card, not to org b's KMS: (7) cannot open it and says so.
    const stored = storedAtBob(firstId);
    const code = await world.toMx(b, { client: 'replayer/mta', helo: 'replayer.example', mailFrom: alice.user.address, rcpt: bob.user.address, raw: stored });
    expect(code).toBe(554);
    // hcp_baseline keeps the Message-ID outside, so the refusal is journalled under it.
    const refused = b.org.journey.events(firstId).filter((e) => e.procedure === 7 && e.outcome === 'rejected');
    expect(refused.at(-1)?.detail).toMatch(/^the header-protected envelope is encrypted to another party, not to this org: /);
    expect(refused.at(-1)?.checks).toContainEqual(expect.objectContaining({ name: 'header-protection', result: 'fail' }));
  });

  it('the agent with a replay cache (addition 3) rereads one delivered copy, and refuses a second copy delivered within the window', async () => {
    // Orgs with freshness bind a window into their attestation: a mail of its own through d → e.
    const d = await world.startOrg('hpd', { plus: { ...PLUS, freshness: { windowSeconds: 600, cacheSize: 100 } } });
    const e = await world.startOrg('hpe', { plus: { ...PLUS, freshness: { windowSeconds: 600, cacheSize: 100 } } });
    const dora = await d.addUser('dora', '4444');
    const eve = await e.addUser('eve', '5555');
    const sent = await dora.ua.send({ to: [eve.user.address], subject: 'fresh ref-hp5', text: 'body-hp5', files: [], pin: '4444' });
    await d.org.idle();
    await e.org.idle();
    const hit = filesHolding(path.join(world.dir, 'hpe', 'mail'), sent.messageId.replace(/^<|>$/g, '')).filter((p) => /\/Maildir\/(cur|new)\//.test(p));
    expect(hit).toHaveLength(1);
    const stored = new Uint8Array(fs.readFileSync(hit[0]!));
    const replayCache = new ReplayCache(10);
    const agent = new UserAgent({
      address: eve.user.address,
      card: eve.card,
      mode: 'end-to-end',
      headerProtection: true,
      orgEncryptionCertificate: e.org.kms.certificates.encryption,
      replayCache,
    });
    const once = await agent.read(stored, '5555');
    expect(once.problems).toEqual([]);
    expect(once.freshness?.ok).toBe(true);
    expect((await agent.read(stored, '5555')).verified).toBe(true);
    // Another copy of the same mail (another receiving attestation) already seen: this one is refused as a replay.
    const other = new ReplayCache(10);
    other.admitCopy(`${d.org.registryOrgId}\n${sent.messageId}`, 'another delivered copy', Date.now() + 600_000, Date.now());
    const again = await new UserAgent({
      address: eve.user.address,
      card: eve.card,
      mode: 'end-to-end',
      orgEncryptionCertificate: e.org.kms.certificates.encryption,
      replayCache: other,
    }).read(stored, '5555');
    expect(again.verified).toBe(false);
    expect(again.freshness?.ok).toBe(false);
    expect(again.problems).toEqual([expect.stringMatching(/^replay: another copy of /)]);
  });

  it('does not open an envelope no org hop delivered: outside S/MIME mail to the card keeps its files unreleased, as (8) never saw them', async () => {
    const inner = buildMimeEntity({
      text: 'see attachment',
      attachments: [{ filename: 'tool.com', contentType: 'application/octet-stream', content: new Uint8Array(Buffer.from(EICAR)) }],
    });
    const raw = buildPkcs7Mime(await encryptContent(inner, { recipients: [bob.user.encryptionCertificate.der] }), 'authEnveloped-data', {
      headers: { from: 'mallory@outside.example', to: bob.user.address, subject: 'outside ref-hp6', messageId: '<outside-hp6@outside.example>' },
    });
    expect(await world.toMx(b, { client: 'outsider/mta', helo: 'outside.example', mailFrom: 'mallory@outside.example', rcpt: bob.user.address, raw })).toBe(
      250,
    );
    await b.org.idle();
    const v = (await bob.ua.inbox('2222')).find((m) => m.messageId === '<outside-hp6@outside.example>');
    expect(v?.outside).toBe(true);
    expect(v?.headerProtection).toBeUndefined();
    // Only the envelope itself is an attachment; the EICAR file inside was never decrypted or released.
    expect(v?.files.map((f) => f.name)).toEqual(['smime.p7m']);
    expect(v?.files.some((f) => f.content && Buffer.from(f.content).includes('EICAR-STANDARD'))).toBe(false);
  });

  it('reads mail from a member without the addition as before at (7), and protects it from the receiving hop on', async () => {
    const sent = await sendAndSettle(carol, '3333', 'From c ref-hp4', 'Plain ssmax-org mail body-hp4.');
    const v = (await bob.ua.inbox('2222')).find((m) => m.messageId === sent.messageId);
    expect(v?.problems).toEqual([]);
    expect(v?.verified).toBe(true);
    expect(v?.subject).toBe('From c ref-hp4');
    expect(v?.headerProtection).toEqual({ protected: true, outerDifferences: [] });
    // c → b crossed in the clear headers of ssmax-org (positive control), b's mailbox holds it protected.
    expect(world.net.tap.search('ref-hp4').length).toBeGreaterThan(0);
    expect(storedAtBob(sent.messageId).toString('latin1')).not.toContain('ref-hp4');
  });
});
