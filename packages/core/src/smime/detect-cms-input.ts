import { SsmaxError } from '../errors.js';
import { decodePemAll, looksLikePem } from '../pem.js';
import { asBuffer, DEFAULT_MIME_LIMITS, type MimeLimits } from './mime-bytes.js';
import { parseSmime, type ParsedSmime } from './smime-message.js';

/** What {@link detectCmsInput} found. */
export interface DetectedCmsInput {
  readonly format: 'der' | 'pem' | 'smime';
  /** The CMS ContentInfo, DER (or BER) as found; not yet parsed. */
  readonly der: Uint8Array;
  /** For multipart/signed: the signed entity, i.e. the detached content the signature covers. */
  readonly detachedContent?: Uint8Array;
  /** For S/MIME: what parseSmime read. */
  readonly smime?: ParsedSmime;
}

const CMS_PEM_LABELS = ['PKCS7', 'CMS'];

/**
 * True if `bytes` begins with a SEQUENCE whose length header fits the input: definite and equal to the rest, or
 * indefinite (BER, RFC 5652 allows it). Only the header is read, so a large CMS file is not parsed twice.
 */
function looksLikeDerSequence(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x30) return false;
  const l0 = bytes[1] as number;
  if (l0 === 0x80) return true;
  if (l0 < 0x80) return 2 + l0 === bytes.length;
  const n = l0 & 0x7f;
  if (n > 6 || bytes.length < 2 + n) return false;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (bytes[2 + i] as number);
  return 2 + n + len === bytes.length;
}

/**
 * Tells the CLI what a CMS input file is: DER (a SEQUENCE whose length covers the file), PEM with label PKCS7 or
 * CMS (RFC 7468 §8 and §9), or an S/MIME message (application/pkcs7-mime, or multipart/signed whose signature and
 * detached content are both returned). Anything else throws SsmaxError MALFORMED_CMS / MALFORMED_PEM /
 * MALFORMED_MIME saying which.
 */
export function detectCmsInput(bytes: Uint8Array, limits: MimeLimits = DEFAULT_MIME_LIMITS): DetectedCmsInput {
  if (bytes.length === 0) throw new SsmaxError('MALFORMED_CMS', 'Cannot read the CMS input. It is empty.');
  if (bytes[0] === 0x30) {
    if (looksLikeDerSequence(bytes)) return { format: 'der', der: bytes };
    throw new SsmaxError(
      'MALFORMED_CMS',
      'Cannot read the CMS input. It starts like DER, but its outer length does not match the file size (truncated or trailing data).',
    );
  }
  if (looksLikePem(bytes)) {
    const blocks = decodePemAll(asBuffer(bytes).toString('latin1'));
    const cms = blocks.find((b) => CMS_PEM_LABELS.includes(b.label));
    if (!cms) {
      const labels = blocks.map((b) => b.label).join(', ') || 'none readable';
      throw new SsmaxError('MALFORMED_PEM', `Cannot read the CMS input. Its PEM blocks (${labels}) include none labelled PKCS7 or CMS.`);
    }
    return { format: 'pem', der: cms.der };
  }
  const head = asBuffer(bytes)
    .subarray(0, 64 * 1024)
    .toString('latin1');
  if (/^[\x21-\x39\x3b-\x7e]+:/.test(head) && /(^|\n)content-type:/i.test(head)) {
    const smime = parseSmime(bytes, limits);
    if (smime.kind === 'pkcs7-mime') return { format: 'smime', der: smime.der, smime };
    if (smime.kind === 'multipart-signed') return { format: 'smime', der: smime.signature, detachedContent: smime.signedEntity, smime };
    throw new SsmaxError('MALFORMED_MIME', 'Cannot read the CMS input. It is a MIME message, but neither application/pkcs7-mime nor multipart/signed.');
  }
  throw new SsmaxError('MALFORMED_CMS', 'Cannot read the CMS input. It is neither DER, PEM (PKCS7 or CMS) nor an S/MIME message.');
}
