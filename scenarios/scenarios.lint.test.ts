/**
 * Lint over the scenario corpus (wycheproof style): every file is schema-valid, ids are stable and
 * unique, every capability and payload kind exists, every profile is expected or omitted with a
 * reason, and the corpus covers all eight PPAP incidents and patterns A, B, C.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ATTACKER_CAPABILITIES } from '@ssmax/sim-attacker';
import { CAPABILITIES } from '../packages/world/src/capabilities/index.js';
import { generatedFiles } from '../packages/world/src/capabilities/generate.js';

const DIR = fileURLToPath(new URL('.', import.meta.url));
const PROFILES = ['plain-ppap', 'best-practice', 'smime-e2e', 'ssmax-paper', 'ssmax-org', 'ssmax-esp-out', 'ssmax-esp-in', 'ssmax-plus'] as const;
const SSMAX = PROFILES.filter((p) => p.startsWith('ssmax-'));

interface Step {
  capability: string;
  params?: Record<string, unknown>;
}
interface Cell {
  verdict: string;
  leaked: string;
  malwareReached: boolean;
  traced: string;
  identityShown: string;
  reason: string;
}
interface Scenario {
  id: string;
  source: { ppapIncident?: number; pattern?: string; other?: string };
  attacker: null | { foothold: string; steps: Step[] };
  mistake?: unknown;
  payload: { files: { kind: string }[] };
  reportedAsMalicious?: boolean;
  expected: Record<string, Cell>;
  omitted?: Record<string, string>;
}

const schema = JSON.parse(readFileSync(join(DIR, 'scenario.schema.json'), 'utf8')) as object;
const payloadKinds = (JSON.parse(readFileSync(join(DIR, 'payload-kinds.json'), 'utf8')) as { kinds: { kind: string; malicious: boolean }[] }).kinds;
const files = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const corpus = files.map((f) => ({ file: f, data: parse(readFileSync(join(DIR, f), 'utf8')) as Scenario }));

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

describe('scenario corpus', () => {
  it.each(corpus.map((c) => [c.file, c.data] as const))('is schema-valid when read: %s', (_file, data) => {
    const ok = validate(data);
    expect(ok ? [] : validate.errors).toEqual([]);
  });

  it('has an id equal to the file name for every scenario', () => {
    const wrong = corpus.filter((c) => c.data.id !== basename(c.file).replace(/\.ya?ml$/, '')).map((c) => c.file);
    expect(wrong).toEqual([]);
  });

  it('has unique ids', () => {
    const ids = corpus.map((c) => c.data.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('keeps capabilities.json, the step schema in scenario.schema.json and the README capability list as generated from the capability registry (npm run gen:capabilities)', () => {
    const stale = generatedFiles(DIR)
      .filter((f) => readFileSync(f.path, 'utf8') !== f.text)
      .map((f) => basename(f.path));
    expect(stale).toEqual([]);
  });

  it('registers only capabilities of the attacker package, with its foothold and description', () => {
    const exported = new Map<string, { foothold: string; description: string }>(ATTACKER_CAPABILITIES.map((c) => [c.name, c]));
    const problems = CAPABILITIES.flatMap((c) => {
      const a = exported.get(c.name);
      if (a === undefined) return [`${c.name}: not in ATTACKER_CAPABILITIES`];
      return a.foothold === c.foothold && a.description === c.description ? [] : [`${c.name}: foothold or description differs from ATTACKER_CAPABILITIES`];
    });
    expect(problems).toEqual([]);
    expect(new Set(CAPABILITIES.map((c) => c.name)).size).toBe(CAPABILITIES.length);
  });

  it('rejects a step whose capability is unknown or whose params are misspelt, mistyped or missing', () => {
    const base = corpus.find((c) => c.data.id === 'b-stolen-card-without-pin')!.data;
    const withStep = (step: unknown) => ({ ...base, attacker: { ...base.attacker!, steps: [step] } });
    const bad = {
      unknownCapability: { capability: 'stolen-kard', params: { user: 'alice@org-a.example' } },
      misspeltParam: { capability: 'stolen-card', params: { user: 'alice@org-a.example', gueses: ['0000'] } },
      wrongType: { capability: 'stolen-card', params: { user: 'alice@org-a.example', guesses: 7 } },
      missingParam: { capability: 'stolen-card', params: { guesses: ['0000'] } },
      outOfRange: { capability: 'stolen-card', params: { user: 'alice@org-a.example', bruteForceDigits: 9 } },
    };
    const accepted = Object.entries(bad)
      .filter(([, step]) => validate(withStep(step)))
      .map(([k]) => k);
    expect(accepted).toEqual([]);
    expect(validate(withStep({ capability: 'stolen-card', params: { user: 'alice@org-a.example', bruteForceDigits: 8 } }))).toBe(true);
  });

  it('names only payload kinds from scenarios/payload-kinds.json (files and swapped-in replacements)', () => {
    const kinds = new Set(payloadKinds.map((k) => k.kind));
    const named = (c: (typeof corpus)[number]) => [
      ...c.data.payload.files.map((f) => f.kind),
      ...(c.data.attacker?.steps ?? []).map((s) => (s.params?.['tamper'] as { replacement?: string } | undefined)?.replacement).filter((k) => k !== undefined),
    ];
    const unknown = corpus.flatMap((c) =>
      named(c)
        .filter((k) => !kinds.has(k))
        .map((k) => `${c.file}: ${k}`),
    );
    expect(unknown).toEqual([]);
  });

  it('expects or omits (with a reason) every profile exactly once', () => {
    const problems: string[] = [];
    for (const { file, data } of corpus) {
      for (const p of PROFILES) {
        const e = p in data.expected;
        const o = p in (data.omitted ?? {});
        if (e === o) problems.push(`${file}: ${p} is ${e ? 'both expected and omitted' : 'neither expected nor omitted'}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('keeps cells internally consistent', () => {
    const malicious = new Set(payloadKinds.filter((k) => k.malicious).map((k) => k.kind));
    const problems: string[] = [];
    for (const { file, data } of corpus) {
      const swappedIn = (data.attacker?.steps ?? [])
        .map((s) => (s.params?.['tamper'] as { replacement?: string } | undefined)?.replacement)
        .filter((k) => k !== undefined);
      const carriesMalware = [...data.payload.files.map((f) => f.kind), ...swappedIn].some((k) => malicious.has(k));
      for (const [p, cell] of Object.entries(data.expected)) {
        const at = `${file} [${p}]`;
        if (cell.malwareReached && !carriesMalware) problems.push(`${at}: malwareReached without a malicious file`);
        if (cell.malwareReached && (cell.verdict === 'blocked' || cell.verdict === 'not-sent')) problems.push(`${at}: malwareReached but ${cell.verdict}`);
        if ((cell.verdict === 'blocked' || cell.verdict === 'not-sent') && cell.identityShown !== 'none')
          problems.push(`${at}: nothing shown to the recipient, yet identityShown=${cell.identityShown}`);
        if ((cell.verdict === 'delivered' || cell.verdict === 'flagged') && cell.identityShown === 'none')
          problems.push(`${at}: delivered but identityShown=none`);
        if (cell.traced === 'sender-revoked' && !(SSMAX as readonly string[]).includes(p))
          problems.push(`${at}: revocation through (12) exists only in SSMAX profiles`);
        if (cell.traced === 'sender-revoked' && !data.reportedAsMalicious) problems.push(`${at}: sender-revoked needs reportedAsMalicious`);
        if (cell.identityShown === 'identity-proofed' && !(SSMAX as readonly string[]).includes(p))
          problems.push(`${at}: identity-proofed only exists in SSMAX profiles`);
      }
      if (data.mistake !== undefined && data.attacker !== null) problems.push(`${file}: a sender mistake is modelled without an attacker`);
      if (data.mistake === undefined && data.attacker === null && data.source.other === undefined)
        problems.push(`${file}: an incident or pattern needs an attacker or a mistake`);
    }
    expect(problems).toEqual([]);
  });

  it('covers all eight PPAP incidents, patterns A, B and C, and at least 30 scenarios', () => {
    const incidents = new Set(corpus.map((c) => c.data.source.ppapIncident).filter((x) => x !== undefined));
    const patterns = new Set(corpus.map((c) => c.data.source.pattern).filter((x) => x !== undefined));
    expect([...incidents].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...patterns].sort()).toEqual(['A', 'B', 'C']);
    expect(corpus.length).toBeGreaterThanOrEqual(30);
  });

  it('keeps the honest cells the suite promises', () => {
    const cell = (id: string, p: string) => corpus.find((c) => c.data.id === id)?.data.expected[p];
    // An insider with card and PIN is delivered under SSMAX, but traced and revoked.
    for (const p of SSMAX) expect(cell('b-insider-with-card-and-pin', p)).toMatchObject({ verdict: 'delivered', traced: 'sender-revoked' });
    // A look-alike domain passes SPF/DKIM/DMARC under best-practice.
    expect(cell('i3-homograph-idn-invoice-fraud', 'best-practice')).toMatchObject({ identityShown: 'domain-authenticated' });
    expect(cell('a-lookalike-near-miss-aged-domain', 'best-practice')).toMatchObject({ verdict: 'delivered', identityShown: 'domain-authenticated' });
    // Misdelivery to a member org is not prevented by SSMAX.
    for (const p of SSMAX) expect(cell('i8-misdelivery-to-member-org', p)).toMatchObject({ verdict: 'delivered', leaked: 'files' });
  });
});
