import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import { BUNDLED_SCENARIOS, loadScenarios } from './load-scenarios.js';

const FILE = 'b-stolen-card-without-pin.yaml';
const original = readFileSync(join(BUNDLED_SCENARIOS, FILE), 'utf8');
const STEP = `    - capability: stolen-card
      params:
        user: alice@org-a.example
        guesses:
          - "0000"
          - "1234"
          - "1111"
          - "2580"
          - "9999"
        bruteForceDigits: 4
`;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Loads the stolen-card scenario with its step replaced; returns the USAGE error's problem lines. */
function problemsWith(step: string): string[] {
  expect(original).toContain(STEP);
  const dir = mkdtempSync(join(tmpdir(), 'ssmax-load-'));
  dirs.push(dir);
  writeFileSync(join(dir, FILE), original.replace(STEP, step));
  try {
    loadScenarios([dir], dir);
  } catch (err) {
    expect(SsmaxError.is(err, 'USAGE')).toBe(true);
    return (err as SsmaxError).message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  throw new Error('loadScenarios accepted the scenario');
}

describe('loadScenarios', () => {
  it('loads the bundled stolen-card scenario unchanged (the cases below differ from it only in the step)', () => {
    expect(loadScenarios([join(BUNDLED_SCENARIOS, FILE)], BUNDLED_SCENARIOS).map((s) => s.scenario.id)).toEqual(['b-stolen-card-without-pin']);
  });

  it('names the file, the step path and the known capabilities when the capability is unknown', () => {
    expect(problemsWith(STEP.replace('capability: stolen-card', 'capability: stolen-kard'))).toEqual([
      `${FILE}: /attacker/steps/0/capability must be equal to one of the allowed values (spoof-direct, look-alike-domain, registry-enrolment, org-server-takeover, spoof-colleague, stolen-password-imap, forwarding-rule, on-path-mta, passive-capture, stolen-card, sender-pc-malware, malicious-insider, replay, rewrap-signed), not "stolen-kard" (did you mean "stolen-card"?) (line 24)`,
    ]);
  });

  it('names the misspelt param, the nearest right one and the allowed ones when a param is misspelt', () => {
    expect(problemsWith(STEP.replace('guesses:', 'gueses:'))).toEqual([
      `${FILE}: /attacker/steps/0/params (stolen-card) has an unknown property "gueses" (did you mean "guesses"?); allowed: user, guesses, bruteForceDigits, to (line 27)`,
    ]);
  });

  it('names the param path, the expected type and the value when a param has the wrong type', () => {
    expect(problemsWith(STEP.replace(/guesses:\n(\s+- "\d+"\n)+/, 'guesses: 7\n'))).toEqual([
      `${FILE}: /attacker/steps/0/params/guesses (stolen-card) must be array, not 7 (line 27)`,
    ]);
  });

  it('names the missing param when a required param is missing', () => {
    expect(problemsWith(STEP.replace('        user: alice@org-a.example\n', ''))).toEqual([
      `${FILE}: /attacker/steps/0/params (stolen-card) is missing the required property "user" (line 26)`,
    ]);
  });

  it('says which params the capability needs when a step has none', () => {
    expect(problemsWith('    - capability: stolen-card\n')).toEqual([
      `${FILE}: /attacker/steps/0 (stolen-card) is missing the required property "params" (needs user) (line 24)`,
    ]);
  });

  it('reports the value out of range when bruteForceDigits exceeds 8', () => {
    expect(problemsWith(STEP.replace('bruteForceDigits: 4', 'bruteForceDigits: 9'))).toEqual([
      `${FILE}: /attacker/steps/0/params/bruteForceDigits (stolen-card) must be <= 8, not 9 (line 33)`,
    ]);
  });

  it('reports only the branch of a oneOf that got furthest into the value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssmax-load-'));
    dirs.push(dir);
    writeFileSync(join(dir, FILE), original.replace('source:\n  pattern: B', 'source:\n  ppapIncident: 9'));
    expect(() => loadScenarios([dir], dir)).toThrow(
      /1 problem\(s\) in the scenario files:\n {2}b-stolen-card-without-pin\.yaml: \/source\/ppapIncident must be <= 8, not 9 \(line 7\)$/,
    );
  });
});
