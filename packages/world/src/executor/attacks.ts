/**
 * The parts of attacks that several capabilities share (capabilities/<name>.ts hold each capability's
 * run), and the honest sender. Everything acts through the {@link Cell} and leaves evidence there.
 */
import { randomBytes } from 'node:crypto';
import {
  SoftwareKey,
  SsmaxError,
  readPlainData,
  buildMultipartSigned,
  buildPkcs7Mime,
  decryptContent,
  encryptContent,
  getHeader,
  parseCertificate,
  parseMimeEntity,
  parseSmime,
  openHeaderProtected,
  requestMailboxCertificate,
} from '@ssmax/core';
import { CardObjects, assembleMixed, buildFilePart, classifyParts, orgHop, type IdentityNotice, type Kms } from '@ssmax/sim-org';
import {
  LookAlikeDomain,
  OutcomeRecorder,
  readSmtpTranscript,
  replayCapturedMail,
  sendAsInsider,
  sendAsUserViaMalware,
  sendRewrapped,
  sendViaTakenOverServer,
  spoofColleague,
  type AttackOutcome,
} from '@ssmax/sim-attacker';
import type { WorldUser } from '../world.js';
import { composeSmime } from '../smime-client.js';
import { fetchInbox } from '../imap-fetch.js';
import { Cell, harnessWorld, refusalIn, type TakeoverFoothold } from './cell.js';
import { bareId, fetchAllRaw } from './observe.js';

export const str = (v: unknown, fallback = ''): string => (v === undefined || v === null ? fallback : String(v));

/** The cell's honest mail, as the sender's client sends it; a refusal is evidence, any other error a fault. */
export async function sendHonest(cell: Cell, to: string): Promise<void> {
  const world = harnessWorld(cell);
  const { s } = cell;
  if (s.sender.role === 'non-member') {
    // A legitimate outside party in no scheme: its own domain with SPF/DKIM/DMARC, registered to it.
    const own = LookAlikeDomain.register(cell.att, { domain: cell.senderAddr.split('@')[1]! });
    const d = await own;
    world.recordDomainRegistration(d.domain, undefined, { registrant: `the outside party ${cell.senderAddr}`, verified: true });
    const o = await d.send({
      fromLocal: cell.senderAddr.split('@')[0]!,
      to,
      smime: false,
      subject: cell.mail.subject,
      text: cell.mail.text,
      attachments: cell.mail.attachments,
    });
    if (o.sent) cell.attempt({ by: 'honest', messageId: o.sent.messageId, answeredBy: 'receiving', accepted: true, reply: o.sent.smtpReply, to });
    else if (o.error?.code === 'SMTP_REJECTED')
      cell.attempt({ by: 'honest', answeredBy: 'receiving', accepted: false, reply: o.error.smtpReply ?? o.error.message, to });
    else throw new SsmaxError('INTERNAL', `Cannot send as the non-member ${cell.senderAddr}. ${o.error?.message ?? 'no reply'}`);
    return;
  }
  const sender = world.user(cell.senderAddr);
  try {
    const r = await sender.send({ to, subject: cell.mail.subject, body: cell.mail.text, files: cell.mail.files, pin: sender.pin });
    cell.attempt({ by: 'honest', messageId: r.messageId, answeredBy: 'sending', accepted: true, reply: r.response, to });
  } catch (e) {
    const refused = refusalIn(e);
    if (refused === undefined) throw e;
    cell.attempt({ by: 'honest', answeredBy: 'sending', accepted: false, reply: refused, to });
    cell.ctx.log(`submission refused: ${refused}`);
  }
}

/** A card holder's signing session, as malware or an insider at the holder's PC uses it. */
export function cardSession(
  cell: Cell,
  u: WorldUser,
  pin: string,
  to: string,
  from: string,
): {
  handle: { card: WorldUser['card']; keyLabel: string; certificate: Uint8Array };
  submit: { host: string; port: number; auth: { user: string; pass: string } };
  build: () => Promise<Uint8Array>;
  composed: () => string | undefined;
} {
  let composedId: string | undefined;
  const build = async () => {
    const m = await u.agent().compose({ to: [to], subject: cell.mail.subject, text: cell.mail.text, files: cell.mail.files, pin });
    composedId = m.messageId;
    if (from === u.address) return m.raw;
    return new Uint8Array(
      Buffer.from(
        Buffer.from(m.raw)
          .toString('latin1')
          .replace(/^From:.*$/im, `From: ${from}`),
        'latin1',
      ),
    );
  };
  return {
    handle: { card: u.card, keyLabel: CardObjects.signingKey, certificate: u.registered.signingCertificate.der },
    submit: { host: `msa.${u.org.domain}`, port: 587, auth: { user: u.address, pass: u.password } },
    build,
    composed: () => composedId,
  };
}

/** Every PIN of `digits` digits, in order (what an attacker with the card and time tries). */
export function allPins(digits: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 10 ** digits; i++) out.push(String(i).padStart(digits, '0'));
  return out;
}

/**
 * Someone at the card holder's PC with the card inserted and the PIN (the insider itself, or malware
 * that keylogged it) signs on the card and submits through the MSA as the user; under a conventional
 * baseline (no card) it sends with the user's password through the user's own client.
 */
export async function sendAtHoldersPc(cell: Cell, kind: 'malicious-insider' | 'sender-pc-malware', u: WorldUser, from: string, to: string): Promise<void> {
  if (!u.hasCard) {
    const r = await sendAsPasswordUser(cell, kind, u, from, to);
    cell.recordAttack(r.outcome, 'sending', to, r.messageId);
    return;
  }
  const c = cardSession(cell, u, u.pin, to, from);
  const mail = { to, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, build: c.build };
  const o =
    kind === 'malicious-insider'
      ? await sendAsInsider(cell.att, { kind: 'insider', ...c.handle, pin: u.pin, submit: c.submit }, mail)
      : await sendAsUserViaMalware(cell.att, { kind: 'sender-pc-malware', ...c.handle, keyloggedPin: u.pin, submit: c.submit }, mail);
  cell.recordAttack(o, 'sending', to, c.composed());
}

/**
 * An insider, or malware on the PC, under a conventional baseline: the user's own mail client (PPAP
 * where the profile zips) for mail in the user's own name; a From of someone else goes through the MSA
 * under the user's login (seed 002 §3.1: nothing ties From to the login).
 */
export async function sendAsPasswordUser(
  cell: Cell,
  capability: string,
  u: WorldUser,
  from: string,
  to: string,
): Promise<{ outcome: AttackOutcome; messageId?: string }> {
  const { mail } = cell;
  const who = capability === 'malicious-insider' ? `insider ${u.address}` : `malware on ${u.address}'s PC (password keylogged)`;
  const refused = (e: unknown, action: string): { outcome: AttackOutcome } => {
    const reply = refusalIn(e);
    if (reply === undefined) throw e;
    return { outcome: { capability, actions: [action], obtained: [], error: { code: 'SMTP_REJECTED', message: (e as Error).message, smtpReply: reply } } };
  };
  if (u.smime && from.toLowerCase() !== u.address) {
    // smime-e2e: the insider's own S/MIME key signs, whatever From says; the MSA takes any From.
    const client = cell.userClient(u);
    const { raw, messageId } = await composeSmime(
      u.smime,
      { from, to: [to], subject: mail.subject, text: mail.text, files: mail.files, date: cell.now(), domain: u.org.domain },
      client.directory,
      cell.kind.smimePolicy,
    );
    const t = client.transport();
    try {
      const info = await t.sendMail({ envelope: { from: u.address, to: [to] }, raw: Buffer.from(raw) });
      return {
        messageId,
        outcome: {
          capability,
          actions: [`${who} signs with the user's own S/MIME key, writes From: ${from}, and submits with the user's password`],
          obtained: [],
          sent: { messageId, smtpReply: String(info.response), raw, envelope: { from: u.address, to: [to] } },
        },
      };
    } catch (e) {
      return { messageId, ...refused(e, `${who} tried to send a mail signed with the user's key under From: ${from}`) };
    } finally {
      t.close();
    }
  }
  if (from.toLowerCase() !== u.address) {
    const o = await spoofColleague(
      cell.att,
      { kind: 'org-account', smtpSubmit: { host: `msa.${u.org.domain}`, port: 587 }, user: u.address, password: u.password },
      { colleague: from, to, subject: mail.subject, text: mail.text, attachments: mail.attachments },
    );
    return { outcome: { ...o, capability, actions: [`${who} has no card under ${cell.kind.profile}; submits From: ${from} with the password`, ...o.actions] } };
  }
  try {
    const r = await u.send({ to, subject: mail.subject, body: mail.text, files: mail.files, pin: u.pin });
    return {
      messageId: r.messageId,
      outcome: {
        capability,
        actions: [`${who} has no card under ${cell.kind.profile}; sent with the user's mail client and password`],
        obtained: [],
        sent: { messageId: r.messageId, smtpReply: r.response, raw: new Uint8Array(), envelope: { from: u.address, to: [to] } },
      },
    };
  } catch (e) {
    return refused(e, `${who} tried to send with the user's mail client`);
  }
}

/** Base64 in 76-character lines (RFC 2045 §6.8). */
export const base64Lines76 = (b: Uint8Array): string =>
  (
    Buffer.from(b)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');

/** The text body part of an SSMAX mail, as a sender's agent writes it (docs/PROTOCOL.md §6). */
export function ssmaxBodyPart(text: string): Uint8Array {
  return Buffer.from(
    `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines76(Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8'))}`,
    'latin1',
  );
}

/** A file's own MIME entity, which the agent encrypts into an SSMAX file part (docs/PROTOCOL.md §6). */
export function ssmaxFileEntity(f: { readonly name: string; readonly contentType: string; readonly content: Uint8Array }): Uint8Array {
  return Buffer.from(
    `Content-Type: ${f.contentType}; name="${f.name}"\r\nContent-Disposition: attachment; filename="${f.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines76(f.content)}`,
    'latin1',
  );
}

/**
 * Incident 1 with the KMS: the attacker holds the org's mail host and its KMS, so it does what the
 * MTA-out does at (6) without the checks before it: writes a mail, encrypts the files to the receiving
 * org (its public registry certificate), attests and signs with the org KMS, and sends from the MTA-out
 * address. No card, so no sender manifest; the identity notice is made up from the From user's public
 * certificate. Nothing passes the MSA (4), outbound inspection (5) or the trace vault.
 */
export async function forgeOrgHop(
  cell: Cell,
  host: TakeoverFoothold,
  kms: Kms,
  m: { from: string; to: string },
): Promise<{ outcome: AttackOutcome; messageId: string }> {
  const now = () => cell.now();
  const recipientOrgCertificate = await cell.memberEncryptionCertificate(m.to.split('@')[1]!);
  const parts: Uint8Array[] = [ssmaxBodyPart(cell.mail.text)];
  for (const [i, f] of cell.mail.files.entries()) {
    const entity = ssmaxFileEntity(f);
    // Encrypted to the org's own KMS first, as a user agent would at (3): orgHop decrypts and re-encrypts.
    parts.push(buildFilePart(i + 1, await encryptContent(entity, { recipients: [kms.certificates.encryption] })));
  }
  const entity = assembleMixed(parts);
  const messageId = `<${randomBytes(12).toString('hex')}@${host.domain}>`;
  const draft = parseSmime(
    buildMultipartSigned(entity, await kms.signDetached(entity, now()), {
      headers: { from: m.from, to: [m.to], subject: cell.mail.subject, date: now(), messageId },
    }),
  );
  if (draft.kind !== 'multipart-signed') throw new SsmaxError('INTERNAL', 'Cannot forge the org hop. The draft is not multipart/signed.');
  let notice: IdentityNotice = {
    sender: m.from,
    certSerial: '',
    traceId: '',
    proofing: 'employeeCardPin',
    proofedAt: now().toISOString(),
    cardAndPinUsed: true,
  };
  // The From user's certificate is public: it travels in every mail the user signs.
  const victim = cell.userCertificate(m.from);
  if (victim) {
    const der = victim;
    notice = { ...notice, certSerial: parseCertificate(der).serialNumber, certificate: Buffer.from(der).toString('base64') };
  }
  const hop = await orgHop({
    kms,
    mode: 'org',
    direction: 'outbound',
    entity: draft.signedEntity,
    headers: draft.headers,
    recipients: recipientOrgCertificate ? [recipientOrgCertificate] : [],
    org: host.registryOrgId,
    domain: host.domain,
    hop: 1,
    messageId,
    checks: [],
    identityNotice: notice,
    inspect: false,
    clock: now,
  });
  if (hop.blocked) throw new SsmaxError('INTERNAL', 'Cannot forge the org hop. orgHop blocked without inspection.');
  const o = await sendViaTakenOverServer(
    cell.contextAt(host.mtaOutAddress, `mta-out.${host.domain}`),
    { kind: 'org-mail-server', smtpSubmit: { host: `mx.${m.to.split('@')[1]}`, port: 25 } },
    { from: m.from, to: m.to, raw: hop.message },
  );
  const outcome: AttackOutcome = {
    ...o,
    actions: [
      `controls the ${host.domain} mail host and its KMS; wrote From: ${m.from} with no card signature and no sender manifest`,
      `made up an identity notice${victim ? ` naming ${m.from}'s certificate` : ''} (card and PIN claimed); attested and signed hop 1 with the org KMS, skipping (4), (5) and the trace vault`,
      ...o.actions,
    ],
  };
  return { outcome, messageId };
}

/**
 * Incident 1, reading variant: the outbound spool of the taken-over host keeps what the MSA accepted,
 * files encrypted to the org's KMS (3); with the host's KMS access the attacker decrypts them as (5)
 * does. Without it, only headers and body.
 */
export async function readPassingMail(host: TakeoverFoothold): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('org-server-takeover');
  for (const state of ['delivered', 'outgoing', 'incoming', 'bounced'] as const) {
    for (const id of await host.spool.list(state)) {
      const entry = await host.spool.read(id, state);
      rec.act(`read outbound spool entry ${id} (${state})`);
      rec.obtain({ kind: 'body', bytes: entry.bytes, note: `spooled mail ${id}` });
      if (!host.kms) continue;
      // ssmax-plus addition 2: the spool keeps the envelope to this org; the KMS opens it as the org's own services do.
      const kms = host.kms;
      const opened = await openHeaderProtected(entry.bytes, async (der) => (await kms.decrypt(der)).content).catch(() => undefined);
      if (opened) rec.obtain({ kind: 'body', bytes: opened.message, note: `spooled mail ${id} opened with the org KMS` });
      const parsed = parseSmime(opened?.message ?? entry.bytes);
      if (parsed.kind !== 'multipart-signed') continue;
      for (const f of classifyParts(parsed.signedEntity).files) {
        // A part in the clear (the file-encryption defence switched off) needs no key.
        const content = readPlainData(f.der) ?? (await host.kms.decrypt(f.der)).content;
        rec.obtain({ kind: 'files', bytes: parseMimeEntity(content).body, note: `file ${f.n} of ${id} decrypted with the org KMS` });
      }
      rec.act(`decrypted the files of ${id} with the org KMS`);
    }
  }
  return rec.done();
}

/**
 * smime-e2e replay to another recipient: the attacker legitimately received the sender's mail at its
 * own org; it decrypts its copy with its own key, keeps the signed part byte for byte, encrypts it to
 * the victim's public certificate and sends it under the original From. S/MIME signs the content, not
 * who it was for.
 */
export async function resendToOther(cell: Cell, eve: WorldUser, messageId: string | undefined, to: string): Promise<AttackOutcome> {
  const fail = (message: string): AttackOutcome => ({
    capability: 'replay',
    actions: [`as ${eve.address}, looked for its copy of ${messageId ?? 'the mail'}`],
    obtained: [],
    error: { code: 'NOTHING_CAPTURED', message },
  });
  if (!eve.smime || !messageId) return fail('Cannot replay. The legitimate recipient has no S/MIME key or no mail arrived.');
  const raws = await fetchInbox({ host: eve.org.mailbox.host, port: eve.org.mailbox.imapPort, user: eve.address, pass: eve.password });
  const mine = raws.find((r) => Buffer.from(r.source).toString('latin1').includes(bareId(messageId)));
  if (!mine) return fail(`Cannot replay. ${eve.address} never received ${messageId}.`);
  const top = parseSmime(mine.source);
  if (top.kind !== 'pkcs7-mime') return fail('Cannot replay. The received copy is not S/MIME-encrypted.');
  const { content } = await decryptContent(top.der, { key: eve.smime.key, certificate: eve.smime.certificate.der });
  const victim = await cell.directoryCertificate(to);
  if (!victim) return fail(`Cannot replay. The directory has no certificate for ${to}.`);
  const h = (n: string) => getHeader(top.headers, n);
  const raw = buildPkcs7Mime(await encryptContent(content, { recipients: [victim] }), 'authEnveloped-data', {
    headers: {
      from: h('from') ?? '',
      to: [to],
      subject: h('subject') ?? '',
      ...(h('date') ? { date: h('date')! } : {}),
      ...(h('message-id') ? { messageId: h('message-id')! } : {}),
    },
  });
  const o = await replayCapturedMail(cell.att, { raw, to });
  return {
    ...o,
    actions: [
      `as ${eve.address} (a legitimate recipient), decrypted its copy of ${messageId} with its own key`,
      `kept the signed part byte for byte and encrypted it to ${to}'s public certificate from the CA directory`,
      ...o.actions,
    ],
  };
}

/**
 * SSMAX replay to another recipient: the attacker is a legitimate recipient at another member org, so
 * its copy is signed by its own org at (9) and its files are encrypted to its card. It reads the copy
 * as it may (IMAP with its password, each file part decrypted on its card with its PIN), encrypts each
 * file entity to the victim org's KMS certificate from the registry directory, replaces only those
 * parts' bytes and the top-level To (every other byte, the org signature included, stays as received)
 * and sends the result to the victim's MX under the original From.
 */
export async function resendSsmaxToOther(cell: Cell, eve: WorldUser, messageId: string | undefined, to: string): Promise<AttackOutcome> {
  const fail = (message: string): AttackOutcome => ({
    capability: 'replay',
    actions: [`as ${eve.address}, looked for its copy of ${messageId ?? 'the mail'}`],
    obtained: [],
    error: { code: 'NOTHING_CAPTURED', message },
  });
  if (!eve.hasCard || !messageId) return fail('Cannot replay. The legitimate recipient has no card or no mail arrived.');
  const raws = await fetchInbox({ host: eve.org.mailbox.host, port: eve.org.mailbox.imapPort, user: eve.address, pass: eve.password });
  const mine = raws.find((r) => Buffer.from(r.source).toString('latin1').includes(bareId(messageId)));
  if (!mine) return fail(`Cannot replay. ${eve.address} never received ${messageId}.`);
  const domain = to.split('@')[1] ?? '';
  const orgCert = await cell.memberEncryptionCertificate(domain);
  if (!orgCert) return fail(`Cannot replay. The registry directory lists no encryption certificate for ${domain}.`);
  const leaves = (p: ReturnType<typeof parseMimeEntity>): ReturnType<typeof parseMimeEntity>[] => (p.parts.length === 0 ? [p] : p.parts.flatMap(leaves));
  const fileParts = leaves(parseMimeEntity(mine.source)).filter((p) => getHeader(p.headers, 'X-SSMAX-File') !== undefined);
  let out = Buffer.from(mine.source);
  let replaced = 0;
  await eve.card.login(eve.pin);
  try {
    const key = await eve.card.key(CardObjects.encryptionKey);
    const certificate = eve.registered.encryptionCertificate.der;
    for (const part of fileParts) {
      // A part in the clear (the file-encryption defence switched off) is sent as it came.
      if (readPlainData(part.body)) continue;
      const { content } = await decryptContent(part.body, { key, certificate });
      const der = await encryptContent(content, { recipients: [orgCert] });
      content.fill(0);
      const raw = Buffer.from(part.raw);
      const headerEnd = raw.indexOf('\r\n\r\n');
      const at = out.indexOf(raw);
      if (headerEnd < 0 || at < 0) continue;
      const trailing = /\s*$/.exec(raw.subarray(headerEnd + 4).toString('latin1'))?.[0] ?? '';
      const rebuilt = Buffer.concat([raw.subarray(0, headerEnd + 4), Buffer.from(base64Lines76(der) + trailing, 'latin1')]);
      out = Buffer.concat([out.subarray(0, at), rebuilt, out.subarray(at + raw.byteLength)]);
      replaced++;
    }
  } finally {
    await eve.card.logout();
  }
  // To is addressed to the victim, as the smime-e2e replay does (resendToOther): no org signature covers
  // the top-level header block; only a sender manifest (end-to-end profiles) lists To and Cc.
  const topEnd = Math.max(0, out.indexOf('\r\n\r\n'));
  const head = out.subarray(0, topEnd).toString('latin1');
  const readdressed = head.replace(/^To:.*(?:\r\n[ \t].*)*/im, `To: ${to}`);
  out = Buffer.concat([Buffer.from(readdressed, 'latin1'), out.subarray(topEnd)]);
  const o = await replayCapturedMail(cell.att, { raw: new Uint8Array(out), to });
  return {
    ...o,
    actions: [
      `as ${eve.address} (a legitimate recipient), fetched its copy of ${messageId} over IMAP with its password`,
      `decrypted ${replaced} of ${fileParts.length} file part(s) on its own card with its PIN and encrypted each to ${domain}'s KMS certificate from the registry directory`,
      `${/^To:/im.test(head) ? `readdressed To to ${to}` : 'found no To field to readdress'}; every other byte (From, Message-ID, body, manifest, attestations, ${eve.org.domain}'s signature) as received`,
      // replayCapturedMail reports what it sends as unchanged: it is, from here on, but its file parts are not what arrived.
      ...o.actions.map((a) => a.replace(/ bytes, unchanged\)/, ' bytes; its file parts re-encrypted as above)')),
    ],
  };
}

/**
 * Replay and re-wrap: the captured copy is taken off the wire between the MTAs when the step says so
 * (readable only where the link ran without TLS), else the mail as it arrived in a mailbox over IMAP.
 */
export async function resend(
  cell: Cell,
  kind: 'replay' | 'rewrap-signed',
  p: { capturedAt: string; to: string; technique?: 'from-swap' | 'wrap-mixed' | 'attach-rfc822'; from?: string; delayHours?: number },
): Promise<void> {
  const smimeWorld = cell.kind.smimeClients;
  // The replay comes `delayHours` later. Only ssmax-plus worlds run on a clock the harness moves and
  // check the time of a replay (addition 3); the other profiles' cells stay as they were measured.
  const world = harnessWorld(cell);
  const clock = world.clock as (() => Date) & { advance?: (ms: number) => void };
  if (kind === 'replay' && p.delayHours && world.plus && clock?.advance) clock.advance(p.delayHours * 3_600_000);
  const original = cell.attempts.at(-1)?.messageId;
  if (smimeWorld && kind === 'rewrap-signed' && p.capturedAt === 'attacker/outbox') {
    // "Johnny" From/signer mismatch: the attacker signs with a genuine public-CA certificate for its
    // own mailbox, then writes someone else's address in From.
    const d = await LookAlikeDomain.register(cell.att, { domain: 'quick-mail.example', smimeLocalPart: 'ceo-office', publicCa: cell.publicCa() });
    cell.registerDomain(d.domain, undefined, { registrant: 'privacy proxy', verified: false });
    const own = await d.compose({ to: cell.recipientAddr, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, smime: true });
    const o = await sendRewrapped(cell.att, { signedRaw: own.raw, technique: p.technique ?? 'from-swap', from: str(p.from), to: cell.recipientAddr });
    cell.recordAttack({ ...o, actions: [...d.setupActions, ...o.actions] }, 'receiving', cell.recipientAddr);
    await cell.settle();
    return;
  }
  const to = p.to;
  if (cell.legitRecipient && kind === 'replay') {
    const eve = cell.user(cell.legitRecipient);
    cell.recordAttack(await (cell.kind.ssmax ? resendSsmaxToOther : resendToOther)(cell, eve, original, to), 'receiving', to);
    await cell.settle();
    return;
  }
  let copy: Uint8Array | undefined;
  if (p.capturedAt.includes('->')) {
    const service = `mx.${cell.recipientAddr.split('@')[1]}:25`;
    for (const c of cell
      .wireTap()
      .connections()
      .filter((x) => x.service === service && x.startedAt >= cell.startedAt)) {
      const msgs = readSmtpTranscript(c.captured('client-to-server')).messages;
      copy ??= msgs.find((m) => original !== undefined && Buffer.from(m).toString('latin1').includes(bareId(original)));
      // Whatever crossed the link in clear is the attacker's (PPAP: the password mail follows on the same link).
      for (const m of msgs) cell.obtained.push({ kind: 'body', bytes: m, note: `captured on ${service}` });
    }
  } else if (original !== undefined && p.capturedAt.endsWith('/mta-in')) {
    // "<org>/mta-in": the copy as the org's MX spooled it, past TLS (a backup MX, a relay or a log there).
    const org = world.orgs().find((o) => o.id === p.capturedAt.split('/')[0]);
    const spool = org?.organisation.ctx.inbound;
    for (const state of ['delivered', 'bounced', 'outgoing', 'incoming'] as const) {
      for (const id of spool ? await spool.list(state) : []) {
        const entry = await spool!.read(id, state).catch(() => undefined);
        if (entry && Buffer.from(entry.bytes).toString('latin1').includes(bareId(original))) copy ??= entry.bytes;
      }
    }
    if (copy) cell.obtained.push({ kind: 'body', bytes: copy, note: `the copy ${p.capturedAt} took in` });
  } else if (original !== undefined) {
    // "<org>/mailbox": a stored copy (every org's copy carries its own org signature, as the recipient's does).
    const raws = await fetchAllRaw(cell.user(cell.recipientAddr));
    copy = raws.find((r) => Buffer.from(r).toString('latin1').includes(bareId(original)));
  }
  if (!copy) {
    cell.recordAttack(
      {
        capability: kind,
        actions: ['found no readable copy of the mail to re-send'],
        obtained: [],
        error: { code: 'NOTHING_CAPTURED', message: 'Cannot re-send. No readable copy of the mail was captured.' },
      },
      'receiving',
      to,
    );
    return;
  }
  const o =
    kind === 'replay'
      ? await replayCapturedMail(cell.att, { raw: copy, to })
      : await sendRewrapped(cell.att, { signedRaw: copy, technique: p.technique ?? 'from-swap', from: str(p.from), to: cell.recipientAddr });
  cell.recordAttack(o, 'receiving', kind === 'replay' ? to : cell.recipientAddr);
  await cell.settle();
}

/** smime-e2e: an outside mailbox the attacker owns gets a certificate as anyone would (mailbox validation by DNS). */
export async function outsideSmimeIdentity(cell: Cell, email: string): Promise<{ key: SoftwareKey; certificate: ReturnType<typeof parseCertificate> }> {
  const key = SoftwareKey.generate('EC-P256');
  const got = await requestMailboxCertificate(cell.publicCa(), { email, spki: key.spki, publishTxt: (n, v) => void cell.addTxt(n, v) });
  return { key, certificate: parseCertificate(got.certificate) };
}
