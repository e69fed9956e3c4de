import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { createOracleProbes, OPENSSL_AUTH_ATTRS_BUG } from '../../testing/oracle-capabilities.js';
import { derEncode, derOid, derSequence, derSetOf } from '../../der/der-writer.js';
import { decryptContent, decryptStream, encryptContent, encryptStream, FileSink, MemorySink, reencryptFile, reencryptStream } from './index.js';

let pki: OpensslPki;
let work: string;
beforeAll(() => {
  pki = createOpensslPki();
  work = mkdtempSync(join(tmpdir(), 'ssmax-enveloped-'));
});
afterAll(() => {
  pki?.[Symbol.dispose]();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return SsmaxError.is(e) ? e.code : `foreign: ${String(e)}`;
  }
}

/** Deterministic random source for reproducible messages. */
function seeded(seed: number): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32)
      out.set(
        createHash('sha256')
          .update(`${seed}:${counter++}`)
          .digest()
          .subarray(0, n - o),
        o,
      );
    return out;
  };
}

const contentTypeAttrs = derEncode(derSetOf([derSequence(derOid(Oids.contentType), derSetOf([derOid(Oids.data)]))]));

describe('AuthEnvelopedData authAttrs', () => {
  // Whether this machine's openssl reads authAttrs in AuthEnvelopedData, found by trying (issue 11): OpenSSL 3.0.19
  // cannot (its ASN.1 template expects the mac where RFC 5083 §2.1 puts [1] authAttrs), 3.0.22 can. Where it
  // can, it must decrypt ours; where it cannot, it must fail on ours with that same parse error and no other.
  const authAttrs = createOracleProbes().opensslReadsAuthAttrs();
  it(`decrypts when authAttrs are present (AAD after the ciphertext), and ${authAttrs.can ? `${authAttrs.oracle} decrypts it too` : `${authAttrs.oracle} fails only with its known authAttrs parse bug ('${authAttrs.refusal}')`}`, async () => {
    const content = new Uint8Array(randomBytes(777));
    const der = await encryptContent(content, { recipients: [pki.ec.certDer], authAttributes: contentTypeAttrs });
    const out = await decryptContent(der, { key: pki.ec.key });
    expect(Buffer.from(out.content).equals(content)).toBe(true);
    writeFileSync(join(pki.dir, 'aa.der'), der);
    const r = pki.openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', 'aa.der', '-recip', pki.ec.certPath, '-inkey', pki.ec.keyPath]);
    if (!authAttrs.can) {
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(OPENSSL_AUTH_ATTRS_BUG);
      return;
    }
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.equals(content)).toBe(true);
  });

  it('reports AUTH_TAG_MISMATCH (and openssl fails too) when an authenticated attribute is altered', async () => {
    const der = Buffer.from(await encryptContent(new Uint8Array(40), { recipients: [pki.ec.certDer], authAttributes: contentTypeAttrs }));
    // The attribute value (id-data OID) ends right before the 18-byte mac element.
    der[der.length - 18 - 1]! ^= 0x01;
    expect(await codeOf(decryptContent(der, { key: pki.ec.key }))).toBe('AUTH_TAG_MISMATCH');
    writeFileSync(join(pki.dir, 'ab.der'), der);
    const r = pki.openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', 'ab.der', '-recip', pki.ec.certPath, '-inkey', pki.ec.keyPath]);
    expect(r.status).not.toBe(0);
  });

  it('reports AUTH_TAG_MISMATCH when authAttrs are stripped from the message', async () => {
    const with_ = await encryptContent(new Uint8Array(40), { recipients: [pki.ec.certDer], authAttributes: contentTypeAttrs, random: seeded(1) });
    const without = await encryptContent(new Uint8Array(40), { recipients: [pki.ec.certDer], random: seeded(1) });
    // Same key/nonce/ciphertext; graft the tag made over the attributes onto the attribute-less message.
    const forged = Buffer.from(without);
    Buffer.from(with_.subarray(with_.length - 16)).copy(forged, forged.length - 16);
    expect(forged.equals(Buffer.from(without))).toBe(false);
    expect(await codeOf(decryptContent(forged, { key: pki.ec.key }))).toBe('AUTH_TAG_MISMATCH');
  });
});

describe('encryptContent', () => {
  it('is reproducible when the random source is injected (EC recipients only)', async () => {
    const content = new Uint8Array(1000);
    const a = await encryptContent(content, { recipients: [pki.ec.certDer], random: seeded(7) });
    const b = await encryptContent(content, { recipients: [pki.ec.certDer], random: seeded(7) });
    const c = await encryptContent(content, { recipients: [pki.ec.certDer], random: seeded(8) });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('writes the RFC 5652 §6.1 version (0 for RSA only, 2 with key agreement) and RFC 5083 version 0', async () => {
    const versionOf = (der: Uint8Array): number => {
      const ci = asn1js.fromBER(der);
      expect(ci.offset).toBe(der.byteLength);
      const body = ((ci.result as asn1js.Sequence).valueBlock.value[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence;
      return (body.valueBlock.value[0] as asn1js.Integer).valueBlock.valueDec;
    };
    expect(versionOf(await encryptContent(new Uint8Array(3), { recipients: [pki.rsa.certDer], cipher: 'aes-256-cbc' }))).toBe(0);
    expect(versionOf(await encryptContent(new Uint8Array(3), { recipients: [pki.rsa.certDer, pki.ec.certDer], cipher: 'aes-256-cbc' }))).toBe(2);
    expect(versionOf(await encryptContent(new Uint8Array(3), { recipients: [pki.ec.certDer], cipher: 'aes-256-gcm' }))).toBe(0);
  });

  it('throws MALFORMED_CERTIFICATE when a recipient is not a certificate and USAGE when there is none', async () => {
    expect(await codeOf(encryptContent(new Uint8Array(3), { recipients: [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])] }))).toBe('MALFORMED_CERTIFICATE');
    expect(await codeOf(encryptContent(new Uint8Array(3), { recipients: [] }))).toBe('USAGE');
  });

  it('throws USAGE and commits nothing when a stream is longer than its declared length', async () => {
    const sink = new MemorySink();
    const p = encryptStream([new Uint8Array(10), new Uint8Array(10)], sink, { recipients: [pki.ec.certDer], contentLength: 15 });
    expect(await codeOf(p)).toBe('USAGE');
    expect(() => sink.result()).toThrow(SsmaxError);
  });
});

describe('decryptContent', () => {
  it('decrypts when the message arrives one byte per chunk (BER stream output)', async () => {
    const content = new Uint8Array(randomBytes(5000));
    const sink = new MemorySink();
    await encryptStream([content.subarray(0, 1234), content.subarray(1234)], sink, { recipients: [pki.rsa.certDer], cipher: 'aes-256-cbc' });
    const der = sink.result();
    expect(der[1]).toBe(0x80); // no length given: indefinite-length BER
    const out = new MemorySink();
    const bytes = Array.from(der, (b) => Uint8Array.of(b));
    const info = await decryptStream(bytes, out, { key: pki.rsa.key, certificate: pki.rsa.certDer });
    expect(info.cipher).toBe('aes-256-cbc');
    expect(Buffer.from(out.result()).equals(content)).toBe(true);
  });

  it('throws MALFORMED_CMS when the input is not CMS, truncated or followed by junk', async () => {
    const der = await encryptContent(new Uint8Array(100), { recipients: [pki.ec.certDer] });
    expect(await codeOf(decryptContent(new Uint8Array([1, 2, 3]), { key: pki.ec.key }))).toBe('MALFORMED_CMS');
    expect(await codeOf(decryptContent(der.subarray(0, der.length - 1), { key: pki.ec.key }))).toBe('MALFORMED_CMS');
    expect(await codeOf(decryptContent(der.subarray(0, 200), { key: pki.ec.key }))).toBe('MALFORMED_CMS');
    expect(await codeOf(decryptContent(Buffer.concat([der, Buffer.of(0)]), { key: pki.ec.key }))).toBe('MALFORMED_CMS');
  });

  it('throws UNSUPPORTED_CONTENT_TYPE when the ContentInfo is SignedData', async () => {
    const signed = derEncode(derSequence(derOid(Oids.signedData), Uint8Array.of(0xa0, 0x02, 0x30, 0x00)));
    expect(await codeOf(decryptContent(signed, { key: pki.ec.key }))).toBe('UNSUPPORTED_CONTENT_TYPE');
  });

  it('reports DECRYPT_FAILED when the last CBC block is altered (padding check)', async () => {
    // Seeded, so the altered block's random-looking plaintext is fixed (1/256 of blocks pad validly by chance).
    const der = Buffer.from(await encryptContent(new Uint8Array(64), { recipients: [pki.ec.certDer], cipher: 'aes-256-cbc', random: seeded(3) }));
    der[der.length - 1]! ^= 0xff;
    // CBC has no integrity: a flip in the last block breaks the padding, which is all it can detect.
    expect(await codeOf(decryptContent(der, { key: pki.ec.key }))).toBe('DECRYPT_FAILED');
  });
});

describe('streaming (file to file)', () => {
  const size = 20 * 1024 * 1024 + 5;
  const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
  const leftovers = (): string[] => readdirSync(work).filter((f) => f.endsWith('.partial'));

  it('round-trips 20 MiB through encryptStream, reencryptFile and decryptStream, and keeps no output when the tag is altered', async () => {
    const plain = join(work, 'plain.bin');
    const fd = openSync(plain, 'w');
    for (let i = 0; i < 20; i++) writeSync(fd, randomBytes(1024 * 1024));
    writeSync(fd, randomBytes(5));
    closeSync(fd);
    const hash = sha(plain);

    await encryptStream(createReadStream(plain, { highWaterMark: 1 << 20 }), await FileSink.create(join(work, 'hop1.der')), {
      recipients: [pki.rsa.certDer],
      contentLength: statSync(plain).size,
    });
    expect(statSync(join(work, 'hop1.der')).size).toBeGreaterThan(size);

    let inspected = 0;
    const res = await reencryptFile(join(work, 'hop1.der'), join(work, 'hop2.der'), {
      key: pki.rsa.key,
      recipients: [pki.ec.certDer],
      inspect: () => ({ update: (c) => void (inspected += c.byteLength), verdict: async () => ({ allow: true, reasons: [] }) }),
    });
    expect(res.committed).toBe(true);
    expect(inspected).toBe(size);
    expect(res.info.contentLength).toBe(size);

    await decryptStream(createReadStream(join(work, 'hop2.der')), await FileSink.create(join(work, 'out.bin')), { key: pki.ec.key });
    expect(sha(join(work, 'out.bin'))).toBe(hash);

    // Tamper with the last byte (the GCM tag) of the re-encrypted file.
    const fd2 = openSync(join(work, 'hop2.der'), 'r+');
    const last = Buffer.alloc(1);
    const at = statSync(join(work, 'hop2.der')).size - 1;
    readSync(fd2, last, 0, 1, at);
    last[0]! ^= 0x01;
    writeSync(fd2, last, 0, 1, at);
    closeSync(fd2);

    let blockedVerdictAsked = false;
    const p = reencryptFile(join(work, 'hop2.der'), join(work, 'hop3.der'), {
      key: pki.ec.key,
      recipients: [pki.rsa.certDer],
      inspect: () => ({ update: () => undefined, verdict: async () => ((blockedVerdictAsked = true), { allow: true, reasons: [] }) }),
    });
    expect(await codeOf(p)).toBe('AUTH_TAG_MISMATCH');
    expect(blockedVerdictAsked).toBe(false);
    expect(await codeOf(decryptStream(createReadStream(join(work, 'hop2.der')), await FileSink.create(join(work, 'out2.bin')), { key: pki.ec.key }))).toBe(
      'AUTH_TAG_MISMATCH',
    );
    const names = readdirSync(work);
    expect(names).not.toContain('hop3.der');
    expect(names).not.toContain('out2.bin');
    expect(leftovers()).toEqual([]);
  });

  it('aborts the sink and leaves no file when inspection blocks', async () => {
    const der = await encryptContent(new Uint8Array(randomBytes(4096)), { recipients: [pki.ec.certDer] });
    const sink = await FileSink.create(join(work, 'blocked.der'));
    const res = await reencryptStream([der], sink, {
      key: pki.ec.key,
      recipients: [pki.rsa.certDer],
      inspect: () => ({ update: () => undefined, verdict: async () => ({ allow: false, reasons: ['malware'] }) }),
    });
    expect(res.committed).toBe(false);
    expect(res.verdict.reasons).toEqual(['malware']);
    expect(readdirSync(work)).not.toContain('blocked.der');
    expect(leftovers()).toEqual([]);
  });
});
