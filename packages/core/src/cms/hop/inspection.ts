/**
 * Inspection of a protected file inside the hop (procedures (5) and (8)): a stream of plaintext chunks,
 * then one verdict asked only after the file authenticated (protected-file-hop.ts).
 */
import { concatBytes } from '../../der/der-writer.js';
import type { EnvelopeInfo } from '../enveloped/decrypt.js';

export interface InspectionVerdict {
  readonly allow: boolean;
  readonly reasons: readonly string[];
}

/** Chunk-wise inspection for the streaming hop; `verdict()` is called once, after the input authenticated. */
export interface StreamInspection {
  /** Sees plaintext that is not authenticated yet: nothing may be acted on before `verdict`. */
  update(plaintext: Uint8Array): void | Promise<void>;
  verdict(): Promise<InspectionVerdict>;
  /**
   * True when the inspection is done with a chunk once `update` has returned (it keeps no reference),
   * so the hop may free the chunk. Absent: it may keep chunks (whole-content inspection does).
   */
  readonly borrowsChunks?: boolean;
}

export type StreamInspector = (info: EnvelopeInfo) => StreamInspection;

export const ALLOW: InspectionVerdict = Object.freeze({ allow: true, reasons: Object.freeze([]) as readonly string[] });

/**
 * An inspector for rules that need the whole file (sim-org's DLP and malware rules): it keeps the
 * chunks and hands `inspect` the joined content in `verdict`, that is only after the file authenticated.
 */
export function wholeContent(inspect: (content: Uint8Array, info: EnvelopeInfo) => InspectionVerdict | Promise<InspectionVerdict>): StreamInspector {
  return (info) => {
    const chunks: Uint8Array[] = [];
    return {
      update: (c) => void chunks.push(c),
      verdict: async () => inspect(chunks.length === 1 ? chunks[0]! : concatBytes(chunks), info),
    };
  };
}
