import { ADDRESS, TO, capabilitySpec, type ParamsOf } from './capability.js';

/** A taken-over member org mail server: injects mail as anyone, or reads what passes (pattern B, incident 1). */
export const orgServerTakeover = capabilitySpec('org-server-takeover', {
  phase: 'send',
  phaseWhen: { param: 'readPassingMail', equals: true, phase: 'after-delivery' },
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      from: { ...ADDRESS, description: "From of the injected mail (default: the scenario's sender)." },
      signWithKms: { type: 'boolean', description: "The takeover reached the org's KMS access: sign (SSMAX worlds) or decrypt (readPassingMail) with it." },
      readPassingMail: { type: 'boolean', description: 'true: inject nothing; copy the mail passing the taken-over hosts after the honest mail went through.' },
      to: TO,
    },
  },
});
export type OrgServerTakeoverParams = ParamsOf<typeof orgServerTakeover>;

// run: joins this module with the executor split (issue 9 §3).
