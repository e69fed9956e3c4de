import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { sendAsInsider } from '@ssmax/sim-attacker';
import { cardSession, sendAsPasswordUser } from '../executor/attacks.js';

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
    },
  },
});
export type MaliciousInsiderParams = ParamsOf<typeof spec>;

export const maliciousInsider = capability(spec, {
  async run(cell, p) {
    const u = cell.user(p.user);
    const from = p.from ?? u.address;
    const to = p.to ?? cell.recipientAddr;
    if (!u.hasCard) {
      // Conventional baselines: no card; the insider sends with the user's own password.
      const r = await sendAsPasswordUser(cell, 'malicious-insider', u, from, to);
      cell.recordAttack(r.outcome, 'sending', to, r.messageId);
      return;
    }
    const c = cardSession(cell, u, u.pin, to, from);
    const o = await sendAsInsider(cell.att, { kind: 'insider', ...c.handle, pin: u.pin, submit: c.submit }, { to, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, build: c.build });
    cell.recordAttack(o, 'sending', to, c.composed());
  },
});
