/**
 * RFC 5280 §4 certificate-profile rules checked on a path, the trust anchor's certificate included. §6.1
 * does not ask a validator to check them, but a conforming CA never breaks them, so a certificate that does
 * was made by a non-conforming or hostile issuer, and the path is refused (x509-limbo rfc5280:: cases).
 *
 * Checked: the authorityKeyIdentifier is present in every certificate a CA issued (all but self-signed
 * ones) and never critical (§4.2.1.1); a CA certificate has a subjectKeyIdentifier (§4.2.1.2) and a
 * non-empty subject (§4.1.2.6); a certificate with an empty subject has a critical subjectAltName
 * (§4.2.1.6); nameConstraints is critical (§4.2.1.10); keyCertSign only with basicConstraints cA (§4.2.1.3,
 * §4.2.1.9).
 *
 * Not checked, with the reason: a non-critical basicConstraints in a CA certificate (§4.2.1.9) or
 * policyConstraints (§4.2.1.11), because NIST PKITS 4.6.4 and 4.10.1 expect such intermediates to validate; the serial number's sign and length (§4.1.2.2)
 * and a missing AKI in a cross-signed root, which x509-limbo itself marks pedantic.
 */
import { Oids } from '../oids.js';
import { sameBytes, type CertificateInfo } from './certificate-info.js';

const isCritical = (c: CertificateInfo, oid: string): boolean | undefined => c.extensions.find((e) => e.oid === oid)?.critical;

/** Every profile rule the path breaks, as reasons; `path` is leaf first, trust anchor last. */
export function profileProblems(path: readonly CertificateInfo[]): string[] {
  const out: string[] = [];
  path.forEach((c, k) => {
    const who = c.subject === '' ? `the certificate with serial ${c.serialNumber} and an empty subject` : `"${c.subject}"`;
    const issuer = path[k + 1];
    const selfSigned = c.selfIssued && (issuer === undefined || sameBytes(issuer.spki, c.spki));
    if (isCritical(c, Oids.authorityKeyIdentifier) === true) out.push(`${who} marks its authorityKeyIdentifier critical (RFC 5280 §4.2.1.1)`);
    else if (c.authorityKeyIdentifier === undefined && !selfSigned && issuer !== undefined)
      out.push(`${who} has no authorityKeyIdentifier, which every certificate but a self-signed one carries (RFC 5280 §4.2.1.1)`);
    const ca = k > 0 || c.basicConstraints?.ca === true;
    if (ca && c.subjectKeyIdentifier === undefined) out.push(`${who} is a CA certificate without a subjectKeyIdentifier (RFC 5280 §4.2.1.2)`);
    if (ca && c.subjectAttributes.length === 0) out.push(`${who} is a CA certificate with an empty subject (RFC 5280 §4.1.2.6)`);
    if (c.subjectAttributes.length === 0 && isCritical(c, Oids.subjectAltName) !== true)
      out.push(`${who} has an empty subject and no critical subjectAltName (RFC 5280 §4.2.1.6)`);
    if (isCritical(c, Oids.nameConstraints) === false) out.push(`${who} has a non-critical nameConstraints (RFC 5280 §4.2.1.10: MUST be critical)`);
    if (c.keyUsage?.includes('keyCertSign') === true && c.basicConstraints?.ca !== true)
      out.push(`${who} asserts keyCertSign without basicConstraints cA (RFC 5280 §4.2.1.3, §4.2.1.9)`);
  });
  return out;
}
