import { ADDRESS, capabilitySpec, type ParamsOf } from './capability.js';

/** Plants a forwarding rule to the attacker with the stolen mailbox password (incident 7). */
export const forwardingRule = capabilitySpec('forwarding-rule', {
  phase: 'foothold',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['account', 'forwardTo'],
    properties: {
      account: { ...ADDRESS, description: 'The world user whose password is stolen.' },
      forwardTo: { ...ADDRESS, description: "The attacker's address; its domain gets an outside MX that collects what is forwarded." },
    },
  },
});
export type ForwardingRuleParams = ParamsOf<typeof forwardingRule>;

// run: joins this module with the executor split (issue 9 §3).
