import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import { createOpensslPki } from '../testing/openssl-pki.js';
import { parseCertificate } from './index.js';

describe('parseCertificate', () => {
  it('reads an openssl-made certificate as openssl itself prints it', () => {
    using o = createOpensslPki();
    const info = parseCertificate(o.rsa.certDer);
    const subject = o.openssl(['x509', '-in', o.rsa.certPath, '-noout', '-subject', '-nameopt', 'RFC2253']).stdout.toString().trim();
    const issuer = o.openssl(['x509', '-in', o.rsa.certPath, '-noout', '-issuer', '-nameopt', 'RFC2253']).stdout.toString().trim();
    const serial = o.openssl(['x509', '-in', o.rsa.certPath, '-noout', '-serial']).stdout.toString().trim();
    const end = o.openssl(['x509', '-in', o.rsa.certPath, '-noout', '-enddate']).stdout.toString().trim();
    expect(`subject=${info.subject}`).toBe(subject);
    expect(`issuer=${info.issuer}`).toBe(issuer);
    expect(`serial=${info.serialNumber.toUpperCase().padStart(2, '0')}`).toBe(serial);
    expect(info.notAfter.getTime()).toBe(new Date(end.replace('notAfter=', '')).getTime());
    // SAN rfc822Name first, then the legacy emailAddress attribute of the subject.
    expect(info.emailAddresses).toEqual([o.rsa.email, o.rsa.email]);
    expect(info.keyUsage).toEqual(['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'keyAgreement']);
    expect(info.extKeyUsage).toEqual([Oids.emailProtection]);
    expect(info.basicConstraints).toEqual({ ca: false });
    expect(info.publicKeyType).toBe('rsa');
    const ca = parseCertificate(o.caCertDer);
    expect(info.authorityKeyIdentifier).toBe(ca.subjectKeyIdentifier);
    expect(ca.basicConstraints).toEqual({ ca: true });
    expect(ca.selfIssued).toBe(true);
    expect(ca.publicKeyType).toBe('ec-p256');
  });

  it('throws a typed error for input that is not a certificate', () => {
    const cases = [new Uint8Array(0), Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01]), Uint8Array.from([0x04, 0x01, 0x00]), Uint8Array.from([0x30, 0x80])];
    for (const c of cases) {
      let err: unknown;
      try {
        parseCertificate(c);
      } catch (e) {
        err = e;
      }
      expect(SsmaxError.is(err)).toBe(true);
      expect(['MALFORMED_CERTIFICATE', 'MALFORMED_DER']).toContain((err as SsmaxError).code);
    }
  });
});
