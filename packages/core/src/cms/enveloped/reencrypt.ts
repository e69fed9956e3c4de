/**
 * One hop of the SSMAX chain of encryption (SSMAX.md "Chain of encryption"): decrypt with this party's
 * key, inspect the plaintext, re-encrypt to the next party.
 *
 * The plaintext exists only in memory, chunk by chunk, between the decipher and the cipher. The
 * re-encrypted output goes to a {@link CommitSink} and is committed only when (1) the input's GCM tag
 * or CBC padding verified and the message trailer parsed, and (2) the inspection allowed it. So the
 * inspector may see unauthenticated plaintext (it must not act on it before its verdict is asked
 * for), but nothing derived from a forged message, or from a blocked one, is ever released.
 */
import { createReadStream } from 'node:fs';
import { SsmaxError } from '../../errors.js';
import type { ByteInput } from './ber-stream-reader.js';
import { FileSink, MemorySink, type CommitSink } from './commit-sink.js';
import { openEnvelope, type DecryptOptions, type EnvelopeInfo, type OpenedEnvelope } from './decrypt.js';
import { createEnvelopeWriter, type ContentCipher } from './encrypt.js';
import type { RandomSource } from './recipient-info.js';

export interface InspectionVerdict {
  readonly allow: boolean;
  readonly reasons: readonly string[];
}

/** Chunk-wise inspection for the streaming hop; `verdict()` is called once, after the input authenticated. */
export interface StreamInspection {
  update(plaintext: Uint8Array): void | Promise<void>;
  verdict(): Promise<InspectionVerdict>;
}

export type StreamInspector = (info: EnvelopeInfo) => StreamInspection;

export interface ReencryptTarget {
  /** DER certificates of the next party. */
  readonly recipients: readonly Uint8Array[];
  /** Default 'aes-256-gcm'. */
  readonly cipher?: ContentCipher;
  readonly random?: RandomSource;
}

export interface ReencryptStreamOptions extends DecryptOptions, ReencryptTarget {
  readonly inspect?: StreamInspector;
}

export interface ReencryptStreamResult {
  readonly verdict: InspectionVerdict;
  readonly info: EnvelopeInfo;
  /** True when the sink was committed (verdict allowed); false when it was aborted. */
  readonly committed: boolean;
}

const ALLOW: InspectionVerdict = Object.freeze({ allow: true, reasons: Object.freeze([]) as readonly string[] });

/**
 * Streams one hop from `input` to `sink`. Throws (after aborting the sink) on malformed input, a wrong
 * key, a tag/padding failure or an I/O error; returns the verdict, with the sink aborted if it blocked.
 * The output is DER when the plaintext length is known from the input header (AES-GCM input), BER
 * with indefinite lengths otherwise.
 */
export async function reencryptStream(input: ByteInput, sink: CommitSink, opts: ReencryptStreamOptions): Promise<ReencryptStreamResult> {
  let verdict: InspectionVerdict;
  let info: EnvelopeInfo;
  let env: OpenedEnvelope | undefined;
  try {
    env = await openEnvelope(input, opts);
    info = env.info;
    const inspection = opts.inspect?.(info);
    const writer = createEnvelopeWriter({
      recipients: opts.recipients,
      contentType: info.contentType,
      ...(opts.cipher ? { cipher: opts.cipher } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      ...(info.contentLength !== undefined ? { contentLength: info.contentLength } : {}),
    });
    for (const p of writer.head) await sink.write(p);
    for await (const chunk of env.plaintext) {
      if (inspection) await inspection.update(chunk);
      for (const p of writer.update(chunk)) await sink.write(p);
    }
    // The plaintext generator returned: the input is authenticated and complete.
    verdict = inspection ? await inspection.verdict() : ALLOW;
    if (!verdict.allow) {
      await sink.abort();
      return { verdict, info, committed: false };
    }
    for (const p of writer.final()) await sink.write(p);
  } catch (e) {
    await env?.plaintext.return(undefined).catch(() => undefined); // runs the generator's finally (key wipe)
    await sink.abort();
    throw e instanceof SsmaxError ? e : new SsmaxError('INTERNAL', 'Cannot re-encrypt the content. An unexpected error occurred.', { cause: e });
  }
  await sink.commit();
  return { verdict, info, committed: true };
}

export interface ReencryptOptions extends DecryptOptions, ReencryptTarget {
  /** Sees the whole (authenticated) plaintext; a verdict with `allow: false` suppresses the output. */
  readonly inspect?: (plaintext: Uint8Array, info: EnvelopeInfo) => Promise<InspectionVerdict>;
}

export interface ReencryptResult {
  readonly verdict: InspectionVerdict;
  /** The re-encrypted ContentInfo; absent when the verdict blocked. */
  readonly output?: Uint8Array;
}

/** In-memory hop: a thin wrapper over {@link reencryptStream}. */
export async function reencrypt(der: Uint8Array, opts: ReencryptOptions): Promise<ReencryptResult> {
  const { inspect, ...rest } = opts;
  const sink = new MemorySink();
  const inspector: StreamInspector | undefined =
    inspect &&
    ((info) => {
      const chunks: Uint8Array[] = [];
      return {
        update: (c) => void chunks.push(c),
        verdict: () => inspect(new Uint8Array(Buffer.concat(chunks)), info),
      };
    });
  const res = await reencryptStream([der], sink, { ...rest, ...(inspector ? { inspect: inspector } : {}) });
  return res.committed ? { verdict: res.verdict, output: sink.result() } : { verdict: res.verdict };
}

/**
 * File-to-file hop: reads `inputPath` in large chunks and writes `outputPath` through a temporary file
 * that is renamed into place only on success (see {@link FileSink}).
 */
export async function reencryptFile(inputPath: string, outputPath: string, opts: ReencryptStreamOptions): Promise<ReencryptStreamResult> {
  const sink = await FileSink.create(outputPath);
  const input = createReadStream(inputPath, { highWaterMark: 1 << 20 });
  try {
    return await reencryptStream(input, sink, opts);
  } finally {
    input.destroy();
  }
}
