/**
 * Child-process entry that runs the registry alone, so the chaos harness can SIGKILL it and start it
 * again on the same SQLite file and signing key. It listens on a fixed address and port (the orgs keep
 * their registry URL across its restarts). The registry's DNS view for domain control (procedure (1))
 * is a zone here that the harness writes into over stdin, relaying the orgs' TXT records.
 *
 * Config: JSON in argv[2] ({@link RegistryProcessConfig}). Output: JSON lines, `ready` then nothing.
 * Input: JSON lines `{"cmd":"txt","op":"publish"|"withdraw","name":…,"value":…,"seq":n}` (answered
 * `{"event":"txt-done","seq":n}`). SIGKILL is the only way it is meant to stop; SIGTERM closes it.
 *
 * Run it compiled: `node packages/world/dist/chaos/registry-process.js '<config>'`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SoftwareKey } from '@ssmax/core';
import { DnsZone } from '@ssmax/sim-net';
import { Registry } from '@ssmax/sim-registry';

export interface RegistryProcessConfig {
  /** The registry's SQLite store and its signing key (`signer.pem`, created at first start). */
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
}

export type RegistryProcessEvent =
  | { readonly event: 'ready'; readonly pid: number; readonly url: string; readonly rootCertificate: string }
  | { readonly event: 'txt-done'; readonly seq: number }
  | { readonly event: 'error'; readonly message: string };

function emit(e: RegistryProcessEvent): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('Cannot start the registry process. Pass the config as JSON in argv[2].');
  const c = JSON.parse(raw) as RegistryProcessConfig;
  const keyFile = join(c.dataDir, 'signer.pem');
  let signer: SoftwareKey;
  if (existsSync(keyFile)) signer = SoftwareKey.fromBytes(readFileSync(keyFile));
  else {
    signer = SoftwareKey.generate('EC-P256');
    writeFileSync(keyFile, signer.exportPkcs8Pem(), { mode: 0o600 });
  }
  const zone = new DnsZone();
  const registry = await Registry.start({
    dataDir: c.dataDir,
    signer,
    host: c.host,
    port: c.port,
    resolver: zone.resolver,
    adminToken: 'admin',
    log: () => undefined,
  });
  createInterface({ input: process.stdin }).on('line', (line) => {
    let cmd: { cmd?: unknown; op?: unknown; name?: unknown; value?: unknown; seq?: unknown };
    try {
      cmd = JSON.parse(line) as typeof cmd;
    } catch {
      return emit({ event: 'error', message: `Cannot read command ${line.slice(0, 80)}. It is not JSON.` });
    }
    if (cmd.cmd !== 'txt' || typeof cmd.name !== 'string' || typeof cmd.value !== 'string' || typeof cmd.seq !== 'number') {
      return emit({ event: 'error', message: `Cannot run command ${line.slice(0, 80)}. Only {"cmd":"txt",op,name,value,seq} is known.` });
    }
    const value = cmd.value;
    if (cmd.op === 'publish') zone.addTxt(cmd.name, value);
    else zone.remove(cmd.name, 'TXT', (v) => (v as string[]).join('') === value);
    emit({ event: 'txt-done', seq: cmd.seq });
  });
  process.once('SIGTERM', () => void registry.close().then(() => process.exit(0)));
  emit({ event: 'ready', pid: process.pid, url: registry.url, rootCertificate: Buffer.from(registry.rootCertificate).toString('base64') });
}

main().catch((e: unknown) => {
  emit({ event: 'error', message: (e as Error).stack ?? String(e) });
  process.exit(1);
});
