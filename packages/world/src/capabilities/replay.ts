import { ADDRESS, capabilitySpec, type ParamsOf } from './capability.js';

/** Re-sends a captured signed mail byte for byte, later or to another recipient. */
export const replay = capabilitySpec('replay', {
  phase: 'after-delivery',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['capturedAt'],
    properties: {
      capturedAt: {
        type: 'string',
        pattern: '^([a-z0-9-]+/mailbox|[a-z0-9-]+/mta-out->[a-z0-9-]+/mta-in)$',
        description: 'Where the copy comes from: "<org>/mailbox" (a stored copy: the recipient\'s, or one the attacker received at that org) or "<org>/mta-out-><org>/mta-in" (off the wire, readable only without TLS).',
      },
      to: { ...ADDRESS, description: "Recipient of the replayed mail (default: the scenario's recipient)." },
      delayHours: { type: 'integer', minimum: 0, description: 'Replay this many hours after the original (the world clock advances).' },
    },
  },
});
export type ReplayParams = ParamsOf<typeof replay>;

// run: joins this module with the executor split (issue 9 §3).
