/**
 * Interop with the openssl 3.0 CLI as the independent oracle: openssl decrypts what we write, and we
 * decrypt what openssl writes (DER and -stream BER, RSA-OAEP SHA-1/SHA-256, ECDH with SHA-1 and
 * SHA-256 KDFs, issuerAndSerialNumber and subjectKeyIdentifier recipients).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { createOpensslPki, type OpensslIdentity, type OpensslPki } from '../../testing/openssl-pki.js';
import { decryptContent, encryptContent, reencrypt, type ContentCipher } from './index.js';

let pki: OpensslPki;
let n = 0;
const content = new Uint8Array(randomBytes(100_003)); // not a multiple of the block size

beforeAll(() => {
  pki = createOpensslPki();
});
afterAll(() => pki?.[Symbol.dispose]());

function opensslDecrypt(der: Uint8Array, id: OpensslIdentity): { status: number; out: Buffer; stderr: string } {
  const tag = ++n;
  writeFileSync(join(pki.dir, `in-${tag}.der`), der);
  const r = pki.openssl([
    'cms',
    '-decrypt',
    '-binary',
    '-inform',
    'DER',
    '-in',
    `in-${tag}.der`,
    '-recip',
    id.certPath,
    '-inkey',
    id.keyPath,
    '-out',
    `out-${tag}.bin`,
  ]);
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? readFileSync(join(pki.dir, `out-${tag}.bin`)) : Buffer.alloc(0) };
}

function opensslEncrypt(id: OpensslIdentity | OpensslIdentity[], cipher: ContentCipher, extra: string[] = [], stream = false, data = content): Buffer {
  const tag = ++n;
  writeFileSync(join(pki.dir, `plain-${tag}.bin`), data);
  const recips = (Array.isArray(id) ? id : [id]).flatMap((i) => ['-recip', i.certPath, ...extra]);
  const r = pki.openssl([
    'cms',
    '-encrypt',
    '-binary',
    '-outform',
    'DER',
    `-${cipher}`,
    ...(stream ? ['-stream'] : []),
    '-in',
    `plain-${tag}.bin`,
    '-out',
    `enc-${tag}.der`,
    ...recips,
  ]);
  if (r.status !== 0) throw new Error(`openssl cms -encrypt failed: ${r.stderr}`);
  return readFileSync(join(pki.dir, `enc-${tag}.der`));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return SsmaxError.is(e) ? e.code : `foreign: ${String(e)}`;
  }
}

describe('encryptContent (openssl decrypts)', () => {
  for (const cipher of ['aes-256-gcm', 'aes-256-cbc'] as const) {
    for (const kind of ['rsa', 'ec'] as const) {
      it(`openssl recovers identical content when ${cipher} is sent to one ${kind} recipient`, async () => {
        const id = pki[kind];
        const der = await encryptContent(content, { recipients: [id.certDer], cipher });
        const r = opensslDecrypt(der, id);
        expect(r.status, r.stderr).toBe(0);
        expect(r.out.equals(content)).toBe(true);
      });
    }
    it(`every recipient decrypts with openssl when ${cipher} is sent to RSA and EC recipients together`, async () => {
      const der = await encryptContent(content, { recipients: [pki.rsa.certDer, pki.ec.certDer], cipher });
      for (const id of [pki.rsa, pki.ec]) {
        const r = opensslDecrypt(der, id);
        expect(r.status, `${id.name}: ${r.stderr}`).toBe(0);
        expect(r.out.equals(content)).toBe(true);
      }
    });
  }

  it('openssl recovers the empty content when the plaintext is empty', async () => {
    const der = await encryptContent(new Uint8Array(0), { recipients: [pki.ec.certDer] });
    const r = opensslDecrypt(der, pki.ec);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.byteLength).toBe(0);
  });

  it('openssl rejects the message when a recipient it was not sent to tries to decrypt', async () => {
    const der = await encryptContent(content, { recipients: [pki.rsa.certDer] });
    expect(opensslDecrypt(der, pki.ec).status).not.toBe(0);
  });

  it('writes definite-length DER naming OAEP, ECDH-sha256kdf and AES-256 wrap when we encrypt (openssl asn1parse)', async () => {
    const der = await encryptContent(content.subarray(0, 100), { recipients: [pki.rsa.certDer, pki.ec.certDer], cipher: 'aes-256-gcm' });
    writeFileSync(join(pki.dir, 'asn1.der'), der);
    const r = pki.openssl(['asn1parse', '-inform', 'DER', '-in', 'asn1.der', '-i']);
    expect(r.status, r.stderr).toBe(0);
    const text = r.stdout.toString();
    expect(text).not.toMatch(/l=inf/);
    expect(text).toMatch(/id-smime-ct-authEnvelopedData/);
    expect(text).toMatch(/rsaesOaep/);
    expect(text).toMatch(/dhSinglePass-stdDH-sha256kdf-scheme/);
    expect(text).toMatch(/id-aes256-wrap/);
  });
});

describe('decryptContent (openssl encrypts)', () => {
  const cases: Array<{ name: string; id: () => OpensslIdentity; extra: string[] }> = [
    { name: 'RSA-OAEP with default SHA-1 params', id: () => pki.rsa, extra: ['-keyopt', 'rsa_padding_mode:oaep'] },
    { name: 'RSA-OAEP with SHA-256', id: () => pki.rsa, extra: ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'] },
    { name: 'ECDH with openssl default KDF (SHA-1)', id: () => pki.ec, extra: [] },
    { name: 'ECDH with the SHA-256 KDF', id: () => pki.ec, extra: ['-keyopt', 'ecdh_kdf_md:sha256'] },
  ];
  for (const c of cases) {
    for (const cipher of ['aes-256-gcm', 'aes-256-cbc'] as const) {
      for (const stream of [false, true]) {
        it(`recovers identical content when openssl used ${c.name}, ${cipher}${stream ? ', -stream (BER)' : ''}`, async () => {
          const der = opensslEncrypt(c.id(), cipher, c.extra, stream);
          const out = await decryptContent(der, { key: c.id().key, certificate: c.id().certDer });
          expect(Buffer.from(out.content).equals(content)).toBe(true);
          expect(out.cipher).toBe(cipher);
          expect(out.contentType).toBe('1.2.840.113549.1.7.1');
        });
      }
    }
  }

  it('finds its RecipientInfo by subjectKeyIdentifier when openssl used -keyid', async () => {
    const tag = ++n;
    writeFileSync(join(pki.dir, `k-${tag}.bin`), content);
    const r = pki.openssl([
      'cms',
      '-encrypt',
      '-binary',
      '-outform',
      'DER',
      '-aes-256-gcm',
      '-keyid',
      '-in',
      `k-${tag}.bin`,
      '-out',
      `k-${tag}.der`,
      '-recip',
      pki.ec.certPath,
      '-recip',
      pki.rsa.certPath,
      '-keyopt',
      'rsa_padding_mode:oaep',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const der = readFileSync(join(pki.dir, `k-${tag}.der`));
    for (const id of [pki.rsa, pki.ec]) {
      const out = await decryptContent(der, { key: id.key, certificate: id.certDer });
      expect(Buffer.from(out.content).equals(content)).toBe(true);
    }
  });

  it('recovers the content and reports legacy key transport when openssl used RSA PKCS#1 v1.5 (issue 12: read, never written)', async () => {
    const der = opensslEncrypt(pki.rsa, 'aes-256-gcm');
    const res = await decryptContent(der, { key: pki.rsa.key });
    expect(Buffer.from(res.content).equals(content)).toBe(true);
    expect(res.keyManagement?.algorithm).toBe('RSAES-PKCS1-v1_5');
    expect(res.legacy?.join(' ')).toMatch(/PKCS#1 v1\.5/);
  });

  it('reports AUTH_TAG_MISMATCH when the GCM tag of an openssl message is altered', async () => {
    const der = Buffer.from(opensslEncrypt(pki.ec, 'aes-256-gcm'));
    der[der.length - 1]! ^= 0x01; // DER: the mac OCTET STRING is the last element
    expect(await codeOf(decryptContent(der, { key: pki.ec.key }))).toBe('AUTH_TAG_MISMATCH');
  });

  it('reports AUTH_TAG_MISMATCH when the GCM ciphertext of an openssl message is altered', async () => {
    const der = Buffer.from(opensslEncrypt(pki.rsa, 'aes-256-gcm', ['-keyopt', 'rsa_padding_mode:oaep']));
    der[der.length - 18 - 500]! ^= 0x80; // inside the ciphertext, before the 18-byte mac element
    expect(await codeOf(decryptContent(der, { key: pki.rsa.key }))).toBe('AUTH_TAG_MISMATCH');
  });

  it('reports AUTH_TAG_MISMATCH when the tag of an openssl -stream (BER) message is altered', async () => {
    const der = Buffer.from(opensslEncrypt(pki.ec, 'aes-256-gcm', [], true));
    // BER: mac, then three end-of-contents pairs close AuthEnvelopedData, [0] and ContentInfo.
    expect(der.subarray(der.length - 6).equals(Buffer.alloc(6))).toBe(true);
    der[der.length - 7]! ^= 0x01;
    expect(await codeOf(decryptContent(der, { key: pki.ec.key }))).toBe('AUTH_TAG_MISMATCH');
  });

  it('reports a wrong key as NO_MATCHING_RECIPIENT or DECRYPT_FAILED, never as content', async () => {
    const carolRsa = pki.issue('carol-rsa', 'rsa');
    const daveEc = pki.issue('dave-ec', 'ec');
    const rsaMsg = opensslEncrypt(pki.rsa, 'aes-256-gcm', ['-keyopt', 'rsa_padding_mode:oaep']);
    const ecMsg = opensslEncrypt(pki.ec, 'aes-256-cbc');
    expect(await codeOf(decryptContent(rsaMsg, { key: carolRsa.key }))).toBe('NO_MATCHING_RECIPIENT');
    expect(await codeOf(decryptContent(rsaMsg, { key: carolRsa.key, certificate: carolRsa.certDer }))).toBe('NO_MATCHING_RECIPIENT');
    expect(await codeOf(decryptContent(rsaMsg, { key: carolRsa.key, certificate: pki.rsa.certDer }))).toBe('DECRYPT_FAILED');
    expect(await codeOf(decryptContent(rsaMsg, { key: pki.ec.key }))).toBe('NO_MATCHING_RECIPIENT');
    expect(await codeOf(decryptContent(ecMsg, { key: daveEc.key }))).toBe('NO_MATCHING_RECIPIENT');
    expect(await codeOf(decryptContent(ecMsg, { key: daveEc.key, certificate: pki.ec.certDer }))).toBe('DECRYPT_FAILED');
  });
});

describe('reencrypt (chain of encryption hop)', () => {
  it('openssl decrypts the re-encrypted content when an openssl message for RSA is re-encrypted to EC', async () => {
    const incoming = opensslEncrypt(pki.rsa, 'aes-256-cbc', ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256']);
    let seen: Uint8Array | undefined;
    const res = await reencrypt(incoming, {
      key: pki.rsa.key,
      certificate: pki.rsa.certDer,
      recipients: [pki.ec.certDer],
      inspect: async (plaintext, info) => {
        seen = plaintext;
        expect(info.cipher).toBe('aes-256-cbc');
        return { allow: true, reasons: ['no confidential markers'] };
      },
    });
    expect(res.verdict).toEqual({ allow: true, reasons: ['no confidential markers'] });
    expect(Buffer.from(seen ?? []).equals(content)).toBe(true);
    const r = opensslDecrypt(res.output ?? new Uint8Array(), pki.ec);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.equals(content)).toBe(true);
    // The old recipient is not a recipient of the new message.
    expect(opensslDecrypt(res.output ?? new Uint8Array(), pki.rsa).status).not.toBe(0);
  });

  it('openssl decrypts the BER output when an openssl -stream GCM message is re-encrypted', async () => {
    const incoming = opensslEncrypt(pki.ec, 'aes-256-gcm', ['-keyopt', 'ecdh_kdf_md:sha256'], true);
    const res = await reencrypt(incoming, { key: pki.ec.key, recipients: [pki.rsa.certDer] });
    const r = opensslDecrypt(res.output ?? new Uint8Array(), pki.rsa);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.equals(content)).toBe(true);
  });

  it('returns the blocking verdict and no output when inspection disallows', async () => {
    const incoming = opensslEncrypt(pki.rsa, 'aes-256-gcm', ['-keyopt', 'rsa_padding_mode:oaep']);
    const res = await reencrypt(incoming, {
      key: pki.rsa.key,
      recipients: [pki.ec.certDer],
      inspect: async () => ({ allow: false, reasons: ['contains a confidential marker'] }),
    });
    expect(res).toEqual({ verdict: { allow: false, reasons: ['contains a confidential marker'] } });
    expect('output' in res).toBe(false);
  });

  it('throws AUTH_TAG_MISMATCH and never calls inspection for a verdict when the incoming tag is altered', async () => {
    const incoming = Buffer.from(opensslEncrypt(pki.ec, 'aes-256-gcm'));
    incoming[incoming.length - 1]! ^= 0x01;
    let asked = false;
    const p = reencrypt(incoming, {
      key: pki.ec.key,
      recipients: [pki.rsa.certDer],
      inspect: async () => {
        asked = true;
        return { allow: true, reasons: [] };
      },
    });
    expect(await codeOf(p)).toBe('AUTH_TAG_MISMATCH');
    expect(asked).toBe(false);
  });
});
