/** The encrypting end of the hop (private to cms/hop): cipher output to the sink, freed once written. */
import type { CommitSink } from '../enveloped/commit-sink.js';
import type { EnvelopeWriter } from '../enveloped/encrypt.js';
import type { ReleaseChunk } from './release-chunk.js';

export class HopOutput {
  /** `release` only where the sink borrows chunks: then the cipher's output is ours again once written. */
  constructor(
    private readonly sink: CommitSink,
    private readonly writer: EnvelopeWriter,
    private readonly release: ReleaseChunk | undefined,
  ) {}

  /** The envelope's header (recipients, algorithm) before any content. */
  async head(): Promise<void> {
    for (const p of this.writer.head) await this.sink.write(p);
  }

  /** Encrypts a piece of the new content and writes it; the content itself never reaches the sink. */
  async content(plaintext: Uint8Array): Promise<void> {
    for (const p of this.writer.update(plaintext)) {
      await this.sink.write(p);
      this.release?.(p);
    }
  }

  /** The last cipher block, the tag and the closing octets. */
  async final(): Promise<void> {
    for (const p of this.writer.final()) await this.sink.write(p);
  }
}
