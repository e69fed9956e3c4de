import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROFILES, PROFILE_IDS, getProfile, modeFor } from './profiles.js';
import { WORLD_CONFIG_SCHEMA, implementationName, loadWorldConfig, parseWorldConfig } from './world-config.js';
import { MATRIX_WORLD } from './executor/matrix-world.js';

describe('WorldConfig', () => {
  it('keeps the schema file beside the code equal to the schema the code validates with', () => {
    const file = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'world-config.schema.json'), 'utf8'));
    expect(file).toEqual(JSON.parse(JSON.stringify(WORLD_CONFIG_SCHEMA)));
  });

  it('accepts the bundled default world with two orgs and one ESP', async () => {
    const c = await loadWorldConfig(path.join(import.meta.dirname, '../../../worlds/default.yaml'));
    expect(c.orgs.map((o) => [o.id, o.mode ?? 'org'])).toEqual([
      ['org-a', 'org'],
      ['org-b', 'org'],
      ['esp-c', 'esp'],
    ]);
  });

  it.each([
    ['an unknown key', 'version: 1\norgs: [{ id: a, domain: a.example, colour: red }]', /colour|additional/],
    ['a user outside the org domain', 'version: 1\norgs: [{ id: a, domain: a.example, users: [{ address: x@b.example }] }]', /not in a's domain/],
    ['a duplicate domain', 'version: 1\norgs: [{ id: a, domain: a.example }, { id: b, domain: a.example }]', /appears twice/],
    ['a PIN too short', 'version: 1\norgs: [{ id: a, domain: a.example, users: [{ address: x, pin: "12" }] }]', /pin/],
    [
      'a password with a colon (the TOTP separator)',
      'version: 1\norgs: [{ id: a, domain: a.example, users: [{ address: x, password: "a:bcd" }] }]',
      /password/,
    ],
    ['broken YAML', 'version: 1\norgs: [', /not valid YAML/],
    ['a process implementation without a command', 'version: 1\norgs: [{ id: a, domain: a.example, implementation: { kind: process } }]', /implementation/],
    ['an unknown implementation kind', 'version: 1\norgs: [{ id: a, domain: a.example, implementation: { kind: remote, url: x } }]', /implementation/],
    [
      'a process implementation with a bad environment name',
      'version: 1\norgs: [{ id: a, domain: a.example, implementation: { kind: process, command: [x], env: { "A-B": "1" } } }]',
      /implementation/,
    ],
  ])('refuses %s', (_what, text, why) => {
    expect(() => parseWorldConfig(text)).toThrow(why);
  });
});

describe('WorldConfig implementation', () => {
  it('reads builtin (the default), process and container implementations and names each for reports', async () => {
    const c = parseWorldConfig(`version: 1
orgs:
  - { id: a, domain: a.example }
  - { id: b, domain: b.example, implementation: { kind: process, command: [node, serve.js], env: { SSMAX_ORG_DEFENCES_OFF: inboundInspection }, name: broken } }
  - { id: c, domain: c.example, implementation: { kind: container, image: "ssmax/postfix-org:local" } }
  - { id: d, domain: d.example, implementation: { kind: builtin } }
`);
    expect(c.orgs.map((o) => implementationName(o.implementation))).toEqual(['builtin', 'process:broken', 'container:ssmax/postfix-org:local', 'builtin']);
    const b = await loadWorldConfig(path.join(import.meta.dirname, '../../../worlds/org-b-process.yaml'));
    expect(b.orgs.find((o) => o.id === 'org-b')?.implementation).toMatchObject({
      kind: 'process',
      command: ['node', 'packages/cli/bin/ssmax.js', 'org', 'serve'],
    });
    expect(b.orgs.filter((o) => o.implementation?.kind === 'process').map((o) => o.id)).toEqual(['org-b']);
    // The scenarios name the matrix world's orgs and users: the file is that world but for org-b's implementation.
    expect({ ...b, orgs: b.orgs.map(({ implementation: _i, ...o }) => o) }).toEqual(MATRIX_WORLD);
  });
});

describe('PROFILES', () => {
  it('lists the seven issue-4 profiles in column order, each with a description', () => {
    expect(PROFILE_IDS).toEqual(['plain-ppap', 'best-practice', 'smime-e2e', 'ssmax-paper', 'ssmax-org', 'ssmax-esp-out', 'ssmax-esp-in', 'ssmax-plus']);
    for (const p of Object.values(PROFILES)) expect(p.description.length).toBeGreaterThan(80);
  });

  it('differs between ssmax-paper and ssmax-org only in the end-to-end manifest', () => {
    const { id: _a, column: _b, title: _c, description: _d, endToEnd: e1, verification: v1, ...paper } = PROFILES['ssmax-paper'];
    const { id: _e, column: _f, title: _g, description: _h, endToEnd: e2, verification: v2, ...org } = PROFILES['ssmax-org'];
    expect(paper).toEqual(org);
    expect([e1, v1, e2, v2]).toEqual([false, 'paper', true, 'end-to-end']);
  });

  it('turns the sender side into an ESP under ssmax-esp-out and the recipient side under ssmax-esp-in', () => {
    const sender = { mode: 'org', role: 'sender' } as const;
    const recipient = { mode: 'org', role: 'recipient' } as const;
    expect([modeFor(getProfile('ssmax-esp-out'), sender), modeFor(getProfile('ssmax-esp-out'), recipient)]).toEqual(['esp', 'org']);
    expect([modeFor(getProfile('ssmax-esp-in'), sender), modeFor(getProfile('ssmax-esp-in'), recipient)]).toEqual(['org', 'esp']);
    expect(modeFor(getProfile('ssmax-org'), { mode: 'esp', role: 'other' })).toBe('esp');
    expect(() => getProfile('ssmax-best')).toThrow(/Known profiles: plain-ppap/);
  });

  it('runs the three baselines on conventional mode and the four SSMAX columns with STARTTLS', () => {
    expect(PROFILE_IDS.filter((id) => PROFILES[id].kind === 'conventional')).toEqual(['plain-ppap', 'best-practice', 'smime-e2e']);
    expect(PROFILES['plain-ppap'].starttls).toBe(false);
    expect(PROFILES['best-practice'].mailbox).toEqual({ secondFactor: true, externalForwarding: 'deny' });
    for (const id of PROFILE_IDS.filter((i) => PROFILES[i].kind === 'ssmax')) expect(PROFILES[id].starttls).toBe(true);
  });
});
