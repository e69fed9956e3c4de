import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { composeMail, messageIdOf, sendViaTakenOverServer } from '@ssmax/sim-attacker';
import { forgeOrgHop, readPassingMail } from '../executor/attacks.js';

/** A taken-over member org mail server: injects mail as anyone, or reads what passes (pattern B, incident 1). */
const spec = capabilitySpec('org-server-takeover', {
  phase: 'send',
  phaseWhen: { param: 'readPassingMail', equals: true, phase: 'after-delivery' },
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      from: { ...ADDRESS, description: "From of the injected mail (default: the scenario's sender)." },
      signWithKms: { type: 'boolean', description: "The takeover reached the org's KMS access: sign (SSMAX worlds) or decrypt (readPassingMail) with it." },
      readPassingMail: { type: 'boolean', description: 'true: inject nothing; copy the mail passing the taken-over hosts after the honest mail went through.' },
      to: TO,
    },
  },
});
export type OrgServerTakeoverParams = ParamsOf<typeof spec>;

export const orgServerTakeover = capability(spec, {
  eavesdrops: (p) => p.readPassingMail === true,
  async run(cell, p) {
    // The foothold: the sending org's mail host (its MTA-out address and outbound spool), with its KMS if the takeover reached it.
    const host = cell.takeover(cell.senderAddr, p.signWithKms === true);
    if (p.readPassingMail === true) {
      cell.outcomes.push(await readPassingMail(host));
      return;
    }
    const from = p.from ?? cell.senderAddr;
    const to = p.to ?? cell.recipientAddr;
    if (host.kms) {
      const forged = await forgeOrgHop(cell, host, host.kms, { from, to });
      cell.recordAttack(forged.outcome, 'receiving', to, forged.messageId);
      return;
    }
    // Written here so its Message-ID is known even when the receiving MTA refuses it in the session.
    const raw = composeMail({ from, to: [to], subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, date: cell.now() });
    const o = await sendViaTakenOverServer(
      cell.contextAt(host.mtaOutAddress, `mta-out.${host.domain}`),
      { kind: 'org-mail-server', smtpSubmit: { host: `mx.${to.split('@')[1]}`, port: 25 } },
      { from, to, signWithKms: false, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, raw },
    );
    cell.recordAttack(o, 'receiving', to, messageIdOf(raw));
  },
});
