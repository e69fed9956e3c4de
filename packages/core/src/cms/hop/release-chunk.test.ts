import { describe, expect, it } from 'vitest';
import { releaseChunk } from './release-chunk.js';

describe('releaseChunk', () => {
  it('detaches a whole buffer of 16 KiB or more, and reports it', () => {
    const whole = new Uint8Array(64 << 10);
    const buf = Buffer.allocUnsafeSlow(16 << 10);
    expect([releaseChunk(whole), releaseChunk(buf)]).toEqual([true, true]);
    expect([whole.byteLength, whole.buffer.byteLength, buf.byteLength]).toEqual([0, 0, 0]);
  });

  it('leaves alone a view of part of a buffer, a small buffer and a pooled Buffer, which others may share', () => {
    const big = new Uint8Array(1 << 20).fill(7);
    const view = big.subarray(0, 512 << 10);
    const small = new Uint8Array((16 << 10) - 1);
    const pooled = Buffer.from('pooled');
    expect([releaseChunk(view), releaseChunk(small), releaseChunk(pooled)]).toEqual([false, false, false]);
    expect([view.byteLength, big.byteLength, big[1 << 19], small.byteLength, pooled.toString()]).toEqual([512 << 10, 1 << 20, 7, (16 << 10) - 1, 'pooled']);
  });
});
