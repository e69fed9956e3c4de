/**
 * Issue 12: a mail encrypted by openssl with 3DES-CBC and RSA PKCS#1 v1.5 (what old clients send) is read by
 * judgeMail, and its verdict's reasons name both legacy algorithms; a current one names none.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpensslPki, type OpensslPki } from '../../testing/openssl-pki.js';
import { judgeMail } from '../../smime/judge-mail.js';

let pki: OpensslPki;
beforeAll(() => {
  pki = createOpensslPki();
  writeFileSync(join(pki.dir, 'body.eml'), 'Content-Type: text/plain\r\n\r\nhello from an old client\r\n');
});
afterAll(() => pki?.[Symbol.dispose]());

function mail(cipherArgs: string[]): Buffer {
  const r = pki.openssl([
    'cms',
    '-encrypt',
    '-binary',
    '-in',
    'body.eml',
    '-from',
    pki.ec.email,
    '-to',
    pki.rsa.email,
    '-subject',
    'old',
    '-recip',
    pki.rsa.certPath,
    ...cipherArgs,
  ]);
  expect(r.status, r.stderr).toBe(0);
  return Buffer.from(`Date: Mon, 7 Dec 2026 09:00:00 +0000\r\n${r.stdout.toString('latin1').replace(/\r?\n/g, '\r\n')}`, 'latin1');
}

describe('issue 12: judgeMail reports legacy encryption in its reasons', () => {
  it('names 3DES-CBC and RSA PKCS#1 v1.5 for openssl cms -encrypt -des3 (decrypted, still unsigned)', async () => {
    const j = await judgeMail(mail(['-des3']), {
      trustAnchors: [pki.caCertDer],
      time: new Date(),
      recipient: { key: pki.rsa.key, certificate: pki.rsa.certDer },
    });
    expect(j).toMatchObject({ encrypted: true, decrypted: true, signature: 'unsigned' });
    const reasons = j.reasons.join(' | ');
    expect(reasons).toMatch(/legacy algorithm: DES-EDE3-CBC content encryption/);
    expect(reasons).toMatch(/legacy algorithm: RSA PKCS#1 v1\.5 key transport/);
  });

  it('names no legacy algorithm for AES-256-GCM with RSA-OAEP', async () => {
    const j = await judgeMail(mail(['-aes-256-gcm', '-keyopt', 'rsa_padding_mode:oaep']), {
      trustAnchors: [pki.caCertDer],
      time: new Date(),
      recipient: { key: pki.rsa.key },
    });
    expect(j).toMatchObject({ encrypted: true, decrypted: true });
    expect(j.reasons.join(' ')).not.toMatch(/legacy/);
  });
});
