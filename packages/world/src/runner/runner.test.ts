import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { SsmaxError } from '@ssmax/core';
import { BUNDLED_SCENARIOS, loadScenarios } from './load-scenarios.js';
import { cellSeed, compareMatrices, compareOutcome, matrixExitCode, normalizeJourneyEvent, parseProfiles, runMatrix } from './run-matrix.js';
import { formatJunit } from './junit-report.js';
import { formatMatrixTable } from './terminal-table.js';
import { environmentMeta, matrixSchema, writeReport } from './write-report.js';
import { ORACLES as ORACLE_NAMES, probeOracleVersions } from '@ssmax/core/testing';
import type { CellExecutor, CellRun, JourneyEvent, MatrixProfile, Outcome, Scenario } from './types.js';

/**
 * FixtureExecutor: a deterministic stand-in for the world, used ONLY to test the runner frame
 * (loading, comparing, reporting). It answers each cell with the scenario's expected outcome unless
 * told otherwise, and makes a small journey; it proves nothing about security outcomes.
 */
class FixtureExecutor implements CellExecutor {
  readonly calls: { id: string; profile: MatrixProfile; seed: number; clock: string }[] = [];
  constructor(
    private readonly overrides: Record<string, Partial<Outcome>> = {},
    private readonly failing: ReadonlySet<string> = new Set(),
  ) {}
  async run(s: Scenario, p: MatrixProfile, ctx: { seed: number; clock: () => Date }): Promise<CellRun> {
    const key = `${s.id}#${p}`;
    this.calls.push({ id: s.id, profile: p, seed: ctx.seed, clock: ctx.clock().toISOString() });
    if (this.failing.has(key)) throw new SsmaxError('CONTAINER_ERROR', 'Cannot start the world. Fixture failure.');
    const { reason: _r, ...expected } = s.expected[p]!;
    const at = ctx.clock().toISOString();
    const ssmax = p.startsWith('ssmax');
    const events: JourneyEvent[] = [
      {
        messageId: `<${s.id}@fixture>`,
        actor: 'org-a/msa',
        procedure: ssmax ? 4 : 0,
        at,
        checks: [{ name: 'user-signature', result: ssmax ? 'pass' : 'skip' }],
        payload: ssmax ? 'ciphertext' : 'plaintext',
      },
      {
        messageId: `<${s.id}@fixture>`,
        actor: 'org-b/mta-in',
        procedure: ssmax ? 7 : 0,
        at,
        checks: [{ name: 'org-signature', result: 'pass', detail: 'fixture' }],
        payload: ssmax ? 'ciphertext' : 'plaintext',
        note: 'fixture hop',
      },
    ];
    return { actual: { ...expected, ...this.overrides[key] }, events };
  }
}

const ORACLES = {
  openssl: '3.0.19',
  gpgsm: '2.2.40',
  dovecot: '2.3.19.1',
  softhsm2: '2.6.1',
  'p11-kit': '0.24.1',
  clamd: '1.4.6',
  python3: '3.11.2',
  'python3-cryptography': '38.0.4',
  'python3-asn1crypto': '1.5.1',
  node: process.version,
  docker: 'absent',
  'softhsm2-image': 'absent',
};
const META = { commit: 'abc123def456', node: process.version, openssl: 'OpenSSL 3.0.19 (fixture)', oracles: ORACLES };
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'ssmax-runner-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  // RFC 3339 §5.6 date-time (ajv-formats is not installed; this is the one format the schema uses).
  ajv.addFormat('date-time', (v: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));
  return ajv.compile(matrixSchema());
}

const bundled = loadScenarios([BUNDLED_SCENARIOS]);
const cellCount = bundled.reduce((n, s) => n + Object.keys(s.scenario.expected).length, 0);

describe('runMatrix', () => {
  it('runs every expected cell of the bundled scenarios and writes a schema-valid matrix.json when the executor matches', async () => {
    const ex = new FixtureExecutor();
    const m = await runMatrix({
      scenarios: bundled,
      profiles: parseProfiles([]),
      executor: ex,
      seed: 42,
      clockStart: new Date('2025-01-01T00:00:00Z'),
      meta: META,
    });
    expect(m.results).toHaveLength(cellCount);
    expect(cellCount).toBeGreaterThan(200);
    expect(matrixExitCode(m)).toBe(0);
    const dir = tempDir();
    const paths = writeReport(dir, m, bundled);
    const json = JSON.parse(readFileSync(paths.json, 'utf8')) as unknown;
    const validate = validator();
    expect(validate(json) ? [] : validate.errors).toEqual([]);
    expect(m.meta.seed).toBe(42);
    expect(m.meta.clockStart).toBe('2025-01-01T00:00:00.000Z');
    // The simulated clock starts at clockStart, not at the wall clock.
    expect(ex.calls[0]!.clock.startsWith('2025-01-01T00:0')).toBe(true);
  });

  it("records every oracle's version in meta: this machine's (environmentMeta) schema-valid, a report without them still valid, one without gpgsm not", async () => {
    const meta = environmentMeta();
    expect(meta.oracles).toMatchObject({ openssl: probeOracleVersions().openssl, node: process.version });
    expect(meta.openssl).toContain(`OpenSSL ${meta.oracles!['openssl']}`);
    const one = bundled.slice(0, 1);
    const m = await runMatrix({ scenarios: one, profiles: parseProfiles([]), executor: new FixtureExecutor(), seed: 1, clockStart: new Date(), meta });
    const json = JSON.parse(readFileSync(writeReport(tempDir(), m, one).json, 'utf8')) as { meta: Record<string, unknown> };
    expect(json.meta['oracles']).toEqual(meta.oracles);
    expect(Object.keys(json.meta['oracles'] as object)).toEqual([...ORACLE_NAMES]);
    const validate = validator();
    expect(validate(json) ? [] : validate.errors).toEqual([]);
    // Reports written before issue 11 have no oracles and stay valid; an oracles object must name the required ones.
    const { oracles: _o, ...before } = json.meta;
    expect(validate({ ...json, meta: before })).toBe(true);
    const { gpgsm: _g, ...noGpgsm } = meta.oracles!;
    expect(validate({ ...json, meta: { ...json.meta, oracles: noGpgsm } })).toBe(false);
    expect(validate({ ...json, meta: { ...json.meta, oracles: { ...meta.oracles, gpgsm: '' } } })).toBe(false);
  });

  it('skips omitted profiles and honours a profile selection', async () => {
    const ex = new FixtureExecutor();
    const m = await runMatrix({
      scenarios: bundled,
      profiles: parseProfiles(['ssmax-esp-out,plain-ppap']),
      executor: ex,
      seed: 1,
      clockStart: new Date(),
      meta: META,
    });
    expect(new Set(m.results.map((r) => r.profile))).toEqual(new Set(['plain-ppap', 'ssmax-esp-out']));
    expect(m.results.some((r) => r.scenarioId === 'baseline-non-member-plain-mail' && r.profile === 'ssmax-esp-out')).toBe(false);
    expect(m.results.some((r) => r.scenarioId === 'b-stolen-card-without-pin' && r.profile === 'plain-ppap')).toBe(false);
  });

  it('marks exactly the differing fields and exits 1 when an actual outcome differs', async () => {
    const ex = new FixtureExecutor({
      'b-insider-with-card-and-pin#ssmax-org': { traced: 'sender' },
      'i2-direct-to-mx-spoof-encrypted-zip#best-practice': { verdict: 'delivered', identityShown: 'unverified', malwareReached: true },
    });
    const m = await runMatrix({ scenarios: bundled, profiles: parseProfiles([]), executor: ex, seed: 7, clockStart: new Date(), meta: META });
    const bad = m.results.filter((r) => !r.pass);
    expect(bad.map((r) => `${r.scenarioId}#${r.profile}`).sort()).toEqual([
      'b-insider-with-card-and-pin#ssmax-org',
      'i2-direct-to-mx-spoof-encrypted-zip#best-practice',
    ]);
    expect(bad.find((r) => r.profile === 'best-practice')!.mismatches).toEqual(['verdict', 'malwareReached', 'identityShown']);
    expect(matrixExitCode(m)).toBe(1);
    const table = formatMatrixTable(m);
    expect(table).toContain('✗ b-insider-with-card-and-pin [ssmax-org]: expected D-MR got D-Ms (traced: sender-revoked → sender)');
  });

  it('records the error, keeps going and exits 3 when the executor throws', async () => {
    const ex = new FixtureExecutor({}, new Set(['i5-passive-capture-between-mtas#smime-e2e']));
    const m = await runMatrix({ scenarios: bundled, profiles: parseProfiles([]), executor: ex, seed: 7, clockStart: new Date(), meta: META });
    const err = m.results.filter((r) => r.error !== undefined);
    expect(err).toHaveLength(1);
    expect(err[0]!.actual).toBeNull();
    expect(err[0]!.error).toContain('Fixture failure');
    expect(m.results).toHaveLength(cellCount);
    expect(matrixExitCode(m)).toBe(3);
    const validate = validator();
    expect(validate(JSON.parse(JSON.stringify(m))) ? [] : validate.errors).toEqual([]);
    // The schema itself rejects an errored cell that claims to pass.
    const forged = JSON.parse(JSON.stringify(m)) as { results: { pass: boolean; error?: string }[] };
    forged.results.find((r) => r.error !== undefined)!.pass = true;
    expect(validate(forged)).toBe(false);
  });

  it('calls the executor profile-major and returns results in file order then profile order when several profiles run', async () => {
    const ex = new FixtureExecutor();
    const profiles = parseProfiles(['plain-ppap,ssmax-org']);
    const m = await runMatrix({ scenarios: bundled, profiles, executor: ex, seed: 3, clockStart: new Date(), meta: META });
    // Execution: every plain-ppap cell before the first ssmax-org cell (one world per profile).
    const callProfiles = ex.calls.map((c) => c.profile);
    expect(callProfiles.lastIndexOf('plain-ppap')).toBeLessThan(callProfiles.indexOf('ssmax-org'));
    expect(ex.calls).toHaveLength(m.results.length);
    // Report: scenario-major, profiles in column order inside a scenario.
    const want = bundled.flatMap((s) => profiles.filter((p) => s.scenario.expected[p] !== undefined).map((p) => `${s.scenario.id}#${p}`));
    expect(m.results.map((r) => `${r.scenarioId}#${r.profile}`)).toEqual(want);
  });

  it('gives each cell a seed that depends on the run seed and the cell only', async () => {
    const a = new FixtureExecutor();
    const b = new FixtureExecutor();
    const one = loadScenarios([join(BUNDLED_SCENARIOS, 'i2-direct-to-mx-spoof-encrypted-zip.yaml')]);
    await runMatrix({ scenarios: one, profiles: parseProfiles([]), executor: a, seed: 99, clockStart: new Date(), meta: META });
    await runMatrix({ scenarios: [...bundled.slice(0, 3), ...one], profiles: parseProfiles([]), executor: b, seed: 99, clockStart: new Date(), meta: META });
    const seedsA = a.calls.map((c) => `${c.profile}:${c.seed}`);
    const seedsB = b.calls.filter((c) => c.id === 'i2-direct-to-mx-spoof-encrypted-zip').map((c) => `${c.profile}:${c.seed}`);
    expect(seedsB).toEqual(seedsA);
    expect(cellSeed(99, 'x', 'ssmax-org')).not.toBe(cellSeed(100, 'x', 'ssmax-org'));
  });
});

describe('compareOutcome', () => {
  it('ignores reason and lists differing fields in a fixed order', () => {
    const e = { verdict: 'blocked', leaked: 'none', malwareReached: false, traced: 'org', identityShown: 'none', reason: 'x' } as const;
    expect(compareOutcome(e, { ...e, reason: 'other' } as Outcome)).toEqual([]);
    expect(compareOutcome(e, { ...e, identityShown: 'unverified', verdict: 'flagged' })).toEqual(['verdict', 'identityShown']);
  });
});

describe('compareMatrices', () => {
  it('lists changed, added and removed cells when two runs differ', async () => {
    const two = bundled.slice(0, 2);
    const before = await runMatrix({
      scenarios: two,
      profiles: parseProfiles(['plain-ppap,ssmax-org']),
      executor: new FixtureExecutor(),
      seed: 1,
      clockStart: new Date(),
      meta: META,
    });
    const id = two[0]!.scenario.id;
    const after = await runMatrix({
      scenarios: two,
      profiles: parseProfiles(['plain-ppap,ssmax-org']),
      executor: new FixtureExecutor({ [`${id}#ssmax-org`]: { leaked: 'files' } }),
      seed: 1,
      clockStart: new Date(),
      meta: META,
    });
    const changes = compareMatrices(before, after);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ scenarioId: id, profile: 'ssmax-org', fields: ['leaked'] });
    const fewer = { ...after, results: after.results.filter((r) => r.profile !== 'plain-ppap') };
    expect(compareMatrices(before, fewer).filter((c) => c.after === 'absent')).toHaveLength(2);
  });
});

describe('formatJunit', () => {
  it('writes one parsable testcase per cell with failures carrying expected and actual', async () => {
    const ex = new FixtureExecutor({ 'i7-planted-forwarding-rule#ssmax-paper': { leaked: 'files' } }, new Set(['i6-stolen-mailbox-password#plain-ppap']));
    const m = await runMatrix({ scenarios: bundled, profiles: parseProfiles([]), executor: ex, seed: 3, clockStart: new Date(), meta: META });
    const xml = formatJunit(m);
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => n === 'testsuite' || n === 'testcase' }).parse(xml) as {
      testsuites: {
        '@tests': string;
        '@failures': string;
        '@errors': string;
        testsuite: { '@name': string; testcase: { '@name': string; failure?: { '#text': string; '@message': string }; error?: unknown }[] }[];
      };
    };
    const cases = doc.testsuites.testsuite.flatMap((s) => s.testcase);
    expect(cases).toHaveLength(cellCount);
    expect(doc.testsuites['@tests']).toBe(String(cellCount));
    expect(doc.testsuites['@failures']).toBe('1');
    expect(doc.testsuites['@errors']).toBe('1');
    expect(doc.testsuites.testsuite).toHaveLength(bundled.length);
    for (const c of cases)
      expect(c['@name']).toMatch(/^.+\.ya?ml#[a-z0-9-]+ \[(plain-ppap|best-practice|smime-e2e|ssmax-paper|ssmax-org|ssmax-esp-out|ssmax-esp-in|ssmax-plus)\]$/);
    const failed = cases.filter((c) => c.failure !== undefined);
    expect(failed.map((c) => c['@name'])).toEqual([expect.stringMatching(/#i7-planted-forwarding-rule \[ssmax-paper\]$/)]);
    expect(failed[0]!.failure!['@message']).toBe('expected {"leaked":"body"}, actual {"leaked":"files"}');
    expect(failed[0]!.failure!['#text']).toContain('reason (expected):');
    expect(cases.filter((c) => c.error !== undefined).map((c) => c['@name'])).toEqual([expect.stringMatching(/#i6-stolen-mailbox-password \[plain-ppap\]$/)]);
  });

  it("carries the run's environment as each testsuite's properties: commit, node, openssl and oracle.<name> per oracle", async () => {
    const one = bundled.slice(0, 2);
    const m = await runMatrix({ scenarios: one, profiles: parseProfiles([]), executor: new FixtureExecutor(), seed: 3, clockStart: new Date(), meta: META });
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => ['testsuite', 'property'].includes(n) }).parse(
      formatJunit(m),
    ) as {
      testsuites: { testsuite: { properties: { property: { '@name': string; '@value': string }[] } }[] };
    };
    expect(doc.testsuites.testsuite).toHaveLength(2);
    for (const suite of doc.testsuites.testsuite) {
      const props = Object.fromEntries(suite.properties.property.map((p) => [p['@name'], p['@value']]));
      expect(props).toEqual({
        commit: 'abc123def456',
        node: process.version,
        openssl: 'OpenSSL 3.0.19 (fixture)',
        ...Object.fromEntries(Object.entries(ORACLES).map(([k, v]) => [`oracle.${k}`, v])),
      });
    }
    // A report read from before issue 11 (no oracles) still gives commit, node and openssl.
    const { oracles: _o, ...before } = m.meta;
    const old = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => n === 'property' }).parse(
      formatJunit({ ...m, meta: before }),
    ) as {
      testsuites: { testsuite: { properties: { property: { '@name': string }[] } }[] };
    };
    expect(old.testsuites.testsuite[0]!.properties.property.map((p) => p['@name'])).toEqual(['commit', 'node', 'openssl']);
  });
});

describe('loadScenarios', () => {
  const valid = readFileSync(join(BUNDLED_SCENARIOS, 'i2-direct-to-mx-spoof-encrypted-zip.yaml'), 'utf8');

  it('loads scenario files from any folder, skipping the schema and lists', () => {
    const dir = tempDir();
    copyFileSync(join(BUNDLED_SCENARIOS, 'i2-direct-to-mx-spoof-encrypted-zip.yaml'), join(dir, 'i2-direct-to-mx-spoof-encrypted-zip.yaml'));
    copyFileSync(join(BUNDLED_SCENARIOS, 'scenario.schema.json'), join(dir, 'scenario.schema.json'));
    const got = loadScenarios([dir], dir);
    expect(got.map((s) => s.file)).toEqual(['i2-direct-to-mx-spoof-encrypted-zip.yaml']);
  });

  it('throws a USAGE error naming the file and the field when a scenario is invalid', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'i2-direct-to-mx-spoof-encrypted-zip.yaml'), valid.replace('verdict: blocked', 'verdict: stopped'));
    let err: unknown;
    try {
      loadScenarios([dir], dir);
    } catch (e) {
      err = e;
    }
    expect(SsmaxError.is(err, 'USAGE')).toBe(true);
    expect((err as Error).message).toMatch(
      /i2-direct-to-mx-spoof-encrypted-zip\.yaml: \/expected\/best-practice\/verdict must be equal to one of the allowed values \(delivered, flagged, blocked, not-sent\)/,
    );
  });

  it('throws when the id does not equal the file name', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'renamed.yaml'), valid);
    expect(() => loadScenarios([dir], dir)).toThrow(/renamed\.yaml: id "i2-direct-to-mx-spoof-encrypted-zip" does not equal the file name "renamed"/);
  });

  it('throws on an unknown profile name', () => {
    expect(() => parseProfiles(['ssmax-org,ssmax-banana'])).toThrow(/Unknown profile\(s\) ssmax-banana/);
  });
});

describe('normalizeJourneyEvent', () => {
  it('maps a sim-org journey line (files, detail) to the report shape', () => {
    const e = normalizeJourneyEvent({
      v: 1,
      messageId: '<m@x>',
      at: '2025-01-01T00:00:00.000Z',
      actor: 'org-b/mta-in',
      procedure: 7,
      checks: [{ name: 'org-status', result: 'fail', detail: 'suspended' }],
      files: 'ciphertext',
      outcome: 'rejected',
      detail: '550 5.7.1',
    });
    expect(e).toEqual({
      messageId: '<m@x>',
      actor: 'org-b/mta-in',
      procedure: 7,
      at: '2025-01-01T00:00:00.000Z',
      checks: [{ name: 'org-status', result: 'fail', detail: 'suspended' }],
      payload: 'ciphertext',
      note: '550 5.7.1',
      outcome: 'rejected',
    });
  });
});
