/**
 * `@ssmax/core/fuzz`: what the fuzz runner (packages/world/src/fuzz) shares with core's property tests: the input
 * generators, the outcome rule, the RFC 4134 seed corpus, and the two internal readers its structure-aware
 * mutators and depth checks need. Kept off the main index so fast-check never loads in production code.
 */
export { MAX_MS_PER_CASE, isAllowedFailure, jsonValue, mimeTokenSoup, mutatedFrom, rfc4134Seeds, type Rfc4134Seeds } from './fuzz-support.js';
export { readBer, type BerElement } from '../der/ber-reader.js';
export { readContentInfo } from '../cms/common/content-info.js';
