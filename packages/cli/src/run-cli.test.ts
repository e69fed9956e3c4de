import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `ssmax run` is a contract other tools depend on: these tests run the built binary as a process.
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const SCENARIO = fileURLToPath(new URL('../../../scenarios/b-stolen-card-without-pin.yaml', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-run-cli-'));
  // The tests run against dist/: make sure it is current for this file's run.
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ssmax run with a bad scenario file', () => {
  const original = readFileSync(SCENARIO, 'utf8');
  it.each([
    [
      'an unknown capability',
      ['capability: stolen-card', 'capability: stolen-kard'],
      /\/attacker\/steps\/0\/capability must be equal to one of the allowed values \(.*\), not "stolen-kard"/,
    ],
    ['a misspelt param', ['guesses:', 'gueses:'], /\/attacker\/steps\/0\/params \(stolen-card\) has an unknown property "gueses" \(did you mean "guesses"\?\)/],
    [
      'a param of the wrong type',
      ['bruteForceDigits: 4', 'bruteForceDigits: four'],
      /\/attacker\/steps\/0\/params\/bruteForceDigits \(stolen-card\) must be integer, not "four"/,
    ],
    [
      'a missing required param',
      ['user: alice@org-a.example\n        guesses:', 'guesses:'],
      /\/attacker\/steps\/0\/params \(stolen-card\) is missing the required property "user"/,
    ],
  ] as const)('exits 2 naming the file, the path and the property for %s, and writes no report', (_label, [from, to], reason) => {
    expect(original).toContain(from);
    const bad = join(dir, 'b-stolen-card-without-pin.yaml');
    writeFileSync(bad, original.replace(from, to));
    const report = join(dir, 'report');
    const r = spawnSync(process.execPath, [BIN, 'run', bad, '--report', report], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^ssmax run: USAGE: Cannot run the matrix\. 1 problem\(s\) in the scenario files:\n {2}.*b-stolen-card-without-pin\.yaml: /);
    expect(r.stderr).toMatch(reason);
    expect(existsSync(report)).toBe(false);
  });
});
