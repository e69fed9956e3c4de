import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { CardObjects } from '@ssmax/sim-org';
import { sendAsInsider, useStolenCard } from '@ssmax/sim-attacker';
import { allPins, cardSession } from '../executor/attacks.js';

/** A stolen card without its PIN: signing is refused until a PIN guess works; the card locks after its tries. */
const spec = capabilitySpec('stolen-card', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['user'],
    properties: {
      user: { ...ADDRESS, description: 'The world user whose card is stolen.' },
      guesses: { type: 'array', items: { type: 'string', pattern: '^[0-9]{1,16}$' }, description: 'PINs to try first, in order.' },
      bruteForceDigits: {
        type: 'integer',
        minimum: 1,
        maximum: 8,
        description: 'After the guesses, try every PIN of this many digits in order (0…0 upwards), as an attacker with the card and time would.',
      },
      to: TO,
    },
  },
});
export type StolenCardParams = ParamsOf<typeof spec>;

export const stolenCard = capability(spec, {
  leavesState: true,
  async run(cell, p) {
    const u = cell.user(p.user);
    const to = p.to ?? cell.recipientAddr;
    if (!u.hasCard) {
      cell.recordAttack(
        {
          capability: 'stolen-card',
          actions: [`${u.address} has no card under ${cell.kind.profile}: nothing to steal`],
          obtained: [],
          error: { code: 'NO_CARD', message: 'Cannot use a stolen card. The user has none under this profile.' },
        },
        'sending',
        to,
      );
      return;
    }
    const guesses = [...new Set([...(p.guesses ?? []), ...(p.bruteForceDigits !== undefined ? allPins(p.bruteForceDigits) : [])])];
    const tried = await useStolenCard(
      { kind: 'stolen-card', card: u.card, keyLabel: CardObjects.signingKey, certificate: u.registered.signingCertificate.der },
      { guesses },
    );
    const pin = tried.error ? undefined : tried.obtained.find((x) => x.kind === 'credentials' && x.bytes)?.bytes;
    const actions =
      tried.actions.length > 40 ? [...tried.actions.slice(0, 20), `… ${tried.actions.length - 40} more guesses …`, ...tried.actions.slice(-20)] : tried.actions;
    if (pin === undefined) {
      cell.recordAttack({ ...tried, actions }, 'sending', to);
      return;
    }
    // A guess worked: the card signs, and the holder's PC (its mail client still logged in) submits the mail.
    const c = cardSession(cell, u, Buffer.from(pin).toString(), to, u.address);
    const o = await sendAsInsider(
      cell.att,
      { kind: 'insider', ...c.handle, pin: Buffer.from(pin).toString(), submit: c.submit },
      { to, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments, build: c.build },
    );
    cell.recordAttack(
      { ...o, capability: 'stolen-card', actions: [...actions, ...o.actions], obtained: [...tried.obtained, ...o.obtained] },
      'sending',
      to,
      c.composed(),
    );
  },
});
