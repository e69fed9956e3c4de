/**
 * Structure-aware MIME mutation: a valid mail is cut into lines, and one to four operations work on what a MIME
 * reader steers by: header lines and their folding, the boundary parameter and the delimiter lines it names,
 * whole body parts, line endings (bare LF and bare CR regions), nesting depth, line length, base64 alphabets,
 * and token soup (core's mimeTokenSoup) spliced in at a line.
 */
import fc from 'fast-check';
import { safely } from './safely.js';
import { mimeTokenSoup } from '@ssmax/core/fuzz';

type Op = { readonly op: number; readonly at: number; readonly arg: number; readonly soup: Uint8Array };

const OPS = 12;

function boundariesOf(text: string): string[] {
  return [...text.matchAll(/boundary="?([^";\r\n]+)"?/gi)].map((m) => m[1]!);
}

function apply(text: string, m: Op): string {
  const lines = text.split('\r\n');
  const i = m.at % lines.length;
  const j = m.arg % lines.length;
  const boundaries = boundariesOf(text);
  const boundary = boundaries.length > 0 ? boundaries[m.arg % boundaries.length]! : undefined;
  switch (m.op % OPS) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, lines[i]!);
      break;
    case 2:
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      break;
    case 3:
      lines.splice(i, 0, Buffer.from(m.soup).toString('latin1'));
      break;
    case 4: {
      // Bare LF (or bare CR) line ends in one region: the smuggling-shaped input of RFC 5321 §2.3.8.
      const [a, b] = i < j ? [i, j] : [j, i];
      const sep = m.arg % 2 === 0 ? '\n' : '\r';
      return [...lines.slice(0, a), lines.slice(a, b + 1).join(sep), ...lines.slice(b + 1)].join('\r\n');
    }
    case 5:
      // The boundary in the header and the delimiters disagree, or the delimiters lose their dashes.
      if (boundary !== undefined) {
        const other = [`${boundary}x`, boundary.slice(0, -1), '', `${boundary} `, boundary.toUpperCase()][m.arg % 5]!;
        return m.arg % 2 === 0 ? text.replace(`boundary="${boundary}"`, `boundary="${other}"`) : text.split(`--${boundary}`).join(`--${other}`);
      }
      break;
    case 6: {
      const depth = m.arg % 4 === 0 ? 80 : 1 + (m.arg % 3);
      let body = text;
      for (let d = 0; d < depth; d++) body = `Content-Type: multipart/mixed; boundary="n${d}"\r\n\r\n--n${d}\r\n${body}\r\n--n${d}--\r\n`;
      return body;
    }
    case 7:
      lines.splice(i, 0, `${m.arg % 2 === 0 ? 'X-Long: ' : ''}${'A'.repeat(m.arg % 3 === 0 ? 100_000 : 1000)}`);
      break;
    case 8: {
      // Fold a header line at an arbitrary point (RFC 5322 §2.2.3), or start the header section with a continuation.
      const line = lines[i]!;
      const cut = line.length === 0 ? 0 : m.arg % line.length;
      lines[i] = m.arg % 5 === 0 ? ` ${line}` : `${line.slice(0, cut)}\r\n\t${line.slice(cut)}`;
      break;
    }
    case 9:
      if (boundary !== undefined) lines.splice(i, 0, m.arg % 3 === 0 ? `--${boundary}--` : `--${boundary}`);
      break;
    case 10: {
      // A base64 line with a character outside the alphabet, or padding in the middle.
      const b64 = lines.map((l, k) => (/^[A-Za-z0-9+/]{16,}={0,2}$/.test(l) ? k : -1)).filter((k) => k >= 0);
      if (b64.length > 0) {
        const k = b64[m.arg % b64.length]!;
        const l = lines[k]!;
        const p = m.at % l.length;
        lines[k] = `${l.slice(0, p)}${['!', '=', '-', '\u00ff', '=='][m.arg % 5]}${l.slice(p + 1)}`;
      }
      break;
    }
    default:
      // A whole body part repeated (many parts, a repeated signature part).
      if (boundary !== undefined) {
        const parts = text.split(`--${boundary}`);
        if (parts.length > 2) {
          const k = 1 + (m.arg % (parts.length - 2));
          const times = m.arg % 9 === 0 ? 400 : 1;
          parts.splice(k, 0, ...Array.from({ length: times }, () => parts[k]!));
          return parts.join(`--${boundary}`);
        }
      }
  }
  return lines.join('\r\n');
}

/** Mutated mail from `seeds` (raw RFC 5322 messages). */
export function mimeMutatedFrom(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('Cannot mutate MIME. No seed mails.');
  // Seeds with LF line ends (RFC 4134's .eml files) are cut at LF; the bare-LF operation puts LF back.
  const texts = seeds.map((s) => Buffer.from(s).toString('latin1')).map((t) => (t.includes('\r\n') ? t : t.replace(/\n/g, '\r\n')));
  const op = fc.record({ op: fc.nat(OPS - 1), at: fc.nat(), arg: fc.nat(), soup: mimeTokenSoup() });
  return fc.tuple(fc.nat(texts.length - 1), fc.array(op, { minLength: 1, maxLength: 4 })).map(([i, ops]) => {
    let text = texts[i]!;
    for (const m of ops) text = safely(apply, text, m);
    return new Uint8Array(Buffer.from(text, 'latin1'));
  });
}
