/**
 * The one world every matrix cell runs in: member orgs A (sender side), B (recipient side), C, and the
 * ESP M for private persons, with every user a scenario names. Non-member parties are not in the world:
 * they own their domains on the simulated network (sim-attacker's LookAlikeDomain for senders, a plain
 * MX sink for recipients).
 */
import { parseWorldConfig, type WorldConfig } from '../world-config.js';

export const MATRIX_WORLD: WorldConfig = parseWorldConfig(`
version: 1
seed: 20250401
orgs:
  - id: org-a
    domain: org-a.example
    role: sender
    users:
      - { address: alice, pin: "4711", password: alice-pass }
      - { address: tanaka, pin: "4712", password: tanaka-pass }
      - { address: cfo, pin: "4713", password: cfo-pass }
      - { address: mallory, pin: "4714", password: mallory-pass }
      - { address: clerk, pin: "4715", password: clerk-pass }
      - { address: ceo, pin: "4716", password: ceo-pass }
  - id: org-b
    domain: org-b.example
    role: recipient
    users:
      - { address: bob, pin: "5811", password: bob-pass }
  - id: org-c
    domain: org-c.example
    role: other
    users:
      - { address: carol, pin: "6911", password: carol-pass }
      - { address: eve, pin: "6912", password: eve-pass }
  - id: esp-m
    domain: esp-m.example
    mode: esp
    role: other
    users:
      - { address: hanako, pin: "7011", password: hanako-pass, proofing: myNumberCardPin }
      - { address: stranger, pin: "7012", password: stranger-pass, proofing: myNumberCardPin }
`);

/** The address of a scenario party (`{org, user}`), e.g. alice@org-a.example. */
export function partyAddress(p: { readonly org?: string; readonly user?: string }, fallbackUser = 'info'): string {
  const org = MATRIX_WORLD.orgs.find((o) => o.id === p.org);
  const domain = org?.domain ?? `${p.org ?? 'unknown'}.example`;
  return `${p.user ?? fallbackUser}@${domain}`;
}
