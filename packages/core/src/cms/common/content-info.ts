/** ContentInfo framing (RFC 5652 §3). */
import type { DerLimits } from '../../asn1.js';
import { SsmaxError } from '../../errors.js';
import { berContent, berIs, berOid, readBer, TagClass, UniversalTag, type BerElement } from '../../der/ber-reader.js';
import { derEncode, derExplicit, derOctetString, derOid, derSequence, type DerInput } from '../../der/der-writer.js';

/**
 * ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }, DER. `content` is the
 * already built inner structure (e.g. a SignedData tree); large leaves are copied once.
 */
export function encodeContentInfo(contentType: string, content: DerInput): Uint8Array {
  return derEncode(derSequence(derOid(contentType), derExplicit(0, content)));
}

export interface ContentInfo {
  readonly contentType: string;
  /** The element inside [0] EXPLICIT (a view into the input). */
  readonly content: BerElement;
  readonly root: BerElement;
}

/**
 * Reads a (BER or DER) ContentInfo. Throws MALFORMED_DER for bad encodings, MALFORMED_CMS if the
 * structure is not a ContentInfo, LIMIT_EXCEEDED past `limits`.
 */
export function readContentInfo(input: Uint8Array, limits?: DerLimits): ContentInfo {
  const root = readBer(input, 'the CMS ContentInfo', limits);
  if (!berIs(root, TagClass.universal, UniversalTag.sequence, true) || root.children.length !== 2) {
    throw new SsmaxError('MALFORMED_CMS', 'Cannot read the CMS ContentInfo. It is not a SEQUENCE of contentType and content.');
  }
  const [typeEl, wrapper] = root.children as [BerElement, BerElement];
  const contentType = berOid(typeEl, 'the ContentInfo contentType');
  if (!berIs(wrapper, TagClass.context, 0, true) || wrapper.children.length !== 1) {
    throw new SsmaxError('MALFORMED_CMS', 'Cannot read the CMS ContentInfo. The content is not a single [0] EXPLICIT element.');
  }
  return { contentType, content: wrapper.children[0] as BerElement, root };
}

/** id-data (RFC 5652 §4). */
const ID_DATA = '1.2.840.113549.1.7.1';

/**
 * ContentInfo { id-data, OCTET STRING content }: a file part carried in the clear (RFC 5652 §4). Only
 * falsifiability runs make these (the file-encryption defence switched off); every ordinary hop sends
 * EnvelopedData / AuthEnvelopedData and refuses this.
 */
export function encodePlainData(content: Uint8Array): Uint8Array {
  return encodeContentInfo(ID_DATA, derOctetString(content));
}

/** The content of an id-data ContentInfo with a primitive OCTET STRING, or undefined for anything else. */
export function readPlainData(input: Uint8Array): Uint8Array | undefined {
  let ci: ContentInfo;
  try {
    ci = readContentInfo(input);
  } catch {
    return undefined;
  }
  if (ci.contentType !== ID_DATA || !berIs(ci.content, TagClass.universal, UniversalTag.octetString, false)) return undefined;
  return new Uint8Array(berContent(ci.content));
}
