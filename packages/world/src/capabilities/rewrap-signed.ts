import { ADDRESS, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { resend } from '../executor/attacks.js';

/** Re-wraps a validly signed mail: swaps its From, wraps it under attacker text, or attaches it (“Johnny, you are fired”). */
const spec = capabilitySpec('rewrap-signed', {
  phase: 'after-delivery',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['capturedAt', 'technique', 'from'],
    properties: {
      capturedAt: {
        type: 'string',
        pattern: '^(attacker/outbox|[a-z0-9-]+/mailbox|[a-z0-9-]+/mta-out->[a-z0-9-]+/mta-in)$',
        description:
          'The signed mail: "attacker/outbox" (one the attacker signed itself with a genuine certificate for its own mailbox), "<org>/mailbox" (a stored copy) or "<org>/mta-out-><org>/mta-in" (off the wire).',
      },
      technique: {
        enum: ['from-swap', 'wrap-mixed', 'attach-rfc822'],
        description:
          'from-swap: another From over the same signature; wrap-mixed: the signed part under attacker text in multipart/mixed; attach-rfc822: the signed mail attached as message/rfc822.',
      },
      from: { ...ADDRESS, description: 'From of the re-wrapped mail.' },
    },
  },
});
export type RewrapSignedParams = ParamsOf<typeof spec>;

export const rewrapSigned = capability(spec, {
  run: (cell, p) => resend(cell, 'rewrap-signed', { capturedAt: p.capturedAt, to: cell.recipientAddr, technique: p.technique, from: p.from }),
});
