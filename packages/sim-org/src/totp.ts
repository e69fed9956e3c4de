import { createHmac } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32 (the encoding authenticator apps use for TOTP secrets). */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Uint8Array {
  const clean = text.toUpperCase().replace(/[=\s]/g, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new TypeError(`Cannot decode base32. "${ch}" is not a base32 character.`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

export interface TotpOptions {
  /** Seconds per step; RFC 6238 §5.2 recommends 30. */
  period?: number;
  digits?: number;
}

/** RFC 4226 §5.3 HOTP (HMAC-SHA-1, dynamic truncation). */
export function hotp(secret: Uint8Array, counter: number, digits = 6): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const off = mac[mac.length - 1]! & 0x0f;
  const bin = ((mac[off]! & 0x7f) << 24) | (mac[off + 1]! << 16) | (mac[off + 2]! << 8) | mac[off + 3]!;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4 TOTP with SHA-1: HOTP over T = floor(unixSeconds / period). */
export function totp(secret: Uint8Array, unixSeconds: number, options: TotpOptions = {}): string {
  return hotp(secret, Math.floor(unixSeconds / (options.period ?? 30)), options.digits ?? 6);
}

/**
 * True when `code` matches the step of `unixSeconds` or one step either side (RFC 6238 §5.2 allows
 * one step of clock drift/transmission delay).
 */
export function verifyTotp(secret: Uint8Array, code: string, unixSeconds: number, options: TotpOptions = {}): boolean {
  const period = options.period ?? 30;
  for (const drift of [-1, 0, 1]) {
    if (totp(secret, unixSeconds + drift * period, options) === code) return true;
  }
  return false;
}
