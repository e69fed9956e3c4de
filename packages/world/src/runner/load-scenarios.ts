import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, isMap, parseDocument, type Document, type Node } from 'yaml';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
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
function validateScenario(data: unknown, where: (instancePath: string, property?: string) => number | undefined): string[] {
  if (validator === undefined) {
    const schema = JSON.parse(readFileSync(join(BUNDLED_SCENARIOS, 'scenario.schema.json'), 'utf8')) as object;
    // verbose: errors carry the offending value and the schema around it (the allowed property names).
    validator = new Ajv2020({ allErrors: true, strict: true, verbose: true }).compile(schema);
  }
  if (validator(data)) return [];
  const lines = withoutBranchNoise(validator.errors ?? []).map((e) => {
    const line = where(e.instancePath, e.keyword === 'additionalProperties' ? String(e.params['additionalProperty']) : undefined);
    return `${describeSchemaError(e, data)}${line === undefined ? '' : ` (line ${line})`}`;
  });
  return [...new Set(lines)];
}

const depth = (instancePath: string) => (instancePath === '' ? 0 : instancePath.split('/').length - 1);

/**
 * Drops the errors that only restate others: "must match then/else schema" (the branch's own errors are
 * listed), and for a failed oneOf whose branches can be told apart by schema path, the branches that
 * failed at the top (wrong type, other required keys) when one branch got further into the value:
 * `source: {ppapIncident: 9}` reports "must be <= 8", not also "missing pattern" and "missing other".
 */
function withoutBranchNoise(errors: readonly ErrorObject[]): ErrorObject[] {
  const drop = new Set<ErrorObject>(errors.filter((e) => e.keyword === 'if'));
  for (const one of errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')) {
    const prefix = `${one.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const branch = e.schemaPath.slice(prefix.length).split('/')[0]!;
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
    const reach = (es: readonly ErrorObject[]) => Math.max(...es.map((e) => depth(e.instancePath)));
    const deepest = Math.max(...[...branches.values()].map(reach));
    if (branches.size === 0 || deepest <= depth(one.instancePath)) continue;
    drop.add(one);
    for (const es of branches.values()) if (reach(es) < deepest) for (const e of es) drop.add(e);
  }
  return errors.filter((e) => !drop.has(e));
}

const quote = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

/** The capability of the step an instance path is, or lies in the params of (`/attacker/steps/0/params/x`). */
function capabilityAt(data: unknown, instancePath: string): string | undefined {
  const m = /^\/attacker\/steps\/(\d+)(\/params(\/|$)|$)/.exec(instancePath);
  const steps = (data as { attacker?: { steps?: unknown } } | null)?.attacker?.steps;
  if (!m || !Array.isArray(steps)) return undefined;
  const c = (steps[Number(m[1])] as { capability?: unknown } | undefined)?.capability;
  return typeof c === 'string' ? c : undefined;
}

/**
 * One Ajv error as a line that names the path in the document, the property and what is wrong with it;
 * inside a step's params, the step's capability too (`/attacker/steps/0/params (stolen-card) …`).
 */
function describeSchemaError(e: ErrorObject, data: unknown): string {
  const capability = capabilityAt(data, e.instancePath);
  const at = `${e.instancePath || '/'}${capability === undefined ? '' : ` (${capability})`}`;
  const didYouMean = (name: unknown, allowed: readonly unknown[]) => {
    const near = typeof name === 'string' ? closest(name, allowed.map(String)) : undefined;
    return near === undefined ? '' : ` (did you mean "${near}"?)`;
  };
  switch (e.keyword) {
    case 'additionalProperties': {
      const property = String(e.params['additionalProperty']);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return `${at} has an unknown property "${property}"${didYouMean(property, allowed)}; allowed: ${allowed.join(', ') || 'none'}`;
    }
    case 'required': {
      const missing = String(e.params['missingProperty']);
      // A step without params whose capability needs some: say which.
      const needs =
        missing === 'params' ? (e.parentSchema as { properties?: { params?: { required?: string[] } } } | undefined)?.properties?.params?.required : undefined;
      return `${at} is missing the required property "${missing}"${needs === undefined ? '' : ` (needs ${needs.join(', ')})`}`;
    }
    case 'type':
      return `${at} must be ${String(e.params['type'])}, not ${quote(e.data)}`;
    case 'enum': {
      const allowed = e.params['allowedValues'] as unknown[];
      return `${at} must be equal to one of the allowed values (${allowed.join(', ')}), not ${quote(e.data)}${didYouMean(e.data, allowed)}`;
    }
    default:
      return `${at} ${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? `, not ${quote(e.data)}` : ''}`;
  }
}

/** The allowed name a misspelt one most likely meant (edit distance at most 2, or a case-only slip). */
function closest(name: string, allowed: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const a of allowed) {
    const d = a.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, a);
    if (d <= 2 && (best === undefined || d < best.d)) best = { name: a, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The 1-based line of a JSON pointer in a parsed YAML/JSON document (of `property`'s key when given). */
function lineOf(doc: Document, counter: LineCounter, instancePath: string, property?: string): number | undefined {
  const path =
    instancePath === ''
      ? []
      : instancePath
          .slice(1)
          .split('/')
          .map((x) => x.replace(/~1/g, '/').replace(/~0/g, '~'));
  const node = (path.length === 0 ? doc.contents : doc.getIn(path, true)) as Node | null | undefined;
  let range = node?.range;
  if (property !== undefined && isMap(node)) {
    const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === property);
    range = (pair?.key as Node | undefined)?.range ?? range;
  }
  return range === undefined || range === null ? undefined : counter.linePos(range[0]).line;
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
    const counter = new LineCounter();
    let doc: Document;
    try {
      doc = parseDocument(readFileSync(path, 'utf8'), { lineCounter: counter });
    } catch (cause) {
      problems.push(`${shown}: not readable: ${(cause as Error).message.split('\n')[0]}`);
      continue;
    }
    if (doc.errors.length > 0) {
      problems.push(`${shown}: not readable YAML/JSON: ${doc.errors[0]!.message.split('\n')[0]}`);
      continue;
    }
    const data: unknown = doc.toJS();
    const errors = validateScenario(data, (p, property) => lineOf(doc, counter, p, property));
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
    throw new SsmaxError('USAGE', `Cannot run the matrix. ${problems.length} problem(s) in the scenario files:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
  return out;
}
