import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { encodePlainData, readPlainData } from './content-info.js';
import { encryptContent } from '../enveloped/index.js';
import { createOpensslPki } from '../../testing/openssl-pki.js';

describe('encodePlainData', () => {
  it('writes a ContentInfo id-data that OpenSSL reads back as the same bytes', () => {
    const content = new TextEncoder().encode('Content-Type: text/plain\r\n\r\nplan B\r\n');
    const der = encodePlainData(content);
    // openssl cms -data_out: "output the data content of a ContentInfo of type id-data" (RFC 5652 §4).
    const out = execFileSync('openssl', ['cms', '-data_out', '-inform', 'DER', '-binary'], { input: Buffer.from(der) });
    expect(Buffer.compare(out, Buffer.from(content))).toBe(0);
    expect(readPlainData(der)).toEqual(content);
  });

  it('reads nothing from an envelope, a truncated input or garbage (a plaintext part is never taken for one that is not)', async () => {
    using pki = createOpensslPki();
    const enveloped = await encryptContent(new Uint8Array([1, 2, 3]), { recipients: [pki.ec.certDer] });
    expect(readPlainData(enveloped)).toBeUndefined();
    const der = encodePlainData(new Uint8Array([9, 9, 9]));
    expect(readPlainData(der.subarray(0, der.length - 1))).toBeUndefined();
    expect(readPlainData(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).toBeUndefined();
  });
});
