import { describe, expect, it } from 'vitest';
import { formatMail } from './inbox.js';

describe('formatMail', () => {
  const base = { messageId: 'm1@org-a.example', from: 'alice@org-a.example', subject: 'Plan', problems: [], files: [], text: 'hi' };

  it('shows an S/MIME mail with its signer and the public CA validation type, and no identity-proofing notice', () => {
    const out = formatMail(1, { ...base, verified: true, mode: 'S/MIME', signer: 'alice@org-a.example, sponsor-validated (a named person of the sponsoring org): CN=Alice; issued by CN=Root' });
    expect(out).toContain('Verdict:  VERIFIED (S/MIME)');
    expect(out).toContain('Signer:   alice@org-a.example, sponsor-validated');
    expect(out).toContain('Identity: none (no identity-proofing notice)');
  });

  it('lists each problem of a mail that is not verified, and prints no signer line when there is none', () => {
    const out = formatMail(2, { ...base, verified: false, mode: 'S/MIME', problems: ['S/MIME: invalid', 'signed by mallory@org-a.example, not by the From address alice@org-a.example'] });
    expect(out).toContain('NOT VERIFIED (S/MIME)');
    expect(out).toContain('- signed by mallory@org-a.example, not by the From address');
    expect(out).not.toContain('Signer:');
  });
});
