import { MTA_IN, capabilitySpec, type ParamsOf, capability } from './capability.js';
import { OnPathMta } from '@ssmax/sim-attacker';
import { makePayload } from '../executor/payload.js';

/** An SMTP relay on the path to a receiving MX that strips STARTTLS, reads and optionally swaps files (incident 4). */
const spec = capabilitySpec('on-path-mta', {
  phase: 'foothold',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['service'],
    properties: {
      service: { ...MTA_IN, description: 'The receiving MTA it sits in front of: "<org>/mta-in".' },
      offerStarttls: {
        type: 'boolean',
        description:
          "true: instead of stripping STARTTLS the relay offers it, with a certificate for the MX's name that the network's CA issued to the attacker (as a domain-validated certificate obtained over a hijacked route): valid wherever that CA is trusted, but not the key the registry pins.",
      },
      tamper: {
        type: 'object',
        additionalProperties: false,
        required: ['kind', 'replacement'],
        description: "Swap the mail's attached file for one of the attacker's.",
        properties: {
          kind: { const: 'swap' },
          replacement: {
            type: 'string',
            pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
            description: 'The payload kind swapped in (scenarios/payload-kinds.json); it keeps the original file name.',
          },
        },
      },
    },
  },
});
export type OnPathMtaParams = ParamsOf<typeof spec>;

export const onPathMta = capability(spec, {
  eavesdrops: () => true,
  async run(cell, p) {
    const service = `mx.${cell.orgDomain(p.service.split('/')[0]!)}:25`;
    // A certificate for the MX's name from the CA every MTA of the network trusts, for the attacker's own key.
    const tls =
      p.offerStarttls === true ? await cell.att.net.ca().then((ca) => ca.issueServerCertificate([service.slice(0, service.lastIndexOf(':'))])) : undefined;
    const tlsOption = tls ? { tls: { key: tls.privateKeyPem, cert: tls.chainPem } } : {};
    let mta: OnPathMta;
    if (p.tamper?.kind === 'swap') {
      const r = makePayload({ files: [{ kind: p.tamper.replacement, name: cell.payload.files[0]?.name ?? 'file' }] }, `${cell.payload.subjectMarker}-swap`)
        .files[0]!;
      cell.swapped.push(r);
      mta = OnPathMta.insert(
        cell.att,
        { kind: 'on-path', service },
        {
          ...tlsOption,
          tamper: {
            kind: 'swap',
            replacement: { content: r.content, filename: r.name, contentType: r.contentType },
            // PPAP: re-zip the attacker's file under the password the second mail gives away.
            ...(r.zip ? { rezip: { entries: [{ name: r.zip.innerName, data: r.zip.inner }] } } : {}),
            // S/MIME: it cannot sign as the sender, so it encrypts its own unsigned content to the recipient's public certificate.
            smime: { recipientCertificate: (a: string) => cell.directoryCertificate(a), ...(r.zip ? { password: r.zip.password } : {}) },
            // SSMAX: each encrypted file part swapped for its own file encrypted to the next hop's KMS
            // (its certificate is public in the registry directory); the org signature over them breaks.
            ssmax: { encryptionCertificate: (domain: string) => cell.memberEncryptionCertificate(domain) },
          },
        },
      );
    } else mta = OnPathMta.insert(cell.att, { kind: 'on-path', service }, tlsOption);
    cell.closeLater(`the on-path relay on ${service}`, async () => {
      // A store-and-forward relay may still hold or be relaying a mail: let it finish first.
      await mta.settled();
      await cell.settle();
      cell.outcomes.push(mta.outcome());
      mta[Symbol.dispose]();
    });
  },
});
