/**
 * The mail client of the `smime-e2e` baseline: ordinary end-to-end S/MIME (RFC 8551) as a mail program
 * does it, over the same MSA and Dovecot mailbox as every other profile. The user's key is a software
 * key (no identity-proofed card) certified by the public S/MIME CA (public-ca.ts).
 *
 * Sending: sign (multipart/signed, detached SignedData) and then encrypt (AuthEnvelopedData, AES-GCM)
 * to every recipient's certificate from the CA's directory and to the sender's own; a recipient with
 * no certificate stops the send (this client never falls back to plaintext). From, To, Subject stay in
 * the clear on the outer message, as S/MIME without header protection leaves them.
 *
 * Reading: decrypt, verify, and show the result the way the "Johnny, you are fired" study (Müller et
 * al., USENIX Security 2019) asks a client to: a signature counts only when it covers the WHOLE message
 * (a signed part inside an unsigned multipart is "partially signed" and not shown as signed), chains to
 * a trusted root, carries emailProtection, and names the From address (RFC 8550 §3).
 */
import { randomBytes } from 'node:crypto';
import {
  Oids,
  SsmaxError,
  buildMimeEntity,
  buildMultipartSigned,
  buildPkcs7Mime,
  collectAttachments,
  decodeEncodedWords,
  decryptContent,
  encryptContent,
  findTextBody,
  getHeader,
  lookupSmimeCertificates,
  parseCertificate,
  parseMailboxList,
  parseMimeEntity,
  parseSmime,
  signSignedData,
  validateChain,
  verifySignedData,
  type CertificateInfo,
  type MimePart,
  type ParsedSmime,
  type PrivateKeyOps,
} from '@ssmax/core';
import { sha256Hex, type MailVerdict } from '@ssmax/sim-org';
import { transport } from './conventional-client.js';
import { fetchInbox } from './imap-fetch.js';
import type { InboxInput, SendInput, World, WorldUser } from './world.js';

/** A user's S/MIME identity: a software key and its public-CA certificate. */
export interface SmimeIdentity {
  readonly key: PrivateKeyOps;
  readonly certificate: CertificateInfo;
}

/** What the client concluded about one message's signature. */
export type SmimeSignatureState =
  /** One signature covers the whole message, is valid, chains to a trusted root, and names From. */
  | 'valid'
  /** A signature covers the whole message but fails a check (bad, untrusted, or not the From address). */
  | 'invalid'
  /** No signature. */
  | 'unsigned'
  /** Signed or encrypted content only inside an unsigned wrapper: not treated as signed. */
  | 'partial';

/** The client's reading of one message. */
export interface SmimeReading {
  readonly from: string;
  readonly messageId: string;
  readonly subject: string;
  /** The outer layer was enveloped to this user and decrypted. */
  readonly encrypted: boolean;
  readonly signature: SmimeSignatureState;
  /** The signer certificate when the signature verified cryptographically and chains to a trusted root (even if it names another address). */
  readonly trustedSigner?: CertificateInfo;
  /** Why the message is not shown as validly signed (empty when it is). */
  readonly reasons: readonly string[];
  readonly text: string;
  readonly attachments: readonly { readonly filename: string; readonly contentType: string; readonly content: Uint8Array }[];
}

/** A mail as the S/MIME client lists it. */
export interface SmimeMailView extends MailVerdict {
  readonly smime: SmimeReading;
}

/** True for a mail listed by the S/MIME client (a user with `smime` set), false for one of the SSMAX or conventional client. */
export function isSmimeMailView(v: MailVerdict): v is SmimeMailView {
  return 'smime' in v;
}

export interface SmimeReadOptions {
  /** The reader's key and certificate (for decryption); omit to read without decrypting. */
  readonly identity?: SmimeIdentity;
  /** Roots the client trusts (its trust store). */
  readonly trustAnchors: readonly Uint8Array[];
  readonly now: Date;
  /** The client's checks (default: all on). */
  readonly policy?: Partial<SmimeClientPolicy>;
}

/**
 * What the S/MIME client does, each on by default. Switched off only for falsifiability runs
 * (`ssmax run --ablate`, defences.ts); a mail program under test never turns them off.
 */
export interface SmimeClientPolicy {
  /** The sender's client signs (RFC 8551 §3.5). */
  readonly sign: boolean;
  /** The sender's client encrypts to every recipient and refuses a recipient without a certificate (RFC 8551 §3.3); off, it sends the signed message in the clear. */
  readonly encrypt: boolean;
  /** The reader requires the signer certificate to chain to a trusted root with emailProtection (RFC 5280 §6, RFC 8550 §4). */
  readonly signerTrust: boolean;
  /** The reader counts a signature only when it covers the whole message (Müller et al., USENIX Security 2019). */
  readonly wholeMessage: boolean;
  /** The reader requires the From address among the signer certificate's addresses (RFC 8550 §3). */
  readonly fromSignerBinding: boolean;
}

const MAX_LAYERS = 4;

function isSmimePart(p: MimePart): boolean {
  const t = p.contentType.mediaType.toLowerCase();
  return t === 'multipart/signed' || /^application\/(x-)?pkcs7-(mime|signature)$/.test(t) || /\.p7[ms]$/i.test(p.filename ?? '');
}

function containsSmime(p: MimePart): boolean {
  return p.parts.some((c) => isSmimePart(c) || containsSmime(c));
}

/**
 * Reads one raw message: peels the S/MIME layers (enveloped → signed → content) and judges the
 * signature. Never throws for hostile input: an unreadable layer is a reason, and the message is
 * shown with what could be read.
 */
/** The first mailbox of a From field (core's RFC 5322 parser), lower-cased; "" when it does not parse. */
function firstMailbox(v: string | undefined): string {
  try {
    return v === undefined ? '' : (parseMailboxList(v)[0]?.address.toLowerCase() ?? '');
  } catch {
    return '';
  }
}

export async function readSmimeMessage(raw: Uint8Array, o: SmimeReadOptions): Promise<SmimeReading> {
  const reasons: string[] = [];
  let top: ParsedSmime;
  try {
    top = parseSmime(raw);
  } catch (e) {
    // Not S/MIME as RFC 8551 shapes it (e.g. a multipart/signed whose signature part was replaced): a
    // client still shows the message as plain MIME, and a message that claims a signature it does not
    // carry as a broken signature, never as signed.
    const reason = `the S/MIME structure is broken: ${(e as Error).message}`;
    try {
      const root = parseMimeEntity(raw);
      const hh = (n: string) => getHeader(root.headers, n);
      const claimsSignature = root.contentType.mediaType.toLowerCase() === 'multipart/signed';
      return {
        from: firstMailbox(hh('from')),
        messageId: (hh('message-id') ?? '').trim().replace(/^<|>$/g, ''),
        subject: decodeEncodedWords(hh('subject') ?? ''),
        encrypted: false,
        signature: claimsSignature ? 'invalid' : 'unsigned',
        reasons: [reason],
        text: findTextBody(root) ?? '',
        attachments: collectAttachments(root).map((x) => ({ filename: x.filename, contentType: x.contentType, content: x.content })),
      };
    } catch {
      return {
        from: '',
        messageId: '',
        subject: '',
        encrypted: false,
        signature: 'unsigned',
        reasons: [`unreadable message: ${(e as Error).message}`],
        text: '',
        attachments: [],
      };
    }
  }
  const h = (n: string) => getHeader(top.headers, n);
  const from = firstMailbox(h('from'));
  const messageId = (h('message-id') ?? '').trim().replace(/^<|>$/g, '');
  const subject = decodeEncodedWords(h('subject') ?? '');
  let encrypted = false;
  let signature = 'unsigned' as SmimeSignatureState;
  let trustedSigner: CertificateInfo | undefined;
  let layer: ParsedSmime = top;
  let entity: Uint8Array | undefined;

  const judge = (sigDer: Uint8Array, content: Uint8Array | undefined): void => {
    const v = verifySignedData(sigDer, content ? { detachedContent: content } : {});
    const signer = v.signers[0];
    if (!v.allValid || !signer?.certificate) {
      signature = 'invalid';
      reasons.push(`the signature does not verify: ${signer?.reasons.join('; ') || 'no signer'}`);
      return;
    }
    const cert = parseCertificate(signer.certificate);
    const chain = validateChain({
      leaf: cert,
      intermediates: v.certificates,
      trustAnchors: o.trustAnchors,
      time: o.now,
      revocation: 'none',
      requiredExtKeyUsage: Oids.emailProtection,
    });
    if (!chain.valid && o.policy?.signerTrust !== false) {
      signature = 'invalid';
      reasons.push(`the signer certificate (${cert.subject}) is not trusted: ${chain.reasons.join('; ')}`);
      return;
    }
    trustedSigner = cert;
    // RFC 8550 §3: the From address must be one of the signer certificate's addresses.
    if (o.policy?.fromSignerBinding !== false && !cert.emailAddresses.some((a) => a.toLowerCase() === from)) {
      signature = 'invalid';
      reasons.push(`signed by ${cert.emailAddresses.join(', ') || cert.subject}, not by the From address ${from}`);
      return;
    }
    if (signature === 'unsigned') signature = 'valid';
  };

  try {
    for (let i = 0; i < MAX_LAYERS && entity === undefined; i++) {
      if (layer.kind === 'plain') {
        entity = layer.entity;
      } else if (layer.kind === 'multipart-signed') {
        judge(layer.signature, layer.signedEntity);
        layer = parseSmime(layer.signedEntity);
      } else if (layer.smimeType === 'signed-data') {
        const v = verifySignedData(layer.der);
        judge(layer.der, undefined);
        if (!v.content) throw new SsmaxError('MALFORMED_CMS', 'Cannot read the signed message. The SignedData carries no content.');
        layer = parseSmime(v.content);
      } else {
        if (!o.identity) {
          reasons.push('encrypted, and this reader has no key');
          break;
        }
        const d = await decryptContent(layer.der, { key: o.identity.key, certificate: o.identity.certificate.der });
        encrypted = true;
        layer = parseSmime(d.content);
      }
    }
  } catch (e) {
    reasons.push(`cannot open an S/MIME layer: ${(e as Error).message}`);
    if (signature === 'valid') signature = 'invalid';
  }
  let text = '';
  let attachments: SmimeReading['attachments'] = [];
  if (entity) {
    try {
      const root = parseMimeEntity(entity);
      text = findTextBody(root) ?? '';
      attachments = collectAttachments(root).map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content }));
      const nested = signature === 'unsigned' && o.policy?.wholeMessage === false ? await nestedSignature(root, o.identity) : undefined;
      if (nested) {
        // The whole-message rule switched off (falsifiability runs only): a signed part stands for the message.
        judge(nested.signature, nested.content);
      } else if (signature === 'unsigned' && containsSmime(root)) {
        // "Johnny" wrapping: S/MIME content nested in an unsigned message is not the message's signature.
        signature = 'partial';
        reasons.push('only a part of the message is signed or encrypted; the message as a whole is unsigned');
      }
    } catch (e) {
      reasons.push(`cannot read the content: ${(e as Error).message}`);
    }
  }
  if (signature === 'unsigned' && reasons.length === 0) reasons.push('not signed');
  return {
    from,
    messageId,
    subject,
    encrypted,
    signature,
    ...(trustedSigner ? { trustedSigner } : {}),
    reasons: signature === 'valid' ? [] : reasons,
    text,
    attachments,
  };
}

/** The first signed part inside a message, as a client without the whole-message rule would take it. */
async function nestedSignature(p: MimePart, identity: SmimeIdentity | undefined): Promise<{ signature: Uint8Array; content?: Uint8Array } | undefined> {
  for (const c of p.parts) {
    const t = c.contentType.mediaType.toLowerCase();
    if (t === 'multipart/signed' || /^application\/(x-)?pkcs7-mime$/.test(t)) {
      try {
        let x = parseSmime(c.raw);
        // An encrypted part is opened as the client opens any (sign-then-encrypt, RFC 8551 §3.6), then looked into.
        if (x.kind === 'pkcs7-mime' && (x.smimeType === 'enveloped-data' || x.smimeType === 'authEnveloped-data') && identity) {
          x = parseSmime((await decryptContent(x.der, { key: identity.key, certificate: identity.certificate.der })).content);
        }
        if (x.kind === 'multipart-signed') return { signature: x.signature, content: x.signedEntity };
        if (x.kind === 'pkcs7-mime' && x.smimeType === 'signed-data') return { signature: x.der };
      } catch {
        // Not readable as S/MIME (or not for this reader): keep looking.
      }
    }
    const deeper = await nestedSignature(c, identity);
    if (deeper) return deeper;
  }
  return undefined;
}

export interface SmimeSendInput {
  readonly from: string;
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly files: readonly { readonly name: string; readonly contentType?: string; readonly content: Uint8Array }[];
  readonly date: Date;
  readonly domain: string;
}

/**
 * Composes a signed-then-encrypted message. `certificateOf` answers the directory lookup for one
 * address; an address without a certificate is a refusal (NO_MATCHING_RECIPIENT), not a downgrade.
 */
export async function composeSmime(
  identity: SmimeIdentity,
  input: SmimeSendInput,
  certificateOf: (address: string) => Promise<Uint8Array | undefined>,
  policy: Partial<SmimeClientPolicy> = {},
): Promise<{ raw: Uint8Array; messageId: string }> {
  if (policy.encrypt === false || policy.sign === false) return composeWithout(identity, input, certificateOf, policy);
  const recipients: Uint8Array[] = [];
  for (const a of [...input.to, ...(input.cc ?? [])]) {
    const c = await certificateOf(a);
    if (!c)
      throw new SsmaxError(
        'NO_MATCHING_RECIPIENT',
        `Cannot send to ${a}. The public CA's directory has no S/MIME certificate for it, and this client never sends unencrypted.`,
      );
    recipients.push(c);
  }
  const inner = buildMimeEntity({
    text: input.text,
    attachments: input.files.map((f) => ({ filename: f.name, contentType: f.contentType ?? 'application/octet-stream', content: f.content })),
  });
  const sig = await signSignedData(inner, { key: identity.key, certificate: identity.certificate.der, detached: true, signingTime: input.date });
  const signed = buildMultipartSigned(inner, sig);
  // RFC 8551 §3.3: encrypt to the sender's own certificate too, so the Sent copy stays readable.
  const der = await encryptContent(signed, { recipients: [...recipients, identity.certificate.der] });
  const messageId = `<${randomBytes(16).toString('hex')}@${input.domain}>`;
  const raw = buildPkcs7Mime(der, 'authEnveloped-data', {
    headers: { from: input.from, to: [...input.to], ...(input.cc?.length ? { cc: [...input.cc] } : {}), subject: input.subject, date: input.date, messageId },
  });
  return { raw, messageId };
}

/**
 * {@link composeSmime} with signing or encryption switched off (falsifiability runs only): unsigned
 * and encrypted, or signed (or neither) and sent in the clear to any address.
 */
async function composeWithout(
  identity: SmimeIdentity,
  input: SmimeSendInput,
  certificateOf: (address: string) => Promise<Uint8Array | undefined>,
  policy: Partial<SmimeClientPolicy>,
): Promise<{ raw: Uint8Array; messageId: string }> {
  const inner = buildMimeEntity({
    text: input.text,
    attachments: input.files.map((f) => ({ filename: f.name, contentType: f.contentType ?? 'application/octet-stream', content: f.content })),
  });
  const messageId = `<${randomBytes(16).toString('hex')}@${input.domain}>`;
  const headers = {
    from: input.from,
    to: [...input.to],
    ...(input.cc?.length ? { cc: [...input.cc] } : {}),
    subject: input.subject,
    date: input.date,
    messageId,
  };
  const signed =
    policy.sign === false
      ? undefined
      : await signSignedData(inner, { key: identity.key, certificate: identity.certificate.der, detached: true, signingTime: input.date });
  if (policy.encrypt !== false) {
    const recipients: Uint8Array[] = [];
    for (const a of [...input.to, ...(input.cc ?? [])]) {
      const c = await certificateOf(a);
      if (!c)
        throw new SsmaxError(
          'NO_MATCHING_RECIPIENT',
          `Cannot send to ${a}. The public CA's directory has no S/MIME certificate for it, and this client never sends unencrypted.`,
        );
      recipients.push(c);
    }
    const der = await encryptContent(signed ? buildMultipartSigned(inner, signed) : inner, { recipients: [...recipients, identity.certificate.der] });
    return { raw: buildPkcs7Mime(der, 'authEnveloped-data', { headers }), messageId };
  }
  if (signed) return { raw: buildMultipartSigned(inner, signed, { headers }), messageId };
  const subject = /^[\x20-\x7e]*$/.test(input.subject) ? input.subject : `=?utf-8?B?${Buffer.from(input.subject, 'utf8').toString('base64')}?=`;
  const lines = [
    `From: ${input.from}`,
    `To: ${input.to.join(', ')}`,
    ...(input.cc?.length ? [`Cc: ${input.cc.join(', ')}`] : []),
    `Subject: ${subject}`,
    `Date: ${input.date.toUTCString()}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
  ];
  return { raw: new Uint8Array(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8'), Buffer.from(inner)])), messageId };
}

/** The client's list view: each mail read and judged. */
export function toMailView(r: SmimeReading, uid: number): SmimeMailView {
  return {
    verified: r.signature === 'valid',
    mode: 'paper',
    senderAddress: r.from,
    subject: r.subject,
    messageId: r.messageId,
    text: r.text,
    files: r.attachments.map((a, i) => ({
      n: i + 1,
      name: a.filename,
      contentType: a.contentType,
      sha256: sha256Hex(a.content),
      ok: true,
      content: a.content,
    })),
    problems: r.signature === 'valid' ? [] : [`S/MIME: ${r.signature}`, ...r.reasons],
    uid,
    smime: r,
  };
}

/** Directory lookup of the newest certificate for `address` at the public CA (undefined when none). */
export async function directoryLookup(endpoint: { url: string; localAddress?: string }, address: string): Promise<Uint8Array | undefined> {
  return (await lookupSmimeCertificates(endpoint, address)).at(-1);
}

/** Sends as the user's S/MIME client: compose (directory lookups from the user's own address) and submit to the MSA. */
export async function sendSmime(
  world: World,
  user: WorldUser,
  input: SendInput & { readonly to: readonly string[] },
): Promise<{ messageId: string; response: string }> {
  if (!user.smime) throw new SsmaxError('USAGE', `Cannot send S/MIME as ${user.address}. The user has no S/MIME identity under ${world.profile.id}.`);
  const endpoint = world.publicCa.endpoint(world.net.address(`${user.address}/ua`));
  const { raw, messageId } = await composeSmime(
    user.smime,
    {
      from: user.address,
      to: input.to,
      ...(input.cc ? { cc: input.cc } : {}),
      subject: input.subject ?? '',
      text: input.body ?? '',
      files: input.files ?? [],
      date: world.clock?.() ?? new Date(),
      domain: user.org.domain,
    },
    (a) => directoryLookup(endpoint, a),
    world.switches.smime,
  );
  const t = transport(world, user);
  try {
    const info = await t.sendMail({ envelope: { from: user.address, to: [...input.to, ...(input.cc ?? [])] }, raw: Buffer.from(raw) });
    return { messageId, response: String(info.response) };
  } finally {
    t.close();
  }
}

/** Reads INBOX as the user's S/MIME client: each mail decrypted with the user's key and judged against the public CA root. */
export async function readSmimeInbox(world: World, user: WorldUser, input: InboxInput): Promise<SmimeMailView[]> {
  const box = user.org.mailbox;
  const raws = await fetchInbox({
    host: box.host,
    port: box.imapPort,
    user: user.address,
    pass: input.totp !== undefined ? `${input.password}:${input.totp}` : input.password,
  });
  const now = world.clock?.() ?? new Date();
  const out: SmimeMailView[] = [];
  for (const r of raws)
    out.push(
      toMailView(
        await readSmimeMessage(r.source, {
          ...(user.smime ? { identity: user.smime } : {}),
          trustAnchors: [world.publicCa.root.der],
          now,
          policy: world.switches.smime,
        }),
        r.uid,
      ),
    );
  return out;
}
