import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpensslPki, type OpensslIdentity, type OpensslPki } from '../../testing/openssl-pki.js';
import { decryptContent, encryptContent, FileSink, MemorySink, readFileChunks } from '../enveloped/index.js';
import { wholeContent } from './inspection.js';
import { protectedFileHop } from './protected-file-hop.js';

let pki: OpensslPki;
let work: string;
let sender: OpensslIdentity;
beforeAll(() => {
  pki = createOpensslPki();
  sender = pki.issue('sender', 'ec');
  work = mkdtempSync(join(tmpdir(), 'ssmax-file-hop-'));
});
afterAll(() => {
  pki?.[Symbol.dispose]();
  if (work) rmSync(work, { recursive: true, force: true });
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `der` in `size`-byte chunks through one buffer that is scribbled over once the next chunk is asked for. */
async function* reusedBuffer(der: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(size);
  for (let off = 0; off < der.byteLength; off += size) {
    const n = Math.min(size, der.byteLength - off);
    buf.set(der.subarray(off, off + n));
    yield buf.subarray(0, n);
    buf.fill(0xaa);
  }
}

/** The sender's file as an openssl gateway receives it: `openssl cms -sign -nodetach | openssl cms -encrypt` to the org. */
function signedThenEncrypted(content: Uint8Array, to: OpensslIdentity): Uint8Array {
  const signed = pki.openssl(
    ['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-md', 'sha256', '-signer', sender.certPath, '-inkey', sender.keyPath],
    content,
  );
  expect(signed.status, signed.stderr).toBe(0);
  const enc = pki.openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', '-aes-256-gcm', '-recip', to.certPath], signed.stdout);
  expect(enc.status, enc.stderr).toBe(0);
  return new Uint8Array(enc.stdout);
}

describe('protectedFileHop', () => {
  it('carries the file to the next party byte for byte and frees each plaintext chunk once used when the sink and the inspection borrow chunks', async () => {
    const content = new Uint8Array(randomBytes((1 << 20) + 5));
    const inPath = join(work, 'carry-in.der');
    writeFileSync(inPath, await encryptContent(content, { recipients: [pki.rsa.certDer] }));
    const seen: { chunk: Uint8Array; length: number }[] = [];
    const seenHash = createHash('sha256');
    const outPath = join(work, 'carry-out.der');
    const r = await protectedFileHop(readFileChunks(inPath), await FileSink.create(outPath), {
      key: pki.rsa.key,
      certificate: pki.rsa.certDer,
      recipients: [pki.ec.certDer],
      inspect: () => ({
        borrowsChunks: true,
        update: (c) => {
          seen.push({ chunk: c, length: c.byteLength });
          seenHash.update(c);
        },
        verdict: async () => ({ allow: true, reasons: [] }),
      }),
    });
    expect(r).toMatchObject({ committed: true, contentLength: content.byteLength });
    expect(seenHash.digest('hex')).toBe(sha(content));
    expect(sha((await decryptContent(readFileSync(outPath), { key: pki.ec.key })).content)).toBe(sha(content));
    // Each plaintext chunk of 16 KiB or more went back to the allocator (detached) once the cipher and the inspection had it.
    const large = seen.filter((s) => s.length >= 16 << 10);
    expect(large.length).toBeGreaterThanOrEqual(4);
    expect(large.map((s) => s.chunk.byteLength)).toEqual(large.map(() => 0));
  });

  it('leaves intact the chunks a whole-content inspection keeps and the output a MemorySink keeps', async () => {
    const content = new Uint8Array(randomBytes(600_000));
    const der = await encryptContent(content, { recipients: [pki.ec.certDer], cipher: 'aes-256-cbc' });
    let inspected: Uint8Array | undefined;
    const sink = new MemorySink();
    const r = await protectedFileHop(reusedBuffer(der, 64 << 10), sink, {
      key: pki.ec.key,
      recipients: [pki.rsa.certDer],
      inspect: wholeContent((c) => {
        inspected = c;
        return { allow: true, reasons: [] };
      }),
    });
    expect(r.committed).toBe(true);
    expect(sha(inspected!)).toBe(sha(content));
    expect(sha((await decryptContent(sink.result(), { key: pki.rsa.key })).content)).toBe(sha(content));
  });

  it('re-signs as the organisation and openssl verifies the result when freed plaintext chunks straddle the SignedData header and trailer', async () => {
    const org = pki.issue('org', 'ec');
    const next = pki.issue('next', 'rsa');
    // Chunk boundaries land at other places of the SignedData for each size; 20,000-byte chunks are freed (≥ 16 KiB).
    for (const size of [17, 20_000 - 40, 100_003, 119_500, 139_777]) {
      const content = new Uint8Array(randomBytes(size));
      const outPath = join(work, `signed-out-${size}.der`);
      const r = await protectedFileHop(reusedBuffer(signedThenEncrypted(content, org), 20_000), await FileSink.create(outPath), {
        key: org.key,
        certificate: org.certDer,
        recipients: [next.certDer],
        signedContent: { signer: { key: org.key, certificate: org.certDer }, trustAnchors: [pki.caCertDer] },
      });
      expect(r, `size ${size}`).toMatchObject({ committed: true, contentLength: size });
      const signed = pki.openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', outPath, '-recip', next.certPath, '-inkey', next.keyPath]);
      expect(signed.status, signed.stderr).toBe(0);
      const signer = join(work, 'signer.pem');
      const verified = pki.openssl(['cms', '-verify', '-binary', '-inform', 'DER', '-CAfile', pki.caCertPath, '-signer', signer], signed.stdout);
      expect(verified.status, verified.stderr).toBe(0);
      expect(sha(verified.stdout)).toBe(sha(content));
      expect(readFileSync(signer, 'latin1')).toContain(org.certPem.trim().split('\n')[1]);
    }
  });

  it('keeps no output, leaves no file and asks no verdict when the tag of signed content was altered', async () => {
    const org = pki.issue('org-tag', 'ec');
    const bad = signedThenEncrypted(new Uint8Array(randomBytes(300_000)), org);
    bad[bad.length - 1]! ^= 0x01; // the mac OCTET STRING is the last element (RFC 5083 §2.1)
    let asked = false;
    const p = protectedFileHop(reusedBuffer(bad, 64 << 10), await FileSink.create(join(work, 'tampered.der')), {
      key: org.key,
      recipients: [pki.rsa.certDer],
      signedContent: { signer: { key: org.key, certificate: org.certDer }, trustAnchors: [pki.caCertDer] },
      inspect: wholeContent(() => ((asked = true), { allow: true, reasons: [] })),
    });
    await expect(p).rejects.toMatchObject({ code: 'AUTH_TAG_MISMATCH' });
    expect(asked).toBe(false);
    expect(readdirSync(work).filter((f) => f.includes('tampered'))).toEqual([]);
  });
});
