import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { sendSpoofedDirect } from '@ssmax/sim-attacker';

/** Mail straight to the receiving MX with a forged From (pattern A, incident 2). */
const spec = capabilitySpec('spoof-direct', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['spoofedFrom'],
    properties: {
      spoofedFrom: { ...ADDRESS, description: 'The forged From address.' },
      displayName: { type: 'string', minLength: 1, description: 'A display name in From.' },
      alsoFrom: {
        ...ADDRESS,
        description:
          'A second mailbox in From after the forged one, in angle brackets (`From: <spoofedFrom>, <<alsoFrom>>`): a reader that takes the first angle-address sees it, one that takes the first mailbox sees the forged address (issue 10 item 4).',
      },
      to: TO,
    },
  },
});
export type SpoofDirectParams = ParamsOf<typeof spec>;

export const spoofDirect = capability(spec, {
  async run(cell, p) {
    const to = p.to ?? cell.recipientAddr;
    cell.recordAttack(await sendSpoofedDirect(cell.att, { spoofedFrom: p.spoofedFrom, ...(p.displayName ? { displayName: p.displayName } : {}), ...(p.alsoFrom ? { alsoFrom: p.alsoFrom } : {}), to, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments }), 'receiving', to);
  },
});
