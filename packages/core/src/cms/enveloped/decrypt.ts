/**
 * Streaming decryption of EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083).
 *
 * Only the header (ContentInfo → version, recipientInfos, EncryptedContentInfo up to the [0]
 * encryptedContent) is read into memory; the ciphertext is streamed through node:crypto in the
 * input's own chunks. Plaintext is handed out before the GCM tag / CBC padding at the end has been
 * checked, so every consumer here writes to a {@link CommitSink} and commits only after the plaintext
 * generator has finished without error.
 */
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import { BerStreamReader, type ByteInput } from './ber-stream-reader.js';
import { MemorySink, type CommitSink } from './commit-sink.js';
import { concatBytes } from '../../der/der-writer.js';
import { decodeOid, decodeSmallInteger, malformed, readNode, Tag, value } from './ber-node-reader.js';
import { CONTENT_CIPHERS, createContentDecipher, parseContentAlg, type ContentCipher } from './content-cipher.js';
import { parseRecipientCertificate } from './recipient-certificate.js';
import { recoverContentKey, type KeyManagement, type SecretKeyRecipient } from './recipient-info.js';

export interface DecryptOptions {
  /** The recipient's private key (software or token), for key-transport and key-agreement recipients. */
  readonly key?: PrivateKeyOps;
  /** The recipient's certificate (DER): restricts decryption to the RecipientInfo naming it. */
  readonly certificate?: Uint8Array;
  /** A KEK and its identifier, for a KEKRecipientInfo (RFC 5652 §6.2.3). */
  readonly secretKey?: SecretKeyRecipient;
  /** A password, for a PasswordRecipientInfo (RFC 3211). */
  readonly password?: Uint8Array | string;
}

export interface EnvelopeInfo {
  readonly cipher: ContentCipher;
  /** How the content-encryption key was recovered. */
  readonly keyManagement?: KeyManagement;
  /**
   * Reasons this message was read with algorithms kept for old mail only (3DES-CBC, RSA PKCS#1 v1.5);
   * empty when everything is current. Callers report them with their verdict.
   */
  readonly legacy?: readonly string[];
  /** OID of the inner content type (id-data for files). */
  readonly contentType: string;
  /** Plaintext length when known before streaming (AES-GCM with a definite-length primitive [0]). */
  readonly contentLength?: number;
}

export interface OpenedEnvelope {
  readonly info: EnvelopeInfo;
  /**
   * Plaintext chunks. The generator throws (AUTH_TAG_MISMATCH, DECRYPT_FAILED, MALFORMED_CMS) after the
   * last chunk if the tag, padding or trailer is wrong: chunks are unauthenticated until it returns.
   */
  readonly plaintext: AsyncGenerator<Uint8Array, void, undefined>;
}

function wrapUnknown(e: unknown): SsmaxError {
  if (e instanceof SsmaxError) return e;
  return new SsmaxError('IO_ERROR', 'Cannot read the CMS message. The input stream failed.', { cause: e });
}

/**
 * Parses the header of an EnvelopedData/AuthEnvelopedData ContentInfo from `input`, recovers the
 * content-encryption key and returns the plaintext as a stream.
 */
export async function openEnvelope(input: ByteInput, opts: DecryptOptions): Promise<OpenedEnvelope> {
  const cert = opts.certificate ? parseRecipientCertificate(opts.certificate) : undefined;
  const r = new BerStreamReader(input);
  const oidOf = async (what: string): Promise<string> => {
    const el = await r.readElement(what, Tag.OID);
    return decodeOid(el, readNode(el, 0), what);
  };

  await r.open(Tag.SEQUENCE, 'ContentInfo');
  const outer = await oidOf('contentType');
  if (outer !== Oids.envelopedData && outer !== Oids.authEnvelopedData) {
    throw new SsmaxError(
      'UNSUPPORTED_CONTENT_TYPE',
      `Cannot decrypt the CMS message. Its content type ${outer} is neither EnvelopedData nor AuthEnvelopedData.`,
    );
  }
  const auth = outer === Oids.authEnvelopedData;
  await r.open(0xa0, 'content');
  await r.open(Tag.SEQUENCE, auth ? 'AuthEnvelopedData' : 'EnvelopedData');
  const ver = await r.readElement('version', Tag.INTEGER);
  decodeSmallInteger(ver, readNode(ver, 0), 'version');
  if ((await r.peekTag()) === 0xa0) await r.readElement('originatorInfo');
  const recipientInfos = await r.readElement('recipientInfos', Tag.SET);
  await r.open(Tag.SEQUENCE, 'EncryptedContentInfo');
  const contentType = await oidOf('EncryptedContentInfo contentType');
  const alg = parseContentAlg(await r.readElement('contentEncryptionAlgorithm', Tag.SEQUENCE), auth);
  const t = await r.peekTag();
  if (t !== 0x80 && t !== 0xa0) throw malformed('EncryptedContentInfo has no encryptedContent (detached content is not supported)');
  const recovered = await recoverContentKey(
    recipientInfos,
    {
      ...(opts.key ? { key: opts.key } : {}),
      ...(cert ? { certificate: cert } : {}),
      ...(opts.secretKey ? { secretKey: opts.secretKey } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    },
    CONTENT_CIPHERS[alg.cipher].keyLength,
  );
  const cek = recovered.cek;
  let decipher: ReturnType<typeof createContentDecipher>;
  try {
    decipher = createContentDecipher(alg, cek);
  } finally {
    cek.fill(0);
  }
  const content = await r.readHeader('encryptedContent');
  const legacy = [
    ...(CONTENT_CIPHERS[alg.cipher].legacy ? [`${alg.cipher.toUpperCase()} content encryption (64-bit block; read for old mail, never written)`] : []),
    ...(recovered.via.legacy ? [recovered.via.legacy] : []),
  ];

  async function* plaintext(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for await (const c of r.streamOctets(content, 'encryptedContent')) {
        const out = decipher.update(c);
        if (out.byteLength > 0) yield out;
      }
      await r.close('EncryptedContentInfo');
      let authAttrs: Uint8Array | undefined;
      let mac: Uint8Array | undefined;
      if (auth) {
        if ((await r.peekTag()) === 0xa1) authAttrs = await r.readElement('authAttrs');
        const macEl = await r.readElement('mac', Tag.OCTET_STRING);
        mac = value(macEl, readNode(macEl, 0));
        if ((await r.peekTag()) === 0xa2) await r.readElement('unauthAttrs');
      } else if ((await r.peekTag()) === 0xa1) {
        await r.readElement('unprotectedAttrs');
      }
      await r.close(auth ? 'AuthEnvelopedData' : 'EnvelopedData');
      await r.close('content');
      await r.close('ContentInfo');
      if (!(await r.atEnd())) throw malformed('Bytes follow the ContentInfo');
      // RFC 5083 §2.2: the AAD is the DER of authAttrs with the SET OF tag, not the [1] tag.
      const aad = authAttrs ? concatBytes([Uint8Array.of(0x31), authAttrs.subarray(1)]) : undefined;
      if (aad) {
        const parsed = readNode(aad, 0);
        if (parsed.indefinite || parsed.end !== aad.byteLength) throw malformed('authAttrs is not DER');
      }
      const last = decipher.final(mac, aad);
      if (last.byteLength > 0) yield last;
    } catch (e) {
      throw wrapUnknown(e);
    }
  }

  return {
    info: {
      cipher: alg.cipher,
      contentType,
      keyManagement: recovered.via,
      legacy,
      ...(CONTENT_CIPHERS[alg.cipher].aead && !content.constructed ? { contentLength: content.length } : {}),
    },
    plaintext: plaintext(),
  };
}

/**
 * Decrypts `input` into `sink`, committing only after the tag/padding and the whole message checked out;
 * on any failure the sink is aborted and nothing is kept.
 */
export async function decryptStream(input: ByteInput, sink: CommitSink, opts: DecryptOptions): Promise<EnvelopeInfo> {
  let info: EnvelopeInfo;
  let env: OpenedEnvelope | undefined;
  try {
    env = await openEnvelope(input, opts);
    info = env.info;
    for await (const chunk of env.plaintext) await sink.write(chunk);
  } catch (e) {
    await env?.plaintext.return(undefined).catch(() => undefined); // runs the generator's finally (key wipe)
    await sink.abort();
    throw wrapUnknown(e);
  }
  await sink.commit();
  return info;
}

export interface DecryptedContent extends EnvelopeInfo {
  readonly content: Uint8Array;
}

/** Decrypts a DER/BER ContentInfo held in memory. */
export async function decryptContent(der: Uint8Array, opts: DecryptOptions): Promise<DecryptedContent> {
  const sink = new MemorySink();
  const info = await decryptStream([der], sink, opts);
  return { ...info, content: sink.result() };
}
