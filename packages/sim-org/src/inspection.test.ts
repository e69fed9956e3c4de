import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZip } from '@ssmax/core';
import { inspect, type InspectedFile } from './inspection.js';
import { EICAR } from './malware-scan.js';
import { DEFAULT_DLP_RULES } from './dlp-rules.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-insp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = new TextEncoder();
const file = (name: string, bytes: Uint8Array | string, contentType = 'application/octet-stream'): InspectedFile => ({
  name,
  contentType,
  bytes: typeof bytes === 'string' ? enc.encode(bytes) : bytes,
});
const rules = (v: ReturnType<typeof inspect>) => v.reasons.map((r) => r.rule);

/** A ZIP made by Info-ZIP (independent of our writer). */
function infoZip(files: Record<string, string | Uint8Array>, args: string[] = []): Uint8Array {
  const src = mkdtempSync(join(dir, 'z-'));
  for (const [n, d] of Object.entries(files)) writeFileSync(join(src, n), d);
  execFileSync('zip', ['-q', '-X', ...args, join(src, 'out.zip'), ...Object.keys(files)], { cwd: src });
  return new Uint8Array(readFileSync(join(src, 'out.zip')));
}

describe('inspect (inbound malware, procedure 8)', () => {
  it('uses the standard 68-byte EICAR string', () => {
    expect(enc.encode(EICAR).length).toBe(68);
    expect(EICAR.startsWith('X5O!P%@AP[4\\PZX54(P^)7CC)7}$')).toBe(true);
  });

  it('blocks the EICAR file when attached directly and when inside a plain ZIP', () => {
    expect(inspect('inbound', [file('eicar.com.txt', EICAR, 'text/plain')], '')).toMatchObject({
      action: 'block',
      reasons: [{ rule: 'eicar', code: 'MALWARE', file: 'eicar.com.txt' }],
    });
    const v = inspect('inbound', [file('invoice.zip', infoZip({ 'readme.txt': EICAR }), 'application/zip')], '');
    expect(v.action).toBe('block');
    expect(v.reasons).toContainEqual(expect.objectContaining({ rule: 'eicar', file: 'invoice.zip/readme.txt' }));
  });

  it('allows a harmless file and a harmless ZIP', () => {
    expect(inspect('inbound', [file('a.pdf', '%PDF-1.7 ...'), file('b.zip', infoZip({ 'x.txt': 'hello' }))], 'hi')).toEqual({ action: 'allow', reasons: [] });
  });

  it('blocks an encrypted ZIP by policy, and lets EICAR through unseen when the policy allows encrypted ZIPs', () => {
    const ppap = createZip([{ name: 'invoice.doc', data: EICAR }], { password: 'x1' });
    const blocked = inspect('inbound', [file('invoice.zip', ppap)], '', { encryptedZip: 'block' });
    expect(blocked.action).toBe('block');
    expect(blocked.reasons).toEqual([expect.objectContaining({ rule: 'encrypted-zip', code: 'ENCRYPTED_ZIP', file: 'invoice.zip/invoice.doc' })]);
    expect(inspect('inbound', [file('invoice.zip', ppap)], '', { encryptedZip: 'flag' }).action).toBe('flag');
    // The PPAP blind spot: nothing can be seen inside.
    expect(inspect('inbound', [file('invoice.zip', ppap)], '', { encryptedZip: 'allow' })).toEqual({ action: 'allow', reasons: [] });
  });

  it('detects an Info-ZIP encrypted archive and an AES-marked entry as encrypted', () => {
    const v = inspect('inbound', [file('p.zip', infoZip({ 'a.txt': 'x' }, ['-P', 'secret']))], '');
    expect(rules(v)).toEqual(['encrypted-zip']);
    const aesExtra = new Uint8Array([0x01, 0x99, 7, 0, 2, 0, 0x41, 0x45, 3, 8, 0]);
    const aes = createZip([{ name: 'a.txt', data: 'x', raw: { method: 99, extra: aesExtra, localFlags: 0, centralFlags: 0 } }]);
    expect(rules(inspect('inbound', [file('aes.zip', aes)], ''))).toEqual(['encrypted-zip']);
  });

  it('blocks a script whose name is visible inside an encrypted ZIP even when encrypted ZIPs are allowed', () => {
    const z = createZip([{ name: 'run.js', data: 'WScript.Echo(1)' }], { password: 'p' });
    const v = inspect('inbound', [file('x.zip', z)], '', { encryptedZip: 'allow' });
    expect(v).toMatchObject({ action: 'block', reasons: [{ rule: 'script-extension', file: 'x.zip/run.js' }] });
  });

  it('blocks native executables by magic bytes whatever their name', () => {
    const elf = new Uint8Array(readFileSync('/bin/true'));
    const pe = new Uint8Array(0x90);
    pe.set([0x4d, 0x5a]);
    pe.set([0x80, 0, 0, 0], 0x3c);
    pe.set([0x50, 0x45, 0, 0], 0x80);
    const macho = new Uint8Array([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]);
    for (const [bytes, kind] of [
      [elf, 'ELF'],
      [pe, 'PE'],
      [macho, 'Mach-O'],
    ] as const) {
      const v = inspect('inbound', [file('photo.jpg', bytes, 'image/jpeg')], '');
      expect(v.action).toBe('block');
      expect(v.reasons[0]!.detail).toContain(kind);
    }
  });

  it('blocks Office macros in OOXML (vbaProject.bin), by macro-enabled content type, and in OLE2 (_VBA_PROJECT)', () => {
    const docm = createZip([
      { name: '[Content_Types].xml', data: '<Types/>' },
      { name: 'word/vbaProject.bin', data: new Uint8Array([1, 2]) },
    ]);
    expect(rules(inspect('inbound', [file('report.docx', docm)], ''))).toEqual(['office-macro']);
    expect(rules(inspect('inbound', [file('sheet.bin', 'x', 'application/vnd.ms-excel.sheet.macroEnabled.12')], ''))).toEqual(['office-macro']);
    const ole = new Uint8Array(1024);
    ole.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
    ole.set(Buffer.from('_VBA_PROJECT', 'utf16le'), 600);
    expect(rules(inspect('inbound', [file('old.doc', ole, 'application/msword')], ''))).toEqual(['office-macro']);
    const oleClean = new Uint8Array(1024);
    oleClean.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
    expect(inspect('inbound', [file('old.doc', oleClean, 'application/msword')], '').action).toBe('allow');
    expect(inspect('inbound', [file('report.docx', docm)], '', { officeMacro: 'flag' }).action).toBe('flag');
  });

  it('blocks script and shortcut files by extension', () => {
    for (const n of ['a.js', 'b.VBS', 'c.hta', 'd.lnk', 'e.iso']) {
      expect(inspect('inbound', [file(n, 'x')], '').reasons[0]).toMatchObject({ rule: 'script-extension', file: n });
    }
  });

  it('finds EICAR in nested ZIPs up to maxZipDepth and reports deeper nesting as uninspectable', () => {
    let z = createZip([{ name: 'e.txt', data: EICAR }]);
    z = createZip([{ name: 'l2.zip', data: z }]);
    z = createZip([{ name: 'l1.zip', data: z }]);
    expect(inspect('inbound', [file('l0.zip', z)], '', { maxZipDepth: 3 }).reasons).toEqual([
      expect.objectContaining({ rule: 'eicar', file: 'l0.zip/l1.zip/l2.zip/e.txt' }),
    ]);
    const shallow = inspect('inbound', [file('l0.zip', z)], '', { maxZipDepth: 2 });
    expect(shallow.reasons).toEqual([expect.objectContaining({ rule: 'uninspectable', file: 'l0.zip/l1.zip/l2.zip', action: 'block' })]);
  });

  it('reports a zip bomb and a broken archive as uninspectable instead of throwing', () => {
    const bomb = createZip([{ name: 'zeros', data: new Uint8Array(8 * 1024 * 1024) }]);
    expect(inspect('inbound', [file('bomb.zip', bomb)], '', { zipLimits: { maxEntryBytes: 1024 * 1024 } }).reasons).toEqual([
      expect.objectContaining({ rule: 'uninspectable', file: 'bomb.zip/zeros' }),
    ]);
    const broken = createZip([{ name: 'a', data: 'x' }]).subarray(0, 40);
    expect(inspect('inbound', [file('b.zip', broken)], '').reasons[0]).toMatchObject({ rule: 'uninspectable', code: 'UNINSPECTABLE' });
  });
});

describe('inspect (outbound DLP, procedure 5)', () => {
  it('blocks a confidential marking in the body and in a text file, naming the file', () => {
    expect(inspect('outbound', [], '本資料は社外秘です')).toMatchObject({ action: 'block', reasons: [{ rule: 'confidential-marking', code: 'DLP_BLOCK' }] });
    const v = inspect('outbound', [file('plan.txt', 'CONFIDENTIAL plan', 'text/plain')], 'see attached');
    expect(v.reasons).toEqual([expect.objectContaining({ rule: 'confidential-marking', file: 'plan.txt' })]);
  });

  it('skips a rule scoped to non-members only when the recipient domain is a registry member', () => {
    const scoped = DEFAULT_DLP_RULES.map((r) => (r.id === 'confidential-marking' ? { ...r, appliesTo: 'non-member' as const } : r));
    const files = [file('plan.txt', 'CONFIDENTIAL plan', 'text/plain')];
    expect(inspect('outbound', files, '', { dlpRules: scoped }, { recipientMember: true })).toEqual({ action: 'allow', reasons: [] });
    expect(rules(inspect('outbound', files, '', { dlpRules: scoped }, { recipientMember: false }))).toEqual(['confidential-marking']);
    // Membership unknown: the scoped rule still fires (fails closed).
    expect(rules(inspect('outbound', files, '', { dlpRules: scoped }))).toEqual(['confidential-marking']);
    // Unscoped rules fire for members too.
    expect(rules(inspect('outbound', files, '', {}, { recipientMember: true }))).toEqual(['confidential-marking']);
    const myNumber = [file('staff.csv', '123456789018', 'text/csv')];
    expect(rules(inspect('outbound', myNumber, '', { dlpRules: scoped }, { recipientMember: true }))).toEqual(['my-number']);
  });

  it('finds a My Number in a Shift_JIS CSV inside a ZIP and in an OOXML document part', () => {
    const sjis = new Uint8Array(Buffer.from([0x96, 0xbc, 0x91, 0x4f])); // "名前" in Shift_JIS
    const csv = new Uint8Array([...sjis, ...enc.encode(',123456789018\r\n')]);
    const v = inspect('outbound', [file('list.zip', createZip([{ name: 'staff.csv', data: csv }]))], '');
    expect(v.reasons).toEqual([expect.objectContaining({ rule: 'my-number', file: 'list.zip/staff.csv' })]);
    const docx = createZip([{ name: 'word/document.xml', data: '<w:t>極秘</w:t>' }]);
    expect(rules(inspect('outbound', [file('a.docx', docx)], ''))).toEqual(['confidential-marking']);
  });

  it('cannot see a confidential file inside a password ZIP (PPAP) and applies the encrypted-ZIP policy', () => {
    const ppap = createZip([{ name: 'secret.txt', data: '社外秘' }], { password: 'pw' });
    expect(inspect('outbound', [file('s.zip', ppap)], '', { encryptedZip: 'block' }).reasons).toEqual([expect.objectContaining({ rule: 'encrypted-zip' })]);
    expect(inspect('outbound', [file('s.zip', ppap)], '', { encryptedZip: 'allow' }).action).toBe('allow');
  });

  it('flags instead of blocking when the matching rule says flag, and does not run malware checks', () => {
    const v = inspect('outbound', [file('pay.txt', 'card 4111-1111-1111-1111', 'text/plain'), file('tool.exe', new Uint8Array([0x4d, 0x5a]))], '');
    expect(v).toMatchObject({ action: 'flag', reasons: [{ rule: 'credit-card', action: 'flag' }] });
  });

  it('skips binary files for DLP', () => {
    const bin = new Uint8Array([0, 1, 2, ...enc.encode('社外秘')]);
    expect(inspect('outbound', [file('x.bin', bin)], '').action).toBe('allow');
  });
});
