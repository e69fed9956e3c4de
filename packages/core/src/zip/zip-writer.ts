import { deflateRawSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { crc32 } from './crc32.js';
import { ZipCryptoKeys } from './zipcrypto.js';
import { SsmaxError } from '../errors.js';

/** One file to put into a ZIP made by {@link createZip}. */
export interface ZipWriterEntry {
  /** Path inside the archive ('/' separated). Non-ASCII names set the UTF-8 flag (APPNOTE 4.4.4 bit 11). */
  name: string;
  data: Uint8Array | string;
  /** 'deflate' (default) or 'store'. */
  method?: 'store' | 'deflate';
  /** Modification time written as DOS date/time; default 2020-01-01T00:00:00 so output is reproducible. */
  mtime?: Date;
  /**
   * Header fields for crafting hostile or unsupported fixtures (tests only): a raw method number,
   * extra fields, or flags that differ between the local header and the central directory.
   */
  raw?: {
    method?: number;
    extra?: Uint8Array;
    localFlags?: number;
    centralFlags?: number;
    /**
     * Write the central record this many times, every copy pointing at the one local header: the
     * shape of an overlapping zip bomb (D. Fifield, WOOT 2019), which readers must refuse.
     */
    centralCopies?: number;
  };
}

export interface CreateZipOptions {
  /** Encrypt every entry with traditional PKWARE encryption (ZipCrypto, APPNOTE 6.1) — the "PP" of PPAP. */
  password?: string | Uint8Array;
  /** Random source for the 12-byte encryption headers (inject a seeded one for reproducible fixtures). */
  random?: (n: number) => Uint8Array;
  /** Archive comment. */
  comment?: string;
}

const enc = new TextEncoder();

function dosDateTime(d: Date): { time: number; date: number } {
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  return { time, date };
}

/**
 * Builds a ZIP archive (APPNOTE 6.3.x subset: no ZIP64, no data descriptors), optionally encrypted
 * with ZipCrypto. Used for scenario payloads (PPAP, "EICAR inside an encrypted ZIP") and test fixtures;
 * `unzip -P` reads what it writes (see zip.test.ts).
 */
export function createZip(entries: readonly ZipWriterEntry[], options: CreateZipOptions = {}): Uint8Array {
  const random = options.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const password = typeof options.password === 'string' ? enc.encode(options.password) : options.password;
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const data = typeof e.data === 'string' ? enc.encode(e.data) : e.data;
    const crc = crc32(data);
    const deflate = (e.method ?? 'deflate') === 'deflate';
    let body: Uint8Array = deflate ? new Uint8Array(deflateRawSync(data)) : data;
    let flags = /[^\x00-\x7f]/.test(e.name) ? 0x0800 : 0;
    if (password !== undefined) {
      // APPNOTE 6.1.6: 11 random bytes, then the high byte of the CRC so a reader can check the password.
      const header = new Uint8Array(12);
      header.set(random(11).subarray(0, 11));
      header[11] = crc >>> 24;
      const keys = new ZipCryptoKeys(password);
      const encHeader = keys.encrypt(header);
      const encBody = keys.encrypt(body);
      body = new Uint8Array(12 + encBody.length);
      body.set(encHeader);
      body.set(encBody, 12);
      flags |= 0x0001;
    }
    const method = e.raw?.method ?? (deflate ? 8 : 0);
    const extra = e.raw?.extra ?? new Uint8Array(0);
    const { time, date } = dosDateTime(e.mtime ?? new Date(Date.UTC(2020, 0, 1)));
    if (offset + 30 + name.length + extra.length + body.length > 0xfffffffe) {
      throw new SsmaxError('USAGE', 'Cannot create ZIP. Archive would need ZIP64, which the writer does not support.');
    }

    const local = new Uint8Array(30 + name.length + extra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, e.raw?.localFlags ?? flags, true);
    lv.setUint16(8, method, true);
    lv.setUint16(10, time, true);
    lv.setUint16(12, date, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(name, 30);
    local.set(extra, 30 + name.length);
    locals.push(local, body);

    const central = new Uint8Array(46 + name.length + extra.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, (3 << 8) | 20, true); // made by: UNIX, spec 2.0
    cv.setUint16(6, 20, true);
    cv.setUint16(8, e.raw?.centralFlags ?? flags, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, time, true);
    cv.setUint16(14, date, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, extra.length, true);
    cv.setUint32(38, (0o100644 << 16) >>> 0, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    central.set(extra, 46 + name.length);
    for (let c = 0; c < (e.raw?.centralCopies ?? 1); c++) centrals.push(central);
    offset += local.length + body.length;
  }
  const comment = enc.encode(options.comment ?? '');
  const cdSize = centrals.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22 + comment.length);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  ev.setUint16(20, comment.length, true);
  eocd.set(comment, 22);
  const parts = [...locals, ...centrals, eocd];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
