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

const DIR = fileURLToPath(new URL('.', import.meta.url));
const PROFILES = ['plain-ppap', 'best-practice', 'smime-e2e', 'ssmax-paper', 'ssmax-org', 'ssmax-esp-out', 'ssmax-esp-in'] as const;
const SSMAX = PROFILES.filter((p) => p.startsWith('ssmax-'));

interface Step { capability: string; params?: Record<string, unknown> }
interface Cell { verdict: string; leaked: string; malwareReached: boolean; traced: string; identityShown: string; reason: string }
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
const capabilities = (JSON.parse(readFileSync(join(DIR, 'capabilities.json'), 'utf8')) as { capabilities: { name: string; params: string[] }[] }).capabilities;
const payloadKinds = (JSON.parse(readFileSync(join(DIR, 'payload-kinds.json'), 'utf8')) as { kinds: { kind: string; malicious: boolean }[] }).kinds;
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
const corpus = files.map((f) => ({ file: f, data: parse(readFileSync(join(DIR, f), 'utf8')) as Scenario }));

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

/** The attacker package's exported capability names, once that package exports them (it is being written in parallel). */
async function attackerCapabilityNames(): Promise<readonly string[] | undefined> {
  const mod = (await import('@ssmax/sim-attacker')) as Record<string, unknown>;
  for (const name of ['CAPABILITY_NAMES', 'CAPABILITIES', 'ATTACKER_CAPABILITIES']) {
    const v = mod[name];
    if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : (x as { name: string }).name));
    if (v && typeof v === 'object') return Object.keys(v);
  }
  return undefined;
}

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

  it('names only capabilities from scenarios/capabilities.json, with declared params', () => {
    const byName = new Map(capabilities.map((c) => [c.name, new Set(c.params)]));
    const problems: string[] = [];
    for (const { file, data } of corpus) {
      for (const s of data.attacker?.steps ?? []) {
        const params = byName.get(s.capability);
        if (!params) problems.push(`${file}: unknown capability ${s.capability}`);
        else for (const p of Object.keys(s.params ?? {})) if (!params.has(p)) problems.push(`${file}: ${s.capability} has no param ${p}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('keeps scenarios/capabilities.json in step with the attacker package once it exports its list', async () => {
    const exported = await attackerCapabilityNames();
    const listed = capabilities.map((c) => c.name);
    if (exported === undefined) {
      // The attacker package does not export a list yet: the JSON file is the source until it does.
      expect(new Set(listed).size).toBe(listed.length);
      return;
    }
    const used = new Set(corpus.flatMap((c) => (c.data.attacker?.steps ?? []).map((s) => s.capability)));
    expect([...used].filter((n) => !exported.includes(n))).toEqual([]);
  });

  it('names only payload kinds from scenarios/payload-kinds.json (files and swapped-in replacements)', () => {
    const kinds = new Set(payloadKinds.map((k) => k.kind));
    const named = (c: (typeof corpus)[number]) => [
      ...c.data.payload.files.map((f) => f.kind),
      ...(c.data.attacker?.steps ?? []).map((s) => (s.params?.['tamper'] as { replacement?: string } | undefined)?.replacement).filter((k) => k !== undefined),
    ];
    const unknown = corpus.flatMap((c) => named(c).filter((k) => !kinds.has(k)).map((k) => `${c.file}: ${k}`));
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
      const swappedIn = (data.attacker?.steps ?? []).map((s) => (s.params?.['tamper'] as { replacement?: string } | undefined)?.replacement).filter((k) => k !== undefined);
      const carriesMalware = [...data.payload.files.map((f) => f.kind), ...swappedIn].some((k) => malicious.has(k));
      for (const [p, cell] of Object.entries(data.expected)) {
        const at = `${file} [${p}]`;
        if (cell.malwareReached && !carriesMalware) problems.push(`${at}: malwareReached without a malicious file`);
        if (cell.malwareReached && (cell.verdict === 'blocked' || cell.verdict === 'not-sent')) problems.push(`${at}: malwareReached but ${cell.verdict}`);
        if ((cell.verdict === 'blocked' || cell.verdict === 'not-sent') && cell.identityShown !== 'none') problems.push(`${at}: nothing shown to the recipient, yet identityShown=${cell.identityShown}`);
        if ((cell.verdict === 'delivered' || cell.verdict === 'flagged') && cell.identityShown === 'none') problems.push(`${at}: delivered but identityShown=none`);
        if (cell.traced === 'sender-revoked' && !(SSMAX as readonly string[]).includes(p)) problems.push(`${at}: revocation through (12) exists only in SSMAX profiles`);
        if (cell.traced === 'sender-revoked' && !data.reportedAsMalicious) problems.push(`${at}: sender-revoked needs reportedAsMalicious`);
        if (cell.identityShown === 'identity-proofed' && !(SSMAX as readonly string[]).includes(p)) problems.push(`${at}: identity-proofed only exists in SSMAX profiles`);
      }
      if (data.mistake !== undefined && data.attacker !== null) problems.push(`${file}: a sender mistake is modelled without an attacker`);
      if (data.mistake === undefined && data.attacker === null && data.source.other === undefined) problems.push(`${file}: an incident or pattern needs an attacker or a mistake`);
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
