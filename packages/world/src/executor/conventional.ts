/**
 * Measuring a cell under the conventional baselines (plain-ppap, best-practice): there is no signature
 * chain, so what the recipient sees is what the receiving MTA wrote (Authentication-Results, RFC 8601;
 * X-SSMAX-Reputation), and what anyone "has" of the files is what they can open: a ZipCrypto archive
 * (APPNOTE 6.1) together with a mail stating its password (seed 002's PPAP) is as good as plaintext.
 */
import { domainToASCII } from 'node:url';
import { looksLikeZip, parseMimeEntity, readPlainData, readZip } from '@ssmax/core';
import { authservIdIsOneOf } from '@ssmax/sim-org';
import type { Payload } from './payload.js';

/** A mail as a reader takes it apart: its text and its attachments. */
export interface ReadMail {
  readonly from: string;
  readonly messageId: string;
  readonly text: string;
  readonly attachments: readonly Uint8Array[];
  /** Every Authentication-Results header field (RFC 8601 §2.2), newest first. */
  readonly authResults: readonly string[];
  /** Every X-SSMAX-Reputation header field. */
  readonly reputation: readonly string[];
}

/** Parses a raw RFC 5322 message with mailparser (as a mail client would). Undefined when it is not a mail. */
export async function readMail(raw: Uint8Array): Promise<ReadMail | undefined> {
  const { simpleParser } = await import('mailparser');
  try {
    const p = await simpleParser(Buffer.from(raw));
    const lines = (name: string) => p.headerLines.filter((h) => h.key === name).map((h) => h.line.replace(/^[^:]*:\s*/, '').replace(/\r?\n\s+/g, ' '));
    return {
      from: (p.from?.value[0]?.address ?? '').toLowerCase(),
      messageId: (p.messageId ?? '').replace(/^<|>$/g, ''),
      text: p.text ?? '',
      attachments: p.attachments.map((a) => new Uint8Array(a.content)),
      authResults: lines('authentication-results'),
      reputation: lines('x-ssmax-reputation'),
    };
  } catch {
    return undefined;
  }
}

// A PPAP password mail states the password after the word "password" and a colon or "is", in English
// or Japanese ("The password for the ZIP file … is: X", "パスワード: X", "password follows: X").
const PASSWORD_RE = /(?:password|passcode|パスワード)[^\n:：]{0,60}?(?:[:：=]|\bis\b)\s*[:：]?\s*[「"']?([\x21-\x7e]{4,64}?)[」"'.]?(?=\s|$|。)/gi;

/** Passwords a mail text states. */
export function statedPasswords(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(PASSWORD_RE)) if (m[1]) out.add(m[1]);
  return [...out];
}

/**
 * Everything readable in `blobs`: each blob itself and, for a ZIP, every entry that opens without a
 * password or with one of `passwords` (recursively, to `depth` levels: a PPAP archive may hold an
 * archive of its own).
 */
export function openAll(blobs: readonly Uint8Array[], passwords: readonly string[], depth = 3): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (b: Uint8Array, d: number) => {
    out.push(b);
    if (d <= 0 || !looksLikeZip(b)) return;
    let z;
    try {
      z = readZip(b);
    } catch {
      return;
    }
    for (const e of z.entries) {
      if (e.isDirectory) continue;
      for (const pw of e.encrypted ? passwords : [undefined]) {
        try {
          walk(z.read(e, pw === undefined ? {} : { password: pw }), d - 1);
          break;
        } catch {
          // wrong password (ZipCrypto check byte or CRC mismatch) or unsupported method: try the next
        }
      }
    }
  };
  for (const b of blobs) walk(b, depth);
  return out;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
}

/** The payload files whose plaintext occurs in `opened` (a file inside an encrypted archive counts by its harmful entry). */
export function payloadFilesIn(opened: readonly Uint8Array[], payload: Payload, only?: (f: Payload['files'][number]) => boolean): boolean {
  return payload.files.filter((f) => (only ? only(f) : true)).some((f) => opened.some((b) => contains(b, f.zip ? f.zip.inner : f.content)));
}

/**
 * Whether raw mails (and loose files) obtained by someone give the payload's files in plaintext: every
 * archive among them opened with every password stated in any of the mails, every id-data file part read.
 */
export async function filesReadable(raws: readonly Uint8Array[], looseFiles: readonly Uint8Array[], payload: Payload): Promise<boolean> {
  const mails = (await Promise.all(raws.map(readMail))).filter((m): m is ReadMail => m !== undefined);
  const passwords = [...new Set(mails.flatMap((m) => statedPasswords(m.text)))];
  const blobs = [...mails.flatMap((m) => m.attachments), ...looseFiles];
  // A file part carried in the clear (CMS id-data around the file's MIME entity) reads as the file.
  for (const b of [...blobs]) {
    const inner = readPlainData(b);
    if (inner) blobs.push(mimeBody(inner));
  }
  return payloadFilesIn(openAll(blobs, passwords), payload);
}

/** The decoded body of a single MIME entity (a file part's content), or nothing. */
function mimeBody(entity: Uint8Array): Uint8Array {
  try {
    return parseMimeEntity(entity).body;
  } catch {
    return new Uint8Array();
  }
}

/**
 * RFC 8601 §2.7.1: the receiving MTA recorded dmarc=pass for the domain the client shows in From. Only the
 * newest field whose authserv-id (§2.5) names the receiving domain counts (a sender can write any
 * Authentication-Results of its own; the MX removes those under its id, §5), and only a dmarc result whose
 * `header.from` is the displayed From domain: a pass for another domain authenticates nothing shown.
 */
export function dmarcPassed(m: ReadMail, receivingDomain: string): boolean {
  const shown = m.from.slice(m.from.lastIndexOf('@') + 1).toLowerCase();
  const ours = m.authResults.find((h) => authservIdIsOneOf(h, [receivingDomain]));
  if (!ours || !shown) return false;
  for (const resinfo of ours
    .replace(/\([^()]*\)/g, ' ')
    .split(';')
    .slice(1)) {
    const r = /^\s*dmarc\s*=\s*([a-z]+)\b(.*)$/is.exec(resinfo);
    if (!r) continue;
    const headerFrom = /\bheader\.from\s*=\s*"?([^\s";]+)/i.exec(r[2]!)?.[1]?.toLowerCase();
    // mailparser shows an IDN From domain as its U-label, mailauth writes the A-label: compare both after
    // UTS #46 ToASCII (issue 16: the homograph scenarios' DMARC pass was otherwise never seen).
    return r[1]!.toLowerCase() === 'pass' && headerFrom !== undefined && asciiDomain(headerFrom) === asciiDomain(shown);
  }
  return false;
}

function asciiDomain(d: string): string {
  return domainToASCII(d) || d;
}

/** The receiving MTA-in scored the From domain as suspicious (sim-org reputation.ts). */
export function reputationSuspicious(m: ReadMail): boolean {
  return m.reputation.some((h) => /^\s*suspicious\b/i.test(h));
}
