/**
 * Test composer for procedure (3) as docs/PROTOCOL.md §4 describes it (the same steps as
 * organisation.test.ts's): files encrypted to the sending org's KMS, a manifest signed on the card,
 * the whole entity signed (multipart/signed, RFC 8551 §3.5.3). For tests that need many mails signed
 * by a card key whose certificate another process issued. Not exported from the package index.
 */
import { createHash, randomBytes } from 'node:crypto';
import { buildMultipartSigned, encryptContent, signSignedData, type PrivateKeyOps } from '@ssmax/core';
import { canonicalJson } from '../attestation.js';
import { assembleMixed, buildFilePart, MANIFEST_FILENAME } from '../org-hop.js';

export interface ComposeSignedMailOptions {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly files?: readonly { readonly name: string; readonly type: string; readonly content: Uint8Array }[];
  /** The card key and its certificate (DER), and the org CA certificate for the chain. */
  readonly key: PrivateKeyOps;
  readonly signingCertificate: Uint8Array;
  readonly orgCertificate: Uint8Array;
  /** The sending org's KMS encryption certificate (files are encrypted to the org, procedure (3)). */
  readonly orgEncryptionCertificate: Uint8Array;
  readonly messageId?: string;
}

export async function composeSignedMail(o: ComposeSignedMailOptions): Promise<{ raw: Uint8Array; messageId: string }> {
  const domain = o.from.slice(o.from.lastIndexOf('@') + 1);
  const messageId = o.messageId ?? `<${randomBytes(8).toString('hex')}@${domain}>`;
  const parts: Uint8Array[] = [Buffer.from(`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${o.text}\r\n`)];
  const files = o.files ?? [];
  let n = 0;
  for (const f of files) {
    const entity = Buffer.from(
      `Content-Type: ${f.type}\r\nContent-Disposition: attachment; filename="${f.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(f.content).toString('base64')}\r\n`,
    );
    parts.push(buildFilePart(++n, await encryptContent(entity, { recipients: [o.orgEncryptionCertificate] })));
  }
  const manifest = {
    v: 1,
    type: 'ssmax-manifest',
    messageId,
    from: o.from,
    to: [...o.to],
    cc: [],
    subject: o.subject,
    files: files.map((f, i) => ({
      n: i + 1,
      name: f.name,
      contentType: f.type,
      size: f.content.length,
      sha256: createHash('sha256').update(f.content).digest('hex'),
    })),
  };
  const mDer = await signSignedData(Buffer.from(canonicalJson(manifest)), { key: o.key, certificate: o.signingCertificate });
  parts.push(
    Buffer.from(
      `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="${MANIFEST_FILENAME}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${MANIFEST_FILENAME}"\r\n\r\n${Buffer.from(mDer).toString('base64')}`,
    ),
  );
  const entity = assembleMixed(parts);
  const sig = await signSignedData(entity, { key: o.key, certificate: o.signingCertificate, chain: [o.orgCertificate], detached: true });
  const raw = buildMultipartSigned(entity, sig, { headers: { from: o.from, to: [...o.to], subject: o.subject, messageId, date: new Date() } });
  return { raw, messageId };
}
