import { createHash, randomBytes } from 'node:crypto';
import { SoftwareKey, buildMultipartSigned, encryptContent, issueUserCertificate, newTraceId, signSignedData } from '@ssmax/core';
import {
  MANIFEST_FILENAME,
  assembleMixed,
  buildAttestationPart,
  buildFilePart,
  signAttestation,
  signManifest,
  type Manifest,
  type OrgAttestation,
} from '@ssmax/sim-org';
import { applyForMembership, sendSpoofedDirect, type RogueMembership } from '@ssmax/sim-attacker';
import { base64Lines76, ssmaxBodyPart, ssmaxFileEntity } from '../executor/attacks.js';
import type { Cell } from '../executor/cell.js';
import { TO, capability, capabilitySpec, type ParamsOf } from './capability.js';

/**
 * Procedure (1) abused (issue 10 item 10): the attacker applies to the registry as a company for a
 * domain no member holds yet, with keys of its own and no control of the domain's DNS. Admitted, it is a
 * member in every relying org's eyes: it writes the mail as that company's user agent and MTA-out would,
 * signed under the org certificate the registry issued. Refused, it has no SSMAX identity and mails the
 * recipient's MX directly with the company's address in From.
 */
const spec = capabilitySpec('registry-enrolment', {
  phase: 'send',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['domain'],
    properties: {
      domain: {
        type: 'string',
        pattern: '^[a-z0-9-]+(\\.[a-z0-9-]+)+$',
        description: "The domain applied for (A-label): a real company's that is not yet a member, or a look-alike; the attacker does not control its DNS.",
      },
      organisation: { type: 'string', minLength: 1, description: 'The organisation name in the application (default: the domain).' },
      fromLocal: { type: 'string', pattern: '^[A-Za-z0-9._%+-]+$', description: 'Local part of From at the domain (default "info").' },
      to: TO,
    },
  },
});
export type RegistryEnrolmentParams = ParamsOf<typeof spec>;

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** RFC 5322 §3.3 date, the way the SSMAX user agent writes it (the manifest repeats it verbatim). */
function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/**
 * The hop-1 mail a member's MTA-out sends after (6), written by the admitted attacker: the body, each file
 * encrypted to the receiving org's KMS, a sender manifest signed with a user certificate it issued itself
 * under its registry-certified org CA (card and PIN claimed), and its attestation, all signed with the KMS
 * signing key it registered.
 */
async function memberMail(cell: Cell, m: NonNullable<RogueMembership['admitted']>, from: string, to: string): Promise<{ raw: Uint8Array; messageId: string }> {
  const now = () => cell.now();
  const domain = from.slice(from.indexOf('@') + 1);
  const userKey = SoftwareKey.generate('EC-P256');
  const proofedAt = new Date(Math.floor(now().getTime() / 1000) * 1000);
  const user = await issueUserCertificate({
    issuer: { certificate: m.org, key: m.orgKey },
    subjectSpki: userKey.spki,
    email: from,
    usage: 'signing',
    identityProofing: { method: 'employeeCardPin', proofedAt },
    traceId: newTraceId(),
    now,
  });
  const recipientOrg = await cell.memberEncryptionCertificate(to.split('@')[1]!);
  const messageId = `<${randomBytes(12).toString('hex')}@${domain}>`;
  const date = rfc5322Date(now());
  const text = cell.mail.text;
  const parts: Uint8Array[] = [ssmaxBodyPart(text)];
  const files = cell.mail.files.map((f, i) => ({
    n: i + 1,
    name: f.name,
    contentType: f.contentType.toLowerCase(),
    size: f.content.byteLength,
    sha256: sha256Hex(f.content),
  }));
  for (const [i, f] of cell.mail.files.entries()) {
    if (recipientOrg) parts.push(buildFilePart(i + 1, await encryptContent(ssmaxFileEntity(f), { recipients: [recipientOrg] })));
  }
  const manifest: Manifest = {
    v: 1,
    type: 'ssmax-manifest',
    messageId,
    from,
    to: [to],
    cc: [],
    subject: cell.mail.subject,
    date,
    bodySha256: sha256Hex(Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8')),
    files,
  };
  const manifestDer = await signManifest(manifest, { key: userKey, certificate: user.der, chain: [m.org.der] }, now());
  parts.push(
    Buffer.from(
      `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="${MANIFEST_FILENAME}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${MANIFEST_FILENAME}"\r\n\r\n${base64Lines76(manifestDer)}`,
      'latin1',
    ),
  );
  const kms = { key: m.kmsSigning.key, certificate: m.kmsSigning.certificate.der, chain: [m.org.der] };
  const attestation: OrgAttestation = {
    v: 1,
    type: 'ssmax-attestation',
    hop: 1,
    org: m.orgId,
    domain,
    role: 'sending-org',
    messageId,
    at: now().toISOString(),
    checks: [],
    inspection: { performed: true, kind: 'dlp', verdict: 'allow', reasons: [] },
    identityNotice: {
      sender: from,
      certSerial: user.serialNumber,
      traceId: '',
      proofing: 'employeeCardPin',
      proofedAt: proofedAt.toISOString(),
      cardAndPinUsed: true,
      certificate: Buffer.from(user.der).toString('base64'),
    },
    files: recipientOrg ? files.map((f) => ({ n: f.n, sha256: f.sha256, action: 're-encrypted' as const })) : [],
  };
  parts.push(buildAttestationPart(1, await signAttestation(attestation, kms, now())));
  const entity = assembleMixed(parts);
  const signature = await signSignedData(entity, { ...kms, detached: true, signingTime: now() });
  const raw = buildMultipartSigned(entity, signature, {
    headers: { from, to: [to], subject: cell.mail.subject, date, messageId, extra: [{ name: 'X-SSMAX-Hop', value: '1' }] },
  });
  return { raw, messageId };
}

export const registryEnrolment = capability(spec, {
  async run(cell, p) {
    const to = p.to ?? cell.recipientAddr;
    const from = `${p.fromLocal ?? 'info'}@${p.domain}`;
    const membership = await applyForMembership(cell.att, { registryUrl: cell.registryUrl(), domain: p.domain, name: p.organisation ?? p.domain });
    if (membership.admitted && cell.kind.ssmax) {
      const { raw } = await memberMail(cell, membership.admitted, from, to);
      const o = await sendSpoofedDirect(cell.att, { spoofedFrom: from, to, raw });
      const actions = [
        ...membership.actions,
        `wrote the mail as ${p.domain}'s user agent and MTA-out would: a sender manifest signed with a user certificate it issued itself (card and PIN claimed), files encrypted to the receiving org, an attestation, all signed with its registered KMS key`,
        ...o.actions,
      ];
      cell.recordAttack({ ...o, capability: 'registry-enrolment', actions }, 'receiving', to);
      return;
    }
    // No SSMAX identity: the company's address in From, straight to the recipient's MX.
    const o = await sendSpoofedDirect(cell.att, {
      spoofedFrom: from,
      to,
      subject: cell.mail.subject,
      text: cell.mail.text,
      attachments: cell.mail.attachments,
    });
    cell.recordAttack({ ...o, capability: 'registry-enrolment', actions: [...membership.actions, ...o.actions] }, 'receiving', to);
  },
});
