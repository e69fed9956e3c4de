/**
 * The full chain with each actor in its own process (issue 13 item 2, the lever "each org, and the
 * registry, in its own process so both cores work"): @ssmax/world's ProcessWorld (the registry, org A,
 * org B and B's Dovecot as separate processes, STARTTLS between the orgs with one shared sim-net CA),
 * this process as the users' agents: each mail signed on the sender's SoftHSM2 card ((3)) and submitted
 * over SMTP AUTH ((4)), then (5)(6) at org A, relay, (7)(8)(9) at org B into Dovecot over LMTP, spools
 * fsynced. A mail counts when org B's process reports it handed to the mailbox (LMTP 250).
 * Case names: `chain-processes/ssmax-org/<size>/c<senders>`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessWorld } from '@ssmax/world';
import { percentile } from './chain.js';
import { sizeLabel, type BenchCase } from './results.js';

export interface ProcessChainOptions {
  readonly concurrency: readonly number[];
  readonly mailsPerSender: (c: number) => number;
  readonly fileSize: number;
  /** Workers per spool in each org (default 1). */
  readonly spoolWorkers?: number;
  readonly log?: (line: string) => void;
}

export const PROCESS_CHAIN_NOTE =
  "Multi-process chain (chain-processes/ssmax-org/<size>/c<senders>[/w<spool workers>]): the same procedures as chain/ssmax-org, with the registry, org-a, org-b and org-b's Dovecot each a process of its own (@ssmax/world ProcessWorld, the kill harness's world), STARTTLS between the orgs under one shared sim-net CA; the bench process is the user agents (card signatures on its SoftHSM2 store, SMTP AUTH submissions). A mail counts when org-b's process reports the LMTP hand-over to Dovecot. details.userAgentCpuMsPerMail is the bench process's CPU only; the orgs' CPU is in their processes and not measured here. Inspection runs without the malware engine (org processes have none configured), unlike chain/ssmax-org.";

/** Runs the cases in one process world (started once; start-up and one warm-up mail per sender are not measured). */
export async function runProcessChainBench(o: ProcessChainOptions): Promise<BenchCase[]> {
  const log = o.log ?? (() => undefined);
  const senders = Math.max(...o.concurrency);
  const dir = mkdtempSync(join(tmpdir(), 'ssmax-chain-processes-'));
  const t = performance.now();
  const world = await ProcessWorld.start({ dir, senders, starttls: true, ...(o.spoolWorkers !== undefined ? { spoolWorkers: o.spoolWorkers } : {}) });
  log(`chain-processes: world (${senders} senders, ${o.spoolWorkers ?? 1} spool worker(s)) started in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const cases: BenchCase[] = [];
  try {
    let serial = 0;
    const sendLoop = async (i: number, count: number, latencies: number[]): Promise<void> => {
      for (let k = 0; k < count; k++) {
        const t0 = performance.now();
        const { raw, messageId } = await world.compose(i, `bench ${serial++}`, o.fileSize);
        const delivered = world.b.next((e) => e.event === 'delivered' && e.messageId === messageId, 120_000);
        const r = await world.submit(i, raw);
        if (r.code !== 250) throw new Error(`MSA did not accept ${messageId}: ${r.code} ${r.message ?? ''}`);
        await delivered;
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: senders }, (_, i) => sendLoop(i, 1, [])));
    await world.drain();
    for (const c of o.concurrency) {
      const per = o.mailsPerSender(c);
      const latencies: number[] = [];
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(Array.from({ length: c }, (_, i) => sendLoop(i, per, latencies)));
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const mails = c * per;
      const opsPerSec = mails / seconds;
      latencies.sort((a, b) => a - b);
      const name = `chain-processes/ssmax-org/${sizeLabel(o.fileSize)}/c${c}${o.spoolWorkers !== undefined && o.spoolWorkers > 1 ? `/w${o.spoolWorkers}` : ''}`;
      const agentCpuMsPerMail = (cpu.user + cpu.system) / 1000 / mails;
      log(
        `${name}: ${mails} mails in ${seconds.toFixed(2)} s = ${opsPerSec.toFixed(2)} mails/s; latency p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${percentile(latencies, 0.99).toFixed(0)} ms; user agents' CPU ${agentCpuMsPerMail.toFixed(1)} ms/mail`,
      );
      cases.push({
        name,
        size: o.fileSize,
        opsPerSec,
        mbPerSec: (opsPerSec * o.fileSize) / 1e6,
        peakRssDelta: null,
        references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
        ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
        details: {
          senders: c,
          mails,
          seconds,
          latencyP50Ms: percentile(latencies, 0.5),
          latencyP99Ms: percentile(latencies, 0.99),
          spoolWorkers: o.spoolWorkers ?? 1,
          userAgentCpuMsPerMail: agentCpuMsPerMail,
        },
      });
      await world.drain();
    }
  } finally {
    await world.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return cases;
}
