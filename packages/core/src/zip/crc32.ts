/** CRC-32 (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320) as used by ZIP (APPNOTE 4.4.7). */
const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Feeds one byte into a raw (not pre/post-inverted) CRC register; ZipCrypto's key schedule needs this form. */
export function crc32Update(crc: number, byte: number): number {
  return (TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
}

/** CRC-32 of `data`, the value stored in ZIP headers. */
export function crc32(data: Uint8Array, initial = 0): number {
  let c = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = (TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return (c ^ 0xffffffff) >>> 0;
}
