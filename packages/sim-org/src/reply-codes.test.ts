import { describe, it, expect } from 'vitest';
import { ReplyCodes, replyFor, formatReply, renderReplyCodesMarkdown } from './reply-codes.js';
import { SimOrgErrorCodes } from './errors.js';

describe('replyFor', () => {
  it('maps the brief-required codes to their RFC 5321/3463 replies', () => {
    const expected: Record<string, [number, string]> = {
      UNKNOWN_ORG: [550, '5.7.1'],
      ORG_SUSPENDED: [550, '5.7.1'],
      ORG_REVOKED: [550, '5.7.1'],
      CERT_REVOKED: [550, '5.7.1'],
      BAD_SIGNATURE: [550, '5.7.7'],
      FROM_SIGNER_MISMATCH: [550, '5.7.1'],
      MALWARE: [550, '5.7.1'],
      ENCRYPTED_ZIP: [550, '5.7.1'],
      MALFORMED_MIME: [554, '5.6.0'],
      MALFORMED_CMS: [554, '5.6.0'],
      MESSAGE_TOO_BIG: [552, '5.3.4'],
      UNKNOWN_RECIPIENT: [550, '5.1.1'],
      TEMP_REGISTRY_UNAVAILABLE: [451, '4.7.0'],
      AUTH_REQUIRED: [530, '5.7.0'],
      AUTH_FAILED: [535, '5.7.8'],
      TLS_REQUIRED: [530, '5.7.0'],
    };
    for (const [k, [code, enhanced]] of Object.entries(expected)) expect(replyFor(k), k).toMatchObject({ code, enhanced, via: 'smtp' });
    expect(replyFor('DLP_BLOCK').via).toBe('dsn');
  });

  it('keeps the basic and enhanced classes consistent (2/4/5 and RFC 3463 §3.1 class digit) for every entry', () => {
    for (const [k, r] of Object.entries(ReplyCodes)) {
      expect(String(r.code)[0], k).toBe(r.enhanced[0]);
      expect(r.enhanced, k).toMatch(/^[245]\.\d{1,3}\.\d{1,3}$/);
    }
  });

  it('answers unknown codes with a transient 451 4.3.0 so mail is retried, not lost', () => {
    expect(replyFor('SOMETHING_NEW')).toMatchObject({ code: 451, enhanced: '4.3.0' });
  });

  it('has a reply for every verdict code of SimOrgError', () => {
    for (const [k, cat] of Object.entries(SimOrgErrorCodes)) if (cat === 'verdict') expect(replyFor(k).code, k).not.toBe(451);
  });
});

describe('formatReply', () => {
  it('renders one wire line without CR/LF injection from the detail', () => {
    expect(formatReply(replyFor('MALWARE'), 'eicar\r\n250 ok')).toBe('550 5.7.1 Message refused: malware detected (eicar 250 ok)');
  });
});

describe('renderReplyCodesMarkdown', () => {
  it('renders one table row per code', () => {
    const md = renderReplyCodesMarkdown();
    expect(md.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(Object.keys(ReplyCodes).length);
    expect(md).toContain('| `AUTH_FAILED` | 535 | 5.7.8 |');
  });
});
