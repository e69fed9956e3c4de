export { createZip } from './zip-writer.js';
export type { ZipWriterEntry, CreateZipOptions } from './zip-writer.js';
export { readZip, looksLikeZip, zipBudget, DEFAULT_ZIP_LIMITS } from './zip-reader.js';
export type { ZipArchive, ZipEntry, ZipEncryption, ZipLimits, ZipBudget } from './zip-reader.js';
export { crc32 } from './crc32.js';
