/**
 * The launcher side of the contract (docs/IMPLEMENTING.md §2): the config file is named by `--config FILE`
 * and SSMAX_ORG_CONFIG_FILE, the first JSON line with "event" decides (ready with contract 1, or error),
 * lines that are not JSON are logged, SIGTERM stops, and a program that dies first is an error that quotes
 * its stderr. Real child processes (node -e), no world.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { OrgImplementationConfig } from '@ssmax/core';
import { OrgImplementationProcess } from './org-launcher.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-launcher-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const config: OrgImplementationConfig = {
  contract: 1,
  org: { id: 'org-x', domain: 'org-x.example', mode: 'org' },
  profile: { id: 'ssmax-org', starttls: true, outboundTls: 'opportunistic', endToEnd: true },
  storageDir: dir,
  network: { prefix: '127.9.9', listen: { mx: 0, msa: 0, crl: 0 }, mx: [], hosts: [] },
  tls: { chainFile: '', keyFile: '', caFile: '', caDir: '' },
  registry: { url: 'http://127.9.9.1:1', rootCertificate: '', rootFile: '' },
  keys: { pkcs11Module: '', storeDir: '', softhsm2Conf: '' },
  users: [],
  mailbox: { lmtp: { unix: '' }, dovecotConfig: '' },
  world: { controlUrl: 'http://127.9.9.1:2' },
};
const ready = {
  event: 'ready',
  contract: 1,
  mx: { address: '127.0.0.1', port: 1 },
  msa: { address: '127.0.0.1', port: 2 },
  orgCertificate: '',
  kmsEncryptionCertificate: '',
  kmsSigningCertificate: '',
  users: [],
};

/** Starts `node -e script` as the implementation. */
function start(name: string, script: string, readyTimeoutMs = 20_000, log?: (l: string) => void) {
  return OrgImplementationProcess.start({
    command: [process.execPath, '-e', script, '--'],
    configFile: path.join(dir, `${name}.json`),
    config,
    readyTimeoutMs,
    ...(log ? { log } : {}),
  });
}

describe('OrgImplementationProcess', () => {
  it('hands over the config file by argv and environment, waits past non-JSON lines for the ready line, and stops on SIGTERM', async () => {
    const logged: string[] = [];
    const script = `
      const i = process.argv.indexOf('--config');
      const file = process.argv[i + 1];
      const c = JSON.parse(require('fs').readFileSync(file, 'utf8'));
      if (file !== process.env.SSMAX_ORG_CONFIG_FILE || c.org.id !== 'org-x') process.exit(7);
      process.on('SIGTERM', () => { require('fs').writeFileSync(file + '.stopped', 'yes'); process.exit(0); });
      console.log('starting up');
      console.log(JSON.stringify(${JSON.stringify(ready)}));
      setInterval(() => {}, 1000);`;
    const p = await start('good', script, 20_000, (l) => logged.push(l));
    expect(p.ready.mx.port).toBe(1);
    expect(logged).toContain('[org-x] stdout: starting up');
    expect(p.running).toBe(true);
    await p.stop();
    expect(p.running).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'good.json.stopped'), 'utf8')).toBe('yes');
  });

  it.each([
    [
      'prints an error line',
      `console.log(JSON.stringify({ event: 'error', message: 'Cannot enrol. The registry said no.' })); process.exit(1);`,
      /It said: Cannot enrol\. The registry said no\./,
    ],
    [
      'speaks another contract version',
      `console.log(JSON.stringify({ ...${JSON.stringify(ready)}, contract: 2 })); setInterval(() => {}, 1000);`,
      /speaks contract 2, not 1/,
    ],
    [
      'exits before it is ready',
      `console.error('no such file: main.cf'); process.exit(3);`,
      /exited \(3\) before it was ready\. stderr: no such file: main\.cf/,
    ],
    ['never prints a readiness line', `setInterval(() => {}, 1000);`, /printed no readiness line within 1500 ms/],
  ])('refuses an implementation that %s, and leaves no process behind', async (name, script, why) => {
    const file = name.replace(/\W+/g, '-');
    const pidFirst = `require('fs').writeFileSync(process.env.SSMAX_ORG_CONFIG_FILE + '.pid', String(process.pid));`;
    await expect(start(file, pidFirst + script, 1500)).rejects.toThrow(why);
    const pid = Number(fs.readFileSync(path.join(dir, `${file}.json.pid`), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
