/**
 * Issue 15 addition 5: what the `ssmax-plus` additions cost, measured with the same chain benchmark as
 * `ssmax-org` (chain.ts) in the same run. Throughput and latency of ssmax-plus are taken with its hold
 * switched off (`--ablate`'s `hold-and-cancel`: a held mail waits by design, so it would measure the
 * configured hold, not the work); the hold is measured apart in a world with it on. Bytes on the wire per
 * mail come from the simulated network's tap: every byte of the submission (UA → MSA) and of the relay
 * (org-a's MTA-out → org-b's MX), both directions, SMTP commands and TLS records included.
 */
import type { BenchCase } from './results.js';

/** The two legs whose bytes are counted per mail. */
interface WireLegs {
  readonly submission: number;
  readonly relay: number;
}

/** What the bench reads of the simulated network's tap (sim-net WireTap). */
interface TappedNet {
  readonly tap: {
    connections(): readonly {
      readonly id: number;
      readonly service: string;
      readonly leg: string;
      readonly bytes: Readonly<Record<'client-to-server' | 'server-to-client', number>>;
    }[];
  };
}

type TapSnapshot = ReadonlyMap<number, { readonly leg: keyof WireLegs; readonly bytes: number }>;

/**
 * Byte totals per tapped connection of the two legs: a connection the tap forwards is one recording; one an
 * on-path hook takes is two (client-side, upstream), of which the client-side one counts, so no byte counts twice.
 */
export function tapSnapshot(net: TappedNet, sendingDomain: string, receivingDomain: string): TapSnapshot {
  const out = new Map<number, { leg: keyof WireLegs; bytes: number }>();
  for (const c of net.tap.connections()) {
    if (c.leg === 'upstream') continue;
    const leg = c.service === `msa.${sendingDomain}:587` ? 'submission' : c.service === `mx.${receivingDomain}:25` ? 'relay' : undefined;
    if (leg) out.set(c.id, { leg, bytes: c.bytes['client-to-server'] + c.bytes['server-to-client'] });
  }
  return out;
}

/** Bytes of each leg between two snapshots (connections opened in between count whole). */
export function wireBetween(before: TapSnapshot, after: TapSnapshot): WireLegs {
  const sum = { submission: 0, relay: 0 };
  for (const [id, a] of after) sum[a.leg] += a.bytes - (before.get(id)?.bytes ?? 0);
  return sum;
}

const n = (c: BenchCase | undefined, k: string): number | null => (typeof c?.details?.[k] === 'number' ? c.details[k] : null);
const f0 = (x: number | null): string => (x === null ? '–' : x.toFixed(0));

/**
 * The markdown section "ssmax-plus beside ssmax-org": each ssmax-plus case (hold excluded) with its
 * ssmax-org case of the same size and senders, and the hold measured apart. Empty without ssmax-plus cases.
 */
export function renderPlusSection(cases: readonly BenchCase[]): string[] {
  const plus = cases.filter((c) => c.name.startsWith('chain/ssmax-plus/'));
  if (plus.length === 0) return [];
  const lines = [
    '',
    '## ssmax-plus beside ssmax-org (issue 15 addition 5)',
    '',
    '| case | mails/s | ÷ ssmax-org | latency p50 ms | p99 ms | ssmax-org p50 / p99 ms | bytes/mail submission | relay | ssmax-org submission / relay | hold s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of plus) {
    const m = /^chain\/ssmax-plus\/([^/]+)\/(c\d+)/.exec(c.name);
    const org = m ? cases.find((x) => x.name === `chain/ssmax-org/${m[1]}/${m[2]}`) : undefined;
    lines.push(
      `| ${c.name} | ${c.opsPerSec.toFixed(2)} | ${org ? (c.opsPerSec / org.opsPerSec).toFixed(2) : '–'} | ${f0(n(c, 'latencyP50Ms'))} | ${f0(n(c, 'latencyP99Ms'))} | ` +
        `${org ? `${f0(n(org, 'latencyP50Ms'))} / ${f0(n(org, 'latencyP99Ms'))}` : '–'} | ${f0(n(c, 'wireBytesPerMailSubmission'))} | ${f0(n(c, 'wireBytesPerMailRelay'))} | ` +
        `${org ? `${f0(n(org, 'wireBytesPerMailSubmission'))} / ${f0(n(org, 'wireBytesPerMailRelay'))}` : '–'} | ${f0(n(c, 'holdSeconds'))} |`,
    );
  }
  return lines;
}

/** The case-name suffix of an ssmax-plus world: `/no-hold` when the hold is switched off for throughput, `/hold<N>s` with it on. */
export function plusSuffix(holdSeconds: number): string {
  return holdSeconds === 0 ? '/no-hold' : `/hold${holdSeconds}s`;
}
