import { ATTACKER_CAPABILITIES, type AttackerCapability, type AttackerCapabilityName } from '@ssmax/sim-attacker';
import type { Cell } from '../executor/cell.js';

/**
 * When a step acts, relative to the mail that carries the files:
 * - `foothold`: put in place before that mail moves (an on-path relay, a planted forwarding rule);
 * - `send`: the attacker sends that mail itself (the honest sender sends nothing);
 * - `after-delivery`: acts on what already passed (reads a mailbox, replays a captured copy).
 */
export type CapabilityPhase = 'foothold' | 'send' | 'after-delivery';

/** The JSON Schema subset a capability's parameters are written in (JSON Schema 2020-12, Ajv strict). */
export type ParamSchema =
  | { readonly type: 'string'; readonly description?: string; readonly pattern?: string; readonly minLength?: number; readonly maxLength?: number }
  | { readonly enum: readonly string[]; readonly description?: string }
  | { readonly const: string | number | boolean; readonly description?: string }
  | { readonly type: 'integer'; readonly description?: string; readonly minimum?: number; readonly maximum?: number }
  | { readonly type: 'boolean'; readonly description?: string }
  | { readonly type: 'array'; readonly description?: string; readonly items: ParamSchema; readonly minItems?: number; readonly maxItems?: number }
  | ParamsSchema;

/** An object of named parameters: no property outside `properties` is allowed (a misspelt parameter is an error). */
export interface ParamsSchema {
  readonly type: 'object';
  readonly description?: string;
  readonly additionalProperties: false;
  readonly properties: { readonly [name: string]: ParamSchema };
  /** The parameters the capability cannot do without. */
  readonly required?: readonly string[];
}

/** The TypeScript type a {@link ParamSchema} accepts (the subset above, nothing more). */
export type FromSchema<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly const: infer C }
    ? C
    : S extends { readonly type: 'string' }
      ? string
      : S extends { readonly type: 'integer' }
        ? number
        : S extends { readonly type: 'boolean' }
          ? boolean
          : S extends { readonly type: 'array'; readonly items: infer I }
            ? readonly FromSchema<I>[]
            : S extends { readonly type: 'object'; readonly properties: infer P }
              ? ObjectFromSchema<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
              : never;
type ObjectFromSchema<P, R> = Simplify<{ readonly [K in keyof P & R]: FromSchema<P[K]> } & { readonly [K in Exclude<keyof P, R>]?: FromSchema<P[K]> }>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * One attacker capability as scenario steps use it: which capability of the attacker package it is
 * (name, foothold and description come from `ATTACKER_CAPABILITIES`), when it acts, and its parameters.
 * scenarios/capabilities.json and the step schema in scenarios/scenario.schema.json are generated from
 * these (`npm run gen:capabilities`).
 *
 * What a step does in a cell is the capability's {@link CapabilityRun}, joined to the spec by
 * {@link capability}.
 */
export interface CapabilitySpec<S extends ParamsSchema = ParamsSchema, N extends AttackerCapabilityName = AttackerCapabilityName> {
  readonly name: N;
  readonly foothold: AttackerCapability['foothold'];
  readonly description: string;
  readonly phase: CapabilityPhase;
  /**
   * A different phase when one parameter has a given value (org-server-takeover with
   * `readPassingMail: true` reads what passed instead of sending). Data, so the JSON lists it too.
   */
  readonly phaseWhen?: { readonly param: string; readonly equals: string | number | boolean; readonly phase: CapabilityPhase };
  /** JSON Schema of the step's `params`. */
  readonly params: S;
}

/** The parameter type of a capability spec. */
export type ParamsOf<C extends CapabilitySpec> = FromSchema<C['params']>;

/**
 * Builds a spec for a capability of the attacker package: name, foothold and description are taken from
 * `ATTACKER_CAPABILITIES`, so they cannot drift from the package that implements the attack.
 */
export function capabilitySpec<const N extends AttackerCapabilityName, const S extends ParamsSchema>(
  name: N,
  spec: { readonly phase: CapabilityPhase; readonly phaseWhen?: CapabilitySpec['phaseWhen']; readonly params: S },
): CapabilitySpec<S, N> {
  const a = ATTACKER_CAPABILITIES.find((c) => c.name === name)!;
  return { name, foothold: a.foothold, description: a.description, ...spec };
}

/** What a step of a capability does in a cell, with only the foothold its scenario grants (through the {@link Cell}). */
export interface CapabilityRun<P> {
  /** Acts; leaves evidence in the cell (attempts, obtained bytes, outcomes). A refusal is evidence, any other fault throws. */
  run(cell: Cell, params: P): Promise<void>;
  /** The step leaves state a later cell must not see (a locked card, a planted rule): the world is rebuilt after the cell. */
  readonly leavesState?: boolean;
  /** Where the honest mail goes instead of the scenario's recipient (the attacker is its legitimate recipient). */
  honestRecipient?(cell: Cell, params: P): string | undefined;
  /**
   * The step reads the honest mail, so the attack aims at its files: a cell that leaks less credits a
   * defence (`ssmax run --ablate`). `recipientOrg` is the scenario recipient's org id.
   */
  eavesdrops?(params: P, recipientOrg: string | undefined): boolean;
}

/** A capability: its spec (name, foothold, phase, parameter schema) and its run. */
export type Capability<S extends ParamsSchema = ParamsSchema, N extends AttackerCapabilityName = AttackerCapabilityName> = CapabilitySpec<S, N> &
  CapabilityRun<FromSchema<S>>;

/**
 * A capability seen by the executor, whatever its parameter type: scenario steps reach it only after the
 * scenario passed the schema generated from the same spec, so `params` has the capability's shape.
 */
export type RunnableCapability = CapabilitySpec & CapabilityRun<Readonly<Record<string, unknown>>>;

/** Joins a spec with what its steps do. */
export function capability<const S extends ParamsSchema, const N extends AttackerCapabilityName>(
  spec: CapabilitySpec<S, N>,
  run: CapabilityRun<FromSchema<S>>,
): Capability<S, N> {
  return { ...spec, ...run };
}

/** The phase a step of this capability acts in, given its params. */
export function stepPhase(spec: CapabilitySpec, params: Readonly<Record<string, unknown>> | undefined): CapabilityPhase {
  const w = spec.phaseWhen;
  return w !== undefined && params?.[w.param] === w.equals ? w.phase : spec.phase;
}

/** Shared parameter schemas. */
export const ADDRESS = { type: 'string', pattern: '^[A-Za-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)+$' } as const;
/** `to`: where the attacker's mail goes; the executor defaults it to the scenario's recipient. */
export const TO = { ...ADDRESS, description: "Recipient address (default: the scenario's recipient)." } as const;
/** `<org>/mta-in`: the receiving MTA of a world organisation (its MX). */
export const MTA_IN = {
  type: 'string',
  pattern: '^[a-z0-9-]+/mta-in$',
  description: 'The receiving MTA (MX) of a world organisation: "<org>/mta-in".',
} as const;
