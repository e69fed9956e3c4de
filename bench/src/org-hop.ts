/**
 * The organisation hop being measured (SSMAX.md "Chain of encryption", procedures (4)-(6) and (7)-(9)):
 * decrypt the incoming EnvelopedData/AuthEnvelopedData, verify the sender's SignedData inside it,
 * inspect the content, sign it with the organisation key and encrypt the new SignedData to the next
 * party. Input and output have the shape `openssl cms -sign -nodetach | openssl cms -encrypt` produces,
 * so the OpenSSL reference runs on the very same files.
 *
 * The hop itself is not the bench's: {@link benchFileHop} is sim-org's `orgFileHop`, the function every
 * organisation runs for each protected file (core `protectedFileHop`; one-hop.test.ts asserts it). Here
 * are only the options in the bench's terms and the file input; the bench asks the hop's signed-content
 * layer, because openssl's reference verifies and signs the file itself where SSMAX signs the mail.
 */
import {
  FileSink,
  readFileChunks,
  wholeContent,
  type ByteInput,
  type CertificateInfo,
  type CommitSink,
  type ContentCipher,
  type InspectionVerdict,
  type PrivateKeyOps,
  type ProtectedFileHop,
  type ProtectedFileHopOptions,
  type ProtectedFileHopResult,
} from '@ssmax/core';
import { orgFileHop } from '@ssmax/sim-org';

/** The per-file hop the bench times: the very function sim-org's orgHop calls for every file part. */
export const benchFileHop: ProtectedFileHop = orgFileHop;

/** Whole-content inspection (the organisation's DLP/malware rules need the complete file). */
export type ContentInspector = (content: Uint8Array) => InspectionVerdict | Promise<InspectionVerdict>;

export interface OrgHopOptions {
  /** The organisation's key: decrypts the incoming message and signs the outgoing one. */
  readonly key: PrivateKeyOps;
  /** The organisation's certificate (DER): selects the RecipientInfo and is the signer certificate. */
  readonly certificate: Uint8Array;
  /** Trust anchors the sender's certificate must chain to (DER, or parsed once with `parseCertificate`). */
  readonly trustAnchors: readonly (Uint8Array | CertificateInfo)[];
  /** Parsed sender certificates by SHA-256 of their DER (core SignedContentLayer.certificateCache). Absent: no caching. */
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

export type OrgHopResult = ProtectedFileHopResult;

/** The bench's options as the hop's: one key decrypts and signs, as an `openssl cms` gateway's would. */
export function hopOptions(o: OrgHopOptions): ProtectedFileHopOptions {
  return {
    key: o.key,
    certificate: o.certificate,
    recipients: o.recipients,
    ...(o.cipher ? { cipher: o.cipher } : {}),
    ...(o.inspect ? { inspect: wholeContent(o.inspect) } : {}),
    signedContent: {
      signer: { key: o.key, certificate: o.certificate },
      trustAnchors: o.trustAnchors,
      ...(o.certificateCache ? { certificateCache: o.certificateCache } : {}),
      ...(o.now ? { now: o.now } : {}),
    },
  };
}

/**
 * Runs one hop from `input` to `sink`. Throws (after aborting the sink) on malformed input, a wrong key
 * or a tag/padding failure; returns `committed: false` (sink aborted) when the sender's signature or
 * chain fails or the inspection blocks.
 */
export function orgHop(input: ByteInput, sink: CommitSink, opts: OrgHopOptions): Promise<OrgHopResult> {
  return benchFileHop(input, sink, hopOptions(opts));
}

/** File-to-file hop; the output appears at `outputPath` only when committed. */
export async function orgHopFile(inputPath: string, outputPath: string, opts: OrgHopOptions): Promise<OrgHopResult> {
  return benchFileHop(readFileChunks(inputPath), await FileSink.create(outputPath), hopOptions(opts));
}
