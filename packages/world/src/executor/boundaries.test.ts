/**
 * The judge only observes, and an attack holds only its foothold. Checked on the source itself: the
 * judging rules (judge.ts) and the observers (observe.ts) name no capability, profile or scenario, and no
 * capability module reaches the world (only the handles of its Cell).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CAPABILITIES } from '../capabilities/index.js';
import { BUNDLED_SCENARIOS, MATRIX_PROFILES, loadScenarios } from '../runner/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const source = (f: string) => readFileSync(join(here, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');

describe('judging code', () => {
  const names = [...CAPABILITIES.map((c) => c.name), ...MATRIX_PROFILES, ...loadScenarios([BUNDLED_SCENARIOS]).map((l) => l.scenario.id)];
  for (const file of ['judge.ts', 'observe.ts', 'evidence.ts']) {
    it(`${file} compares no capability, profile or scenario name`, () => {
      const code = source(file);
      const found = names.filter((n) => new RegExp(`['"\`]${n.replace(/[-]/g, '\\-')}['"\`]`).test(code));
      expect(found).toEqual([]);
    });
  }
});

describe('capability modules', () => {
  const dir = join(here, '../capabilities');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  it('are one per registered capability', () => {
    for (const c of CAPABILITIES) expect(files).toContain(`${c.name}.ts`);
  });
  for (const f of files) {
    it(`${f} reaches no world, only its cell's foothold handles`, () => {
      const code = readFileSync(join(dir, f), 'utf8');
      expect(code).not.toMatch(/harnessWorld|from '\.\.\/world\.js'|\.world\b/);
    });
  }
});
