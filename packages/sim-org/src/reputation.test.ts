import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editDistance, scoreDomain, skeleton } from './reputation.js';

const now = new Date('2025-11-25T00:00:00Z');
const base = { knownDomains: ['org-a.example', 'partner.co.jp'], domainRegistry: { 'org-a.example': '2001-01-01', 'partner.co.jp': '1999-05-05' } };

describe('skeleton', () => {
  it('maps Cyrillic, Greek and digit look-alikes and rn/vv/cl to the Latin letters a reader sees', () => {
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
    expect(scoreDomain('unrelated-company.example', { ...base, domainRegistry: { 'unrelated-company.example': '2015-01-01' } }, now)).toMatchObject({ verdict: 'ok', score: 0 });
    expect(scoreDomain('brand-new-shop.example', { ...base, domainRegistry: { 'brand-new-shop.example': '2025-11-24' } }, now)).toMatchObject({ verdict: 'ok', score: 30 });
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
