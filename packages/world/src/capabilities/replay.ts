import { ADDRESS, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { resend } from '../executor/attacks.js';

/** Re-sends a captured signed mail byte for byte, later or to another recipient. */
const spec = capabilitySpec('replay', {
  phase: 'after-delivery',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['capturedAt'],
    properties: {
      capturedAt: {
        type: 'string',
        pattern: '^([a-z0-9-]+/mailbox|[a-z0-9-]+/mta-out->[a-z0-9-]+/mta-in|[a-z0-9-]+/mta-in)$',
        description:
          'Where the copy comes from: "<org>/mailbox" (a stored copy: the recipient\'s, or one the attacker received at that org), "<org>/mta-out-><org>/mta-in" (off the wire, readable only without TLS) or "<org>/mta-in" (the copy as that org\'s MX took it in, past TLS: from a backup MX, a relay or a message log there).',
      },
      to: { ...ADDRESS, description: "Recipient of the replayed mail (default: the scenario's recipient)." },
      delayHours: { type: 'integer', minimum: 0, description: 'Replay this many hours after the original (the world clock advances).' },
    },
  },
});
export type ReplayParams = ParamsOf<typeof spec>;

export const replay = capability(spec, {
  // A copy captured off a link or from the recipient org's mailbox; one it received itself elsewhere
  // holds nothing it did not already have.
  eavesdrops: (p, recipientOrg) =>
    p.capturedAt.includes('->') || (recipientOrg !== undefined && (p.capturedAt === `${recipientOrg}/mailbox` || p.capturedAt === `${recipientOrg}/mta-in`)),
  // A copy "<org>/mailbox" of another org is the attacker's own, as a legitimate recipient there, so the
  // honest mail goes to the attacker first: under smime-e2e (no org signature) and under SSMAX (its copy
  // carries its own org's signature and its files are encrypted to its card).
  honestRecipient: (cell, p) => {
    const org = p.capturedAt.match(/^([a-z0-9-]+)\/mailbox$/)?.[1];
    return (cell.kind.smimeClients || cell.kind.ssmax) && org && org !== cell.s.recipient.org ? `eve@${cell.orgDomain(org)}` : undefined;
  },
  run: (cell, p) => resend(cell, 'replay', { capturedAt: p.capturedAt, to: p.to ?? cell.recipientAddr, ...(p.delayHours ? { delayHours: p.delayHours } : {}) }),
});
