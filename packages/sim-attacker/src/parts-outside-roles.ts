/**
 * A card holder's own mail client that puts files into the signed mail as plain MIME parts in no SSMAX
 * role — beside the body, or inside a nested multipart/mixed — instead of encrypting them to the own org
 * as procedure (3) says, and signs the whole on the card. An org whose (4) checked only the signature and
 * whose (5) and non-member rule looked only at the body and the X-SSMAX-File parts sent such files on
 * under its own signature, uninspected (ssmax issue 10 item 2).
 */
import {
  SsmaxError,
  buildMimeEntity,
  buildMultipartSigned,
  makeBoundary,
  parseMimeEntity,
  parseSmime,
  signSignedData,
  type MimeAttachmentInput,
  type PrivateKeyOps,
} from '@ssmax/core';

/** Where the plain files go: beside the body, or in a nested multipart/mixed under a short cover text. */
export type PlainFilesShape = 'plain-parts' | 'nested-multipart';

/** multipart/mixed around parts kept byte for byte (RFC 2046 §5.1.1). */
function mixed(parts: readonly Uint8Array[]): Uint8Array {
  const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
  let boundary = makeBoundary();
  while (all.includes(`--${boundary}`, 0, 'latin1')) boundary = makeBoundary();
  const chunks: Buffer[] = [Buffer.from(`Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`, 'latin1')];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\n`, 'latin1'), Buffer.from(p), Buffer.from('\r\n', 'latin1'));
  chunks.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Takes a card-signed multipart/signed mail, adds `files` to its signed entity as plain parts of `shape`,
 * and signs the new entity with `signer` (the card's key, logged in; RFC 8551 §3.5.3). The outer header
 * fields are kept; anything the entity already held (body, sender manifest) stays byte for byte.
 */
export async function resignWithPlainFiles(
  signedRaw: Uint8Array,
  files: readonly MimeAttachmentInput[],
  shape: PlainFilesShape,
  signer: { readonly key: PrivateKeyOps; readonly certificate: Uint8Array; readonly chain?: readonly Uint8Array[] },
  signingTime?: Date,
): Promise<Uint8Array> {
  const p = parseSmime(signedRaw);
  if (p.kind !== 'multipart-signed') throw new SsmaxError('USAGE', 'Cannot add plain files to the mail. It is not multipart/signed.');
  const kept = parseMimeEntity(p.signedEntity);
  const keptParts = kept.parts.length > 0 ? kept.parts.map((x) => x.raw) : [kept.raw];
  const withFiles = buildMimeEntity({ text: 'Attached as discussed.', attachments: files });
  const added =
    shape === 'nested-multipart'
      ? [withFiles]
      : parseMimeEntity(withFiles)
          .parts.slice(1)
          .map((x) => x.raw);
  const entity = mixed([...keptParts, ...added]);
  const signature = await signSignedData(entity, {
    key: signer.key,
    certificate: signer.certificate,
    chain: [...(signer.chain ?? [])],
    detached: true,
    ...(signingTime ? { signingTime } : {}),
  });
  const outer = p.headers.filter((h) => !/^(mime-version|content-type|content-transfer-encoding)$/i.test(h.name));
  return buildMultipartSigned(entity, signature, { headers: { extra: outer } });
}
