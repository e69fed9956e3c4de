import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SsmaxError } from '@ssmax/core';
import type { LoadedScenario, Scenario } from './types.js';

/** Repository root: this file is packages/world/{src,dist}/runner/load-scenarios.{ts,js}. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The bundled scenario folder. */
export const BUNDLED_SCENARIOS = join(REPO_ROOT, 'scenarios');

const SCENARIO_FILE = /\.(ya?ml|json)$/;
// Data files that live beside the scenarios but are not scenarios.
const NOT_SCENARIOS = new Set(['scenario.schema.json', 'capabilities.json', 'payload-kinds.json']);

let validator: ReturnType<Ajv2020['compile']> | undefined;
function validateScenario(data: unknown): string[] {
  if (validator === undefined) {
    const schema = JSON.parse(readFileSync(join(BUNDLED_SCENARIOS, 'scenario.schema.json'), 'utf8')) as object;
    validator = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
  }
  if (validator(data)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? ` (${(e.params['allowedValues'] as unknown[]).join(', ')})` : ''}`);
}

function expand(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (cause) {
    throw new SsmaxError('USAGE', `Cannot read scenarios from ${path}. ${(cause as Error).message}`, { cause });
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => SCENARIO_FILE.test(f) && !NOT_SCENARIOS.has(f.split(/[\\/]/).pop()!))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Loads scenario files, or every `*.yaml|*.yml|*.json` under given folders (any path, not only the
 * bundled ones), and validates each against scenarios/scenario.schema.json. Any invalid file, id that
 * does not equal its file name, or duplicate id is a usage error (`USAGE`, exit 2) naming every problem.
 */
export function loadScenarios(paths: readonly string[], cwd = process.cwd()): LoadedScenario[] {
  const files = paths.flatMap((p) => expand(p));
  if (files.length === 0) throw new SsmaxError('USAGE', `Cannot run the matrix. No scenario files found in ${paths.join(', ')}.`);
  const problems: string[] = [];
  const out: LoadedScenario[] = [];
  const seen = new Map<string, string>();
  for (const path of files) {
    const shown = relative(cwd, path) || path;
    let data: unknown;
    try {
      data = parse(readFileSync(path, 'utf8'));
    } catch (cause) {
      problems.push(`${shown}: not readable YAML/JSON: ${(cause as Error).message.split('\n')[0]}`);
      continue;
    }
    const errors = validateScenario(data);
    if (errors.length > 0) {
      problems.push(...errors.map((e) => `${shown}: ${e}`));
      continue;
    }
    const scenario = data as Scenario;
    const stem = path.split(/[\\/]/).pop()!.replace(SCENARIO_FILE, '');
    if (scenario.id !== stem) problems.push(`${shown}: id "${scenario.id}" does not equal the file name "${stem}"`);
    const dup = seen.get(scenario.id);
    if (dup !== undefined) problems.push(`${shown}: id "${scenario.id}" is also used by ${dup}`);
    seen.set(scenario.id, shown);
    out.push({ file: shown, scenario });
  }
  if (problems.length > 0) {
    throw new SsmaxError('USAGE', `Cannot run the matrix. ${problems.length} problem(s) in the scenario files:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return out;
}
