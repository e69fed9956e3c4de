import { ADDRESS, TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { FROM_FORMS, sendSpoofedDirect } from '@ssmax/sim-attacker';

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
      fromForm: {
        enum: [...FROM_FORMS],
        description:
          'Write From in one of the "Composition Kills" ambiguous forms (Chen et al., USENIX Security 2020) with alsoFrom as the attacker\'s own address in it: two-from-fields, leading-whitespace (a first header line that continues the MX\'s own trace fields), folded-from, sender-differs, resent-from, two-mailboxes, encoded-word-address, route-portion, quoted-pair, special-characters.',
      },
      to: TO,
    },
  },
});
export type SpoofDirectParams = ParamsOf<typeof spec>;

export const spoofDirect = capability(spec, {
  async run(cell, p) {
    const to = p.to ?? cell.recipientAddr;
    cell.recordAttack(
      await sendSpoofedDirect(cell.att, {
        spoofedFrom: p.spoofedFrom,
        ...(p.displayName ? { displayName: p.displayName } : {}),
        ...(p.alsoFrom ? { alsoFrom: p.alsoFrom } : {}),
        ...(p.fromForm ? { fromForm: p.fromForm } : {}),
        to,
        subject: cell.mail.subject,
        text: cell.mail.text,
        attachments: cell.mail.attachments,
      }),
      'receiving',
      to,
    );
  },
});
