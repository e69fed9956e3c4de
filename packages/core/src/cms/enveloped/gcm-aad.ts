/**
 * Late additional authenticated data for AES-GCM streaming (private to cms/enveloped).
 *
 * RFC 5083 §2.2 puts authAttrs (the GCM AAD) *after* the ciphertext, but node:crypto needs the AAD
 * before the first ciphertext byte. GHASH is linear (NIST SP 800-38D §6.4), so the tag computed with
 * AAD differs from the tag without AAD by a value that depends only on H = AES_K(0^128), the AAD and
 * the ciphertext length. The streaming decryptor therefore runs GCM without AAD and checks the received
 * tag XOR that difference, which authenticates the AAD exactly as if it had been fed first.
 */
import * as crypto from 'node:crypto';

const R = 0xe1n << 120n;
const MASK64 = (1n << 64n) - 1n;

function toBig(b: Uint8Array): bigint {
  return BigInt('0x' + (Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') || '0'));
}

function fromBig(x: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(x.toString(16).padStart(32, '0'), 'hex'));
}

/** Multiplication in GF(2^128) with GCM's bit order (SP 800-38D §6.3, Algorithm 1). */
function gfMul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
}

function gfPow(h: bigint, e: bigint): bigint {
  let result = 1n << 127n; // the field's multiplicative identity in GCM bit order
  let base = h;
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) result = gfMul(result, base);
    base = gfMul(base, base);
  }
  return result;
}

/**
 * Returns the tag GCM would produce over the same ciphertext with *no* AAD, given the tag `mac`
 * that covers `aad` (all lengths in bytes; `mac` may be truncated, SP 800-38D §7.1 step 6).
 */
export function tagWithoutAad(key: Uint8Array, mac: Uint8Array, aad: Uint8Array, ciphertextLength: number): Uint8Array {
  if (aad.byteLength === 0) return mac;
  const ecb = crypto.createCipheriv(`aes-${key.byteLength * 8}-ecb`, key, null);
  const h = toBig(ecb.update(Buffer.alloc(16)));
  let ga = 0n;
  for (let off = 0; off < aad.byteLength; off += 16) {
    const block = new Uint8Array(16);
    block.set(aad.subarray(off, off + 16));
    ga = gfMul(ga ^ toBig(block), h);
  }
  const c = BigInt(Math.ceil(ciphertextLength / 16));
  const lenDelta = (BigInt(aad.byteLength * 8) & MASK64) << 64n;
  const delta = fromBig(gfMul(ga, gfPow(h, c + 1n)) ^ gfMul(lenDelta, h));
  return mac.map((b, i) => b ^ (delta[i] as number));
}
