import { describe, expect, it } from 'vitest';
import { formatMail } from './inbox.js';

describe('formatMail', () => {
  const base = { messageId: 'm1@org-a.example', from: 'alice@org-a.example', subject: 'Plan', problems: [], files: [], text: 'hi' };

  it('shows an S/MIME mail with its signer and the public CA validation type, and no identity-proofing notice', () => {
    const out = formatMail(1, {
      ...base,
      verified: true,
      mode: 'S/MIME',
      signer: 'alice@org-a.example, sponsor-validated (a named person of the sponsoring org): CN=Alice; issued by CN=Root',
    });
    expect(out).toContain('Verdict:  VERIFIED (S/MIME)');
    expect(out).toContain('Signer:   alice@org-a.example, sponsor-validated');
    expect(out).toContain('Identity: none (no identity-proofing notice)');
  });

  it('lists each problem of a mail that is not verified, and prints no signer line when there is none', () => {
    const out = formatMail(2, {
      ...base,
      verified: false,
      mode: 'S/MIME',
      problems: ['S/MIME: invalid', 'signed by mallory@org-a.example, not by the From address alice@org-a.example'],
    });
    expect(out).toContain('NOT VERIFIED (S/MIME)');
    expect(out).toContain('- signed by mallory@org-a.example, not by the From address');
    expect(out).not.toContain('Signer:');
  });

  it("shows the files of a refused mail as withheld with the agent's reason, never as ok, with a SHA-256 only when computed", () => {
    const out = formatMail(3, {
      ...base,
      verified: false,
      mode: 'end-to-end',
      problems: ['hop 2 (org-b.example) attested file 1 with another content than the sender signed'],
      files: [
        { name: '1', contentType: 'application/octet-stream', ok: false, withheld: 'differs-from-manifest' },
        { name: 'report.pdf', contentType: 'application/pdf', ok: false, withheld: 'mail-not-verified', sha256: 'ab'.repeat(32) },
      ],
    });
    expect(out).toContain('    File:     1 (application/octet-stream) withheld (differs-from-manifest)\n');
    expect(out).toContain(`    File:     report.pdf (application/pdf) withheld (mail-not-verified) sha256 ${'ab'.repeat(32)}\n`);
    expect(out).not.toMatch(/ ok( |$)/m);
  });

  it('shows the attachments of outside mail as released unverified under the not-SSMAX-verified line', () => {
    const out = formatMail(4, {
      ...base,
      verified: false,
      mode: 'end-to-end',
      outside: true,
      problems: ['the mail carries no organisation signature: it is not from an SSMAX member (unverified)'],
      files: [{ name: 'invoice.pdf', contentType: 'application/pdf', size: 12, ok: false, unverified: true, sha256: 'cd'.repeat(32) }],
    });
    expect(out).toContain('NOT VERIFIED (end-to-end)\n              outside mail, not SSMAX-verified');
    expect(out).toContain(`    File:     invoice.pdf (application/pdf, 12 bytes) released UNVERIFIED (not SSMAX-verified) sha256 ${'cd'.repeat(32)}\n`);
  });
});
