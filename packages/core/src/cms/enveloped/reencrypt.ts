/**
 * The chain-of-encryption hop without a signed-content layer (decrypt with this party's key, inspect,
 * re-encrypt to the next party), as thin wrappers over the one hop, {@link protectedFileHop}
 * (cms/hop/protected-file-hop.ts): what an SSMAX organisation runs per file part is exactly this.
 */
import { protectedFileHop, type ProtectedFileHopResult, type ReencryptTarget } from '../hop/protected-file-hop.js';
import { wholeContent, type InspectionVerdict, type StreamInspector } from '../hop/inspection.js';
import type { ByteInput } from './ber-stream-reader.js';
import { FileSink, MemorySink, type CommitSink } from './commit-sink.js';
import type { DecryptOptions, EnvelopeInfo } from './decrypt.js';
import { readFileChunks } from './file-chunks.js';

export interface ReencryptStreamOptions extends DecryptOptions, ReencryptTarget {
  readonly inspect?: StreamInspector;
}

export type ReencryptStreamResult = ProtectedFileHopResult;

/**
 * Streams one hop from `input` to `sink`. Throws (after aborting the sink) on malformed input, a wrong
 * key, a tag/padding failure or an I/O error; returns the verdict, with the sink aborted if it blocked.
 * The output is DER when the plaintext length is known from the input header (AES-GCM input), BER
 * with indefinite lengths otherwise.
 */
export async function reencryptStream(input: ByteInput, sink: CommitSink, opts: ReencryptStreamOptions): Promise<ReencryptStreamResult> {
  return protectedFileHop(input, sink, opts);
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

/** In-memory hop. */
export async function reencrypt(der: Uint8Array, opts: ReencryptOptions): Promise<ReencryptResult> {
  const { inspect, ...rest } = opts;
  const sink = new MemorySink();
  const res = await protectedFileHop([der], sink, { ...rest, ...(inspect ? { inspect: wholeContent(inspect) } : {}) });
  return res.committed ? { verdict: res.verdict, output: sink.result() } : { verdict: res.verdict };
}

/**
 * File-to-file hop: reads `inputPath` through one reused buffer and writes `outputPath` through a
 * temporary file that is renamed into place only on success (see {@link FileSink}).
 */
export async function reencryptFile(inputPath: string, outputPath: string, opts: ReencryptStreamOptions): Promise<ReencryptStreamResult> {
  return protectedFileHop(readFileChunks(inputPath), await FileSink.create(outputPath), opts);
}
