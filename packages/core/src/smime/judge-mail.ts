/**
 * The recipient client's judgement of one whole mail (ssmax issue 10, "Also": `ssmax mail verify`), the
 * interface others use to regression-test mail clients against ours. A signature counts for the message only
 * when it covers the WHOLE message (Müller et al., "Johnny, you are fired", USENIX Security 2019): a signed
 * part inside an unsigned multipart is `partial`, never `valid`. Every signer of every layer must be valid
 * (judge-signers.ts: signature, path to the caller's anchors at the caller's time, the caller's CRLs only,
 * RFC 8550 §4.4 key purpose), the mail must name exactly one author (one From field with one mailbox, Sender
 * absent or the same: the one RFC 5322 parser of address.ts, issue 10 item 4), and every signer certificate
 * must name that From address (RFC 8550 §3).
 *
 * Outcomes are data: hostile input never throws. Only input that is not a mail at all (empty, no header
 * section that parses, no header field) is reported as `malformed`; a fault of the decryption key or token
 * (infrastructure, a broken key, a PIN) throws, because it is not the mail's.
 */
import { SsmaxError, type ErrorCode } from '../errors.js';
import { decryptContent, verifySignedData, type SignedDataVerification } from '../cms/index.js';
import type { PrivateKeyOps } from '../keys.js';
import { originatorOf, senderIsAuthor } from './address.js';
import { judgeSigners, type SignerJudgement } from './judge-signers.js';
import { DEFAULT_MIME_LIMITS, canonicalizeLineEndings, type MimeLimits } from './mime-bytes.js';
import { getHeader, parseHeaderSection, type MimeHeader } from './mime-headers.js';
import { parseMimeEntity, type MimePart } from './mime-entity.js';
import { parseSmime, type ParsedSmime } from './smime-message.js';

/**
 * `valid`: signed as a whole, every check passed. `invalid`: a signature is there (on the whole or on a part)
 * and a check failed. `unsigned`: no signature the client could see. `partial`: only some parts carry a valid
 * signature; the message around them is unsigned.
 */
export type MailSignatureState = 'valid' | 'invalid' | 'unsigned' | 'partial';

/** An S/MIME layer, outermost first. */
export type MailLayer = 'multipart/signed' | 'signed-data' | 'enveloped-data' | 'authEnveloped-data';

/** One signer as the mail judgement reports it. */
export interface MailSigner extends SignerJudgement {
  /** 1 for the outermost S/MIME layer (of the message, or of the part named by `part`). */
  readonly layer: number;
  readonly form: 'multipart/signed' | 'signed-data';
  /** The MIME part the signature covers (`"2"`, `"1.2"`), when it does not cover the whole message. */
  readonly part?: string;
  /** The signer certificate names the From address (RFC 8550 §3). */
  readonly fromMatches: boolean;
}

export interface MailJudgement {
  readonly signature: MailSignatureState;
  /** The e-mail addresses of the signers counted for the state (the whole message's, else the signed parts'). */
  readonly signers: string[];
  /** The one From mailbox (local part as written, domain lower-case); null when From does not name exactly one. */
  readonly from: string | null;
  /** Why the state is not `valid` (empty when it is). */
  readonly reasons: string[];
  /** An enveloped layer was met. */
  readonly encrypted: boolean;
  /** Every enveloped layer met was decrypted. */
  readonly decrypted: boolean;
  /** The S/MIME layers of the whole message, outermost first. */
  readonly layers: MailLayer[];
  readonly signerDetails: MailSigner[];
  /** The Sender mailbox, when the mail has one that parses. */
  readonly sender?: string;
  readonly messageId: string | null;
  /** The mail carries an SSMAX hop (X-SSMAX-Hop): judged here as S/MIME only. */
  readonly ssmax?: true;
  /** The input is not a mail at all; the state is then `invalid`. */
  readonly malformed?: { readonly code: ErrorCode; readonly message: string };
}

export interface JudgeMailOptions {
  /** The roots the client trusts (its trust store). */
  readonly trustAnchors: readonly Uint8Array[];
  /** The validation time: now, or a time the caller chose; never a time the message names. */
  readonly time: Date;
  /** The caller's CRLs; revocation is then required. CRLs the message carries are never used. */
  readonly crls?: readonly Uint8Array[];
  /** Further candidate intermediates (DER). */
  readonly certificates?: readonly Uint8Array[];
  /** The reader's key (software or on a token), to open enveloped layers. */
  readonly recipient?: { readonly key: PrivateKeyOps; readonly certificate?: Uint8Array };
  readonly limits?: MimeLimits;
}

/** Most S/MIME layers opened in one message or part (RFC 8551 §3.7 triple wrapping needs three). */
const MAX_LAYERS = 8;
/** Most signed or encrypted parts judged inside an unsigned message. */
const MAX_NESTED = 16;
/** Errors of the reader's own key or token: not the mail's fault, so they stop the judgement. */
const READER_FAULTS: readonly ErrorCode[] = ['MALFORMED_KEY', 'PIN_INCORRECT', 'PIN_LOCKED', 'PIN_REQUIRED', 'CAPABILITY_MISSING'];

/** An error a hostile mail can cause: reported as a reason, never thrown. */
function isMailFault(e: unknown): e is SsmaxError {
  return e instanceof SsmaxError && e.category !== 'infrastructure' && !READER_FAULTS.includes(e.code);
}

interface Ctx {
  readonly o: JudgeMailOptions;
  readonly limits: MimeLimits;
  readonly from: string | null;
}

interface Peeled {
  readonly signers: MailSigner[];
  readonly layers: MailLayer[];
  readonly reasons: string[];
  /** A signature layer was met. */
  claimed: boolean;
  /** A signature layer could not be read or has no signer. */
  broken: boolean;
  encrypted: boolean;
  /** Every enveloped layer was opened. */
  decrypted: boolean;
  /** The content under the last layer, when every layer could be opened. */
  content?: { readonly raw: Uint8Array; readonly headers: readonly MimeHeader[] };
}

function signatureLayer(
  out: Peeled,
  ctx: Ctx,
  form: MailSigner['form'],
  n: number,
  part: string | undefined,
  verify: () => SignedDataVerification,
): SignedDataVerification | undefined {
  const where = part ? `part ${part}: ` : '';
  out.claimed = true;
  out.layers.push(form);
  let v: SignedDataVerification;
  try {
    v = verify();
  } catch (e) {
    if (!isMailFault(e)) throw e;
    out.broken = true;
    out.reasons.push(`${where}the ${form} signature cannot be read (${e.code}: ${e.message})`);
    return undefined;
  }
  const judged = judgeSigners(v, {
    trustAnchors: ctx.o.trustAnchors,
    intermediates: ctx.o.certificates ?? [],
    crls: ctx.o.crls ?? [],
    time: ctx.o.time,
    purpose: 'smime',
  });
  if (judged.length === 0) {
    out.broken = true;
    out.reasons.push(`${where}the ${form} signature has no signer`);
  }
  for (const s of judged)
    out.signers.push({ ...s, layer: n, form, ...(part ? { part } : {}), fromMatches: ctx.from !== null && s.emailAddresses.includes(ctx.from) });
  return v;
}

/** Opens the S/MIME layers of a message or part (enveloped → signed → …) down to its content. */
async function peel(first: ParsedSmime, ctx: Ctx, part?: string): Promise<Peeled> {
  const out: Peeled = { signers: [], layers: [], reasons: [], claimed: false, broken: false, encrypted: false, decrypted: true };
  const where = part ? `part ${part}: ` : '';
  const subject = part ? `part ${part}` : 'the mail';
  let layer = first;
  for (let n = 1; ; n++) {
    if (layer.kind === 'plain') {
      out.content = { raw: layer.entity, headers: layer.headers };
      return out;
    }
    if (n > MAX_LAYERS) {
      out.reasons.push(`${subject} has more than ${MAX_LAYERS} S/MIME layers; what is inside is not read`);
      return out;
    }
    let next: Uint8Array | undefined;
    if (layer.kind === 'multipart-signed') {
      const l = layer;
      signatureLayer(out, ctx, 'multipart/signed', n, part, () =>
        verifySignedData(l.signature, { detachedContent: l.signedEntity, ...(ctx.o.certificates ? { certificates: ctx.o.certificates } : {}) }),
      );
      // The content is read on even under a broken signature, so the report shows what is inside.
      next = l.signedEntity;
    } else {
      const l = layer;
      let signed = l.smimeType === 'signed-data';
      if (l.smimeType === undefined) {
        // RFC 8551 §3.2.2: older agents omit smime-type; the ContentInfo says what it is.
        try {
          verifySignedData(l.der);
          signed = true;
        } catch (e) {
          signed = !(e instanceof SsmaxError && e.code === 'UNSUPPORTED_CONTENT_TYPE');
        }
      }
      if (signed) {
        const v = signatureLayer(out, ctx, 'signed-data', n, part, () =>
          verifySignedData(l.der, ctx.o.certificates ? { certificates: ctx.o.certificates } : {}),
        );
        if (!v) return out;
        if (v.detached || v.content === undefined) {
          out.broken = true;
          out.reasons.push(`${where}the signed-data carries no content (a detached signature outside multipart/signed covers nothing)`);
          return out;
        }
        next = v.content;
      } else if (l.smimeType === undefined || l.smimeType === 'enveloped-data' || l.smimeType === 'authEnveloped-data') {
        out.encrypted = true;
        out.layers.push(l.smimeType ?? 'enveloped-data');
        if (!ctx.o.recipient) {
          out.decrypted = false;
          out.reasons.push(`${subject} is encrypted and no decryption key was given: what is inside, a signature too, cannot be checked`);
          return out;
        }
        try {
          const opened = await decryptContent(l.der, {
            key: ctx.o.recipient.key,
            ...(ctx.o.recipient.certificate ? { certificate: ctx.o.recipient.certificate } : {}),
          });
          next = opened.content;
          // Issue 12: 3DES-CBC and RSA PKCS#1 v1.5 are read for old mail only; the verdict says so.
          for (const r of opened.legacy ?? []) out.reasons.push(`${subject} was encrypted with a legacy algorithm: ${r}`);
        } catch (e) {
          if (!isMailFault(e)) throw e;
          out.decrypted = false;
          out.reasons.push(`${subject} cannot be decrypted with the key given (${e.code}: ${e.message})`);
          return out;
        }
      } else {
        out.reasons.push(`${subject} has smime-type ${l.smimeType}, neither signed nor encrypted content; what is inside is not read`);
        return out;
      }
    }
    try {
      layer = parseSmime(next, ctx.limits);
    } catch (e) {
      if (!isMailFault(e)) throw e;
      out.reasons.push(`${where}the content inside S/MIME layer ${n} is not well-formed MIME (${e.code}: ${e.message})`);
      return out;
    }
  }
}

const SMIME_CONTAINER = /^(multipart\/signed|application\/(x-)?pkcs7-mime)$/;

/** The signed or encrypted parts inside an unsigned entity, depth first, with their part numbers. */
function smimeParts(root: MimePart): { path: string; part: MimePart }[] {
  const out: { path: string; part: MimePart }[] = [];
  const walk = (p: MimePart, prefix: string): void => {
    p.parts.forEach((c, i) => {
      const path = prefix ? `${prefix}.${i + 1}` : `${i + 1}`;
      if (SMIME_CONTAINER.test(c.contentType.mediaType)) out.push({ path, part: c });
      else walk(c, path);
    });
  };
  walk(root, '');
  return out;
}

/** Each failed signer in words, and each signer that is not the From address. */
function signerReasons(signers: readonly MailSigner[], from: string | null): string[] {
  return signers.flatMap((s, i) => {
    const where = `${s.part ? `part ${s.part}: ` : ''}signer ${i + 1}${s.email ? ` (${s.email})` : ''}`;
    const out = s.valid ? [] : [`${where}: ${s.reasons.join('; ') || s.code}`];
    if (from !== null && !s.fromMatches && s.certificate) {
      out.push(
        `${where}: signed by ${s.emailAddresses.join(', ') || `"${s.subject}", which names no e-mail address`}, not by the From address ${from} (RFC 8550 §3)`,
      );
    }
    return out;
  });
}

const addressesOf = (signers: readonly MailSigner[]): string[] => [...new Set(signers.flatMap((s) => s.emailAddresses))];

function malformedJudgement(e: SsmaxError): MailJudgement {
  // The message may quote the input's bytes: no control characters reach a terminal or a log.
  const message = e.message.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '?');
  return {
    signature: 'invalid',
    signers: [],
    from: null,
    reasons: [`the input is not a mail: ${message}`],
    encrypted: false,
    decrypted: false,
    layers: [],
    signerDetails: [],
    messageId: null,
    malformed: { code: e.code, message },
  };
}

/**
 * Judges one raw mail (RFC 5322 message, CRLF or LF line ends) as the recipient's client does. Throws only for
 * a fault of the reader's key or token or of the machine; everything the mail does is in the result.
 */
export async function judgeMail(raw: Uint8Array, o: JudgeMailOptions): Promise<MailJudgement> {
  const limits = o.limits ?? DEFAULT_MIME_LIMITS;
  let headers: readonly MimeHeader[];
  try {
    if (raw.byteLength === 0) throw new SsmaxError('MALFORMED_MIME', 'Cannot read the mail. The input is empty.');
    if (raw.byteLength > limits.maxBytes)
      throw new SsmaxError('LIMIT_EXCEEDED', `Cannot read the mail. It is ${raw.byteLength} bytes, above the limit of ${limits.maxBytes}.`);
    headers = parseHeaderSection(canonicalizeLineEndings(raw), 'the mail', limits).headers;
    if (headers.length === 0) throw new SsmaxError('MALFORMED_MIME', 'Cannot read the mail. It has no header fields (RFC 5322 §3.6 requires From and Date).');
  } catch (e) {
    if (e instanceof SsmaxError && e.category === 'malformed') return malformedJudgement(e);
    throw e;
  }

  // One author, by the one RFC 5322 parser every service uses (issue 10 item 4).
  const orig = originatorOf(headers);
  const from = orig.ok ? orig.from.address : null;
  const fromReasons: string[] = [];
  if (!orig.ok) fromReasons.push(`the author cannot be told: ${orig.reason}`);
  else if (!senderIsAuthor(orig))
    fromReasons.push(`the mail names Sender ${orig.sender!.address} besides From ${orig.from.address}: one signer cannot be both (RFC 5322 §3.6.2)`);
  const ssmax = getHeader(headers, 'X-SSMAX-Hop') !== undefined;
  const base = {
    from,
    ...(orig.ok && orig.sender ? { sender: orig.sender.address } : {}),
    messageId: getHeader(headers, 'Message-ID')?.trim() ?? null,
    ...(ssmax ? { ssmax: true as const } : {}),
  };
  const ssmaxNote = ssmax
    ? [
        "an SSMAX mail (X-SSMAX-Hop): judged here as S/MIME only; its SSMAX verification (10) needs the recipient's card (ssmax mail verify --token … --card-state …, or the user agent: ssmax inbox)",
      ]
    : [];
  const ctx: Ctx = { o, limits, from };

  let top: ParsedSmime;
  try {
    top = parseSmime(raw, limits);
  } catch (e) {
    if (!isMailFault(e)) throw e;
    // The header section reads; the structure under it does not. A mail that claims S/MIME shows a broken
    // signature, never a signed or an unsigned one; anything else is not readable MIME.
    const ct = (getHeader(headers, 'Content-Type') ?? '').trim().toLowerCase();
    if (!/^(multipart\/signed|application\/(x-)?pkcs7-(mime|signature))\b/.test(ct)) return { ...malformedJudgement(e), ...base };
    return {
      signature: 'invalid',
      signers: [],
      reasons: [`the S/MIME structure is broken (${e.code}: ${e.message})`, ...fromReasons, ...ssmaxNote],
      encrypted: false,
      decrypted: false,
      layers: [],
      signerDetails: [],
      ...base,
    };
  }

  const whole = await peel(top, ctx);
  const common = { encrypted: whole.encrypted, decrypted: whole.encrypted && whole.decrypted, layers: whole.layers, ...base };

  if (whole.claimed) {
    const reasons = [...whole.reasons, ...signerReasons(whole.signers, from), ...fromReasons];
    // Header protection (RFC 8551 §3.1, RFC 9788): a From inside the signed content must be the outer one.
    const inner = whole.content?.headers.some((h) => h.name.toLowerCase() === 'from') ? originatorOf(whole.content.headers) : undefined;
    if (inner && !inner.ok) reasons.push(`the signed content's From cannot be told: ${inner.reason}`);
    else if (inner?.ok && inner.from.address !== from)
      reasons.push(`the signed content is from ${inner.from.address}, the mail's From is ${from ?? 'not one mailbox'}`);
    const valid =
      reasons.length === 0 && whole.content !== undefined && !whole.broken && whole.signers.length > 0 && whole.signers.every((s) => s.valid && s.fromMatches);
    if (!valid && reasons.length === 0) reasons.push('the signature does not cover readable content');
    return {
      signature: valid ? 'valid' : 'invalid',
      signers: addressesOf(whole.signers),
      reasons: valid ? [] : [...reasons, ...ssmaxNote],
      signerDetails: whole.signers,
      ...common,
    };
  }

  const reasons = [...whole.reasons];
  if (!whole.content)
    return {
      signature: 'unsigned',
      signers: [],
      reasons: [...reasons, 'no signature covers the mail', ...fromReasons, ...ssmaxNote],
      signerDetails: [],
      ...common,
    };
  let root: MimePart;
  try {
    root = parseMimeEntity(whole.content.raw, limits);
  } catch (e) {
    if (!isMailFault(e)) throw e;
    return {
      signature: 'unsigned',
      signers: [],
      reasons: [...reasons, `the content is not well-formed MIME (${e.code}: ${e.message})`, 'no signature covers the mail', ...fromReasons],
      signerDetails: [],
      ...common,
    };
  }

  // "Johnny" wrapping: signed or encrypted parts inside an unsigned message are judged, but never stand for it.
  const found = smimeParts(root);
  if (found.length > MAX_NESTED) reasons.push(`only the first ${MAX_NESTED} of ${found.length} signed or encrypted parts are judged`);
  const nested: Peeled[] = [];
  for (const { path, part } of found.slice(0, MAX_NESTED)) {
    try {
      nested.push(await peel(parseSmime(part.raw, limits), ctx, path));
    } catch (e) {
      if (!isMailFault(e)) throw e;
      const broken: Peeled = {
        signers: [],
        layers: [],
        reasons: [`part ${path}: its S/MIME structure is broken (${e.code}: ${e.message})`],
        claimed: part.contentType.mediaType === 'multipart/signed',
        broken: true,
        encrypted: false,
        decrypted: false,
      };
      nested.push(broken);
    }
  }
  const signed = nested.filter((p) => p.claimed);
  const signers = nested.flatMap((p) => p.signers);
  reasons.push(...nested.flatMap((p) => p.reasons));
  if (signed.length === 0) {
    return {
      signature: 'unsigned',
      signers: [],
      reasons: [...reasons, 'no signature covers the mail', ...fromReasons, ...ssmaxNote],
      signerDetails: [],
      ...common,
    };
  }
  reasons.push(...signerReasons(signers, from));
  const allGood = signed.every((p) => !p.broken && p.content !== undefined && p.signers.every((s) => s.valid && s.fromMatches));
  const paths = found.filter((_, i) => nested[i]?.claimed).map((f) => f.path);
  return {
    signature: allGood ? 'partial' : 'invalid',
    signers: addressesOf(signers),
    reasons: [
      ...reasons,
      allGood
        ? `only part ${paths.join(', ')} of the ${root.contentType.mediaType} is covered by a valid signature; the message around it is unsigned`
        : `a signed part does not verify (part ${paths.join(', ')}), and the message as a whole is unsigned`,
      ...fromReasons,
      ...ssmaxNote,
    ],
    signerDetails: signers,
    ...common,
  };
}
