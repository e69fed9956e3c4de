import { ADDRESS, capabilitySpec, type ParamsOf } from './capability.js';

/** Logs in to the victim's mailbox over IMAP with a stolen password and fetches its mail (incident 6). */
export const stolenPasswordImap = capabilitySpec('stolen-password-imap', {
  phase: 'after-delivery',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['account'],
    properties: {
      account: { ...ADDRESS, description: 'The world user whose password is stolen.' },
      secondFactor: { enum: ['none', 'phished'], description: 'none (default): the password alone; phished: the victim relays the current one-time code in real time.' },
    },
  },
});
export type StolenPasswordImapParams = ParamsOf<typeof stolenPasswordImap>;

// run: joins this module with the executor split (issue 9 §3).
