/**
 * The mail client of the conventional baselines (profiles plain-ppap and best-practice): what an
 * ordinary user's mail program does, over the same MSA and Dovecot mailbox as the SSMAX user agent.
 * plain-ppap sends the files in a ZipCrypto ZIP and the password in a second mail (seed 002's PPAP);
 * best-practice attaches them as they are. Reading shows every mail as unverified: there is no
 * signature chain, only what the receiving MTA wrote (Authentication-Results, reputation).
 */
import { randomBytes } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import { fetchInbox } from './imap-fetch.js';
import nodemailer from 'nodemailer';
import { SsmaxError, createZip } from '@ssmax/core';
import { sha256Hex, type MailVerdict } from '@ssmax/sim-org';
import type { InboxInput, SendInput, World, WorldUser } from './world.js';

/** A nodemailer transport to the user's MSA, from the user's own sim-net address, with the mail password. */
export function transport(world: World, user: WorldUser) {
  const o = world.net.connectOptions(world.net.address(`${user.address}/ua`), `msa.${user.org.domain}`, 587);
  return nodemailer.createTransport({
    host: o.host,
    port: o.port,
    secure: false,
    ignoreTLS: true,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    auth: { user: user.address, pass: user.password },
  });
}

/** Sends as a conventional mail client; with PPAP the password follows in a second mail. */
export async function sendConventional(
  world: World,
  user: WorldUser,
  input: SendInput & { readonly to: readonly string[] },
): Promise<{ messageId: string; response: string; passwordMessageId?: string }> {
  const style = world.profile.conventional?.attachments ?? 'plain';
  if (style === 'smime-e2e') {
    throw new SsmaxError(
      'USAGE',
      `Cannot send as ${user.address} with the plain client under ${world.profile.id}. S/MIME users send with smime-client.ts (they need an S/MIME identity from the public CA).`,
    );
  }
  const files = input.files ?? [];
  const mid = (): string => `<${randomBytes(16).toString('hex')}@${user.org.domain}>`;
  const t = transport(world, user);
  try {
    const base = { from: user.address, to: [...input.to], ...(input.cc?.length ? { cc: [...input.cc] } : {}), subject: input.subject ?? '' };
    if (style === 'ppap-zip' && files.length > 0) {
      const password = randomBytes(6).toString('base64url');
      const zip = createZip(
        files.map((f) => ({ name: f.name, data: f.content })),
        { password },
      );
      const messageId = mid();
      const first = await t.sendMail({
        ...base,
        messageId,
        text: input.body ?? '',
        attachments: [{ filename: 'files.zip', content: Buffer.from(zip), contentType: 'application/zip' }],
      });
      const passwordMessageId = mid();
      await t.sendMail({
        ...base,
        messageId: passwordMessageId,
        subject: `Password: ${input.subject ?? ''}`,
        text: `The password for the ZIP file in my previous mail is: ${password}\n`,
      });
      return { messageId, response: first.response, passwordMessageId };
    }
    const messageId = mid();
    const info = await t.sendMail({
      ...base,
      messageId,
      text: input.body ?? '',
      attachments: files.map((f) => ({ filename: f.name, content: Buffer.from(f.content), contentType: f.contentType ?? 'application/octet-stream' })),
    });
    return { messageId, response: info.response };
  } finally {
    t.close();
  }
}

/** Reads INBOX as a conventional client: every mail is unverified; attachments are shown as received. */
export async function readConventional(world: World, user: WorldUser, input: InboxInput): Promise<MailVerdict[]> {
  const box = user.org.mailbox;
  const raws = await fetchInbox({
    host: box.host,
    port: box.imapPort,
    user: user.address,
    pass: input.totp !== undefined ? `${input.password}:${input.totp}` : input.password,
  });
  const out: MailVerdict[] = [];
  for (const r of raws) {
    const p = await simpleParser(Buffer.from(r.source));
    const auth = p.headers.get('authentication-results');
    const reputation = p.headers.get('x-ssmax-reputation');
    out.push({
      verified: false,
      mode: 'paper',
      senderAddress: (p.from?.value[0]?.address ?? '').toLowerCase(),
      subject: p.subject ?? '',
      messageId: p.messageId ?? '',
      text: p.text ?? '',
      files: p.attachments.map((a, i) => ({
        n: i + 1,
        name: a.filename ?? `${i + 1}`,
        contentType: a.contentType,
        sha256: sha256Hex(new Uint8Array(a.content)),
        ok: true,
        content: new Uint8Array(a.content),
      })),
      problems: [
        `conventional mail under ${world.profile.id}: no SSMAX signature chain (unverified)`,
        ...(auth ? [`Authentication-Results: ${String(auth)}`] : []),
        ...(reputation ? [`X-SSMAX-Reputation: ${String(reputation)}`] : []),
      ],
      uid: r.uid,
    });
  }
  return out;
}

/**
 * Logs in and out once, closing the connection whatever happens. The SSMAX user agent (sim-org) leaves
 * imapflow's socket open when the login is refused, which would keep `ssmax up` from exiting; checking
 * the credentials here first keeps that socket from ever being opened with bad credentials.
 */
export async function checkImapLogin(host: string, port: number, user: string, pass: string): Promise<void> {
  const client = new ImapFlow({ host, port, secure: false, auth: { user, pass }, logger: false });
  try {
    await client.connect();
    await client.logout();
  } finally {
    client.close();
  }
}
