import { TO, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { randomBytes } from 'node:crypto';
import { buildMimeEntity, buildMultipartSigned, signSignedData } from '@ssmax/core';
import { LookAlikeDomain, sendSpoofedDirect } from '@ssmax/sim-attacker';

/** Mail from a domain of the attacker's own that looks like, or poses as, someone else's (pattern A, incident 3). */
const spec = capabilitySpec('look-alike-domain', {
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
export type LookAlikeDomainParams = ParamsOf<typeof spec>;

export const lookAlikeDomain = capability(spec, {
  async run(cell, p) {
    const to = p.to ?? cell.recipientAddr;
    const smime = p.smime !== undefined && p.smime !== 'none';
    const fromLocal = p.fromLocal ?? 'info';
    const d = await LookAlikeDomain.register(cell.att, {
      domain: p.domain,
      ...(smime ? { smimeLocalPart: fromLocal } : {}),
      // A certificate from the public CA every mail client trusts, obtained by proving control of the domain.
      ...(p.smime === 'public-ca' ? { publicCa: cell.publicCa() } : {}),
    });
    // The registrar's record: registered ageDays ago (when the scenario says), to a registrant nobody verified.
    cell.registerDomain(d.domain, p.ageDays !== undefined ? new Date(cell.now().getTime() - p.ageDays * 86_400_000) : undefined, { registrant: 'privacy proxy', verified: false });
    if (p.smime === 'own-ca' && d.pki && cell.kind.ssmax) {
      // Dressed up as SSMAX: signed under its own "org" CA and marked as an SSMAX hop, so the receiving
      // MTA-in must verify it (7) rather than treat it as outside mail.
      const from = `${fromLocal}@${d.domain}`;
      const inner = buildMimeEntity({ text: cell.mail.text, attachments: cell.mail.attachments });
      const sig = await signSignedData(inner, { key: d.pki.userKey, certificate: d.pki.user.der, chain: d.pki.chain, detached: true, signingTime: cell.now() });
      const raw = buildMultipartSigned(inner, sig, { headers: { from, to: [to], subject: cell.mail.subject, date: cell.now(), messageId: `<${randomBytes(12).toString('hex')}@${d.domain}>`, extra: [{ name: 'X-SSMAX-Hop', value: '1' }] } });
      const o = await sendSpoofedDirect(cell.att, { spoofedFrom: from, to, raw });
      cell.recordAttack({ ...o, capability: 'look-alike-domain', actions: [...d.setupActions, 'shaped the mail as an SSMAX hop (X-SSMAX-Hop: 1) signed under its own CA', ...o.actions] }, 'receiving', to);
      return;
    }
    const o = await d.send({ fromLocal, ...(p.displayName ? { displayName: p.displayName } : {}), to, smime, subject: cell.mail.subject, text: cell.mail.text, attachments: cell.mail.attachments });
    cell.recordAttack(o, 'receiving', to);
  },
});
