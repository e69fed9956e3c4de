import { MTA_IN, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { capturePassively } from '@ssmax/sim-attacker';

/** Reads the captured traffic of a link: what is not under TLS is the attacker's (incident 5). */
const spec = capabilitySpec('passive-capture', {
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
export type PassiveCaptureParams = ParamsOf<typeof spec>;

export const passiveCapture = capability(spec, {
  eavesdrops: () => true,
  async run(cell, p) {
    cell.outcomes.push(capturePassively(cell.wireTap(), { service: `mx.${cell.orgDomain(p.service.split('/')[0]!)}:25`, since: cell.startedAt }));
  },
});
