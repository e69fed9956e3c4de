import { crc32Update } from './crc32.js';

/**
 * Traditional PKWARE encryption ("ZipCrypto", APPNOTE 6.1). Weak by design; we implement it because
 * PPAP mail (password-protected ZIP) uses it and the test bed must produce and recognise such mail.
 */
export class ZipCryptoKeys {
  private k0 = 0x12345678;
  private k1 = 0x23456789;
  private k2 = 0x34567890;

  constructor(password: Uint8Array) {
    for (const b of password) this.update(b);
  }

  private update(b: number): void {
    this.k0 = crc32Update(this.k0, b);
    this.k1 = (Math.imul((this.k1 + (this.k0 & 0xff)) >>> 0, 134775813) + 1) >>> 0;
    this.k2 = crc32Update(this.k2, this.k1 >>> 24);
  }

  private streamByte(): number {
    const t = (this.k2 | 2) & 0xffff;
    return (Math.imul(t, t ^ 1) >>> 8) & 0xff;
  }

  encrypt(plain: Uint8Array): Uint8Array {
    const out = new Uint8Array(plain.length);
    for (let i = 0; i < plain.length; i++) {
      const p = plain[i]!;
      out[i] = p ^ this.streamByte();
      this.update(p);
    }
    return out;
  }

  decrypt(cipher: Uint8Array): Uint8Array {
    const out = new Uint8Array(cipher.length);
    for (let i = 0; i < cipher.length; i++) {
      const p = cipher[i]! ^ this.streamByte();
      out[i] = p;
      this.update(p);
    }
    return out;
  }
}
