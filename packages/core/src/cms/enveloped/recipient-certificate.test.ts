import { afterAll, describe, expect, it } from 'vitest';
import { createOpensslPki } from '../../testing/openssl-pki.js';
import { children, readNode } from './ber-node-reader.js';
import { parseRecipientCertificate } from './recipient-certificate.js';

const pki = createOpensslPki();
afterAll(() => pki[Symbol.dispose]());

/** Offset of the last content byte of tbsCertificate.serialNumber (after the [0] version). */
function lastSerialByte(der: Uint8Array): number {
  const [tbs] = children(der, readNode(der, 0));
  const fields = children(der, tbs!);
  return fields[1]!.valueEnd - 1;
}

describe('parseRecipientCertificate', () => {
  it('answers for the bytes it is given when the caller reuses one buffer for a changed certificate', () => {
    const buf = new Uint8Array(pki.rsa.certDer);
    const first = parseRecipientCertificate(buf);
    const before = first.issuerAndSerial.slice();
    buf[lastSerialByte(buf)]! ^= 1;
    const second = parseRecipientCertificate(buf);
    const expected = before.slice();
    expected[expected.length - 1]! ^= 1;
    expect(Buffer.from(second.issuerAndSerial).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    // The first answer is unchanged by the second parse.
    expect(Buffer.from(first.issuerAndSerial).equals(Buffer.from(before))).toBe(true);
  });

  it('returns the same parse for equal bytes in different buffers, and throws every time for a non-certificate', () => {
    const a = parseRecipientCertificate(new Uint8Array(pki.ec.certDer));
    const b = parseRecipientCertificate(new Uint8Array(pki.ec.certDer));
    expect(b).toBe(a);
    expect(a.kind).toBe('ec');
    const junk = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]);
    for (let i = 0; i < 2; i++) expect(() => parseRecipientCertificate(junk)).toThrow(expect.objectContaining({ code: 'MALFORMED_CERTIFICATE' }));
  });

  it('keeps answering correctly when more certificates pass through than the cache holds', () => {
    const buf = new Uint8Array(pki.rsa.certDer);
    const at = lastSerialByte(buf);
    const original = buf[at]!;
    for (let v = 0; v < 100; v++) {
      buf[at] = v;
      const r = parseRecipientCertificate(buf);
      expect(r.issuerAndSerial[r.issuerAndSerial.length - 1]).toBe(v);
    }
    buf[at] = original;
    expect(Buffer.from(parseRecipientCertificate(buf).spki).equals(Buffer.from(parseRecipientCertificate(pki.rsa.certDer).spki))).toBe(true);
  });
});
