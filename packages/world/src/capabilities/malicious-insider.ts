import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { CardObjects } from '@ssmax/sim-org';
import { resignWithPlainFiles, sendAsInsider } from '@ssmax/sim-attacker';
import { cardSession, sendAtHoldersPc } from '../executor/attacks.js';

/** An insider with their own card and PIN sends the legitimate way. */
const spec = capabilitySpec('malicious-insider', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['user'],
    properties: {
      user: { ...ADDRESS, description: 'The insider: a world user whose card, PIN and password it uses.' },
      from: { ...ADDRESS, description: "From of the mail (default: the insider's own address); another address is swapped in after signing." },
      to: TO,
      filesAs: {
        enum: ['ssmax-files', 'plain-parts', 'nested-multipart'],
        description:
          "How the insider's own client puts the files into the card-signed mail (SSMAX worlds; without a card they go as the user's client attaches them): ssmax-files (default) encrypted to the own org as procedure (3) says; plain-parts as plain attachments beside the body, nested-multipart inside a nested multipart/mixed — parts in no SSMAX role (issue 10 item 2).",
      },
    },
  },
});
export type MaliciousInsiderParams = ParamsOf<typeof spec>;

export const maliciousInsider = capability(spec, {
  async run(cell, p) {
    const u = cell.user(p.user);
    const from = p.from ?? u.address;
    const to = p.to ?? cell.recipientAddr;
    const shape = p.filesAs ?? 'ssmax-files';
    if (shape === 'ssmax-files' || !u.hasCard) {
      await sendAtHoldersPc(cell, 'malicious-insider', u, from, to);
      return;
    }
    // The insider's own client: the user agent's mail without its file parts, the files added as plain
    // parts, and the whole signed again on the insider's card (the agent closed its own card session).
    const c = cardSession(cell, u, u.pin, to, from);
    let messageId: string | undefined;
    const build = async (): Promise<Uint8Array> => {
      // Its own client, not the org's agent: no Header Protection envelope (ssmax-plus), a plain multipart/signed.
      const m = await u
        .agent(undefined, { headerProtection: false })
        .compose({ to: [to], subject: cell.mail.subject, text: cell.mail.text, files: [], pin: u.pin });
      messageId = m.messageId;
      await u.card.login(u.pin);
      const orgCertificate = await u.card.getCertificate(CardObjects.orgCertificate);
      const raw = await resignWithPlainFiles(
        m.raw,
        cell.mail.attachments,
        shape,
        { key: await u.card.key(CardObjects.signingKey), certificate: c.handle.certificate, ...(orgCertificate ? { chain: [orgCertificate] } : {}) },
        cell.now(),
      );
      return from === u.address
        ? raw
        : new Uint8Array(
            Buffer.from(
              Buffer.from(raw)
                .toString('latin1')
                .replace(/^From:.*$/im, `From: ${from}`),
              'latin1',
            ),
          );
    };
    const o = await sendAsInsider(
      cell.att,
      { kind: 'insider', ...c.handle, pin: u.pin, submit: c.submit },
      { to, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, build },
    );
    cell.recordAttack(
      {
        ...o,
        actions: [
          `the insider's own client put ${cell.mail.files.length} file(s) into the card-signed mail as ${shape === 'plain-parts' ? 'plain parts beside the body' : 'a nested multipart/mixed'}, not encrypted to the org`,
          ...o.actions,
        ],
      },
      'sending',
      to,
      messageId,
    );
  },
});
