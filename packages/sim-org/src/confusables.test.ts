import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFUSABLES_VERSION,
  Confusables,
  defaultConfusables,
  domainSkeleton,
  latinWholeScriptConfusable,
  restrictionLevel,
  scriptExtensions,
  scriptsOf,
} from './confusables.js';
import { SimOrgError } from './errors.js';

const HEADER = '# confusables.txt\n#\n# Version: 17.0.0\n#\n';

describe('Confusables: the vendored UTS #39 confusables.txt (issue 16)', () => {
  it('is the complete 17.0.0 file: its header version and all 6,565 mappings', () => {
    const d = defaultConfusables();
    expect(d.version).toBe(CONFUSABLES_VERSION);
    expect(d.version).toBe('17.0.0');
    expect(d.size).toBe(6565);
  });

  it.each([
    ['\u0585', 'o', 'ARMENIAN SMALL LETTER OH'],
    ['\u13AA', 'A', 'CHEROKEE LETTER GO'],
    ['\u0430', 'a', 'CYRILLIC SMALL LETTER A'],
    ['\u{1D428}', 'o', 'MATHEMATICAL BOLD SMALL O'],
    ['m', 'rn', 'LATIN SMALL LETTER M'],
    ['0', 'O', 'DIGIT ZERO'],
    ['1', 'l', 'DIGIT ONE'],
  ])('maps %s to %s (%s) as the data says', (from, to) => {
    expect(defaultConfusables().prototypeOf(from)).toBe(to);
  });

  it('computes the §4 skeleton: NFD first, default-ignorables removed, NFD again', () => {
    const d = defaultConfusables();
    expect(d.skeleton('caf\u00E9')).toBe(d.skeleton('cafe\u0301')); // precomposed é and e + U+0301
    expect(d.skeleton('pay\u00ADpal')).toBe('paypal'); // SOFT HYPHEN is Default_Ignorable_Code_Point
    expect(d.skeleton('pay\u200Bpal')).toBe('paypal'); // ZERO WIDTH SPACE too
    expect(d.skeleton('\u0440\u0430\u0443\u0440\u0430l')).toBe('paypal'); // Cyrillic р а у р а
    expect(d.skeleton('Paypal')).not.toBe(d.skeleton('paypal')); // UTS #39 alone is case-sensitive
  });

  it('reads domains case-insensitively: domainSkeleton lower-cases the prototypes (0 → O → o, Ꭺ → A → a)', () => {
    expect(domainSkeleton('0rg-a')).toBe(domainSkeleton('org-a'));
    expect(domainSkeleton('\u13AApple')).toBe(domainSkeleton('apple'));
    expect(domainSkeleton('org-b')).not.toBe(domainSkeleton('org-a'));
  });

  it('refuses a file without a version, with a malformed line, or with too few mappings, and a missing file', () => {
    const bad = (f: () => unknown) =>
      expect(f).toThrow(expect.objectContaining({ code: 'CONFUSABLES_DATA', message: expect.stringMatching(/^Cannot read the confusables data\. /) }));
    bad(() => Confusables.parse('0585 ;\t006F ;\tMA\t# ( օ → o )\n'));
    bad(() => Confusables.parse(`${HEADER}0585 ;\t006F ;\tML\t# ( օ → o )\n`));
    bad(() => Confusables.parse(`${HEADER}0585 ;\t006F ;\tMA\t# ( օ → o )\n`));
    const dir = mkdtempSync(path.join(tmpdir(), 'confusables-'));
    bad(() => Confusables.load(path.join(dir, 'absent.txt')));
    const truncated = path.join(dir, 'confusables.txt');
    writeFileSync(truncated, `${HEADER}0585 ;\t006F ;\tMA\n`);
    expect(() => Confusables.load(truncated)).toThrow(SimOrgError);
  });
});

describe('scripts of a label: UTS #39 §5.1 resolved script set and §5.2 restriction level (issue 16)', () => {
  it('reads Script_Extensions from the engine (Unicode 17)', () => {
    expect([...scriptExtensions('a')]).toEqual(['Latn']);
    expect([...scriptExtensions('\u30FC')].sort()).toEqual(['Hira', 'Kana']); // KATAKANA-HIRAGANA PROLONGED SOUND MARK
    expect([...scriptExtensions('-')]).toEqual(['Zyyy']);
    expect(scriptsOf('\u0585r\u0581-\u0251')).toEqual(['Armn', 'Latn']);
  });

  it.each([
    ['paypal', 'ascii-only'],
    ['b\u00FCcher', 'single-script'], // bücher
    ['\u0430\u0440\u0440\u04CF\u0435', 'single-script'], // Cyrillic аррӏе
    ['\u65E5\u672C\u8A9E\u30C9\u30E1\u30A4\u30F3', 'single-script'], // 日本語ドメイン: Han + Katakana resolve to Jpan
    ['abc\u65E5\u672C', 'highly-restrictive'], // Latin + Han
    ['\uD55C\uAD6D\uC5B4abc', 'highly-restrictive'], // Hangul + Latin
    ['\u0585r\u0581-\u0251', 'moderately-restrictive'], // Armenian + Latin
    ['p\u0430ypal', 'minimally-restrictive'], // Latin + Cyrillic
    ['\u13AApple', 'minimally-restrictive'], // Cherokee + Latin
    ['\u0430\u03B1', 'minimally-restrictive'], // Cyrillic + Greek
  ])('rates %s %s', (label, level) => {
    expect(restrictionLevel(label)).toBe(level);
  });

  it.each([
    ['\u0430\u0440\u0440\u04CF\u0435', 'apple'], // Cyrillic
    ['\u0441\u043E\u0441\u043E', 'coco'], // Cyrillic сосо
    ['\u13AC\u13DA\u13E2-\u13B7', 'esp-m'], // Cherokee ᎬᏚᏢ-Ꮇ
  ])('finds the whole-script confusable %s → %s', (label, latin) => {
    expect(latinWholeScriptConfusable(label)).toBe(latin);
  });

  it.each([
    ['paypal'], // Latin itself
    ['\u044F\u043D\u0434\u0435\u043A\u0441'], // яндекс: я, д, к have no Latin prototype
    ['\u03C0\u03B1\u03C1\u03AC\u03B4\u03B5\u03B9\u03B3\u03BC\u03B1'], // παράδειγμα
    ['\u30C9\u30E1\u30A4\u30F3'], // ドメイン
    ['p\u0430ypal'], // mixed, not whole-script (the mixed-script rule's case)
    ['123'],
  ])('finds no whole-script Latin confusable in %s', (label) => {
    expect(latinWholeScriptConfusable(label)).toBeUndefined();
  });
});
