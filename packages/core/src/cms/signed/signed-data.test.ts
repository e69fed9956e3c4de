import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { Oids, SsmaxOids } from '../../oids.js';
import { SoftwareKey } from '../../software-key.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { derOid, encodeContentInfo, derOctetString } from '../common/index.js';
import { signSignedData } from './sign-signed-data.js';
import { verifySignedData } from './verify-signed-data.js';

let pki: OpensslPki;
beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

function expectThrowCode(f: () => unknown, code: string): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(SsmaxError.is(caught), String(caught)).toBe(true);
  expect((caught as SsmaxError).code).toBe(code);
}

async function expectRejectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(SsmaxError.is(e), String(e)).toBe(true);
  expect((e as SsmaxError).code).toBe(code);
}

describe('signSignedData', () => {
  it('writes version 1, SHA-256, the signer certificate and the three signed attributes when content is id-data', async () => {
    const at = new Date('2030-01-02T03:04:05Z');
    const der = await signSignedData(Buffer.from('hello'), {
      key: pki.ec.key,
      certificate: pki.ec.certDer,
      chain: [pki.caCertDer, pki.ec.certDer],
      signingTime: at,
    });
    const v = verifySignedData(der);
    expect(v.version).toBe(1);
    expect(v.certificates).toHaveLength(2);
    const s = v.signers[0]!;
    expect(s.valid).toBe(true);
    expect(s.signingTime?.toISOString()).toBe(at.toISOString());
    expect(s.signedAttributes.map((a) => a.type).sort()).toEqual([Oids.contentType, Oids.messageDigest, Oids.signingTime].sort());
    const md = s.signedAttributes.find((a) => a.type === Oids.messageDigest)!.values[0]!;
    expect(Buffer.from(md.subarray(2)).equals(createHash('sha256').update('hello').digest())).toBe(true);
  });

  it('writes the RFC 4056 PSS parameters explicitly when the scheme is RSASSA-PSS', async () => {
    const der = await signSignedData(Buffer.from('x'), { key: pki.rsa.key, certificate: pki.rsa.certDer, scheme: 'RSASSA-PSS-SHA256' });
    // AlgorithmIdentifier { id-RSASSA-PSS, { [0] sha256, [1] mgf1(sha256), [2] 32 } }, DER.
    const expected = Buffer.from(
      '303d' + '06092a864886f70d01010a' + '3030' + 'a00d300b0609608648016503040201' + 'a11a301806092a864886f70d010108300b0609608648016503040201' + 'a203020120',
      'hex',
    );
    expect(Buffer.from(der).indexOf(expected)).toBeGreaterThan(0);
    expect(verifySignedData(der).signers[0]!.scheme).toBe('RSASSA-PSS');
  });

  it('throws USAGE when the certificate does not belong to the key', async () => {
    await expectRejectCode(signSignedData(Buffer.from('x'), { key: pki.rsa.key, certificate: pki.ec.certDer }), 'USAGE');
    await expectRejectCode(signSignedData(Buffer.from('x'), { key: SoftwareKey.generate('EC-P256'), certificate: pki.ec.certDer }), 'USAGE');
  });

  it('throws UNSUPPORTED_ALGORITHM when the scheme does not fit the key', async () => {
    await expectRejectCode(
      signSignedData(Buffer.from('x'), { key: pki.ec.key, certificate: pki.ec.certDer, scheme: 'RSASSA-PSS-SHA256' }),
      'UNSUPPORTED_ALGORITHM',
    );
  });

  it('throws USAGE when a digest is to be signed attached, is not 32 bytes, or an extra attribute repeats a standard one', async () => {
    const opts = { key: pki.ec.key, certificate: pki.ec.certDer };
    await expectRejectCode(signSignedData({ digest: new Uint8Array(32) }, opts), 'USAGE');
    await expectRejectCode(signSignedData({ digest: new Uint8Array(20) }, { ...opts, detached: true }), 'USAGE');
    await expectRejectCode(
      signSignedData(Buffer.from('x'), { ...opts, extraSignedAttributes: [{ type: Oids.signingTime, values: [derOid('1.2.3')] }] }),
      'USAGE',
    );
  });

  it('signs again over a signed message so each layer verifies (SSMAX chain of signatures)', async () => {
    const mail = Buffer.from('From: alice\r\n\r\nbody\r\n');
    const inner = await signSignedData(mail, { key: pki.rsa.key, certificate: pki.rsa.certDer, scheme: 'RSASSA-PSS-SHA256' });
    const innerCheck = verifySignedData(inner);
    expect(innerCheck.allValid).toBe(true);
    const outer = await signSignedData(inner, { key: pki.ec.key, certificate: pki.ec.certDer, contentType: SsmaxOids.ctOrgAttestation });
    const o = verifySignedData(outer);
    expect(o.allValid).toBe(true);
    expect(o.version).toBe(3);
    expect(o.contentType).toBe(SsmaxOids.ctOrgAttestation);
    const i = verifySignedData(o.content!);
    expect(i.allValid).toBe(true);
    expect(Buffer.from(i.content!).equals(mail)).toBe(true);
  });
});

describe('verifySignedData', () => {
  it('verifies detached content given only its digest', async () => {
    const content = randomBytes(5000);
    const der = await signSignedData(content, { key: pki.ec.key, certificate: pki.ec.certDer, detached: true });
    const digest = createHash('sha256').update(content).digest();
    expect(verifySignedData(der, { detachedDigest: { 'SHA-256': digest } }).allValid).toBe(true);
    const wrong = verifySignedData(der, { detachedDigest: { 'SHA-256': createHash('sha256').update('other').digest() } });
    expect(wrong.signers[0]!.code).toBe('CONTENT_MISMATCH');
  });

  it('reports CONTENT_UNAVAILABLE when detached content is not given', async () => {
    const der = await signSignedData(Buffer.from('x'), { key: pki.ec.key, certificate: pki.ec.certDer, detached: true });
    const v = verifySignedData(der);
    expect(v.detached).toBe(true);
    expect(v.content).toBeUndefined();
    expect(v.signers[0]!.code).toBe('CONTENT_UNAVAILABLE');
    expect(v.allValid).toBe(false);
  });

  it('throws USAGE when detached content is given for attached SignedData', async () => {
    const der = await signSignedData(Buffer.from('x'), { key: pki.ec.key, certificate: pki.ec.certDer });
    expectThrowCode(() => verifySignedData(der, { detachedContent: Buffer.from('x') }), 'USAGE');
  });

  it('reports CONTENT_MISMATCH when eContentType is swapped under a valid signature (contentType attribute check)', async () => {
    const der = await signSignedData(Buffer.from('payload'), { key: pki.ec.key, certificate: pki.ec.certDer });
    const idData = Buffer.from(derOid(Oids.data));
    const at = Buffer.from(der).indexOf(idData);
    const swapped = der.slice();
    swapped[at + idData.byteLength - 1] = 0x03; // id-data → id-envelopedData, same length
    const v = verifySignedData(swapped);
    expect(v.contentType).toBe(Oids.envelopedData);
    expect(v.signers[0]!.code).toBe('CONTENT_MISMATCH');
    expect(v.signers[0]!.reasons.join(' ')).toMatch(/contentType/);
  });

  it('finds the signer among caller-supplied certificates when openssl left certificates out (-nocerts)', () => {
    const content = randomBytes(300);
    writeFileSync(join(pki.dir, 'nocerts.bin'), content);
    const r = pki.openssl([
      'cms',
      '-sign',
      '-binary',
      '-nocerts',
      '-md',
      'sha256',
      '-nodetach',
      '-in',
      'nocerts.bin',
      '-signer',
      pki.rsa.certPath,
      '-inkey',
      pki.rsa.keyPath,
      '-outform',
      'DER',
      '-out',
      'nocerts.der',
    ]);
    expect(r.status).toBe(0);
    const der = new Uint8Array(readFileSync(join(pki.dir, 'nocerts.der')));
    const alone = verifySignedData(der);
    expect(alone.certificates).toEqual([]);
    expect(alone.signers[0]!.code).toBe('SIGNER_CERTIFICATE_MISSING');
    const helped = verifySignedData(der, { certificates: [pki.ec.certDer, pki.rsa.certDer] });
    expect(helped.allValid).toBe(true);
    expect(Buffer.from(helped.signers[0]!.certificate!).equals(Buffer.from(pki.rsa.certDer))).toBe(true);
  });

  it('matches a subjectKeyIdentifier sid when openssl signed with -keyid', () => {
    writeFileSync(join(pki.dir, 'keyid.bin'), 'k');
    const r = pki.openssl([
      'cms',
      '-sign',
      '-binary',
      '-keyid',
      '-md',
      'sha256',
      '-nodetach',
      '-in',
      'keyid.bin',
      '-signer',
      pki.ec.certPath,
      '-inkey',
      pki.ec.keyPath,
      '-outform',
      'DER',
      '-out',
      'keyid.der',
    ]);
    expect(r.status).toBe(0);
    const v = verifySignedData(new Uint8Array(readFileSync(join(pki.dir, 'keyid.der'))));
    expect('subjectKeyIdentifier' in v.signers[0]!.sid).toBe(true);
    expect(v.allValid).toBe(true);
  });

  it('reports no valid signers when the SignedData has no SignerInfo', () => {
    writeFileSync(join(pki.dir, 'nosig.bin'), 'n');
    const r = pki.openssl(['crl2pkcs7', '-nocrl', '-certfile', pki.rsa.certPath, '-outform', 'DER', '-out', 'nosig.der']);
    expect(r.status).toBe(0);
    const v = verifySignedData(new Uint8Array(readFileSync(join(pki.dir, 'nosig.der'))));
    expect(v.signers).toEqual([]);
    expect(v.allValid).toBe(false);
    expect(v.certificates).toHaveLength(1);
  });

  it('throws MALFORMED_DER, MALFORMED_CMS or UNSUPPORTED_CONTENT_TYPE when the input is not SignedData', () => {
    expectThrowCode(() => verifySignedData(new Uint8Array([1, 2, 3])), 'MALFORMED_DER');
    expectThrowCode(() => verifySignedData(new Uint8Array(0)), 'MALFORMED_DER');
    expectThrowCode(() => verifySignedData(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01)), 'MALFORMED_CMS');
    expectThrowCode(() => verifySignedData(encodeContentInfo(Oids.data, derOctetString(Buffer.from('x')))), 'UNSUPPORTED_CONTENT_TYPE');
    expectThrowCode(() => verifySignedData(encodeContentInfo(Oids.signedData, derOctetString(Buffer.from('x')))), 'MALFORMED_CMS');
  });

  it('verifies 20 MiB attached content and returns it as a view without copying', async () => {
    const content = new Uint8Array(randomBytes(20 * 1024 * 1024));
    const der = await signSignedData(content, { key: pki.ec.key, certificate: pki.ec.certDer });
    expect(der.byteLength).toBeLessThan(content.byteLength + 4096);
    const v = verifySignedData(der);
    expect(v.allValid).toBe(true);
    expect(v.content!.buffer).toBe(der.buffer);
    expect(Buffer.compare(Buffer.from(v.content!), Buffer.from(content))).toBe(0);
  });
});
