export { encryptContent, encryptStream, createEnvelopeWriter } from './encrypt.js';
export type { ContentCipher, EncryptOptions, EncryptStreamOptions, EnvelopeWriter } from './encrypt.js';
export { decryptContent, decryptStream, openEnvelope } from './decrypt.js';
export type { DecryptOptions, DecryptedContent, EnvelopeInfo, OpenedEnvelope } from './decrypt.js';
export { reencrypt, reencryptStream, reencryptFile } from './reencrypt.js';
export type {
  InspectionVerdict,
  ReencryptOptions,
  ReencryptResult,
  ReencryptStreamOptions,
  ReencryptStreamResult,
  ReencryptTarget,
  StreamInspection,
  StreamInspector,
} from './reencrypt.js';
export { CONTENT_CIPHERS, PRODUCIBLE_CIPHERS } from './content-cipher.js';
export type { ContentCipherSpec } from './content-cipher.js';
export type { CertificateRecipientOptions, KeyManagement, PasswordRecipient, SecretKeyRecipient } from './recipient-info.js';
export { FileSink, MemorySink } from './commit-sink.js';
export type { CommitSink } from './commit-sink.js';
export type { RandomSource } from './recipient-info.js';
export type { ByteInput } from './ber-stream-reader.js';
