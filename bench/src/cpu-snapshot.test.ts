import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { childLabel, cpuBetween, cpuSnapshot } from './cpu-snapshot.js';

describe('childLabel', () => {
  it('names a child after its program and the org whose storage it uses when the command line names one', () => {
    expect(childLabel(['/usr/sbin/dovecot', '-F', '-c', '/tmp/x/orgs/org-b/mail/dovecot/dovecot.conf'])).toBe('dovecot org-b');
    expect(childLabel(['/usr/sbin/clamd', '-c', '/tmp/x/clamd/clamd.conf'])).toBe('clamd');
    expect(childLabel(['/usr/bin/node', '/repo/dist/org-process.js', '--dir', '/tmp/x/orgs/org-a/state'])).toBe('org-process.js org-a');
    expect(childLabel(['node', '-e', 'burn()'])).toBe('node');
  });
});

describe('cpuBetween', () => {
  it("counts a child's own CPU and that of a grandchild it reaped when both ran between the snapshots", async () => {
    // Burns CPU time (not wall time: the machine may be loaded) measured by the burning process itself.
    const burn = (ms: number): string => `const t = process.cpuUsage(); while ((process.cpuUsage(t).user + process.cpuUsage(t).system) / 1000 < ${ms});`;
    const a = cpuSnapshot();
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(burn(300))}]); ${burn(200)} console.log('ready'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(child.stdout!, 'data');
      const spent = cpuBetween(a, cpuSnapshot());
      // 300 ms in the reaped grandchild + 200 ms in the child, less clock-tick rounding; node start-up adds to it.
      expect(spent.childMs['node']).toBeGreaterThanOrEqual(460);
      expect(spent.processMs).toBeGreaterThanOrEqual(0);
      expect(spent.mainThreadMs).not.toBeNull();
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});
