import { TO, capabilitySpec, type ParamsOf } from './capability.js';

/** Mail from a domain of the attacker's own that looks like, or poses as, someone else's (pattern A, incident 3). */
export const lookAlikeDomain = capabilitySpec('look-alike-domain', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['domain'],
    properties: {
      domain: { type: 'string', pattern: '^[^\\s@/.]+(\\.[^\\s@/.]+)+$', description: 'The domain the attacker registers (A-label for an IDN), with SPF, DKIM and DMARC.' },
      imitates: { type: 'string', pattern: '^[^\\s@/.]+(\\.[^\\s@/.]+)+$', description: 'The domain it imitates (documentation; the recipient side decides whether it looks alike).' },
      technique: { enum: ['homograph-idn', 'near-miss', 'new-domain'], description: 'How it imitates (documentation).' },
      ageDays: { type: 'integer', minimum: 0, description: "The domain's age at the registrar, in days: what reputation checks score." },
      smime: { enum: ['none', 'own-ca', 'public-ca'], description: 'none (default): no S/MIME; own-ca: signed under its own CA (shaped as an SSMAX hop in SSMAX worlds); public-ca: a mailbox certificate from the public CA mail clients trust.' },
      fromLocal: { type: 'string', pattern: '^[A-Za-z0-9._%+-]+$', description: 'Local part of From (default "info").' },
      displayName: { type: 'string', minLength: 1, description: 'A display name in From.' },
      to: TO,
    },
  },
});
export type LookAlikeDomainParams = ParamsOf<typeof lookAlikeDomain>;

// run: joins this module with the executor split (issue 9 §3).
