/**
 * EnvelopedData (RFC 5652 §6) with AES-CBC (RFC 3565) and AuthEnvelopedData (RFC 5083) with AES-GCM
 * (RFC 5084) or ChaCha20-Poly1305 (RFC 8103), to certificate, KEK and password recipients, written as a stream: the DER framing is computed from the content length up
 * front (GCM: ciphertext length = plaintext length; CBC: PKCS#7-padded length, RFC 5652 §6.3), so the
 * ciphertext goes from node:crypto straight to the sink. When the length is not known in advance the
 * writer falls back to BER indefinite lengths with one OCTET STRING segment per cipher output chunk
 * (X.690 §8.7.3), as openssl's `-stream` does.
 */
import * as crypto from 'node:crypto';
import type { OaepHash } from '../../tokens/token.js';
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';
import type { ByteInput } from './ber-stream-reader.js';
import { MemorySink, type CommitSink } from './commit-sink.js';
import { concatBytes, derEncode, derHeader, derInteger, derOctetString, derOid, derSetOf } from '../../der/der-writer.js';
import { CONTENT_CIPHERS, createContentCipher, encodeContentAlg, PRODUCIBLE_CIPHERS, type ContentCipher } from './content-cipher.js';
import { parseRecipientCertificate } from './recipient-certificate.js';
import { buildRecipientInfo, type PasswordRecipient, type RandomSource, type RecipientSpec, type SecretKeyRecipient } from './recipient-info.js';

export type { ContentCipher } from './content-cipher.js';

export interface EncryptOptions {
  /**
   * DER X.509 certificates of the recipients: RSA → KeyTransRecipientInfo (RSAES-OAEP), EC P-256/384/521
   * and X25519/X448 → KeyAgreeRecipientInfo.
   */
  readonly recipients: readonly Uint8Array[];
  /** KEK recipients (KEKRecipientInfo, RFC 5652 §6.2.3). */
  readonly secretKeys?: readonly SecretKeyRecipient[];
  /** Password recipients (PasswordRecipientInfo, RFC 3211, PBKDF2-HMAC-SHA-256 + AES-256-CBC KEK). */
  readonly passwords?: readonly PasswordRecipient[];
  /** RSA-OAEP hash for RSA recipients; default SHA-256. */
  readonly oaepHash?: OaepHash;
  /** KDF for X25519/X448 recipients: 'x963' (default) or 'hkdf' (RFC 8418 §2.2). */
  readonly keyAgreementKdf?: 'x963' | 'hkdf';
  /**
   * Default 'aes-256-gcm' (AuthEnvelopedData). AES-128/192/256-GCM and ChaCha20-Poly1305 make
   * AuthEnvelopedData, AES-128/192/256-CBC EnvelopedData; 3DES is never written.
   */
  readonly cipher?: ContentCipher;
  /** Source of the content-encryption key, IV/nonce and ephemeral EC keys. Default: node CSPRNG. RSA-OAEP seeds always come from node's CSPRNG. */
  readonly random?: RandomSource;
  /** Inner content type OID; default id-data. */
  readonly contentType?: string;
  /**
   * AuthEnvelopedData only: DER `SET OF Attribute` to authenticate as authAttrs (RFC 5083 §2.1). The
   * caller is responsible for including the content-type attribute RFC 5083 requires.
   */
  readonly authAttributes?: Uint8Array;
}

export interface EncryptStreamOptions extends EncryptOptions {
  /** Plaintext length if known: enables DER output. Without it, the output is BER (indefinite lengths). */
  readonly contentLength?: number;
}

const defaultRandom: RandomSource = (n) => new Uint8Array(crypto.randomBytes(n));

/** Incremental writer: `head` first, then `update` per plaintext chunk, then `final`. */
export interface EnvelopeWriter {
  readonly head: readonly Uint8Array[];
  update(plaintext: Uint8Array): readonly Uint8Array[];
  final(): readonly Uint8Array[];
}

const EOC = Uint8Array.of(0, 0);

export function createEnvelopeWriter(opts: EncryptStreamOptions): EnvelopeWriter {
  const cipherName = opts.cipher ?? 'aes-256-gcm';
  if (!PRODUCIBLE_CIPHERS.includes(cipherName)) {
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot encrypt the content. Cipher ${String(cipherName)} is not written (choose one of ${PRODUCIBLE_CIPHERS.join(', ')}).`,
    );
  }
  const spec = CONTENT_CIPHERS[cipherName];
  const specs: RecipientSpec[] = [
    ...opts.recipients.map((der): RecipientSpec => ({
      kind: 'certificate',
      cert: parseRecipientCertificate(der),
      options: { ...(opts.oaepHash ? { oaepHash: opts.oaepHash } : {}), ...(opts.keyAgreementKdf ? { kdf: opts.keyAgreementKdf } : {}) },
    })),
    ...(opts.secretKeys ?? []).map((recipient): RecipientSpec => ({ kind: 'kek', recipient })),
    ...(opts.passwords ?? []).map((recipient): RecipientSpec => ({ kind: 'password', recipient })),
  ];
  if (specs.length === 0) throw new SsmaxError('USAGE', 'Cannot encrypt the content. No recipient was given.');
  const aead = spec.aead;
  if (opts.authAttributes && (!aead || opts.authAttributes[0] !== 0x31)) {
    throw new SsmaxError(
      'USAGE',
      'Cannot encrypt the content. authAttributes must be a DER SET OF Attribute and need an authenticated cipher (AES-GCM or ChaCha20-Poly1305).',
    );
  }
  const { contentLength } = opts;
  if (contentLength !== undefined && (!Number.isSafeInteger(contentLength) || contentLength < 0)) {
    throw new SsmaxError('USAGE', `Cannot encrypt the content. ${contentLength} is not a content length.`);
  }
  const random = opts.random ?? defaultRandom;
  const cek = random(spec.keyLength);
  const iv = random(spec.ivLength);
  if (cek.byteLength !== spec.keyLength || iv.byteLength !== spec.ivLength)
    throw new SsmaxError('USAGE', 'Cannot encrypt the content. The random source returned the wrong number of bytes.');

  const ris = specs.map((s) => buildRecipientInfo(s, cek, random));
  // RFC 5652 §6.1: 3 with a pwri, else 2 as soon as any RecipientInfo is not version 0; RFC 5083 §2.1: always 0.
  const version = derInteger(aead ? 0 : ris.some((r) => r.kind === 'pwri') ? 3 : ris.every((r) => r.version === 0) ? 0 : 2);
  const recipientInfos = derEncode(derSetOf(ris.map((r) => r.der)));
  const contentTypeOid = derOid(opts.contentType ?? Oids.data);
  const encAlg = encodeContentAlg(cipherName, iv);

  const cipher = createContentCipher(cipherName, cek, iv, opts.authAttributes);
  cek.fill(0);
  // RFC 5083 §2.1: authAttrs are [1] IMPLICIT in the message but authenticated with the SET OF tag.
  const authAttrsImplicit = opts.authAttributes ? concatBytes([Uint8Array.of(0xa1), opts.authAttributes.subarray(1)]) : undefined;
  const macLen = aead ? 2 + 16 : 0;
  const outerOid = derOid(aead ? Oids.authEnvelopedData : Oids.envelopedData);

  let seen = 0;
  const ber = contentLength === undefined;
  let head: Uint8Array[];
  if (!ber) {
    const ctLen = aead ? contentLength : (Math.floor(contentLength / 16) + 1) * 16;
    const eciPrefix = concatBytes([contentTypeOid, encAlg, derHeader(0x80, ctLen)]);
    const eciLen = eciPrefix.byteLength + ctLen;
    const eciHeader = derHeader(0x30, eciLen);
    const bodyLen = version.byteLength + recipientInfos.byteLength + eciHeader.byteLength + eciLen + (authAttrsImplicit?.byteLength ?? 0) + macLen;
    const envHeader = derHeader(0x30, bodyLen);
    const ctxLen = envHeader.byteLength + bodyLen;
    const ctxHeader = derHeader(0xa0, ctxLen);
    const ciHeader = derHeader(0x30, outerOid.byteLength + ctxHeader.byteLength + ctxLen);
    head = [ciHeader, outerOid, ctxHeader, envHeader, version, recipientInfos, eciHeader, eciPrefix];
  } else {
    const indef = (tag: number): Uint8Array => Uint8Array.of(tag, 0x80);
    head = [indef(0x30), outerOid, indef(0xa0), indef(0x30), version, recipientInfos, indef(0x30), contentTypeOid, encAlg, indef(0xa0)];
  }

  const frame = (out: Buffer): Uint8Array[] => (out.byteLength === 0 ? [] : ber ? [derHeader(0x04, out.byteLength), out] : [out]);
  return {
    head,
    update(plaintext) {
      seen += plaintext.byteLength;
      if (contentLength !== undefined && seen > contentLength) {
        throw new SsmaxError('USAGE', `Cannot encrypt the content. It is longer than the declared ${contentLength} bytes.`);
      }
      return frame(cipher.update(plaintext));
    },
    final() {
      if (contentLength !== undefined && seen !== contentLength) {
        throw new SsmaxError('USAGE', `Cannot encrypt the content. It is ${seen} bytes, not the declared ${contentLength}.`);
      }
      const out = [...frame(cipher.final())];
      if (ber) out.push(EOC, EOC); // [0] encryptedContent, EncryptedContentInfo
      if (authAttrsImplicit) out.push(authAttrsImplicit);
      if (aead) out.push(derEncode(derOctetString(cipher.tag() as Uint8Array)));
      if (ber) out.push(EOC, EOC, EOC); // Enveloped/AuthEnvelopedData, [0] content, ContentInfo
      return out;
    },
  };
}

/**
 * Encrypts a plaintext stream into a ContentInfo written to `sink`, committing it at the end (aborting
 * the sink on any error).
 */
export async function encryptStream(plaintext: ByteInput, sink: CommitSink, opts: EncryptStreamOptions): Promise<void> {
  try {
    const w = createEnvelopeWriter(opts);
    for (const p of w.head) await sink.write(p);
    for await (const chunk of plaintext) for (const p of w.update(chunk)) await sink.write(p);
    for (const p of w.final()) await sink.write(p);
  } catch (e) {
    await sink.abort();
    throw e;
  }
  await sink.commit();
}

/** Encrypts `content` to every recipient; returns the DER ContentInfo (AuthEnvelopedData or EnvelopedData). */
export async function encryptContent(content: Uint8Array, opts: EncryptOptions): Promise<Uint8Array> {
  const sink = new MemorySink();
  await encryptStream([content], sink, { ...opts, contentLength: content.byteLength });
  return sink.result();
}
