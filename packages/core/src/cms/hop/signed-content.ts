/**
 * The signed-content layer of the hop (private to cms/hop): the decrypted content is a sender's
 * SignedData; the organisation verifies it and sends on its own (RFC 5652 §5), streaming.
 *
 * The eContent passes once through one SHA-256, which serves both the sender's messageDigest check and
 * the organisation's signature (RFC 5652 §5.4), and on into the cipher. The sender's signature is
 * checked over the streamed digest by rebuilding the SignedData without its eContent; the
 * organisation signs the digest (detached) and its SignerInfo is spliced behind the streamed eContent.
 * The new SignedData's outer lengths depend on the signature (ECDSA varies), so they are BER
 * indefinite (X.690 §8.1.3.6), as openssl's -stream writes them; the eContent keeps a definite length
 * when it had one.
 */
import { createHash } from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import { concatBytes, derHeader, derOid } from '../../der/der-writer.js';
import { parseCertificate, type CertificateInfo } from '../../x509/certificate-info.js';
import { validateChain } from '../../x509/validate-chain.js';
import { BerStreamReader } from '../enveloped/ber-stream-reader.js';
import { children, readNode, Tag } from '../enveloped/ber-node-reader.js';
import { signSignedData } from '../signed/sign-signed-data.js';
import { verifySignedData } from '../signed/verify-signed-data.js';
import type { HopOutput } from './hop-output.js';
import { ALLOW, type InspectionVerdict, type StreamInspection } from './inspection.js';

export interface SignedContentLayer {
  /** The organisation's signing key and certificate (DER): the new SignerInfo. */
  readonly signer: { readonly key: PrivateKeyOps; readonly certificate: Uint8Array };
  /** Trust anchors the sender's certificate must chain to (DER, or parsed once with `parseCertificate`). */
  readonly trustAnchors: readonly (Uint8Array | CertificateInfo)[];
  /**
   * Parsed sender certificates by SHA-256 of their DER. An organisation sees the same senders again and
   * again; parsing a certificate costs more than the rest of a small hop. Absent: no caching.
   */
  readonly certificateCache?: Map<string, CertificateInfo>;
  /** Injected clock for chain validation and signingTime. Default: now. */
  readonly now?: () => Date;
}

const ID_DATA = derOid(Oids.data);
const ID_SIGNED_DATA = derOid(Oids.signedData);
// RFC 5652 §5.1 version 1 (id-data, issuerAndSerialNumber); RFC 5754 §2 SHA-256 with absent parameters.
const VERSION_1 = Uint8Array.of(0x02, 0x01, 0x01);
const DIGEST_ALGS = Uint8Array.of(0x31, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01);
const INDEF = (tag: number): Uint8Array => Uint8Array.of(tag, 0x80);
const EOC3 = new Uint8Array(6);
const CACHE_LIMIT = 10_000;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function malformed(why: string): SsmaxError {
  return new SsmaxError('MALFORMED_CMS', `Cannot read the incoming SignedData. ${why}.`);
}

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const v = concatBytes(parts);
  return concatBytes([derHeader(tag, v.byteLength), v]);
}

function cachedCertificate(der: Uint8Array, cache: Map<string, CertificateInfo> | undefined): Uint8Array | CertificateInfo {
  if (!cache) return der;
  const id = createHash('sha256').update(der).digest('base64');
  let info = cache.get(id);
  if (!info) {
    info = parseCertificate(der);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(id, info);
  }
  return info;
}

/** The fields of the SignedData inside a DER ContentInfo (RFC 5652 §3, §5.1), each as its full encoding. */
function signedDataFields(contentInfo: Uint8Array): Uint8Array[] {
  const [, wrapped] = children(contentInfo, readNode(contentInfo, 0));
  const sd = children(contentInfo, wrapped!)[0]!;
  return children(contentInfo, sd).map((n) => contentInfo.subarray(n.start, n.end));
}

/**
 * Reads the sender's SignedData from `plaintext`, streams the new SignedData's content into `out` and,
 * when the signature, the chain and the inspection allow, writes the organisation's SignerInfo after it.
 * Returns the verdict (the caller aborts the sink when it does not allow). Throws on malformed input and
 * when the plaintext stream fails (GCM tag, CBC padding).
 */
export async function resignSignedContent(
  plaintext: AsyncIterable<Uint8Array>,
  out: HopOutput,
  inspection: StreamInspection | undefined,
  layer: SignedContentLayer,
): Promise<{ verdict: InspectionVerdict; contentLength: number }> {
  const now = layer.now?.() ?? new Date();
  const r = new BerStreamReader(plaintext);
  await r.open(Tag.SEQUENCE, 'ContentInfo');
  if (!bytesEqual(await r.readElement('contentType', Tag.OID), ID_SIGNED_DATA)) throw malformed('The decrypted content is not a SignedData');
  await r.open(0xa0, 'content');
  await r.open(Tag.SEQUENCE, 'SignedData');
  const version = await r.readElement('version', Tag.INTEGER);
  const digestAlgs = await r.readElement('digestAlgorithms', Tag.SET);
  await r.open(Tag.SEQUENCE, 'encapContentInfo');
  const eType = await r.readElement('eContentType', Tag.OID);
  // The organisation signs id-data content, as the sender did; other eContentTypes are not files.
  if (!bytesEqual(eType, ID_DATA)) throw new SsmaxError('UNSUPPORTED_CONTENT_TYPE', 'Cannot forward the SignedData. Its eContentType is not id-data.');
  if (!(await r.hasMore())) throw malformed('The content is detached');
  await r.open(0xa0, 'eContent');
  const os = await r.readHeader('eContent OCTET STRING');
  if (os.tag !== Tag.OCTET_STRING && os.tag !== Tag.CONSTRUCTED_OCTET_STRING) throw malformed('The eContent is not an OCTET STRING');
  const knownLength = os.tag === Tag.OCTET_STRING ? os.length : undefined;

  // RFC 5652 §6.1: the new SignedData is the EncryptedContentInfo's content.
  const head: Uint8Array[] = [INDEF(0x30), ID_SIGNED_DATA, INDEF(0xa0), INDEF(0x30), VERSION_1, DIGEST_ALGS];
  if (knownLength !== undefined) {
    const osHeader = derHeader(Tag.OCTET_STRING, knownLength);
    const wrapHeader = derHeader(0xa0, osHeader.byteLength + knownLength);
    head.push(derHeader(0x30, ID_DATA.byteLength + wrapHeader.byteLength + osHeader.byteLength + knownLength), ID_DATA, wrapHeader, osHeader);
  } else {
    head.push(INDEF(0x30), ID_DATA, INDEF(0xa0), INDEF(Tag.CONSTRUCTED_OCTET_STRING));
  }
  await out.content(concatBytes(head));

  const hash = createHash('sha256');
  let contentLength = 0;
  // X.690 §8.7.3.2: a constructed OCTET STRING is a series of segments; each goes out as one segment.
  for await (const c of r.streamOctets(os, 'eContent')) {
    contentLength += c.byteLength;
    hash.update(c);
    if (inspection) await inspection.update(c);
    if (knownLength === undefined) await out.content(derHeader(Tag.OCTET_STRING, c.byteLength));
    await out.content(c);
  }
  await r.close('eContent');
  await r.close('encapContentInfo');
  if (knownLength === undefined) await out.content(EOC3);

  const trailer: Uint8Array[] = [];
  while (await r.hasMore()) trailer.push(await r.readElement('SignedData field'));
  await r.close('SignedData');
  await r.close('content');
  await r.close('ContentInfo');
  // Drives the decrypted stream to its end: the GCM tag / CBC padding is checked here and throws.
  if (!(await r.atEnd())) throw malformed('Bytes follow the SignedData');

  // RFC 5652 §5.4/§5.6 over the streamed digest: the same SignedData without its eContent.
  const digest = new Uint8Array(hash.digest());
  const detached = tlv(0x30, ID_SIGNED_DATA, tlv(0xa0, tlv(0x30, version, digestAlgs, tlv(0x30, eType), ...trailer)));
  const v = verifySignedData(detached, { detachedDigest: { 'SHA-256': digest } });
  const signer = v.signers[0];
  if (!v.allValid || v.signers.length !== 1 || !signer?.certificate) {
    return {
      contentLength,
      verdict: { allow: false, reasons: v.signers.flatMap((s) => s.reasons).concat(v.signers.length === 0 ? ['no signer'] : []) },
    };
  }
  const chain = validateChain({
    leaf: cachedCertificate(signer.certificate, layer.certificateCache),
    intermediates: v.certificates.filter((c) => !bytesEqual(c, signer.certificate!)).map((c) => cachedCertificate(c, layer.certificateCache)),
    trustAnchors: layer.trustAnchors,
    time: now,
    revocation: 'none',
    requiredExtKeyUsage: Oids.emailProtection,
  });
  if (!chain.valid) return { contentLength, verdict: { allow: false, reasons: [...chain.reasons] } };

  const verdict = inspection ? await inspection.verdict() : ALLOW;
  if (!verdict.allow) return { contentLength, verdict };

  const signed = await signSignedData({ digest }, { key: layer.signer.key, certificate: layer.signer.certificate, detached: true, signingTime: now });
  const fields = signedDataFields(signed);
  // The head went out before the signature existed: it must be what signSignedData would have written.
  if (!bytesEqual(fields[0]!, VERSION_1) || !bytesEqual(fields[1]!, DIGEST_ALGS)) {
    throw new SsmaxError('INTERNAL', 'Cannot splice the organisation signature. signSignedData wrote another version or digestAlgorithms.');
  }
  await out.content(concatBytes([...fields.slice(3), EOC3]));
  return { contentLength, verdict };
}
