import { MTA_IN, capabilitySpec, type ParamsOf } from './capability.js';

/** An SMTP relay on the path to a receiving MX that strips STARTTLS, reads and optionally swaps files (incident 4). */
export const onPathMta = capabilitySpec('on-path-mta', {
  phase: 'foothold',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['service'],
    properties: {
      service: { ...MTA_IN, description: 'The receiving MTA it sits in front of: "<org>/mta-in".' },
      tamper: {
        type: 'object',
        additionalProperties: false,
        required: ['kind', 'replacement'],
        description: "Swap the mail's attached file for one of the attacker's.",
        properties: {
          kind: { const: 'swap' },
          replacement: { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$', description: 'The payload kind swapped in (scenarios/payload-kinds.json); it keeps the original file name.' },
        },
      },
    },
  },
});
export type OnPathMtaParams = ParamsOf<typeof onPathMta>;

// run: joins this module with the executor split (issue 9 §3).
