import { inflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { ZipCryptoKeys } from './zipcrypto.js';
import { SsmaxError } from '../errors.js';

/** Bounds that keep a hostile archive (zip bomb, huge central directory) from exhausting memory. */
export interface ZipLimits {
  /** Most entries read from the central directory. Default 4096. */
  maxEntries: number;
  /** Largest uncompressed entry, enforced while inflating. Default 32 MiB. */
  maxEntryBytes: number;
  /** Largest sum of uncompressed bytes read from one archive. Default 128 MiB. */
  maxTotalBytes: number;
}

/**
 * What is left to spend on one piece of inspection, shared by every archive it opens: pass the same
 * object to each {@link readZip} of a mail (the outer archive, the archives inside it, the next
 * attachment) so a nested or repeated archive draws on one budget instead of a fresh one per level
 * (issue 10 item 3). `bytes` is decremented by every entry read, `entries` by every archive's directory.
 */
export interface ZipBudget {
  bytes: number;
  entries: number;
}

/** A fresh budget from the limits: `maxTotalBytes` inflated bytes and `maxEntries` directory entries in all. */
export function zipBudget(limits: Partial<ZipLimits> = {}): ZipBudget {
  const lim = { ...DEFAULT_ZIP_LIMITS, ...limits };
  return { bytes: lim.maxTotalBytes, entries: lim.maxEntries };
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 4096,
  maxEntryBytes: 32 * 1024 * 1024,
  maxTotalBytes: 128 * 1024 * 1024,
};

/**
 * How an entry is encrypted: `zipcrypto` (APPNOTE 6.1, general-purpose bit 0), `aes` (WinZip AE-x:
 * method 99 / extra field 0x9901), `strong` (bit 6, PKWARE strong encryption), or `none`.
 */
export type ZipEncryption = 'none' | 'zipcrypto' | 'aes' | 'strong';

export interface ZipEntry {
  readonly name: string;
  readonly isDirectory: boolean;
  /** Compression method number (0 stored, 8 deflate, 99 AES wrapper, others unsupported). */
  readonly method: number;
  readonly centralFlags: number;
  readonly localFlags: number;
  /** True when bit 0 is set in the local header OR the central directory (they may disagree on purpose). */
  readonly encrypted: boolean;
  readonly encryption: ZipEncryption;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

export interface ZipArchive {
  readonly entries: readonly ZipEntry[];
  /** Uncompressed bytes of an entry; decrypts ZipCrypto when `password` is given. Checks size and CRC. */
  read(entry: ZipEntry, options?: { password?: string | Uint8Array }): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;

const EOCD_SIG_BYTES = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
/** APPNOTE 4.3.16: the end record (22 bytes) is followed only by a comment of at most 65535 bytes. */
const EOCD_WINDOW = 22 + 0xffff;

/** Where an archive's end record is, and how many bytes of foreign data precede the archive. */
interface EndRecord {
  readonly eocd: number;
  /** Bytes in front of the archive its offsets do not count (`cat junk a.zip`); 0 when they do (`zip -A`). */
  readonly shift: number;
}

/**
 * The end-of-central-directory record, searched backwards from the end of `bytes` (APPNOTE 4.3.16): the
 * last candidate whose central directory starts with a central header where the record says, or where
 * it ends right before the record (foreign data in front of the archive, as Info-ZIP and 7-Zip accept:
 * a self-extractor stub, or junk put there to make a scanner that looks at byte 0 miss the archive).
 */
function findEndRecord(bytes: Uint8Array): EndRecord | undefined {
  if (bytes.length < 22) return undefined;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = buf.lastIndexOf(EOCD_SIG_BYTES, bytes.length - 22); i >= 0; i = i === 0 ? -1 : buf.lastIndexOf(EOCD_SIG_BYTES, i - 1)) {
    const total = buf.readUInt16LE(i + 10);
    const cdSize = buf.readUInt32LE(i + 12);
    const cdOffset = buf.readUInt32LE(i + 16);
    if (cdSize > i) continue;
    const isCentral = (at: number): boolean => at >= 0 && at + 4 <= i && buf.readUInt32LE(at) === SIG_CENTRAL;
    if (total === 0 && cdSize === 0) return { eocd: i, shift: i >= cdOffset ? i - cdOffset : 0 };
    if (cdOffset + cdSize <= i && isCentral(cdOffset)) return { eocd: i, shift: 0 };
    if (isCentral(i - cdSize) && i - cdSize > cdOffset) return { eocd: i, shift: i - cdSize - cdOffset };
  }
  return undefined;
}

/**
 * True when the bytes are, or may be, a ZIP archive: a local header or an end record at byte 0, an end
 * record anywhere in the last 64 KiB (where readers look for it, even when it is damaged: the caller then
 * fails to read it and must treat the file as uninspectable), or a consistent end record anywhere else.
 * Archive readers do not require the archive to start at byte 0, so neither may a scanner
 * (issue 10 item 9: one junk byte in front of a ZIP hid it from the malware scan and DLP).
 */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  if (sig === SIG_LOCAL || sig === SIG_EOCD) return true;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.indexOf(EOCD_SIG_BYTES, Math.max(0, bytes.length - EOCD_WINDOW - 4)) >= 0) return true;
  return findEndRecord(bytes) !== undefined;
}

/**
 * Every entry owns the bytes from its local header to the end of its data (and data descriptor), and no
 * two entries may share any of them, nor any entry the central directory. Info-ZIP's unzip refuses the
 * same ("overlapped components", CVE-2019-13232): many directory entries pointing at one local header, or
 * a local header quoted inside another entry's data, turn a small archive into an unbounded amount of
 * work for anything that reads every entry (D. Fifield, "A better zip bomb", WOOT 2019).
 */
function rejectOverlaps(entries: readonly ZipEntry[], cdOffset: number): void {
  const spans = entries
    .map((e) => {
      const x = e as ZipEntry & { dataStart: number };
      // A data descriptor (bit 3) follows the data: 12 bytes, or 16 with its optional signature.
      const descriptor = (e.localFlags & 0x08) !== 0 ? 12 : 0;
      return { name: e.name, start: e.localHeaderOffset, end: x.dataStart + e.compressedSize + descriptor };
    })
    .sort((a, b) => a.start - b.start);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    const next = spans[i + 1];
    if (next && next.start < s.end) {
      throw malformed(
        next.start === s.start
          ? `Entries "${s.name}" and "${next.name}" share one local header at offset ${s.start} (an overlapping zip bomb).`
          : `Entry "${next.name}" starts at offset ${next.start}, inside entry "${s.name}" (${s.start}-${s.end}) (an overlapping zip bomb).`,
      );
    }
    if (s.start < cdOffset && s.end > cdOffset) throw malformed(`Entry "${s.name}" runs into the central directory.`);
  }
}

function malformed(reason: string, details?: Record<string, unknown>): SsmaxError {
  return new SsmaxError('MALFORMED_ZIP', `Cannot read ZIP archive. ${reason}`, details ? { details } : {});
}

function decodeName(raw: Uint8Array, utf8Flag: boolean): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    // APPNOTE Appendix D: without bit 11 names are CP437; Japanese archivers write Shift_JIS instead.
    if (utf8Flag) throw malformed('An entry name is flagged UTF-8 but is not valid UTF-8.');
    try {
      return new TextDecoder('shift_jis', { fatal: true }).decode(raw);
    } catch {
      return new TextDecoder('latin1').decode(raw);
    }
  }
}

function hasExtraField(extra: Uint8Array, id: number): boolean {
  const v = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let i = 0; i + 4 <= extra.length;) {
    const hid = v.getUint16(i, true);
    const size = v.getUint16(i + 2, true);
    if (hid === id) return true;
    i += 4 + size;
  }
  return false;
}

/**
 * Parses a ZIP archive from its central directory (APPNOTE 4.3.16) and cross-checks each local header
 * (4.3.7). Only stored and deflated entries can be read; encrypted entries are reported, not guessed.
 * Throws `MALFORMED_ZIP` for structural errors (including entries whose local header and data overlap
 * another entry's, the trick of overlapping zip bombs) and `LIMIT_EXCEEDED` for archives beyond `limits`
 * or beyond `budget`, when the caller shares one across several archives.
 */
export function readZip(bytes: Uint8Array, limits: Partial<ZipLimits> = {}, budget: ZipBudget = zipBudget(limits)): ZipArchive {
  const lim = { ...DEFAULT_ZIP_LIMITS, ...limits };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = findEndRecord(bytes);
  // APPNOTE 4.3.16: the end record is last, followed only by a comment of at most 65535 bytes.
  let eocd = found?.eocd ?? -1;
  for (let i = bytes.length - 22; eocd < 0 && i >= 0 && i >= bytes.length - 22 - 0xffff; i--) {
    if (view.getUint32(i, true) === SIG_EOCD) eocd = i;
  }
  if (eocd < 0) throw malformed('No end of central directory record.');
  const total = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  if (total === 0xffff || cdSize === 0xffffffff || view.getUint32(eocd + 16, true) === 0xffffffff) {
    throw new SsmaxError('UNSUPPORTED_CONTENT_TYPE', 'Cannot read ZIP archive. ZIP64 archives are not supported.');
  }
  if (total > lim.maxEntries) {
    throw new SsmaxError('LIMIT_EXCEEDED', `Cannot read ZIP archive. It has ${total} entries, more than ${lim.maxEntries}.`);
  }
  if (total > budget.entries) {
    throw new SsmaxError(
      'LIMIT_EXCEEDED',
      `Cannot read ZIP archive. It has ${total} entries, more than the ${budget.entries} left of the inspection's budget.`,
    );
  }
  budget.entries -= total;
  if (!found) throw malformed('The central directory is not where the end record says.');
  // Offsets in the archive count from its first byte; foreign data in front shifts them all (APPNOTE 4.3.6).
  const shift = found.shift;
  const cdOffset = view.getUint32(eocd + 16, true) + shift;
  if (cdOffset + cdSize > eocd) throw malformed('Central directory lies outside the archive.');

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let n = 0; n < total; n++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== SIG_CENTRAL) throw malformed(`Central directory entry ${n} is damaged.`);
    const centralFlags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    const compressedSize = view.getUint32(p + 20, true);
    const uncompressedSize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const localHeaderOffset = view.getUint32(p + 42, true) + shift;
    const nameRaw = bytes.subarray(p + 46, p + 46 + nameLen);
    const centralExtra = bytes.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (p > eocd) throw malformed(`Central directory entry ${n} runs past the directory.`);

    if (localHeaderOffset + 30 > bytes.length || view.getUint32(localHeaderOffset, true) !== SIG_LOCAL) {
      throw malformed(`Local header of entry ${n} is missing.`, { offset: localHeaderOffset });
    }
    const localFlags = view.getUint16(localHeaderOffset + 6, true);
    const localTime = view.getUint16(localHeaderOffset + 10, true);
    const localMethod = view.getUint16(localHeaderOffset + 8, true);
    const localNameLen = view.getUint16(localHeaderOffset + 26, true);
    const localExtraLen = view.getUint16(localHeaderOffset + 28, true);
    const localExtra = bytes.subarray(localHeaderOffset + 30 + localNameLen, localHeaderOffset + 30 + localNameLen + localExtraLen);
    const dataStart = localHeaderOffset + 30 + localNameLen + localExtraLen;
    if (dataStart + compressedSize > bytes.length) throw malformed(`Data of entry ${n} runs past the archive.`);
    // APPNOTE 4.4: the local header repeats the central record's name and method (and, without a data
    // descriptor, its CRC and sizes). Readers that walk local headers (streaming unzip, some scanners) and
    // readers that use the directory must see the same archive, so any difference makes it unreadable.
    const localName = bytes.subarray(localHeaderOffset + 30, localHeaderOffset + 30 + localNameLen);
    if (!Buffer.from(localName).equals(Buffer.from(nameRaw))) throw malformed(`Entry ${n} has another name in its local header than in the central directory.`);
    if (localMethod !== method) throw malformed(`Entry ${n} has another compression method in its local header than in the central directory.`);
    const localCrc = view.getUint32(localHeaderOffset + 14, true);
    const localCompressed = view.getUint32(localHeaderOffset + 18, true);
    const localUncompressed = view.getUint32(localHeaderOffset + 22, true);

    const encrypted = ((centralFlags | localFlags) & 1) === 1;
    // WinZip AE-x (AES) marks entries with method 99 and extra field 0x9901; the flag bit 0 is set too,
    // but we do not rely on it: a header that hides bit 0 must still count as encrypted.
    const aes = method === 99 || localMethod === 99 || hasExtraField(centralExtra, 0x9901) || hasExtraField(localExtra, 0x9901);
    const strong = ((centralFlags | localFlags) & 0x40) !== 0;
    const encryption: ZipEncryption = aes ? 'aes' : strong ? 'strong' : encrypted ? 'zipcrypto' : 'none';
    const name = decodeName(nameRaw, (centralFlags & 0x0800) !== 0);
    entries.push(
      Object.freeze({
        name,
        isDirectory: name.endsWith('/'),
        method,
        centralFlags,
        localFlags,
        encrypted: encryption !== 'none',
        encryption,
        crc32: crc,
        compressedSize,
        uncompressedSize,
        localHeaderOffset,
        dataStart,
        localTime,
        localSizes: (localFlags & 0x08) !== 0 ? undefined : { crc: localCrc, compressed: localCompressed, uncompressed: localUncompressed },
      }),
    );
  }

  rejectOverlaps(entries, cdOffset);

  return {
    entries,
    read(entry, options = {}) {
      const e = entry as ZipEntry & { dataStart?: number; localTime?: number; localSizes?: { crc: number; compressed: number; uncompressed: number } };
      if (e.dataStart === undefined || !entries.includes(entry)) {
        throw new SsmaxError('USAGE', 'Cannot read ZIP entry. The entry does not belong to this archive.');
      }
      const l = e.localSizes;
      if (l && (l.crc !== e.crc32 || l.compressed !== e.compressedSize || l.uncompressed !== e.uncompressedSize)) {
        // Without a data descriptor (bit 3) the local header states CRC and sizes itself (APPNOTE 4.4.7-4.4.9).
        throw malformed(`Entry "${e.name}" has another CRC or size in its local header than in the central directory.`);
      }
      if (e.uncompressedSize > budget.bytes) {
        throw new SsmaxError(
          'LIMIT_EXCEEDED',
          `Cannot read ZIP entry "${e.name}". It declares ${e.uncompressedSize} bytes, more than the ${Math.max(0, budget.bytes)} left of the inspection's budget.`,
        );
      }
      if (e.uncompressedSize > lim.maxEntryBytes) {
        throw new SsmaxError('LIMIT_EXCEEDED', `Cannot read ZIP entry "${e.name}". It declares ${e.uncompressedSize} bytes, more than ${lim.maxEntryBytes}.`);
      }
      let data = bytes.subarray(e.dataStart, e.dataStart + e.compressedSize);
      if (e.encryption === 'aes' || e.encryption === 'strong') {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot read ZIP entry "${e.name}". ${e.encryption} encryption is not supported.`);
      }
      if (e.encrypted) {
        if (options.password === undefined) {
          throw new SsmaxError('DECRYPT_FAILED', `Cannot read ZIP entry "${e.name}". It is encrypted and no password was given.`);
        }
        if (data.length < 12) throw malformed(`Encrypted entry "${e.name}" is shorter than its encryption header.`);
        const pw = typeof options.password === 'string' ? new TextEncoder().encode(options.password) : options.password;
        const plain = new ZipCryptoKeys(pw).decrypt(data);
        // APPNOTE 6.1.6: the last header byte is the CRC's high byte, or with a data descriptor (bit 3)
        // the high byte of the DOS time — only a 1-in-256 password check; the CRC below does the rest.
        const check = (e.localFlags & 0x08) !== 0 ? ((e.localTime ?? 0) >>> 8) & 0xff : e.crc32 >>> 24;
        if (plain[11] !== check) {
          throw new SsmaxError('DECRYPT_FAILED', `Cannot read ZIP entry "${e.name}". The password is wrong.`);
        }
        data = plain.subarray(12);
      }
      let out: Uint8Array;
      if (e.method === 0) {
        out = data;
      } else if (e.method === 8) {
        try {
          // maxOutputLength stops a zip bomb while inflating, before the memory is spent.
          out = new Uint8Array(inflateRawSync(data, { maxOutputLength: Math.max(1, Math.min(e.uncompressedSize + 1, lim.maxEntryBytes, budget.bytes + 1)) }));
        } catch (err) {
          if (err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new SsmaxError('LIMIT_EXCEEDED', `Cannot read ZIP entry "${e.name}". It inflates beyond the size limit.`, { cause: err });
          }
          if (e.encrypted) throw new SsmaxError('DECRYPT_FAILED', `Cannot read ZIP entry "${e.name}". The password is wrong (bad deflate data).`);
          throw malformed(`Entry "${e.name}" is not valid deflate data.`);
        }
      } else {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot read ZIP entry "${e.name}". Compression method ${e.method} is not supported.`);
      }
      if (out.length !== e.uncompressedSize && e.encrypted) {
        throw new SsmaxError('DECRYPT_FAILED', `Cannot read ZIP entry "${e.name}". The password is wrong (size mismatch).`);
      }
      if (out.length !== e.uncompressedSize) throw malformed(`Entry "${e.name}" has ${out.length} bytes, the directory says ${e.uncompressedSize}.`);
      if (crc32(out) !== e.crc32) {
        // A wrong password passes the 1-byte check 1 time in 256; the CRC then catches it.
        throw e.encrypted
          ? new SsmaxError('DECRYPT_FAILED', `Cannot read ZIP entry "${e.name}". The password is wrong (CRC mismatch).`)
          : malformed(`Entry "${e.name}" fails its CRC-32 check.`);
      }
      budget.bytes -= out.length;
      if (budget.bytes < 0) throw new SsmaxError('LIMIT_EXCEEDED', 'Cannot read ZIP archive. Total uncompressed size exceeds the limit.');
      return out;
    },
  };
}
