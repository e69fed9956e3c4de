/**
 * The world file: which organisations and ESPs exist, their users, and the defence profile they run.
 * YAML or JSON, validated against {@link WORLD_CONFIG_SCHEMA} (JSON Schema 2020-12, kept beside this
 * file as `world-config.schema.json` for editors). Everything a profile changes is an override of the
 * same services (profiles.ts); the world file only names the actors.
 */
import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { SsmaxError } from '@ssmax/core';

/** One user of an organisation; what is not given is generated from the world's seed. */
export interface WorldUserConfig {
  /** Local part or full address (the org's domain is appended to a local part). */
  readonly address: string;
  readonly displayName?: string;
  /** Card PIN (4–16 letters or digits). */
  readonly pin?: string;
  /** Mail password (MSA and IMAP login). */
  readonly password?: string;
  /** Identity-proofing method at registration; default employeeCardPin (org) / myNumberCardPin (esp). */
  readonly proofing?: 'employeeCardPin' | 'myNumberCardPin';
  readonly employeeNumber?: string;
}

/** One organisation or ESP. */
export interface WorldOrgConfig {
  readonly id: string;
  readonly domain: string;
  readonly name?: string;
  /** `org` (inspects) or `esp` (does not); a profile may override it through `role`. */
  readonly mode?: 'org' | 'esp';
  /** The part this actor plays in a profile: `sender` and `recipient` are what profiles 6 and 7 turn into ESPs. */
  readonly role?: 'sender' | 'recipient' | 'other';
  readonly users?: readonly WorldUserConfig[];
  /**
   * Who implements this org (docs/IMPLEMENTING.md): our own in-process org (`builtin`, the default), an
   * outside program speaking contract v1 (`process`), or a locally built image (`container`, not yet run).
   */
  readonly implementation?: WorldImplementationConfig;
}

/** How an org is implemented (see {@link WorldOrgConfig.implementation}). */
export type WorldImplementationConfig =
  | { readonly kind: 'builtin' }
  | {
      readonly kind: 'process';
      /** Program and arguments; `--config FILE` is appended. Relative paths are relative to the current directory. */
      readonly command: readonly string[];
      readonly env?: Readonly<Record<string, string>>;
      /** A name for reports (default the command). */
      readonly name?: string;
    }
  | {
      readonly kind: 'container';
      /** A locally built image (never pulled), run with the host's network (the simulated network is loopback). */
      readonly image: string;
      /** Arguments after the image's entrypoint (`--config FILE` is appended); absent, the image's own CMD runs and finds the config through SSMAX_ORG_CONFIG_FILE. */
      readonly command?: readonly string[];
      readonly env?: Readonly<Record<string, string>>;
      /** Host paths to mount besides the org's directories (which are mounted at the same paths). */
      readonly mounts?: readonly { readonly source: string; readonly target: string; readonly readOnly?: boolean }[];
      readonly name?: string;
    };

/** A short name of an org's implementation for reports: `builtin`, `process:<name>`, `container:<image>`. */
export function implementationName(i: WorldImplementationConfig | undefined): string {
  if (!i || i.kind === 'builtin') return 'builtin';
  if (i.kind === 'process') return `process:${i.name ?? i.command.join(' ')}`;
  return `container:${i.name ?? i.image}`;
}

export interface WorldConfig {
  readonly version: 1;
  /** Defence profile (profiles.ts); default `ssmax-org`. */
  readonly profile?: string;
  /** Seeds the address plan and generated PINs/passwords. */
  readonly seed?: number;
  readonly orgs: readonly WorldOrgConfig[];
}

export const WORLD_CONFIG_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://ssmax.example/schemas/world-config-v1.json',
  title: 'SSMAX world',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'orgs'],
  properties: {
    version: { const: 1 },
    profile: { type: 'string', pattern: '^[a-z0-9-]+$' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    orgs: {
      type: 'array',
      minItems: 1,
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'domain'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,19}$' },
          domain: { type: 'string', pattern: '^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$' },
          name: { type: 'string', maxLength: 200 },
          mode: { enum: ['org', 'esp'] },
          role: { enum: ['sender', 'recipient', 'other'] },
          users: {
            type: 'array',
            maxItems: 50,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['address'],
              properties: {
                address: { type: 'string', pattern: '^[a-z0-9._+-]+(@[a-z0-9.-]+)?$' },
                displayName: { type: 'string', maxLength: 200 },
                pin: { type: 'string', pattern: '^[0-9A-Za-z]{4,16}$' },
                password: { type: 'string', minLength: 4, maxLength: 200, pattern: '^[^:\\s]+$' },
                proofing: { enum: ['employeeCardPin', 'myNumberCardPin'] },
                employeeNumber: { type: 'string', minLength: 1, maxLength: 64 },
              },
            },
          },
          implementation: {
            oneOf: [
              { type: 'object', additionalProperties: false, required: ['kind'], properties: { kind: { const: 'builtin' } } },
              {
                type: 'object',
                additionalProperties: false,
                required: ['kind', 'command'],
                properties: {
                  kind: { const: 'process' },
                  command: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 4096 } },
                  env: {
                    type: 'object',
                    maxProperties: 64,
                    propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                    additionalProperties: { type: 'string', maxLength: 4096 },
                  },
                  name: { type: 'string', minLength: 1, maxLength: 100 },
                },
              },
              {
                type: 'object',
                additionalProperties: false,
                required: ['kind', 'image'],
                properties: {
                  kind: { const: 'container' },
                  image: { type: 'string', minLength: 1, maxLength: 300, pattern: '^[a-z0-9][a-z0-9._/:@-]*$' },
                  command: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 4096 } },
                  mounts: {
                    type: 'array',
                    maxItems: 32,
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['source', 'target'],
                      properties: {
                        source: { type: 'string', pattern: '^/' },
                        target: { type: 'string', pattern: '^/' },
                        readOnly: { type: 'boolean' },
                      },
                    },
                  },
                  env: {
                    type: 'object',
                    maxProperties: 64,
                    propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                    additionalProperties: { type: 'string', maxLength: 4096 },
                  },
                  name: { type: 'string', minLength: 1, maxLength: 100 },
                },
              },
            ],
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv2020({ allErrors: true, strict: true }).compile<WorldConfig>(WORLD_CONFIG_SCHEMA);

/**
 * Validates a world config (already parsed) and checks what a schema cannot: unique ids and domains,
 * user addresses inside their org's domain, unique addresses.
 */
export function validateWorldConfig(value: unknown, source = 'world config'): WorldConfig {
  if (!validate(value)) {
    const why = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)
      .join('; ');
    throw new SsmaxError('USAGE', `Cannot use ${source}. It does not match the world schema: ${why}.`);
  }
  const config = value;
  const ids = new Set<string>();
  const domains = new Set<string>();
  const addresses = new Set<string>();
  for (const o of config.orgs) {
    if (ids.has(o.id)) throw new SsmaxError('USAGE', `Cannot use ${source}. Org id "${o.id}" appears twice.`);
    if (domains.has(o.domain)) throw new SsmaxError('USAGE', `Cannot use ${source}. Domain "${o.domain}" appears twice.`);
    ids.add(o.id);
    domains.add(o.domain);
    for (const u of o.users ?? []) {
      const a = userAddress(o, u);
      if (!a.endsWith(`@${o.domain}`)) throw new SsmaxError('USAGE', `Cannot use ${source}. User ${a} is not in ${o.id}'s domain ${o.domain}.`);
      if (addresses.has(a)) throw new SsmaxError('USAGE', `Cannot use ${source}. User ${a} appears twice.`);
      addresses.add(a);
    }
  }
  return config;
}

/** Parses YAML or JSON text (JSON is YAML) and validates it. */
export function parseWorldConfig(text: string, source = 'world config'): WorldConfig {
  let value: unknown;
  try {
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (cause) {
    throw new SsmaxError('USAGE', `Cannot read ${source}. It is not valid YAML: ${(cause as Error).message.split('\n')[0]}.`, { cause });
  }
  return validateWorldConfig(value, source);
}

/** Reads and validates a world file. */
export async function loadWorldConfig(path: string): Promise<WorldConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new SsmaxError(
      'USAGE',
      `Cannot read world file ${path}. ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'It does not exist' : (cause as Error).message}.`,
      { cause },
    );
  }
  return parseWorldConfig(text, `world file ${path}`);
}

/** The full, lower-case address of a configured user. */
export function userAddress(org: WorldOrgConfig, user: WorldUserConfig): string {
  const a = user.address.toLowerCase();
  return a.includes('@') ? a : `${a}@${org.domain}`;
}
