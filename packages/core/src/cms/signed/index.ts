export {
  signSignedData,
  digestAlgorithmForScheme,
  type SignerInput,
  type SignerIdentifierChoice,
  type SignSignedDataOptions,
  type SignedContentInput,
  type SignedAttributeInput,
} from './sign-signed-data.js';
export {
  verifySignedData,
  type VerifySignedDataOptions,
  type SignedDataVerification,
  type SignerVerification,
  type SignerVerdictCode,
  type SignerIdentifier,
  type SignedAttribute,
} from './verify-signed-data.js';
export { type SignerDigestAlgorithm } from './signer-digests.js';
