import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editDistance, reputationHeader, scoreDomain, skeleton } from './reputation.js';

const now = new Date('2025-11-25T00:00:00Z');
const base = { knownDomains: ['org-a.example', 'partner.co.jp'], domainRegistry: { 'org-a.example': '2001-01-01', 'partner.co.jp': '1999-05-05' } };

describe('skeleton', () => {
  it('gives Cyrillic, Greek and digit look-alikes and rn/m the skeleton of the Latin letters a reader sees', () => {
    expect(skeleton('оrg-а.example')).toBe(skeleton('org-a.example')); // Cyrillic о, а
    expect(skeleton('ραrtner.co.jp')).toBe(skeleton('partner.co.jp')); // Greek ρ, α
    expect(skeleton('0rg-a.example')).toBe(skeleton('org-a.example'));
    expect(skeleton('paypa1.example')).toBe(skeleton('paypal.example'));
    expect(skeleton('rnicrosoft.example')).toBe(skeleton('microsoft.example'));
    expect(skeleton(domainToASCII('оrg-а.example'))).toBe(skeleton('org-a.example')); // punycode decoded first
    expect(skeleton('org-b.example')).not.toBe(skeleton('org-a.example'));
  });
});

describe('scoreDomain', () => {
  it('flags a homograph of a partner as homograph + new domain when registered days ago', () => {
    const d = domainToASCII('оrg-a.example');
    const v = scoreDomain(d, { ...base, domainRegistry: { ...base.domainRegistry, [d]: '2025-11-20' } }, now);
    expect(v.verdict).toBe('flag');
    expect(v.reasons.map((r) => r.rule).sort()).toEqual(['homograph', 'mixed-script', 'new-domain']);
    expect(v.score).toBe(110);
    expect(v.domain).toBe(d);
  });

  it('flags a near-miss spelling (edit distance ≤ 2) even when the domain is old', () => {
    const v = scoreDomain('parnter.co.jp', { ...base, domainRegistry: { ...base.domainRegistry, 'parnter.co.jp': '2010-01-01' } }, now);
    expect(v).toMatchObject({ verdict: 'flag', score: 50, reasons: [{ rule: 'near-miss', detail: '1 edits from partner.co.jp' }] });
  });

  it('does not flag a partner, nor an unrelated old domain, nor a new unrelated domain alone', () => {
    expect(scoreDomain('org-a.example', base, now)).toMatchObject({ verdict: 'ok', score: 0 });
    expect(scoreDomain('unrelated-company.example', { ...base, domainRegistry: { 'unrelated-company.example': '2015-01-01' } }, now)).toMatchObject({
      verdict: 'ok',
      score: 0,
    });
    expect(scoreDomain('brand-new-shop.example', { ...base, domainRegistry: { 'brand-new-shop.example': '2025-11-24' } }, now)).toMatchObject({
      verdict: 'ok',
      score: 30,
    });
  });

  it('never scores a known partner domain, whatever the registry says', () => {
    fc.assert(
      fc.property(fc.constantFrom(...base.knownDomains), fc.date({ min: new Date('1990-01-01'), max: now, noInvalidDate: true }), (d, created) => {
        expect(scoreDomain(d.toUpperCase() + '.', { ...base, domainRegistry: { [d]: created } }, now).score).toBe(0);
      }),
    );
  });
});

describe('editDistance', () => {
  it('counts an adjacent transposition as one edit', () => {
    expect(editDistance('partner', 'parnter')).toBe(1);
    expect(editDistance('org-a', 'org-b')).toBe(1);
    expect(editDistance('abc', 'abc')).toBe(0);
  });

  it('is symmetric and bounded by the longer length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(editDistance(b, a)).toBe(d);
        expect(d).toBeLessThanOrEqual(Math.max([...a].length, [...b].length));
        expect(d === 0).toBe(a === b);
      }),
    );
  });
});

// Issue 16: look-alikes from the complete UTS #39 data (confusables.txt 17.0.0), not a hand-picked subset.
// Code points are written as escapes so the test says which character it means.
const ARMENIAN_O = '\u0585'; // ARMENIAN SMALL LETTER OH, confusables.txt: 0585 ; 006F
const ARMENIAN_CO = '\u0581'; // ARMENIAN SMALL LETTER CO, 0581 ; 0067
const LATIN_ALPHA = '\u0251'; // LATIN SMALL LETTER ALPHA, 0251 ; 0061
const CHEROKEE_GO = '\u13AA'; // CHEROKEE LETTER GO, 13AA ; 0041 (A)
const CHEROKEE_ESP_M = '\u13AC\u13DA\u13E2-\u13B7'; // Ꭼ Ꮪ Ꮲ - Ꮇ: GV, DU, TLV, LU → E, S, P, M
const CYRILLIC_APPLE = '\u0430\u0440\u0440\u04CF\u0435'; // а р р ӏ е, every letter Cyrillic
const MATH_BOLD_ORG = '\u{1D428}\u{1D42B}\u{1D420}'; // 𝐨 𝐫 𝐠
const matrix = ['org-a.example', 'org-b.example', 'org-c.example', 'esp-m.example'];
const aged = (domains: readonly string[]) => Object.fromEntries([...matrix, ...domains].map((d) => [d, '2024-10-21']));

describe('skeleton with the complete UTS #39 confusables data (issue 16)', () => {
  it.each([
    ['Cyrillic а', 'p\u0430ypal.example', 'paypal.example'],
    ['Armenian օ (U+0585)', `${ARMENIAN_O}rg-a.example`, 'org-a.example'],
    ['Armenian օ and ց with Latin ɑ', `${ARMENIAN_O}r${ARMENIAN_CO}-${LATIN_ALPHA}.example`, 'org-a.example'],
    ['Cherokee Ꭺ (U+13AA), read case-insensitively', `${CHEROKEE_GO}pple.example`, 'apple.example'],
    ['mathematical bold letters (UTS #46 maps them, so does confusables.txt)', `${MATH_BOLD_ORG}-a.example`, 'org-a.example'],
    ['whole-script Cyrillic', `${CYRILLIC_APPLE}.example`, 'apple.example'],
    ['whole-script Cherokee', `${CHEROKEE_ESP_M}.example`, 'esp-m.example'],
  ])('gives a look-alike (%s) the skeleton of the domain it imitates, as U-label and as A-label', (_what, lookAlike, real) => {
    expect(skeleton(lookAlike)).toBe(skeleton(real));
    expect(skeleton(domainToASCII(lookAlike))).toBe(skeleton(real));
  });

  it('uses the prototypes of confusables.txt (m → rn), not a reading of its own', () => {
    expect(skeleton('microsoft.example')).toBe('rnicrosoft.exarnple'); // every m, the TLD's too
    expect(skeleton('0rg-a.example')).toBe('org-a.exarnple'); // 0030 ; 004F (O), then read case-insensitively
  });

  it.each([
    ['org-b.example', 'org-a.example'],
    ['esp-n.example', 'esp-m.example'],
    ['org-a-group.example', 'org-a.example'],
    ['xn--rg-a-6ve.example', 'org-a.example'], // rgӭ-a: Cyrillic ӭ (U+04ED) is not an o
  ])('keeps genuinely different domains apart: %s vs %s', (a, b) => {
    expect(skeleton(a)).not.toBe(skeleton(b));
  });
});

describe('scoreDomain with the complete UTS #39 data (issue 16)', () => {
  const opts = (extra: readonly string[] = []) => ({ knownDomains: matrix, domainRegistry: aged(extra) });

  it('flags an aged Armenian/Latin homograph of a partner as homograph + mixed-script', () => {
    const d = domainToASCII(`${ARMENIAN_O}r${ARMENIAN_CO}-${LATIN_ALPHA}.example`);
    const v = scoreDomain(d, opts([d]), now);
    expect(v.reasons.map((r) => [r.rule, r.detail])).toEqual([
      ['homograph', 'looks like org-a.example'],
      ['mixed-script', `label "${ARMENIAN_O}r${ARMENIAN_CO}-${LATIN_ALPHA}" mixes Armn+Latn: moderately restrictive under UTS #39 §5.2`],
    ]);
    expect(v).toMatchObject({ verdict: 'flag', score: 80, domain: d });
    expect(reputationHeader(v)).toBe(
      `suspicious; domain=${d}; score=80; reasons=homograph(looks like org-a.example), ${v.reasons[1]!.rule}(${v.reasons[1]!.detail})`,
    );
  });

  it('flags an aged whole-script Cherokee homograph of a partner as homograph + whole-script', () => {
    const d = domainToASCII(`${CHEROKEE_ESP_M}.example`);
    const v = scoreDomain(d, opts([d]), now);
    expect(v.reasons.map((r) => r.rule)).toEqual(['homograph', 'whole-script']);
    expect(v.reasons[0]!.detail).toBe('looks like esp-m.example');
    expect(v).toMatchObject({ verdict: 'flag', score: 80, unicode: `${CHEROKEE_ESP_M}.example` });
  });

  it('scores a whole-script Cyrillic label that reads as Latin even when it imitates no partner', () => {
    const d = domainToASCII(`${CYRILLIC_APPLE}.example`);
    const v = scoreDomain(d, opts([d]), now);
    expect(v.reasons).toEqual([
      { rule: 'whole-script', points: 20, detail: `label "${CYRILLIC_APPLE}" in Cyrl reads as "apple": whole-script confusable under UTS #39 §4` },
    ]);
    expect(v.verdict).toBe('ok');
  });

  it('scores a near-miss spelling by edit distance only, never as a homograph', () => {
    const v = scoreDomain('org-d.example', opts(['org-d.example']), now);
    expect(v.reasons.map((r) => r.rule)).toEqual(['near-miss']);
  });

  it('does not call Japanese labels mixed-script (Han + kana, Latin + Han: highly restrictive)', () => {
    for (const d of ['\u65E5\u672C\u8A9E\u30C9\u30E1\u30A4\u30F3.jp', 'abc-\u65E5\u672C.jp', '\u3072\u3089\u304C\u306A-\u30AB\u30BF\u30AB\u30CA.jp']) {
      expect(scoreDomain(d, opts([d]), now)).toMatchObject({ score: 0, verdict: 'ok' });
    }
  });

  it('gives the mathematical-letter spelling of a partner the partner itself (UTS #46 maps it), so it scores 0', () => {
    expect(scoreDomain(`${MATH_BOLD_ORG}-a.example`, opts(), now)).toMatchObject({ domain: 'org-a.example', unicode: 'org-a.example', score: 0 });
  });
});
