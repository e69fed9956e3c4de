import { MTA_IN, capabilitySpec, type ParamsOf } from './capability.js';

/** Reads the captured traffic of a link: what is not under TLS is the attacker's (incident 5). */
export const passiveCapture = capabilitySpec('passive-capture', {
  phase: 'after-delivery',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['service'],
    properties: {
      service: { ...MTA_IN, description: 'The link into this receiving MTA is tapped: "<org>/mta-in".' },
    },
  },
});
export type PassiveCaptureParams = ParamsOf<typeof passiveCapture>;

// run: joins this module with the executor split (issue 9 §3).
