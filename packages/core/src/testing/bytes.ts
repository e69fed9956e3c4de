/**
 * Test support: one-byte tampering that cannot silently miss. Not exported from the package index; tests import
 * it by path.
 */

/**
 * XORs the byte at `at` with `mask`, in place. A typed array ignores a write outside its bounds, so a tamper at a
 * wrong offset (an `indexOf` that found nothing, say) would leave the bytes intact and let a "rejects the changed
 * bytes" test pass or fail for the wrong reason; this throws instead, as it does for a mask that changes nothing.
 */
export function xorByte(bytes: Uint8Array, at: number, mask: number): void {
  const old = bytes[at];
  if (old === undefined) throw new RangeError(`Cannot tamper with byte ${at}. The buffer has ${bytes.byteLength} bytes.`);
  if ((mask & 0xff) === 0) throw new RangeError(`Cannot tamper with byte ${at}. The mask ${mask} changes no bit of a byte.`);
  bytes[at] = old ^ mask;
}
