/**
 * `@ssmax/core/fuzz`: what the fuzz runner (packages/world/src/fuzz) shares with core's property tests: the input
 * generators, the outcome rule, the RFC 4134 seed corpus, and the two internal readers its structure-aware
 * mutators and depth checks need. Kept off the main index so fast-check never loads in production code.
 */
export { MAX_MS_PER_CASE, isAllowedFailure, jsonValue, mimeTokenSoup, mutatedFrom, rfc4134Seeds, type Rfc4134Seeds } from './fuzz-support.js';
export { readBer, type BerElement } from '../der/ber-reader.js';
export { readContentInfo } from '../cms/common/content-info.js';
// The x509-path target builds its certificates and CRLs field by field, and runs these decoders on their extensions
// directly (validateChain turns their errors into reasons, so a decoder's own fault would not show as a thrown error).
export { DerValue, derBitString, derBoolean, derEncode, derInteger, derOid, derSequence, derSetOf, derTime, type DerInput } from '../der/der-writer.js';
export { decodeNameConstraints } from '../x509/name-constraints.js';
export { decodeCertificatePolicies, decodeInhibitAnyPolicy, decodePolicyConstraints, decodePolicyMappings } from '../x509/policy-tree.js';
export { readCrlDistributionPoints } from '../x509/crl.js';
