import { ADDRESS, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { readMailboxWithStolenPassword } from '@ssmax/sim-attacker';

/** Logs in to the victim's mailbox over IMAP with a stolen password and fetches its mail (incident 6). */
const spec = capabilitySpec('stolen-password-imap', {
  phase: 'after-delivery',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['account'],
    properties: {
      account: { ...ADDRESS, description: 'The world user whose password is stolen.' },
      forgeSubject: {
        type: 'string',
        minLength: 1,
        description:
          "After reading, replace the scenario's mail in the mailbox by a copy whose outer Subject is this (IMAP APPEND, the original deleted): what the recipient is then shown.",
      },
      secondFactor: {
        enum: ['none', 'phished'],
        description: 'none (default): the password alone; phished: the victim relays the current one-time code in real time.',
      },
    },
  },
});
export type StolenPasswordImapParams = ParamsOf<typeof spec>;

export const stolenPasswordImap = capability(spec, {
  eavesdrops: () => true,
  async run(cell, p) {
    const u = cell.user(p.account);
    // The code the victim's phone shows now: Dovecot checks it against real time, not the world clock.
    const code = p.secondFactor === 'phished' ? u.totpCode(new Date()) : undefined;
    const tracked = cell.attempts.at(-1)?.messageId;
    cell.outcomes.push(
      await readMailboxWithStolenPassword(
        cell.att,
        {
          kind: 'stolen-password',
          imap: { host: u.org.mailbox.host, port: u.org.mailbox.imapPort },
          user: u.address,
          password: code ? `${u.password}:${code}` : u.password,
        },
        p.forgeSubject && tracked ? { forgeSubject: { messageId: tracked, subject: p.forgeSubject } } : {},
      ),
    );
  },
});
