import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { sendAtHoldersPc } from '../executor/attacks.js';

/** An insider with their own card and PIN sends the legitimate way. */
const spec = capabilitySpec('malicious-insider', {
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
export type MaliciousInsiderParams = ParamsOf<typeof spec>;

export const maliciousInsider = capability(spec, {
  async run(cell, p) {
    const u = cell.user(p.user);
    await sendAtHoldersPc(cell, 'malicious-insider', u, p.from ?? u.address, p.to ?? cell.recipientAddr);
  },
});
