/**
 * Streaming decryption of EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083).
 *
 * Only the header (ContentInfo → version, recipientInfos, EncryptedContentInfo up to the [0]
 * encryptedContent) is read into memory; the ciphertext is streamed through node:crypto in the
 * input's own chunks. Plaintext is handed out before the GCM tag / CBC padding at the end has been
 * checked, so every consumer here writes to a {@link CommitSink} and commits only after the plaintext
 * generator has finished without error.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import { BerStreamReader, type ByteInput } from './ber-stream-reader.js';
import { MemorySink, type CommitSink } from './commit-sink.js';
import { concatBytes } from '../../der/der-writer.js';
import { children, decodeOid, decodeSmallInteger, expectTag, malformed, octetValue, readAlgId, readNode, Tag, value } from './ber-node-reader.js';
import type { ContentCipher } from './encrypt.js';
import { tagWithoutAad } from './gcm-aad.js';
import { parseRecipientCertificate } from './recipient-certificate.js';
import { recoverContentKey } from './recipient-info.js';

export interface DecryptOptions {
  /** The recipient's private key (software or token). */
  readonly key: PrivateKeyOps;
  /** The recipient's certificate (DER): restricts decryption to the RecipientInfo naming it. */
  readonly certificate?: Uint8Array;
}

export interface EnvelopeInfo {
  readonly cipher: ContentCipher;
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

interface ContentAlg {
  readonly cipher: ContentCipher;
  readonly iv: Uint8Array;
  readonly tagLength: number;
}

function parseContentAlg(der: Uint8Array, auth: boolean): ContentAlg {
  const { oid, params } = readAlgId(der, readNode(der, 0), 'contentEncryptionAlgorithm');
  if (auth && oid === Oids.aes256Gcm) {
    // RFC 5084 §3.2: GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }
    const [nonce, icv, extra] = children(der, expectTag(params, Tag.SEQUENCE, 'GCMParameters'));
    if (!nonce || extra) throw malformed('GCMParameters has the wrong number of fields');
    const iv = octetValue(der, nonce, 'aes-nonce');
    const tagLength = icv ? decodeSmallInteger(der, icv, 'aes-ICVlen') : 12;
    // RFC 5084 §3.1 recommends a 12-byte nonce; tags below 12 bytes are too weak to accept.
    if (iv.byteLength !== 12) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content. A ${iv.byteLength}-byte GCM nonce is not supported.`);
    if (tagLength < 12 || tagLength > 16) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content. A ${tagLength}-byte GCM tag is not supported.`);
    return { cipher: 'aes-256-gcm', iv, tagLength };
  }
  if (!auth && oid === Oids.aes256Cbc) {
    const iv = octetValue(der, expectTag(params, Tag.OCTET_STRING, 'AES-CBC IV'), 'AES-CBC IV');
    if (iv.byteLength !== 16) throw malformed('The AES-CBC IV is not 16 bytes');
    return { cipher: 'aes-256-cbc', iv, tagLength: 0 };
  }
  throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content. Content encryption ${oid} is not supported in ${auth ? 'AuthEnvelopedData' : 'EnvelopedData'} (use AES-256-GCM or AES-256-CBC).`);
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
    throw new SsmaxError('UNSUPPORTED_CONTENT_TYPE', `Cannot decrypt the CMS message. Its content type ${outer} is neither EnvelopedData nor AuthEnvelopedData.`);
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
  const cek = await recoverContentKey(recipientInfos, opts.key, cert, 32);
  const content = await r.readHeader('encryptedContent');

  const decipher =
    alg.cipher === 'aes-256-gcm'
      ? crypto.createDecipheriv('aes-256-gcm', cek, alg.iv, { authTagLength: alg.tagLength })
      : crypto.createDecipheriv('aes-256-cbc', cek, alg.iv);

  async function* plaintext(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      let ciphertextLength = 0;
      for await (const c of r.streamOctets(content, 'encryptedContent')) {
        ciphertextLength += c.byteLength;
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
      if (mac) {
        if (mac.byteLength !== alg.tagLength) {
          throw new SsmaxError('AUTH_TAG_MISMATCH', `Cannot authenticate the content. The mac is ${mac.byteLength} bytes, not the ${alg.tagLength} GCMParameters declare.`);
        }
        // RFC 5083 §2.2: the AAD is the DER of authAttrs with the SET OF tag, not the [1] tag.
        const aad = authAttrs ? concatBytes([Uint8Array.of(0x31), authAttrs.subarray(1)]) : undefined;
        if (aad) {
          const parsed = readNode(aad, 0);
          if (parsed.indefinite || parsed.end !== aad.byteLength) throw malformed('authAttrs is not DER');
        }
        (decipher as crypto.DecipherGCM).setAuthTag(aad ? tagWithoutAad(cek, mac, aad, ciphertextLength) : mac);
      }
      let last: Buffer;
      try {
        last = decipher.final();
      } catch (cause) {
        throw auth
          ? new SsmaxError('AUTH_TAG_MISMATCH', 'Cannot authenticate the content. The AES-GCM tag does not match (the ciphertext, attributes or tag were altered).', { cause })
          : new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content. The AES-CBC padding is invalid (wrong key or corrupted ciphertext).', { cause });
      }
      if (last.byteLength > 0) yield last;
    } catch (e) {
      throw wrapUnknown(e);
    } finally {
      cek.fill(0);
    }
  }

  return {
    info: {
      cipher: alg.cipher,
      contentType,
      ...(alg.cipher === 'aes-256-gcm' && !content.constructed ? { contentLength: content.length } : {}),
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
