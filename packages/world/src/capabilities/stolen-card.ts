import { ADDRESS, TO, capabilitySpec, type ParamsOf } from './capability.js';

/** A stolen card without its PIN: signing is refused until a PIN guess works; the card locks after its tries. */
export const stolenCard = capabilitySpec('stolen-card', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['user'],
    properties: {
      user: { ...ADDRESS, description: 'The world user whose card is stolen.' },
      guesses: { type: 'array', items: { type: 'string', pattern: '^[0-9]{1,16}$' }, description: 'PINs to try first, in order.' },
      bruteForceDigits: { type: 'integer', minimum: 1, maximum: 8, description: 'After the guesses, try every PIN of this many digits in order (0…0 upwards), as an attacker with the card and time would.' },
      to: TO,
    },
  },
});
export type StolenCardParams = ParamsOf<typeof stolenCard>;

// run: joins this module with the executor split (issue 9 §3).
