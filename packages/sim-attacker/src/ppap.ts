import { looksLikeZip, readZip } from '@ssmax/core';
import type { OutcomeRecorder } from './outcome.js';

// Seed 002: the PPAP password mail states the password in the body, in Japanese or English.
const PASSWORD_RE = /(?:password|passcode|パスワード|暗証番号)\s*(?:は|is)?\s*[:：=]?\s*[「"']?([\x21-\x7e]{4,64}?)[」"']?(?=\s|$|。)/gi;

// Longer phrasings: "The password for the ZIP file in my previous mail is: X", "… archive follows: X".
const STATED_RE = /(?:password|passcode|パスワード)[^\n:：]{0,60}?(?:[:：=]|\bis\b)\s*[:：]?\s*[「"']?([\x21-\x7e]{4,64}?)[」"'.]?(?=\s|$|。)/gi;

/** Passwords a PPAP "password mail" body states (candidates: a caller checks each against the archive). */
export function findPpapPasswords(text: string): string[] {
  const out = new Set<string>();
  for (const re of [PASSWORD_RE, STATED_RE]) for (const m of text.matchAll(re)) if (m[1]) out.add(m[1]);
  return [...out];
}

/**
 * Opens every captured ZIP with every captured PPAP password (ZipCrypto, APPNOTE 6.1): what incident 5
 * shows — the archive and its password cross the same wire, so the files are as good as plaintext.
 * Adds each opened entry as `files`; entries of a ZIP without encryption are added directly.
 */
export function openCapturedZips(rec: OutcomeRecorder): void {
  const passwords = rec.obtained
    .filter((o) => o.kind === 'credentials' && o.note.startsWith('PPAP password') && o.bytes)
    .map((o) => Buffer.from(o.bytes!).toString('utf8'));
  const zips = rec.obtained.filter((o) => o.kind === 'files' && o.bytes && looksLikeZip(o.bytes) && !o.note.startsWith('opened '));
  for (const z of zips) {
    let archive;
    try {
      archive = readZip(z.bytes!);
    } catch {
      continue;
    }
    for (const entry of archive.entries) {
      if (entry.isDirectory) continue;
      const label = `opened ${entry.name} from ${z.filename ?? 'a ZIP'}`;
      if (rec.obtained.some((o) => o.note.startsWith(label))) continue;
      const tries: (string | undefined)[] = entry.encrypted ? passwords : [undefined];
      for (const pw of tries) {
        try {
          const content = archive.read(entry, pw === undefined ? {} : { password: pw });
          rec.obtain({ kind: 'files', bytes: content, filename: entry.name, note: `${label}${pw === undefined ? '' : ' with the captured PPAP password'}` });
          if (pw !== undefined) rec.act(`opened ${z.filename ?? 'the ZIP'} with the password from the second mail`);
          break;
        } catch {
          // Wrong password or unsupported method (AES): try the next one.
        }
      }
    }
  }
}
