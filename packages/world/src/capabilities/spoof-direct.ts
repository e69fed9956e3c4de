import { ADDRESS, TO, capabilitySpec, type ParamsOf } from './capability.js';

/** Mail straight to the receiving MX with a forged From (pattern A, incident 2). */
export const spoofDirect = capabilitySpec('spoof-direct', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['spoofedFrom'],
    properties: {
      spoofedFrom: { ...ADDRESS, description: 'The forged From address.' },
      displayName: { type: 'string', minLength: 1, description: 'A display name in From.' },
      to: TO,
    },
  },
});
export type SpoofDirectParams = ParamsOf<typeof spoofDirect>;

// run: joins this module with the executor split (issue 9 §3).
