import { ADDRESS, TO, capabilitySpec, type ParamsOf } from './capability.js';

/** An authenticated account of the org submits through the real MSA with a colleague's From (§3.1, pattern B). */
export const spoofColleague = capabilitySpec('spoof-colleague', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['account', 'colleague'],
    properties: {
      account: { ...ADDRESS, description: 'The world user whose MSA login the attacker holds.' },
      colleague: { ...ADDRESS, description: 'The From address it submits with.' },
      to: TO,
    },
  },
});
export type SpoofColleagueParams = ParamsOf<typeof spoofColleague>;

// run: joins this module with the executor split (issue 9 §3).
