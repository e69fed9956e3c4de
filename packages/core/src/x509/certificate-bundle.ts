/**
 * Reading a certificate bundle (a PEM file of many certificates, like /etc/ssl/certs/ca-certificates.crt, or
 * one DER certificate). Every block is read on its own: one we cannot use (broken base64 or DER, not a
 * certificate, a public key type we cannot check signatures with) is reported and skipped and never hides
 * the blocks after it (ssmax issue 12: a bundle whose first certificate had an unsupported key lost the
 * rest).
 */
import { SsmaxError } from '../errors.js';
import { decodePemAll, looksLikePem } from '../pem.js';
import { parseCertificate, type CertificateInfo, type PublicKeyType } from './certificate-info.js';

/** A bundle entry that was not used, and why. */
export interface SkippedCertificate {
  /** 1-based position among the PEM blocks (1 for DER input). */
  readonly index: number;
  /** The certificate subject when it could be read. */
  readonly subject?: string;
  readonly reason: string;
}

export interface CertificateBundle {
  /** The usable certificates, DER, in file order. */
  readonly certificates: Uint8Array[];
  /** The same, parsed. */
  readonly parsed: CertificateInfo[];
  readonly skipped: SkippedCertificate[];
}

/** The key types whose signatures the X.509 and CMS code checks, or whose keys the CMS code agrees keys with. */
const USABLE_KEYS: ReadonlySet<PublicKeyType> = new Set<PublicKeyType>([
  'rsa',
  'rsa-pss',
  'ec-p256',
  'ec-p384',
  'ec-p521',
  'ed25519',
  'ed448',
  'x25519',
  'x448',
]);

// One PEM block at a time (RFC 7468 §2), so a broken block cannot take the others with it.
const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * Reads every certificate in `bytes` (PEM text with any number of blocks, or one DER certificate).
 * Throws MALFORMED_CERTIFICATE only when not a single usable certificate is found, naming `what` and why
 * the first block failed.
 */
export function readCertificateBundle(bytes: Uint8Array, what = 'the certificate file'): CertificateBundle {
  const skipped: SkippedCertificate[] = [];
  const parsed: CertificateInfo[] = [];
  const take = (index: number, der: Uint8Array): void => {
    let info: CertificateInfo;
    try {
      info = parseCertificate(der);
    } catch (e) {
      skipped.push({ index, reason: `it is not a readable X.509 certificate (${e instanceof Error ? e.message : String(e)})` });
      return;
    }
    if (!USABLE_KEYS.has(info.publicKeyType)) {
      skipped.push({ index, subject: info.subject, reason: 'its public key type is not supported (RSA, EC P-256/P-384/P-521, Ed25519, Ed448, X25519, X448)' });
      return;
    }
    parsed.push(info);
  };
  if (looksLikePem(bytes)) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    let index = 0;
    for (const m of text.matchAll(BLOCK_RE)) {
      index++;
      if (m[1] !== 'CERTIFICATE') {
        skipped.push({ index, reason: `it is a ${m[1]} block, not a CERTIFICATE` });
        continue;
      }
      let der: Uint8Array;
      try {
        der = decodePemAll(m[0])[0]!.der;
      } catch (e) {
        skipped.push({ index, reason: e instanceof Error ? e.message : String(e) });
        continue;
      }
      take(index, der);
    }
    if (index === 0) throw new SsmaxError('MALFORMED_CERTIFICATE', `Cannot read ${what}. It holds no PEM block.`);
  } else {
    take(1, bytes);
  }
  if (parsed.length === 0) {
    const first = skipped[0];
    throw new SsmaxError(
      'MALFORMED_CERTIFICATE',
      `Cannot read ${what}. It holds no usable certificate${first ? `: block ${first.index}: ${first.reason}` : ''}.`,
    );
  }
  return { certificates: parsed.map((c) => c.der), parsed, skipped };
}
