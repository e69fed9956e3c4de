import { describe, it, expect } from 'vitest';
import { applyDlpRules, DEFAULT_DLP_RULES, isValidMyNumber, luhnValid, myNumberCheckDigit } from './dlp-rules.js';

/**
 * Independent formulation straight from 施行令 第8条 (digits counted from the RIGHT, Qn = n+1 for
 * n ≤ 6, n−5 for n ≥ 7), so a slip in the left-to-right weight table of the implementation shows up.
 */
function officialCheckDigit(first11: string): number {
  let sum = 0;
  for (let n = 1; n <= 11; n++) {
    const p = Number(first11[11 - n]);
    const q = n <= 6 ? n + 1 : n - 5;
    sum += p * q;
  }
  const r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

describe('myNumberCheckDigit', () => {
  it('computes 8 when the first 11 digits are 12345678901 (worked by hand: Σ=212, 212 mod 11=3)', () => {
    expect(myNumberCheckDigit('12345678901')).toBe(8);
    expect(isValidMyNumber('123456789018')).toBe(true);
  });

  it('gives 0 when the remainder is 0 or 1', () => {
    expect(myNumberCheckDigit('00000000000')).toBe(0); // r = 0
    // 20000000000: Σ = 2·6 = 12, r = 1.
    expect(myNumberCheckDigit('20000000000')).toBe(0);
    expect(isValidMyNumber('200000000000')).toBe(true);
  });

  it('agrees with the right-to-left official formulation on many inputs', () => {
    for (let i = 0; i < 2000; i++) {
      const s = String((i * 7919 * 104729 + 12345) % 1e11).padStart(11, '0');
      expect(myNumberCheckDigit(s)).toBe(officialCheckDigit(s));
    }
  });

  it('rejects a number when any single digit or the check digit is changed', () => {
    expect(isValidMyNumber('123456789019')).toBe(false);
    expect(isValidMyNumber('223456789018')).toBe(false);
    expect(isValidMyNumber('12345678901')).toBe(false);
  });
});

describe('luhnValid', () => {
  it('accepts published test card numbers and rejects one-digit changes', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('5555555555554444')).toBe(true);
    expect(luhnValid('378282246310005')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });
});

describe('applyDlpRules', () => {
  it('finds confidential markings in Japanese, English and full-width forms', () => {
    for (const t of ['この資料は社外秘です', 'Status: confidential', '【極秘】', 'ＣＯＮＦＩＤＥＮＴＩＡＬ']) {
      expect(applyDlpRules(t, DEFAULT_DLP_RULES).map((m) => m.rule)).toContain('confidential-marking');
    }
    expect(applyDlpRules('public press release', DEFAULT_DLP_RULES)).toEqual([]);
  });

  it('finds a valid My Number with separators or full-width digits and masks it in the detail', () => {
    for (const t of ['番号: 123456789018', '1234-5678-9018', '１２３４ ５６７８ ９０１８']) {
      const m = applyDlpRules(t, DEFAULT_DLP_RULES).find((x) => x.rule === 'my-number');
      expect(m, t).toBeDefined();
      expect(m!.detail).not.toContain('123456789018');
    }
  });

  it('ignores a 12-digit number with a wrong check digit and longer digit runs', () => {
    const rules = DEFAULT_DLP_RULES.filter((r) => r.kind === 'my-number');
    expect(applyDlpRules('order 123456789019', rules)).toEqual([]);
    expect(applyDlpRules('tracking 91234567890189', rules)).toEqual([]);
  });

  it('does not take digit runs inside hex digests or identifiers for a My Number or card number, but still finds one in running Japanese text', () => {
    // A real file summary line whose SHA-256 holds "446876639163" (a valid check digit) between hex letters:
    // this flagged an honest mail before numbers had to stand apart from ASCII words.
    const summary = '1. quote.pdf (application/pdf, 122 bytes, SHA-256 8b8a8aea974c4f694f6d36de31575bf087df66a903f72eb9f446876639163db7)';
    expect(applyDlpRules(summary, DEFAULT_DLP_RULES)).toEqual([]);
    expect(applyDlpRules('id x4111111111111111y', DEFAULT_DLP_RULES)).toEqual([]);
    expect(applyDlpRules('マイナンバー123456789018です', DEFAULT_DLP_RULES).map((m) => m.rule)).toContain('my-number');
    expect(applyDlpRules('(123456789018)', DEFAULT_DLP_RULES).map((m) => m.rule)).toContain('my-number');
  });

  it('matches card numbers only when Luhn passes if the rule asks for Luhn', () => {
    const luhn = [{ id: 'cc', description: '', kind: 'credit-card' as const, luhn: true }];
    const any = [{ id: 'cc', description: '', kind: 'credit-card' as const, luhn: false }];
    expect(applyDlpRules('card 4111 1111 1111 1111', luhn)).toHaveLength(1);
    expect(applyDlpRules('card 4111 1111 1111 1112', luhn)).toHaveLength(0);
    expect(applyDlpRules('card 4111 1111 1111 1112', any)).toHaveLength(1);
  });

  it('applies regex rules given as data', () => {
    const rules = [{ id: 'proj', description: 'project code name', kind: 'regex' as const, pattern: 'PROJECT-\\d+', action: 'flag' as const }];
    expect(applyDlpRules('see PROJECT-42', rules)).toEqual([{ rule: 'proj', action: 'flag', detail: 'pattern /PROJECT-\\d+/ matched' }]);
  });
});
