/**
 * One protected file through one organisation (SSMAX.md "Chain of encryption", paper §5): decrypt the
 * EnvelopedData/AuthEnvelopedData with the organisation's key → verify (signed content only) → inspect
 * → sign (signed content only) → encrypt to the next party. This is the one implementation of the hop:
 * sim-org's `orgHop` runs it for every file part at (5)+(6) and (8)+(9), core's `reencrypt*` are thin
 * wrappers over it, and the bench times it.
 *
 * Tag-safe streaming: the plaintext passes chunk by chunk from the decipher through the digest, the
 * inspection's `update` and the cipher into a {@link CommitSink}, which is committed only after the GCM
 * tag (or CBC padding) and the message trailer checked out, the sender's signature and chain verified
 * (signed content) and the inspection allowed; on anything else it is aborted. An inspection sees
 * unauthenticated chunks in `update` and must not act on them; `verdict` is asked only after
 * authentication, so whole-content inspection ({@link wholeContent}) never sees a forged file.
 *
 * Memory: the decipher and the cipher return a fresh buffer per chunk, which V8 would free only at a
 * later GC. The hop frees each plaintext chunk once the cipher (and an inspection that borrows chunks)
 * used it, and each cipher output once a sink that borrows chunks wrote it (release-chunk.ts): a
 * file-to-file hop holds a few chunks, not the garbage of the whole file (bench: peak RSS ≤ 0.35× the
 * file from 4 MiB, was 2.0-2.3×).
 */
import { SsmaxError } from '../../errors.js';
import type { ByteInput } from '../enveloped/ber-stream-reader.js';
import type { CommitSink } from '../enveloped/commit-sink.js';
import { openEnvelope, type DecryptOptions, type EnvelopeInfo, type OpenedEnvelope } from '../enveloped/decrypt.js';
import { createEnvelopeWriter, type ContentCipher } from '../enveloped/encrypt.js';
import type { RandomSource } from '../enveloped/recipient-info.js';
import { HopOutput } from './hop-output.js';
import { ALLOW, type InspectionVerdict, type StreamInspector } from './inspection.js';
import { releaseChunk, type ReleaseChunk } from './release-chunk.js';
import { resignSignedContent, type SignedContentLayer } from './signed-content.js';

export interface ReencryptTarget {
  /** DER certificates of the next party. */
  readonly recipients: readonly Uint8Array[];
  /** Default 'aes-256-gcm'. */
  readonly cipher?: ContentCipher;
  readonly random?: RandomSource;
}

export interface ProtectedFileHopOptions extends DecryptOptions, ReencryptTarget {
  /**
   * The decrypted content is a sender's SignedData (attached, id-data eContent; what `openssl cms -sign
   * -nodetach | openssl cms -encrypt` makes): verify the sender and the chain over the streamed content
   * and replace the signature by the organisation's. Absent: the content is carried as it is, which is
   * what an SSMAX organisation does with a file part (a MIME entity; SSMAX signs the mail, not the file).
   */
  readonly signedContent?: SignedContentLayer;
  readonly inspect?: StreamInspector;
}

export interface ProtectedFileHopResult {
  /** True when the sink was committed; false when it was aborted (signature, chain or inspection refused). */
  readonly committed: boolean;
  /** Why the hop refused to forward (the sender's signature or chain, or the inspection), or the allowing verdict. */
  readonly verdict: InspectionVerdict;
  readonly info: EnvelopeInfo;
  /** Bytes of the file's content (the eContent for signed content). */
  readonly contentLength: number;
}

/** The signature of {@link protectedFileHop}: what sim-org and the bench call per protected file. */
export type ProtectedFileHop = (input: ByteInput, sink: CommitSink, opts: ProtectedFileHopOptions) => Promise<ProtectedFileHopResult>;

/** Yields the chunks and frees each one when the next is asked for (the consumer is done with it then). */
async function* releasedAfterUse(chunks: AsyncGenerator<Uint8Array, void, undefined>, release: ReleaseChunk): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const c of chunks) {
    yield c;
    release(c);
  }
}

/**
 * Runs the hop from `input` to `sink`. Throws (after aborting the sink) on malformed input, a wrong key,
 * a tag/padding failure or an I/O error; returns `committed: false` (sink aborted) when the sender's
 * signature or chain fails or the inspection blocks. The output is DER when the content length is known
 * up front (carried AES-GCM content), BER with indefinite lengths otherwise.
 */
export async function protectedFileHop(input: ByteInput, sink: CommitSink, opts: ProtectedFileHopOptions): Promise<ProtectedFileHopResult> {
  let env: OpenedEnvelope | undefined;
  try {
    env = await openEnvelope(input, opts);
    const info = env.info;
    const inspection = opts.inspect?.(info);
    // The plaintext goes only to the cipher (which is done with it on return) and to the inspection.
    const plaintext = inspection === undefined || inspection.borrowsChunks === true ? releasedAfterUse(env.plaintext, releaseChunk) : env.plaintext;
    const writer = createEnvelopeWriter({
      recipients: opts.recipients,
      // The content type arrives with the file and leaves with it (RFC 5652 §6.1 EncryptedContentInfo).
      contentType: info.contentType,
      ...(opts.cipher ? { cipher: opts.cipher } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      ...(!opts.signedContent && info.contentLength !== undefined ? { contentLength: info.contentLength } : {}),
    });
    const out = new HopOutput(sink, writer, sink.borrowsChunks === true ? releaseChunk : undefined);
    await out.head();

    let contentLength = 0;
    let verdict: InspectionVerdict;
    if (opts.signedContent) {
      const r = await resignSignedContent(plaintext, out, inspection, opts.signedContent);
      contentLength = r.contentLength;
      verdict = r.verdict;
    } else {
      for await (const chunk of plaintext) {
        contentLength += chunk.byteLength;
        if (inspection) await inspection.update(chunk);
        await out.content(chunk);
      }
      // The plaintext generator returned: the input is authenticated and complete.
      verdict = inspection ? await inspection.verdict() : ALLOW;
    }
    if (!verdict.allow) {
      await sink.abort();
      return { committed: false, verdict, info, contentLength };
    }
    await out.final();
    await sink.commit();
    return { committed: true, verdict, info, contentLength };
  } catch (e) {
    await env?.plaintext.return(undefined).catch(() => undefined); // runs the generator's finally (key wipe)
    await sink.abort();
    throw e instanceof SsmaxError ? e : new SsmaxError('INTERNAL', 'Cannot re-encrypt the protected file. An unexpected error occurred.', { cause: e });
  }
}
