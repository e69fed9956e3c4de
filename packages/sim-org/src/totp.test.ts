import { describe, it, expect } from 'vitest';
import { totp, verifyTotp, base32Encode, base32Decode } from './totp.js';

// RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", 8 digits.
const seed = new TextEncoder().encode('12345678901234567890');
const vectors: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('totp', () => {
  it('matches the RFC 6238 Appendix B SHA-1 vectors', () => {
    for (const [t, code] of vectors) expect(totp(seed, t, { digits: 8 }), String(t)).toBe(code);
  });

  it('accepts one step of drift and rejects two', () => {
    const code = totp(seed, 1_000_000);
    expect(verifyTotp(seed, code, 1_000_000 + 30)).toBe(true);
    expect(verifyTotp(seed, code, 1_000_000 + 90)).toBe(false);
  });
});

describe('base32', () => {
  it('matches RFC 4648 §10 vectors and round-trips', () => {
    expect(base32Encode(new TextEncoder().encode('foobar'))).toBe('MZXW6YTBOI');
    expect(new TextDecoder().decode(base32Decode('MZXW6YTBOI======'))).toBe('foobar');
  });
});
