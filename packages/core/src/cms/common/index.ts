export {
  type DerInput,
  derEncode,
  derSequence,
  derSetOf,
  derExplicit,
  derImplicit,
  derOctetString,
  derNull,
  derInteger,
  derOid,
  derTime,
} from '../../der/der-writer.js';
export {
  TagClass,
  UniversalTag,
  type BerElement,
  readBer,
  berEncoded,
  berContent,
  berIs,
  berStringValue,
  berOid,
  berInteger,
  berTime,
} from '../../der/ber-reader.js';
export {
  type AlgorithmIdentifier,
  type DigestAlgorithm,
  encodeAlgorithmIdentifier,
  readAlgorithmIdentifier,
  paramsAbsentOrNull,
  digestAlgorithmFromOid,
  nodeHashName,
  digestLength,
  encodeDigestAlgorithm,
} from './algorithm-identifier.js';
export { encodeContentInfo, readContentInfo } from './content-info.js';
