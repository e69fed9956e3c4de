/**
 * Issue 10 item 9: archive detection by byte 0 only. Inspection recognised a ZIP only by the signature at
 * byte 0, so one junk byte in front of an archive hid it (and the macro or the confidential text inside)
 * from the malware scan (8) and from DLP (5), although archivers open it from its end record. The reader
 * did not compare local headers with the central directory, and the blocked-extension rule took
 * "setup.exe." or "setup.exe::$DATA" for something other than setup.exe. Info-ZIP is the oracle of what
 * an archiver opens.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZip, looksLikeZip, readZip } from '@ssmax/core';
import { afterAll, describe, expect, it } from 'vitest';
import { inspect, type InspectedFile } from './inspection.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-item9-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = new TextEncoder();
const file = (name: string, bytes: Uint8Array | string, contentType = 'application/octet-stream'): InspectedFile => ({
  name,
  contentType,
  bytes: typeof bytes === 'string' ? enc.encode(bytes) : bytes,
});
const cat = (...parts: (Uint8Array | string)[]): Uint8Array =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))));

/** An archive made by Info-ZIP; `args` as for zip(1). */
function infoZip(files: Record<string, string | Uint8Array>, args: string[] = []): Uint8Array {
  const src = mkdtempSync(join(dir, 'z-'));
  for (const [n, d] of Object.entries(files)) writeFileSync(join(src, n), d);
  execFileSync('zip', ['-q', '-X', ...args, join(src, 'out.zip'), ...Object.keys(files)], { cwd: src });
  return new Uint8Array(readFileSync(join(src, 'out.zip')));
}

/** The member names Info-ZIP's unzip lists for these bytes (it warns about, and accepts, data in front). */
function unzipLists(bytes: Uint8Array): string[] {
  const f = join(mkdtempSync(join(dir, 'u-')), 'a.zip');
  writeFileSync(f, bytes);
  let out: string;
  try {
    out = execFileSync('unzip', ['-Z1', f], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    // unzip exits 1 ("warning") for extra bytes at the beginning, and still lists the archive.
    out = ((e as { stdout?: Buffer }).stdout ?? Buffer.alloc(0)).toString();
  }
  return out.split('\n').filter(Boolean);
}

const macro = 'Attribute VB_Name = "ThisDocument"\r\nSub AutoOpen()\r\nEnd Sub\r\n';

describe('issue 10 item 9: archive detection by byte 0 only', () => {
  it('finds the macro in a ZIP behind one junk byte that an archiver opens (inbound, 8)', () => {
    const zip = cat('\n', infoZip({ 'seikyu.docm': macro }));
    expect(unzipLists(zip)).toEqual(['seikyu.docm']);
    expect(looksLikeZip(zip)).toBe(true);
    expect(readZip(zip).entries.map((e) => e.name)).toEqual(['seikyu.docm']);
    const v = inspect('inbound', [file('order.zip', zip, 'application/zip')], '');
    expect(v.action).toBe('block');
    expect(v.reasons).toContainEqual(expect.objectContaining({ rule: 'office-macro', code: 'MALWARE', file: 'order.zip/seikyu.docm' }));
  });

  it('finds it too behind a longer prefix whose offsets were adjusted (zip -A, the self-extractor layout)', () => {
    const src = mkdtempSync(join(dir, 'sfx-'));
    writeFileSync(join(src, 'out.zip'), cat('MZ-less stub, not an executable\n'.repeat(40), infoZip({ 'seikyu.docm': macro })));
    execFileSync('zip', ['-q', '-A', join(src, 'out.zip')]);
    const sfx = new Uint8Array(readFileSync(join(src, 'out.zip')));
    expect(unzipLists(sfx)).toEqual(['seikyu.docm']);
    expect(rulesOf(inspect('inbound', [file('order.bin', sfx)], ''))).toContain('office-macro');
  });

  it('lets outbound DLP (5) read a confidential text in a ZIP behind junk', () => {
    const zip = cat('x', infoZip({ 'terms.txt': 'CONFIDENTIAL merger terms, do not forward.' }));
    expect(unzipLists(zip)).toEqual(['terms.txt']);
    const v = inspect('outbound', [file('terms.zip', zip, 'application/zip')], 'see attachment', {}, { recipientMember: false });
    expect(v.action).toBe('block');
    expect(v.reasons).toContainEqual(expect.objectContaining({ rule: 'confidential-marking', code: 'DLP_BLOCK', file: 'terms.zip/terms.txt' }));
  });

  it('refuses an archive whose local header names another file than its central directory', () => {
    const zip = createZip([{ name: 'readme.txt', data: 'hello', method: 'store' }]);
    // The local header's name (offset 30) says what a streaming reader extracts: "runme1.exe".
    zip.set(enc.encode('runme1.exe'), 30);
    expect(() => readZip(zip)).toThrow(expect.objectContaining({ code: 'MALFORMED_ZIP' }));
    const v = inspect('inbound', [file('docs.zip', zip)], '');
    expect(v.action).toBe('block');
    expect(v.reasons).toEqual([expect.objectContaining({ rule: 'uninspectable', code: 'UNINSPECTABLE', file: 'docs.zip' })]);
  });

  it('refuses a member whose local header states other sizes than its central directory', () => {
    const zip = createZip([{ name: 'a.txt', data: 'hello world', method: 'store' }]);
    // Local header compressed and uncompressed size (offsets 18, 22): a streaming reader takes 5 bytes.
    new DataView(zip.buffer).setUint32(18, 5, true);
    new DataView(zip.buffer).setUint32(22, 5, true);
    const z = readZip(zip);
    expect(() => z.read(z.entries[0]!)).toThrow(expect.objectContaining({ code: 'MALFORMED_ZIP' }));
    expect(inspect('inbound', [file('a.zip', zip)], '').reasons).toEqual([expect.objectContaining({ rule: 'uninspectable', file: 'a.zip/a.txt' })]);
  });

  it('blocks names that Windows saves as a blocked extension (trailing dots and spaces, ::$DATA, a stream)', () => {
    for (const name of [
      'setup.exe.',
      'setup.exe ',
      'setup.exe. .',
      'setup.exe::$DATA',
      'SETUP.EXE::$data',
      'notes.txt:payload.js',
      'notes.txt:payload.js:$DATA',
      'dir\\run.vbs',
    ]) {
      const v = inspect('inbound', [file(name, 'plain text, no magic')], '');
      expect(v.reasons, name).toContainEqual(expect.objectContaining({ rule: 'script-extension', code: 'MALWARE' }));
    }
    const member = inspect('inbound', [file('a.zip', createZip([{ name: 'invoice.pdf.exe::$DATA', data: 'x' }]))], '');
    expect(member.reasons).toContainEqual(expect.objectContaining({ rule: 'script-extension', file: 'a.zip/invoice.pdf.exe::$DATA' }));
    expect(inspect('inbound', [file('invoice.docm.', 'x')], '').reasons).toContainEqual(expect.objectContaining({ rule: 'office-macro' }));
  });

  it('still allows harmless files with dots and colons in their names, and a binary that is no archive', () => {
    const noise = new Uint8Array(200_000).map((_, i) => (i * 7919) % 251);
    expect(looksLikeZip(noise)).toBe(false);
    expect(inspect('inbound', [file('report.v2.pdf', '%PDF-1.7 ...'), file('minutes 10:30.txt', 'hello'), file('scan.bin', noise)], '')).toEqual({
      action: 'allow',
      reasons: [],
    });
  });
});

function rulesOf(v: ReturnType<typeof inspect>): string[] {
  return v.reasons.map((r) => r.rule);
}
