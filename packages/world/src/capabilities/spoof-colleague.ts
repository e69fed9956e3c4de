import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { spoofColleague as submitAsColleague } from '@ssmax/sim-attacker';

/** An authenticated account of the org submits through the real MSA with a colleague's From (§3.1, pattern B). */
const spec = capabilitySpec('spoof-colleague', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['account', 'colleague'],
    properties: {
      account: { ...ADDRESS, description: 'The world user whose MSA login the attacker holds.' },
      colleague: { ...ADDRESS, description: 'The From address it submits with.' },
      to: TO,
    },
  },
});
export type SpoofColleagueParams = ParamsOf<typeof spec>;

export const spoofColleague = capability(spec, {
  async run(cell, p) {
    const account = cell.user(p.account);
    const to = p.to ?? cell.recipientAddr;
    const o = await submitAsColleague(
      cell.att,
      { kind: 'org-account', smtpSubmit: { host: `msa.${account.org.domain}`, port: 587 }, user: account.address, password: account.password },
      { colleague: p.colleague, to, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments },
    );
    cell.recordAttack(o, 'sending', to);
  },
});
