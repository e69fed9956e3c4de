import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createOpensslPki } from '../../testing/openssl-pki.js';
import { decryptStream, encryptContent, encryptStream, MemorySink, type ContentCipher } from './index.js';

const pki = createOpensslPki();
afterAll(() => pki[Symbol.dispose]());

/**
 * Yields `der` in `size`-byte chunks through ONE buffer, as a file read into a reused buffer does, and
 * scribbles over it as soon as the next chunk is asked for: a reader that keeps a view past that sees junk.
 */
async function* reusedBuffer(der: Uint8Array, size: number, nodeBuffer = false): AsyncGenerator<Uint8Array> {
  const buf = nodeBuffer ? Buffer.alloc(size) : new Uint8Array(size);
  for (let off = 0; off < der.byteLength; off += size) {
    const n = Math.min(size, der.byteLength - off);
    buf.set(der.subarray(off, off + n));
    yield buf.subarray(0, n);
    buf.fill(0xaa);
  }
}

async function decryptReused(der: Uint8Array, size: number, who: 'rsa' | 'ec', nodeBuffer = false): Promise<Uint8Array> {
  const out = new MemorySink();
  await decryptStream(reusedBuffer(der, size, nodeBuffer), out, { key: pki[who].key, certificate: pki[who].certDer });
  return out.result();
}

describe('decryptStream over a reused input buffer', () => {
  const content = new Uint8Array(randomBytes(200_000));
  for (const cipher of ['aes-256-gcm', 'aes-256-cbc'] as ContentCipher[]) {
    for (const who of ['rsa', 'ec'] as const) {
      it(`recovers the content when headers and content span chunks (${cipher}, ${who}, definite and indefinite lengths)`, async () => {
        const definite = await encryptContent(content, { recipients: [pki[who].certDer], cipher });
        const sink = new MemorySink();
        await encryptStream([content.subarray(0, 70_000), content.subarray(70_000)], sink, { recipients: [pki[who].certDer], cipher });
        const indefinite = sink.result();
        expect(indefinite[1]).toBe(0x80);
        for (const der of [definite, indefinite]) {
          for (const size of [7, 333, 65_536]) expect(Buffer.from(await decryptReused(der, size, who)).equals(content), `chunks of ${size}`).toBe(true);
        }
      });
    }
  }

  it('recovers the content when the reused buffer is a node Buffer, whose slice() is a view and not a copy', async () => {
    const definite = await encryptContent(content, { recipients: [pki.rsa.certDer] });
    for (const size of [7, 333]) expect(Buffer.from(await decryptReused(definite, size, 'rsa', true)).equals(content), `chunks of ${size}`).toBe(true);
  });

  it('recovers the content of an openssl cms -encrypt -stream message (constructed encryptedContent) read in small reused chunks', async () => {
    const der = new Uint8Array(
      execFileSync(
        'openssl',
        ['cms', '-encrypt', '-binary', '-stream', '-outform', 'DER', '-aes-256-cbc', '-recip', pki.rsa.certPath, '-keyopt', 'rsa_padding_mode:oaep'],
        { input: content },
      ),
    );
    for (const size of [5, 4096]) expect(Buffer.from(await decryptReused(der, size, 'rsa')).equals(content), `chunks of ${size}`).toBe(true);
  });
});
