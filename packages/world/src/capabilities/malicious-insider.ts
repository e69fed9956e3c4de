import { ADDRESS, TO, capabilitySpec, type ParamsOf } from './capability.js';

/** An insider with their own card and PIN sends the legitimate way. */
export const maliciousInsider = capabilitySpec('malicious-insider', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['user'],
    properties: {
      user: { ...ADDRESS, description: 'The insider: a world user whose card, PIN and password it uses.' },
      from: { ...ADDRESS, description: "From of the mail (default: the insider's own address); another address is swapped in after signing." },
      to: TO,
    },
  },
});
export type MaliciousInsiderParams = ParamsOf<typeof maliciousInsider>;

// run: joins this module with the executor split (issue 9 §3).
