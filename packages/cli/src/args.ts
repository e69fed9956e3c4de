import { SsmaxError } from '@ssmax/core';

/** A parsed command line: repeated options keep every value in order. */
export interface ParsedArgs {
  readonly positionals: string[];
  readonly options: Map<string, string[]>;
  readonly flags: Set<string>;
}

export interface ArgSpec {
  /** Options that take a value (`--in F`). */
  readonly values: readonly string[];
  /** Options without a value (`--pss`). */
  readonly flags: readonly string[];
}

/** Parses `--name value`, `--name=value` and flags; unknown options are a usage error. */
export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const options = new Map<string, string[]>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
    if (spec.flags.includes(name)) {
      if (eq !== -1) throw new SsmaxError('USAGE', `Cannot parse --${name}. It takes no value.`);
      flags.add(name);
    } else if (spec.values.includes(name)) {
      const value = eq === -1 ? argv[++i] : a.slice(eq + 1);
      if (value === undefined) throw new SsmaxError('USAGE', `Cannot parse --${name}. It needs a value.`);
      options.set(name, [...(options.get(name) ?? []), value]);
    } else {
      throw new SsmaxError('USAGE', `Cannot parse the command line. Unknown option --${name}.`);
    }
  }
  return { positionals, options, flags };
}

export function one(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  if (v && v.length > 1) throw new SsmaxError('USAGE', `Cannot parse --${name}. It was given ${v.length} times.`);
  return v?.[0];
}

export function required(args: ParsedArgs, name: string): string {
  const v = one(args, name);
  if (v === undefined) throw new SsmaxError('USAGE', `Cannot run the command. --${name} is required.`);
  return v;
}

export function many(args: ParsedArgs, name: string): string[] {
  return args.options.get(name) ?? [];
}
