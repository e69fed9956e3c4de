/**
 * Issue 16 part 1: ClamAV (a real clamd, Debian's clamav-daemon) as the malware engine of inbound
 * inspection (8). Each case runs the mail's files through inspectOffThread with the daemon, as the MX
 * does, and where it matters through our own rules alone (a bare `inspect`, the engine before issue 16)
 * to show what ClamAV adds.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createVbaProject, createZip } from '@ssmax/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClamdDaemon, parseClamdReply } from './clamd.js';
import { inspect, type InspectedFile, type InspectionPolicy } from './inspection.js';
import { inspectOffThread } from './inspection-pool.js';
import { EICAR } from './malware-scan.js';

const dir = mkdtempSync(join(tmpdir(), 'ssmax-clamd-test-'));
let clamd: ClamdDaemon;
beforeAll(async () => {
  clamd = new ClamdDaemon({ dir: join(dir, 'shared') });
  await clamd.start();
});
afterAll(async () => {
  await clamd?.close();
  rmSync(dir, { recursive: true, force: true });
});

const enc = new TextEncoder();
const file = (name: string, bytes: Uint8Array | string, contentType = 'application/octet-stream'): InspectedFile => ({
  name,
  contentType,
  bytes: typeof bytes === 'string' ? enc.encode(bytes) : bytes,
});
/** A unique tail, so clamd's cache of clean files never answers for a case. */
const fresh = (): string => randomBytes(8).toString('hex');
const viaClamav = (files: InspectedFile[], policy: Partial<InspectionPolicy> = {}, scanner = clamd) =>
  inspectOffThread('inbound', files, '', policy, {}, { scanner });

/** A Word document (OOXML) whose vbaProject.bin is a real VBA project with an AutoOpen macro. */
function macroDocument(): Uint8Array {
  return createZip([
    { name: '[Content_Types].xml', data: '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>' },
    { name: 'word/document.xml', data: `<w:document><w:body><w:p><w:r><w:t>Enable editing ${fresh()}</w:t></w:r></w:p></w:body></w:document>` },
    {
      name: 'word/vbaProject.bin',
      data: createVbaProject([{ name: 'ThisDocument', source: `Sub AutoOpen()\r\n  Shell "calc.exe" ' ${fresh()}\r\nEnd Sub\r\n` }]),
    },
  ]);
}

describe('ClamAV as the malware engine of inbound inspection (issue 16 part 1)', () => {
  it('finds EICAR by the local signature database and the reason names clamav and the signature', async () => {
    const v = await viaClamav([file('tool.com.txt', EICAR), file('notes.txt', `meeting notes\n${EICAR}\n${fresh()}`)]);
    expect(v.action).toBe('block');
    expect(v.reasons).toEqual([
      { rule: 'clamav', detail: 'Eicar-Test-Signature.UNOFFICIAL', file: 'tool.com.txt', action: 'block', code: 'MALWARE' },
      { rule: 'clamav', detail: 'Eicar-Test-Signature.UNOFFICIAL', file: 'notes.txt', action: 'block', code: 'MALWARE' },
    ]);
    // Our byte rule for EICAR no longer runs: ClamAV decides.
    expect(v.reasons.some((r) => r.rule === 'eicar')).toBe(false);
    expect(v.scannedBy).toMatch(/^clamav \(ClamAV 1\.\d+\.\d+, local signatures\)/);
  });

  it('flags a VBA project in an OOXML document and in a bare OLE2 file (Heuristics.OLE2.ContainsMacros.VBA), with the officeMacro action', async () => {
    const doc = macroDocument();
    const bare = createVbaProject([{ name: 'Module1', source: `Sub Document_Open()\r\nEnd Sub\r\n' ${fresh()}\r\n` }]);
    // Innocuous names and types: no name rule fires, only ClamAV's parser finds the macros.
    const v = await viaClamav([file('report.doc', doc), file('data.bin', bare)]);
    expect(v.reasons).toEqual([
      { rule: 'clamav', detail: 'Heuristics.OLE2.ContainsMacros.VBA', file: 'report.doc', action: 'block', code: 'MALWARE' },
      { rule: 'clamav', detail: 'Heuristics.OLE2.ContainsMacros.VBA', file: 'data.bin', action: 'block', code: 'MALWARE' },
    ]);
    const flagged = await viaClamav([file('report.doc', macroDocument())], { officeMacro: 'flag' });
    expect(flagged).toMatchObject({ action: 'flag', reasons: [{ rule: 'clamav', detail: 'Heuristics.OLE2.ContainsMacros.VBA', action: 'flag' }] });
    // The same package without the VBA part is a clean document.
    const docx = createZip([{ name: 'word/document.xml', data: `<w:document>${fresh()}</w:document>` }]);
    expect((await viaClamav([file('report.docx', docx)])).reasons).toEqual([]);
  });

  it('keeps our name rules where ClamAV has none: a macro-enabled type by name, a script extension inside an archive', async () => {
    const zip = createZip([{ name: 'invoice.pdf.js', data: `var x = ${fresh()};` }]);
    const v = await viaClamav([file('invoice.docm', `not even a document ${fresh()}`), file('invoice.zip', zip)]);
    expect(v.reasons.map((r) => [r.rule, r.file])).toEqual([
      ['office-macro', 'invoice.docm'],
      ['script-extension', 'invoice.zip/invoice.pdf.js'],
    ]);
  });

  it('flags an encrypted ZIP (Heuristics.Encrypted.Zip) as the encryptedZip policy says: block, flag or allow', async () => {
    const zip = createZip([{ name: 'document.doc', data: `${EICAR} ${fresh()}` }], { password: 'pa55' });
    expect((await viaClamav([file('files.zip', zip)])).reasons).toEqual([
      { rule: 'clamav', detail: 'Heuristics.Encrypted.Zip', file: 'files.zip', action: 'block', code: 'ENCRYPTED_ZIP' },
    ]);
    expect((await viaClamav([file('files.zip', zip)], { encryptedZip: 'flag' })).action).toBe('flag');
    expect(await viaClamav([file('files.zip', zip)], { encryptedZip: 'allow' })).toMatchObject({ action: 'allow', reasons: [] });
  });

  it('blocks what our own rules let through: EICAR inside gzip, and a file eight gzips deep (Heuristics.Limits.Exceeded.MaxRecursion)', async () => {
    const gz = gzipSync(Buffer.from(`${EICAR}\n${fresh()}`));
    let deep = Buffer.from(`quarterly figures ${fresh()}`);
    for (let i = 0; i < 8; i++) deep = gzipSync(deep);
    const files = [file('report.gz', new Uint8Array(gz)), file('figures.gz', new Uint8Array(deep))];
    // Before issue 16: our rules read no gzip and pass both.
    expect(inspect('inbound', files, '')).toEqual({ action: 'allow', reasons: [] });
    const v = await viaClamav(files);
    expect(v.reasons).toEqual([
      { rule: 'clamav', detail: 'Eicar-Test-Signature.UNOFFICIAL', file: 'report.gz', action: 'block', code: 'MALWARE' },
      { rule: 'clamav', detail: 'Heuristics.Limits.Exceeded.MaxRecursion', file: 'figures.gz', action: 'block', code: 'UNINSPECTABLE' },
    ]);
    // Seven levels are within the limit: the limit, not gzip itself, decides.
    let seven = Buffer.from(`quarterly figures ${fresh()}`);
    for (let i = 0; i < 7; i++) seven = gzipSync(seven);
    expect((await viaClamav([file('figures.gz', new Uint8Array(seven))])).reasons).toEqual([]);
  });

  it('finds the macro in a ZIP behind a junk prefix and four ZIPs deep; deeper nesting is refused as over the limit (MaxRecursion)', async () => {
    const junk = new Uint8Array(Buffer.concat([Buffer.from(`junk ${fresh()}\n`), createZip([{ name: 'seikyu.doc', data: macroDocument() }])]));
    expect((await viaClamav([file('order.bin', junk)])).reasons).toContainEqual({
      rule: 'clamav',
      detail: 'Heuristics.OLE2.ContainsMacros.VBA',
      file: 'order.bin',
      action: 'block',
      code: 'MALWARE',
    });
    const nest = (inner: Uint8Array, levels: number): Uint8Array => {
      let z = inner;
      for (let i = 0; i < levels; i++) z = createZip([{ name: `l${i}.zip`, data: z }]);
      return z;
    };
    expect(await clamd.scan(nest(macroDocument(), 4))).toEqual({ result: 'found', signature: 'Heuristics.OLE2.ContainsMacros.VBA' });
    // Five deep, the macro's layers reach the limit: clamd 1.4.6 reports whichever alert it records
    // first, the macro or the limit, and both block.
    const five = await viaClamav([file('nested.zip', nest(macroDocument(), 5))]);
    expect(five.reasons[0]).toMatchObject({
      rule: 'clamav',
      file: 'nested.zip',
      action: 'block',
      detail: expect.stringMatching(/^Heuristics\.(OLE2\.ContainsMacros\.VBA|Limits\.Exceeded\.MaxRecursion)$/),
    });
    // A plain text eight ZIPs deep is beyond MaxRecursion 8, seven deep within it.
    expect((await viaClamav([file('deep.zip', nest(enc.encode(`figures ${fresh()}`), 8))])).reasons).toContainEqual({
      rule: 'clamav',
      detail: 'Heuristics.Limits.Exceeded.MaxRecursion',
      file: 'deep.zip',
      action: 'block',
      code: 'UNINSPECTABLE',
    });
    expect(await clamd.scan(nest(enc.encode(`figures ${fresh()}`), 7))).toEqual({ result: 'clean' });
  });

  it('passes a clean file and says who scanned it; a novel malicious PDF (no signature) passes too', async () => {
    const v = await viaClamav([
      file('figures.csv', `q1,q2\n4,5\n${fresh()}`, 'text/csv'),
      file('invoice.pdf', `%PDF-1.4\n/OpenAction << /S /JavaScript /JS (app.launchURL("http://203.0.113.9/${fresh()}")) >>\n%%EOF\n`, 'application/pdf'),
    ]);
    expect(v).toMatchObject({ action: 'allow', reasons: [] });
    expect(v.scannedBy).toContain('clamav');
  });

  it('alerts instead of passing when a file exceeds MaxFileSize (AlertExceedsMax)', async () => {
    await using small = new ClamdDaemon({ dir: join(dir, 'small'), limits: { maxFileSize: 1024 * 1024 } });
    const zip = createZip([{ name: 'big.bin', data: new Uint8Array(randomBytes(2 * 1024 * 1024)), method: 'store' }]);
    expect(await small.scan(zip)).toEqual({ result: 'found', signature: 'Heuristics.Limits.Exceeded.MaxFileSize' });
    expect(await small.scan(new Uint8Array(randomBytes(1000)))).toEqual({ result: 'clean' });
  });

  it('fails closed when clamd is down: killed, or never installed', async () => {
    const down = new ClamdDaemon({ dir: join(dir, 'down') });
    await down.start();
    const pid = down.pid!;
    process.kill(pid, 'SIGKILL');
    while (down.pid !== undefined) await new Promise((r) => setTimeout(r, 20));
    const v = await viaClamav([file('figures.csv', `q1,q2\n${fresh()}`)], {}, down);
    expect(v.action).toBe('block');
    expect(v.reasons).toEqual([
      expect.objectContaining({
        rule: 'uninspectable',
        code: 'UNINSPECTABLE',
        file: 'figures.csv',
        detail: expect.stringMatching(/clamav could not scan the file: clamd is not running: clamd was stopped by SIGKILL/),
      }),
    ]);
    await down.close();

    await using missing = new ClamdDaemon({ dir: join(dir, 'missing'), binary: join(dir, 'no-such-clamd') });
    const m = await viaClamav([file('figures.csv', 'q1,q2')], { uninspectable: 'block' }, missing);
    expect(m).toMatchObject({ action: 'block', reasons: [{ rule: 'uninspectable', detail: expect.stringContaining('install clamav-daemon') }] });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR')).toEqual({ result: 'error', detail: 'clamd answered "INSTREAM size limit exceeded. ERROR"' });
  });

  it('stops clamd on close: no process of its config remains', async () => {
    const d = new ClamdDaemon({ dir: join(dir, 'close') });
    await d.start();
    const running = () =>
      execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(d.configPath) && !l.includes('ps -eo'));
    expect(running()).toHaveLength(1);
    await d.close();
    expect(running()).toEqual([]);
    expect(await d.scan(enc.encode('x'))).toMatchObject({ result: 'error' });
  });
});
