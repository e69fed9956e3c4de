/**
 * Outbound data-loss rules (procedure (5)) as data: each rule has a stable id, a description, a
 * kind and the action it asks for. The inspection server runs them over the body and every text
 * file, including files inside (unencrypted) ZIP archives and OOXML documents.
 */

export type RuleAction = 'flag' | 'block';

interface RuleBase {
  /** Stable id, reported in verdict reasons and journeys. */
  id: string;
  description: string;
  /** Default 'block'. */
  action?: RuleAction;
  /**
   * Which destinations the rule guards (default 'all'). 'non-member': the rule does not fire for a
   * recipient domain that is an SSMAX registry member, i.e. a partner the files reach only re-encrypted
   * to an accountable organisation (paper §4 (5)-(6)); outbound inspection decides per recipient domain.
   */
  appliesTo?: 'all' | 'non-member';
}
/** Any of the words (case-insensitive after NFKC normalisation, so full-width ＣＯＮＦＩＤＥＮＴＩＡＬ counts). */
export interface KeywordRule extends RuleBase {
  kind: 'keywords';
  keywords: string[];
}
/** A 12-digit Individual Number (マイナンバー) whose check digit is right. */
export interface MyNumberRule extends RuleBase {
  kind: 'my-number';
}
/** A 13–19 digit card number; with `luhn` only numbers passing the Luhn check count. */
export interface CreditCardRule extends RuleBase {
  kind: 'credit-card';
  luhn: boolean;
}
/** A JavaScript regular expression (source + flags). */
export interface RegexRule extends RuleBase {
  kind: 'regex';
  pattern: string;
  flags?: string;
}
export type DlpRule = KeywordRule | MyNumberRule | CreditCardRule | RegexRule;

export interface DlpMatch {
  rule: string;
  action: RuleAction;
  /** What matched, with numbers masked so the verdict itself does not leak them. */
  detail: string;
}

export const DEFAULT_DLP_RULES: readonly DlpRule[] = [
  {
    id: 'confidential-marking',
    description: 'Document marked confidential',
    kind: 'keywords',
    keywords: ['社外秘', '極秘', '秘密', 'CONFIDENTIAL', 'STRICTLY CONFIDENTIAL'],
    action: 'block',
  },
  { id: 'my-number', description: 'Individual Number (My Number) with a valid check digit', kind: 'my-number', action: 'block' },
  { id: 'credit-card', description: 'Payment card number passing the Luhn check', kind: 'credit-card', luhn: true, action: 'flag' },
];

/**
 * Check digit of an Individual Number from its first 11 digits, as defined by 行政手続における特定の
 * 個人を識別するための番号の利用等に関する法律施行令 第8条: with Pn the n-th digit counted from the
 * right of the 11 and Qn = n+1 (1≤n≤6) or n−5 (7≤n≤11), r = Σ Pn·Qn mod 11, check = r ≤ 1 ? 0 : 11 − r.
 * From the left the weights are 6,5,4,3,2,7,6,5,4,3,2.
 */
export function myNumberCheckDigit(first11: string): number {
  if (!/^\d{11}$/.test(first11)) throw new TypeError('Cannot compute My Number check digit. Expected 11 digits.');
  const weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  let sum = 0;
  for (let i = 0; i < 11; i++) sum += Number(first11[i]) * weights[i]!;
  const r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

export function isValidMyNumber(digits: string): boolean {
  return /^\d{12}$/.test(digits) && myNumberCheckDigit(digits.slice(0, 11)) === Number(digits[11]);
}

/** ISO/IEC 7812-1 Annex B (Luhn) check over a digit string. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function mask(digits: string): string {
  return digits.slice(0, 2) + '*'.repeat(digits.length - 4) + digits.slice(-2);
}

/**
 * Runs the rules over one text; returns one match per rule at most (the first hit), in rule order.
 * With `recipientMember: true` the rules scoped to non-member destinations are left out.
 */
export function applyDlpRules(text: string, rules: readonly DlpRule[], destination: { readonly recipientMember?: boolean } = {}): DlpMatch[] {
  // NFKC folds full-width digits and letters (１２３, ＣＯＮＦＩＤＥＮＴＩＡＬ) that Japanese documents use.
  const norm = text.normalize('NFKC');
  const upper = norm.toUpperCase();
  const out: DlpMatch[] = [];
  for (const rule of rules) {
    if (rule.appliesTo === 'non-member' && destination.recipientMember === true) continue;
    const action = rule.action ?? 'block';
    switch (rule.kind) {
      case 'keywords': {
        const hit = rule.keywords.find((k) => upper.includes(k.normalize('NFKC').toUpperCase()));
        if (hit !== undefined) out.push({ rule: rule.id, action, detail: `marking "${hit}" found` });
        break;
      }
      case 'my-number': {
        // Delimited like a number a person writes: not inside an ASCII word, so a run of digits in a hex
        // digest or identifier (the SHA-256 in a file summary) is not an Individual Number. Japanese text
        // may run straight into the number (マイナンバー123456789018), so only ASCII word characters bound it.
        for (const m of norm.matchAll(/(?<![0-9A-Za-z_-])(\d{4})[ -]?(\d{4})[ -]?(\d{4})(?![0-9A-Za-z_-])/g)) {
          const digits = `${m[1]}${m[2]}${m[3]}`;
          if (isValidMyNumber(digits)) {
            out.push({ rule: rule.id, action, detail: `Individual Number ${mask(digits)} (check digit valid)` });
            break;
          }
        }
        break;
      }
      case 'credit-card': {
        for (const m of norm.matchAll(/(?<![0-9A-Za-z_-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z_-])/g)) {
          const digits = m[0].replace(/[ -]/g, '');
          if (digits.length >= 13 && digits.length <= 19 && (!rule.luhn || luhnValid(digits))) {
            out.push({ rule: rule.id, action, detail: `card number ${mask(digits)}${rule.luhn ? ' (Luhn valid)' : ''}` });
            break;
          }
        }
        break;
      }
      case 'regex': {
        const m = new RegExp(rule.pattern, rule.flags ?? '').exec(norm);
        if (m) out.push({ rule: rule.id, action, detail: `pattern /${rule.pattern}/ matched` });
        break;
      }
    }
  }
  return out;
}
