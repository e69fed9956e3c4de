/**
 * Gives the memory of a chunk back now instead of at V8's next young-generation GC (private to cms/hop).
 *
 * node:crypto's update() returns a fresh buffer per call. V8 frees such backing stores only when a
 * scavenge runs, and the external-memory trigger for one fires after 2 × the default maximum semi-space
 * (32 MiB on x64) of young ArrayBuffers (heap.cc `Heap::AllocateExternalBackingStore`): a hop over a
 * 16 MiB file piled up the decipher's and the cipher's output, 2× the file, before any of it was freed.
 * Node 20 has no `ArrayBuffer.prototype.transfer`; a message posted on a closed MessagePort is still
 * serialised, which detaches every ArrayBuffer in its transfer list, and then dropped, which frees their
 * memory before postMessage returns (node src/node_messaging.cc, MessagePort::PostMessage).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** Smaller chunks are left to the GC: releasing them saves little and costs a postMessage each. */
const MIN_RELEASE = 16 << 10;

/** Frees chunks; see {@link releaseChunk}. */
export type ReleaseChunk = (chunk: Uint8Array) => boolean;

/**
 * The closed port every release posts to, made on first use. Process-wide because it holds no state and
 * changes no behaviour, only where freed memory goes; one MessageChannel per hop cost ~50 µs.
 */
let closedPort: MessagePort | undefined;

/**
 * Detaches `chunk`'s ArrayBuffer and frees its memory when the chunk spans the whole buffer (so no other
 * view shares it) and is large enough to matter; says whether it did. Only for buffers the caller made
 * (or got fresh from node:crypto) and that nothing else still holds: any view of a released buffer reads
 * as empty afterwards.
 */
export const releaseChunk: ReleaseChunk = (chunk) => {
  const ab = chunk.buffer;
  if (!(ab instanceof ArrayBuffer) || chunk.byteLength < MIN_RELEASE || chunk.byteOffset !== 0 || chunk.byteLength !== ab.byteLength) return false;
  if (!closedPort) {
    const { port1, port2 } = new MessageChannel();
    port1.close();
    port2.close();
    closedPort = port1;
  }
  closedPort.postMessage(null, [ab]);
  return true;
};
