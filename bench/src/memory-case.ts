/**
 * Child-process entry for one memory case: `node bench/dist/memory-case.js <spec.json>`. Loads the
 * keys, runs one small warm-up hop (so loading and compiling code is not counted as the file's cost),
 * resets the kernel's peak-RSS mark, takes the baseline, runs one hop and prints
 * `{"baseline":…,"peak":…,"delta":…}` (bytes) on stdout. One fresh process per case, so nothing an
 * earlier case allocated is counted or hidden.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { decodePem, SoftwareKey, type ContentCipher } from '@ssmax/core';
import { orgHopFile } from './org-hop.js';

export interface MemoryCaseSpec {
  /** A small message of the same suite and cipher, run first so code loading is not counted. */
  readonly warmupPath: string;
  readonly inPath: string;
  readonly outPath: string;
  readonly orgKeyPath: string;
  readonly orgCertPath: string;
  readonly nextCertPath: string;
  readonly caPath: string;
  readonly cipher: ContentCipher;
  readonly inspect: boolean;
}

export interface MemoryCaseResult {
  readonly baseline: number;
  readonly peak: number;
  readonly delta: number;
}

function statusField(name: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'latin1'));
  if (!m) throw new Error(`no ${name} in /proc/self/status`);
  return Number(m[1]) * 1024;
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as MemoryCaseSpec;
  const cert = (p: string) => decodePem(readFileSync(p, 'latin1'), 'CERTIFICATE');
  const inspect = spec.inspect ? (await import('./inspection.js')).defaultOrgInspection : undefined;
  const opts = {
    key: SoftwareKey.fromBytes(readFileSync(spec.orgKeyPath)),
    certificate: cert(spec.orgCertPath),
    trustAnchors: [cert(spec.caPath)],
    recipients: [cert(spec.nextCertPath)],
    cipher: spec.cipher,
    ...(inspect ? { inspect } : {}),
  };
  const warm = await orgHopFile(spec.warmupPath, spec.outPath, opts);
  if (!warm.committed) throw new Error(`the warm-up hop did not commit: ${warm.verdict.reasons.join('; ')}`);
  (globalThis as { gc?: () => void }).gc?.();
  // Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)).
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Without the reset the baseline is the peak so far, which only makes the delta smaller.
  }
  const baseline = statusField('VmHWM');
  const r = await orgHopFile(spec.inPath, spec.outPath, opts);
  if (!r.committed) throw new Error(`the hop did not commit: ${r.verdict.reasons.join('; ')}`);
  const peak = statusField('VmHWM');
  const result: MemoryCaseResult = { baseline, peak, delta: peak - baseline };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`memory-case: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
