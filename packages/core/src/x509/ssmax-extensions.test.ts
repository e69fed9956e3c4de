import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { createOpensslPki } from '../testing/openssl-pki.js';
import { decodeIdentityProofing, decodeTraceId, encodeIdentityProofing, encodeTraceId, newTraceId, parseCertificate } from './index.js';
import { createSsmaxTestPki, opensslWorkspace } from './test-fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('encodeIdentityProofing', () => {
  it('round-trips every method, with and without proofedBy', () => {
    for (const method of ['none', 'employeeCardPin', 'myNumberCardPin', 'remoteVideo', 'inPersonDocument'] as const) {
      const p = { method, proofedAt: new Date('2025-03-31T10:00:00Z'), proofedBy: '人事部 registration desk' };
      expect(decodeIdentityProofing(encodeIdentityProofing(p))).toEqual(p);
      expect(decodeIdentityProofing(encodeIdentityProofing({ method, proofedAt: p.proofedAt }))).toEqual({ method, proofedAt: p.proofedAt });
    }
  });

  it('writes the DER that openssl asn1parse reads as ENUMERATED, GeneralizedTime, UTF8String', () => {
    const der = encodeIdentityProofing({ method: 'myNumberCardPin', proofedAt: new Date('2025-03-31T10:00:00.750Z'), proofedBy: 'desk' });
    using ws = opensslWorkspace();
    ws.writePem('p.pem', der, 'SSMAX');
    const out = ws.run(['asn1parse', '-in', 'p.pem']).out;
    expect(out).toMatch(/ENUMERATED +:02/);
    expect(out).toContain('GENERALIZEDTIME   :20250331100000Z');
    expect(out).toContain('UTF8STRING        :desk');
  });

  it('throws MALFORMED_CERTIFICATE for an unknown method, a UTCTime, or extra fields', () => {
    const good = encodeIdentityProofing({ method: 'remoteVideo', proofedAt: new Date('2025-01-01T00:00:00Z') });
    const unknown = new Uint8Array(good);
    unknown[4] = 9;
    const bad = [
      unknown,
      Uint8Array.from(Buffer.from('300f0a0101170a3235303130313030305a', 'hex').subarray(0, 0)),
      Uint8Array.from(Buffer.from('30110a0101170d3235303130313030303030305a', 'hex')),
      Uint8Array.from([...Buffer.from('301a0a0101180f32303235303130313030303030305a0c01610c0162', 'hex')]),
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        decodeIdentityProofing(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SsmaxError);
      expect(['MALFORMED_CERTIFICATE', 'MALFORMED_DER']).toContain((err as SsmaxError).code);
    }
  });
});

describe('encodeTraceId', () => {
  it('round-trips 16 bytes and refuses other lengths with typed errors', () => {
    const id = newTraceId();
    expect(decodeTraceId(encodeTraceId(id))).toEqual(id);
    expect(() => encodeTraceId(new Uint8Array(8))).toThrow(SsmaxError);
    expect(() => decodeTraceId(Uint8Array.from([0x04, 0x02, 1, 2]))).toThrow(/expected 16/);
  });

  it('draws a fresh random id each time', () => {
    expect(hex(newTraceId())).not.toBe(hex(newTraceId()));
  });
});

describe('parseCertificate SSMAX extensions', () => {
  it('reads back the identity-proofing method and trace id that issuance wrote', async () => {
    const pki = await createSsmaxTestPki();
    const traceId = Uint8Array.from({ length: 16 }, (_, i) => i * 3);
    const proofing = { method: 'myNumberCardPin' as const, proofedAt: new Date('2025-03-30T01:02:03Z'), proofedBy: 'Alpha HR' };
    const { cert } = await pki.user('carol', { proofing, traceId });
    const again = parseCertificate(cert.der);
    expect(again.identityProofing).toEqual(proofing);
    expect(again.traceId).toEqual(traceId);
    const ext = again.extensions.filter((e) => e.oid.startsWith('2.25.'));
    expect(ext).toHaveLength(2);
    expect(ext.every((e) => !e.critical)).toBe(true);
  });

  it('reports no SSMAX extensions for an openssl-made e-mail certificate', () => {
    using o = createOpensslPki();
    const info = parseCertificate(o.rsa.certDer);
    expect(info.identityProofing).toBeUndefined();
    expect(info.traceId).toBeUndefined();
    expect(info.orgRole).toBeUndefined();
  });
});
