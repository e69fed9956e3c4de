/**
 * The organisation hop being measured (SSMAX.md "Chain of encryption", procedures (4)-(6) and (7)-(9)):
 * decrypt the incoming EnvelopedData/AuthEnvelopedData, verify the sender's SignedData inside it,
 * inspect the content, sign it with the organisation key and encrypt the new SignedData to the next
 * party. Input and output have the shape `openssl cms -sign -nodetach | openssl cms -encrypt` produces,
 * so the OpenSSL reference runs on the very same files.
 *
 * Everything streams: the content passes once through the decipher, one SHA-256 (the same digest
 * serves the sender's messageDigest check and the organisation's signature, RFC 5652 §5.4) and the
 * cipher. The sender's signature is checked over the streamed digest by rebuilding the SignedData
 * without its eContent; the organisation signs the digest (detached) and its SignerInfo is spliced
 * behind the streamed eContent. The output goes to a {@link CommitSink} committed only after the GCM
 * tag/CBC padding, the sender's signature and chain and the inspection all passed: plaintext seen
 * before the tag is checked is never forwarded or kept.
 */
import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import {
  createEnvelopeWriter,
  FileSink,
  openEnvelope,
  Oids,
  signSignedData,
  SsmaxError,
  parseCertificate,
  validateChain,
  verifySignedData,
  type CertificateInfo,
  type ByteInput,
  type CommitSink,
  type ContentCipher,
  type InspectionVerdict,
  type OpenedEnvelope,
  type PrivateKeyOps,
} from '@ssmax/core';
import { ChunkReader, concatBytes, derChildren, derHeader, derTlv, derValue } from './chunk-reader.js';

/** Whole-content inspection (the organisation's DLP/malware rules need the complete file). */
export type ContentInspector = (content: Uint8Array) => InspectionVerdict | Promise<InspectionVerdict>;

export interface OrgHopOptions {
  /** The organisation's key: decrypts the incoming message and signs the outgoing one. */
  readonly key: PrivateKeyOps;
  /** The organisation's certificate (DER): selects the RecipientInfo and is the signer certificate. */
  readonly certificate: Uint8Array;
  /** Trust anchors the sender's certificate must chain to (DER, or parsed once with `parseCertificate`). */
  readonly trustAnchors: readonly (Uint8Array | CertificateInfo)[];
  /**
   * Parsed sender certificates by SHA-256 of their DER. An organisation sees the same senders again
   * and again; parsing a certificate costs more than the rest of a small hop. Absent: no caching.
   */
  readonly certificateCache?: Map<string, CertificateInfo>;
  /** The next party's certificates (DER). */
  readonly recipients: readonly Uint8Array[];
  /** Cipher of the outgoing message; default 'aes-256-gcm'. */
  readonly cipher?: ContentCipher;
  /** Absent: no inspection (the like-for-like comparison with `openssl cms`). */
  readonly inspect?: ContentInspector;
  /** Injected clock for chain validation and signingTime. Default: now. */
  readonly now?: () => Date;
}

export interface OrgHopResult {
  /** True when the output was committed. */
  readonly committed: boolean;
  /** Why the hop refused to forward (bad sender signature or chain, or the inspection verdict). */
  readonly verdict: InspectionVerdict;
  readonly contentLength: number;
}

const ID_DATA = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01);
const ID_SIGNED_DATA = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02);
// RFC 5652 §5.1 version 1 (id-data, issuerAndSerialNumber); RFC 5754 §2 SHA-256 with absent parameters.
const VERSION_1 = Uint8Array.of(0x02, 0x01, 0x01);
const DIGEST_ALGS = Uint8Array.of(0x31, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01);
const INDEF = (tag: number): Uint8Array => Uint8Array.of(tag, 0x80);
const EOC = Uint8Array.of(0, 0);
const ALLOW: InspectionVerdict = Object.freeze({ allow: true, reasons: [] });

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function malformed(why: string): SsmaxError {
  return new SsmaxError('MALFORMED_CMS', `Cannot read the incoming SignedData. ${why}.`);
}

const CACHE_LIMIT = 10_000;

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

/** Coalesces small writes into large ones so a file sink makes few system calls. */
class BufferedSink implements CommitSink {
  private pending: Uint8Array[] = [];
  private size = 0;
  constructor(
    private readonly inner: CommitSink,
    private readonly threshold = 256 << 10,
  ) {}
  async write(chunk: Uint8Array): Promise<void> {
    // Large chunks go straight through: copying them into a batch would double what is allocated.
    if (chunk.byteLength >= this.threshold / 4) {
      await this.flush();
      await this.inner.write(chunk);
      return;
    }
    this.pending.push(chunk);
    this.size += chunk.byteLength;
    if (this.size >= this.threshold) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.size === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : concatBytes(this.pending);
    this.pending = [];
    this.size = 0;
    await this.inner.write(data);
  }
  async commit(): Promise<void> {
    await this.flush();
    await this.inner.commit();
  }
  async abort(): Promise<void> {
    this.pending = [];
    this.size = 0;
    await this.inner.abort();
  }
}

/**
 * Runs one hop from `input` to `sink`. Throws (after aborting the sink) on malformed input, a wrong key
 * or a tag/padding failure; returns `committed: false` (sink aborted) when the sender's signature or
 * chain fails or the inspection blocks.
 */
export async function orgHop(input: ByteInput, target: CommitSink, opts: OrgHopOptions): Promise<OrgHopResult> {
  const sink = new BufferedSink(target);
  const now = opts.now?.() ?? new Date();
  let env: OpenedEnvelope | undefined;
  let contentLength = 0;
  try {
    env = await openEnvelope(input, { key: opts.key, certificate: opts.certificate });
    const r = new ChunkReader(env.plaintext);
    const ci = await r.header('ContentInfo', 0x30);
    const ciEnd = ci.length === undefined ? undefined : r.pos + ci.length;
    if (!bytesEqual(await r.element('contentType', 0x06), ID_SIGNED_DATA)) throw malformed('The decrypted content is not a SignedData');
    const c0 = await r.header('content', 0xa0);
    const sd = await r.header('SignedData', 0x30);
    const sdEnd = sd.length === undefined ? undefined : r.pos + sd.length;
    const version = await r.element('version', 0x02);
    const digestAlgs = await r.element('digestAlgorithms', 0x31);
    const encap = await r.header('encapContentInfo', 0x30);
    const encapEnd = encap.length === undefined ? undefined : r.pos + encap.length;
    const eType = await r.element('eContentType', 0x06);
    // The organisation signs id-data content, as the sender did; other eContentTypes are not files.
    if (!bytesEqual(eType, ID_DATA)) throw new SsmaxError('UNSUPPORTED_CONTENT_TYPE', 'Cannot forward the SignedData. Its eContentType is not id-data.');
    if (encapEnd === undefined ? await r.atEoc() : r.pos >= encapEnd) throw malformed('The content is detached');
    const wrap = await r.header('eContent', 0xa0);
    const os = await r.header('eContent OCTET STRING');
    if (os.tag !== 0x04 && os.tag !== 0x24) throw malformed('The eContent is not an OCTET STRING');
    const knownLength = os.tag === 0x04 ? os.length : undefined;

    // RFC 5652 §6.1: the new SignedData is the EncryptedContentInfo's id-data content. Its total length
    // depends on the signature (ECDSA varies), so the outer layers use BER indefinite lengths
    // (X.690 §8.1.3.6), as openssl's -stream does; the eContent keeps a definite length when known.
    const writer = createEnvelopeWriter({ recipients: opts.recipients, ...(opts.cipher ? { cipher: opts.cipher } : {}) });
    const out = async (p: Uint8Array): Promise<void> => {
      for (const c of writer.update(p)) await sink.write(c);
    };
    for (const p of writer.head) await sink.write(p);
    const head: Uint8Array[] = [INDEF(0x30), ID_SIGNED_DATA, INDEF(0xa0), INDEF(0x30), VERSION_1, DIGEST_ALGS];
    if (knownLength !== undefined) {
      const osHeader = derHeader(0x04, knownLength);
      const wrapHeader = derHeader(0xa0, osHeader.byteLength + knownLength);
      head.push(derHeader(0x30, ID_DATA.byteLength + wrapHeader.byteLength + osHeader.byteLength + knownLength), ID_DATA, wrapHeader, osHeader);
    } else {
      head.push(INDEF(0x30), ID_DATA, INDEF(0xa0), INDEF(0x24));
    }
    await out(concatBytes(head));

    const hash = createHash('sha256');
    const kept: Uint8Array[] | undefined = opts.inspect ? [] : undefined;
    const content = async (c: Uint8Array): Promise<void> => {
      contentLength += c.byteLength;
      hash.update(c);
      // The inspector needs the whole file; the decipher hands out a fresh buffer per chunk.
      kept?.push(c);
      if (knownLength !== undefined) await out(c);
      else {
        await out(derHeader(0x04, c.byteLength));
        await out(c);
      }
    };
    if (os.length !== undefined && os.tag === 0x04) {
      for await (const c of r.stream(os.length, 'eContent')) await content(c);
    } else {
      // X.690 §8.7.3.2: a constructed OCTET STRING is a series of primitive segments.
      const osEnd = os.length === undefined ? undefined : r.pos + os.length;
      while (osEnd === undefined ? !(await r.atEoc()) : r.pos < osEnd) {
        const seg = await r.header('eContent segment', 0x04);
        for await (const c of r.stream(seg.length!, 'eContent segment')) await content(c);
      }
      if (osEnd === undefined) await r.eoc('eContent OCTET STRING');
    }
    if (wrap.length === undefined) await r.eoc('eContent');
    if (encapEnd === undefined) await r.eoc('encapContentInfo');
    else if (r.pos !== encapEnd) throw malformed('The encapContentInfo length is wrong');
    if (knownLength === undefined) await out(concatBytes([EOC, EOC, EOC]));

    const trailer: Uint8Array[] = [];
    while (sdEnd === undefined ? !(await r.atEoc()) : r.pos < sdEnd) trailer.push(await r.element('SignedData field'));
    if (sdEnd === undefined) await r.eoc('SignedData');
    else if (r.pos !== sdEnd) throw malformed('The SignedData length is wrong');
    if (c0.length === undefined) await r.eoc('content');
    if (ciEnd === undefined) await r.eoc('ContentInfo');
    else if (r.pos !== ciEnd) throw malformed('The ContentInfo length is wrong');
    // Drives the decrypted stream to its end: the GCM tag / CBC padding is checked here and throws.
    if (!(await r.atEnd())) throw malformed('Bytes follow the SignedData');

    // RFC 5652 §5.4/§5.6 over the streamed digest: the same SignedData without its eContent.
    const digest = new Uint8Array(hash.digest());
    const detached = derTlv(0x30, ID_SIGNED_DATA, derTlv(0xa0, derTlv(0x30, version, digestAlgs, derTlv(0x30, eType), ...trailer)));
    const v = verifySignedData(detached, { detachedDigest: { 'SHA-256': digest } });
    const signer = v.signers[0];
    if (!v.allValid || v.signers.length !== 1 || !signer?.certificate) {
      await sink.abort();
      return {
        committed: false,
        contentLength,
        verdict: { allow: false, reasons: v.signers.flatMap((s) => s.reasons).concat(v.signers.length === 0 ? ['no signer'] : []) },
      };
    }
    const chain = validateChain({
      leaf: cachedCertificate(signer.certificate, opts.certificateCache),
      intermediates: v.certificates.filter((c) => !bytesEqual(c, signer.certificate!)).map((c) => cachedCertificate(c, opts.certificateCache)),
      trustAnchors: opts.trustAnchors,
      time: now,
      revocation: 'none',
      requiredExtKeyUsage: Oids.emailProtection,
    });
    if (!chain.valid) {
      await sink.abort();
      return { committed: false, contentLength, verdict: { allow: false, reasons: [...chain.reasons] } };
    }

    const verdict = opts.inspect ? await opts.inspect(kept!.length === 1 ? kept![0]! : concatBytes(kept!)) : ALLOW;
    if (!verdict.allow) {
      await sink.abort();
      return { committed: false, contentLength, verdict };
    }

    const signed = await signSignedData({ digest }, { key: opts.key, certificate: opts.certificate, detached: true, signingTime: now });
    const [ciOut] = derChildren(signed);
    const [, wrapped] = derChildren(derValue(ciOut!));
    const fields = derChildren(derValue(derChildren(derValue(wrapped!))[0]!));
    // The head went out before the signature existed: it must be what signSignedData would have written.
    if (!bytesEqual(fields[0]!, VERSION_1) || !bytesEqual(fields[1]!, DIGEST_ALGS)) {
      throw new SsmaxError('INTERNAL', 'Cannot splice the organisation signature. signSignedData wrote another version or digestAlgorithms.');
    }
    await out(concatBytes([...fields.slice(3), EOC, EOC, EOC]));
    for (const p of writer.final()) await sink.write(p);
    await sink.commit();
    return { committed: true, contentLength, verdict };
  } catch (e) {
    await env?.plaintext.return(undefined).catch(() => undefined);
    await sink.abort();
    throw e instanceof SsmaxError ? e : new SsmaxError('INTERNAL', 'Cannot run the organisation hop. An unexpected error occurred.', { cause: e });
  }
}

/** Files up to this size are read with one call; larger ones are streamed through one buffer of this size. */
const CHUNK = 256 << 10;

/**
 * The file in CHUNK-sized reads into ONE buffer (core's ByteInput contract: a chunk may be overwritten
 * once the next is asked for). A read stream allocates a fresh buffer per read, and node frees those
 * only at the next GC: with the decipher's and the cipher's output that made three copies of the file
 * in memory at once.
 */
async function* readReused(path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** File-to-file hop; the output appears at `outputPath` only when committed. */
export async function orgHopFile(inputPath: string, outputPath: string, opts: OrgHopOptions): Promise<OrgHopResult> {
  const size = (await stat(inputPath)).size;
  if (size <= CHUNK) {
    const bytes = new Uint8Array(await readFile(inputPath));
    return orgHop([bytes], await FileSink.create(outputPath), opts);
  }
  const input = readReused(inputPath);
  try {
    return await orgHop(input, await FileSink.create(outputPath), opts);
  } finally {
    await input.return(undefined);
  }
}
