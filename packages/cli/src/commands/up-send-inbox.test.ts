/**
 * `ssmax up`, `ssmax send` and `ssmax inbox` as a new user runs them: three child processes of the
 * built CLI (packages/cli/dist), the world of worlds/default.yaml, the control socket between them.
 * Until the lead wires the commands into bin.ts, a tiny entry calls the same exported functions the
 * way bin.ts calls its commands (exit codes from the error category).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const dist = path.join(repo, 'packages/cli/dist/commands');
const ENTRY = `
const [cmd, ...rest] = process.argv.slice(1);
const { ErrorCodes } = await import(${JSON.stringify(path.join(repo, 'packages/core/dist/index.js'))});
const mod = await import(${JSON.stringify(dist)} + '/' + cmd + '.js');
const fn = { up: mod.runUpCommand, send: mod.runSendCommand, inbox: mod.runInboxCommand }[cmd];
const io = { stdout: { write: (s) => void process.stdout.write(s) }, stderr: { write: (s) => void process.stderr.write(s) } };
fn(rest, io).then((c) => { process.exitCode = c; }, (e) => {
  process.stderr.write('ssmax: ' + (e.code ?? 'INTERNAL') + ': ' + e.message + '\\n');
  process.exitCode = ({ verdict: 1, usage: 2, malformed: 3, infrastructure: 4 })[ErrorCodes[e.code]] ?? 4;
});
`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-cli-world-'));
const statePath = path.join(work, '.ssmax', 'world.json');
let up: ChildProcess | undefined;
let upOut = '';

function run(cmd: string, args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', ENTRY, cmd, ...args], {
      cwd: work,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, stdout: x.stdout, stderr: x.stderr };
  }
}

beforeAll(() => {
  // Build the CLI and its workspace dependencies as the README says; the test then runs what users run.
  try {
    execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: repo, stdio: 'pipe', timeout: 170_000 });
  } catch (e) {
    // Another package may be mid-edit; the commands under test must still be freshly built.
    for (const f of ['up', 'send', 'inbox']) {
      const built = fs.statSync(path.join(dist, `${f}.js`)).mtimeMs;
      const src = fs.statSync(path.join(repo, `packages/cli/src/commands/${f}.ts`)).mtimeMs;
      if (built < src) throw new Error(`Cannot test ssmax ${f}: the build failed and dist is stale.\n${String((e as { stdout?: Buffer }).stdout ?? '')}`);
    }
  }
});

afterAll(async () => {
  if (up && up.exitCode === null) {
    up.kill('SIGKILL');
  }
  fs.rmSync(work, { recursive: true, force: true });
});

describe('ssmax up / send / inbox', () => {
  it('tells the user to start a world when send runs before up', () => {
    const r = run('send', ['--from', 'alice@org-a.example', '--to', 'bob@org-b.example', '--pin', '1111']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ssmax up/);
  });

  it('starts the default world, sends a file from alice to bob, shows it verified with the identity notice, and stops cleanly on SIGINT', async () => {
    up = spawn(process.execPath, ['--input-type=module', '-e', ENTRY, 'up'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (d: Buffer) => (upOut += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (upOut += d.toString()));
    const end = Date.now() + 60_000;
    while (!upOut.includes('Ready.') && up.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(upOut).toContain('Ready.');
    expect(upOut).toMatch(/org-b\/mta-in\s+mx\.org-b\.example:25\s+127\.\d+\.\d+\.\d+:\d+\s+smtp \(STARTTLS\)/);
    expect(upOut).toMatch(/alice@org-a\.example\s+org-a\s+org\s+employeeCardPin\s+1111\s+alice-pass/);
    // The world's malware engine (issue 16): one clamd on a Unix socket, started by up.
    expect(upOut).toMatch(/clamav\s+-\s+unix:\S+\/clamd\.sock\s+clamd INSTREAM \(ClamAV 1\.\d+\.\d+, pid \d+; local signatures, no updates\)/);
    const storage = /storage (\S+)\)/.exec(upOut)?.[1];
    expect(storage && fs.existsSync(storage)).toBe(true);
    expect(JSON.parse(fs.readFileSync(statePath, 'utf8')).pid).toBe(up.pid);

    const file = path.join(work, 'minutes.txt');
    const content = `Board minutes ${Date.now()}\n`;
    fs.writeFileSync(file, content);
    const sha = createHash('sha256').update(content).digest('hex');
    const sent = run(
      'send',
      ['--from', 'alice@org-a.example', '--to', 'bob@org-b.example', '--subject', 'Minutes', '--body', 'See the file.', '--file', file],
      { SSMAX_PIN: '1111' },
    );
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/MSA: 250/);
    expect(sent.stdout).toMatch(/org-b\/delivery\s+\(9\)\s+delivered/);
    expect(sent.stdout).toContain('Delivered.');

    const wrongPin = run('send', ['--from', 'alice@org-a.example', '--to', 'bob@org-b.example', '--body', 'x', '--pin', '0000']);
    expect(wrongPin.code).toBe(1);
    expect(wrongPin.stderr).toMatch(/PIN_INCORRECT/);

    const inbox = run('inbox', ['--user', 'bob@org-b.example', '--password', 'bob-pass', '--pin', '2222']);
    expect(inbox.code).toBe(0);
    expect(inbox.stdout).toContain('bob@org-b.example: 1 mail(s)');
    expect(inbox.stdout).toContain('Subject:  Minutes');
    expect(inbox.stdout).toContain('Verdict:  VERIFIED (end-to-end)');
    expect(inbox.stdout).toContain('Identity: employee ID card + PIN');
    expect(inbox.stdout).toContain('card and PIN used for this mail: yes');
    expect(inbox.stdout).toContain(`File:     minutes.txt (text/plain, ${content.length} bytes) ok sha256 ${sha}`);

    const wrongPassword = run('inbox', ['--user', 'bob@org-b.example', '--password', 'nope', '--pin', '2222']);
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/AUTH_FAILED/);

    const json = run('inbox', ['--user', 'bob@org-b.example', '--json'], { SSMAX_PASSWORD: 'bob-pass', SSMAX_PIN: '2222' });
    expect(JSON.parse(json.stdout)[0]).toMatchObject({ from: 'alice@org-a.example', verified: true, identityNotice: { proofing: 'employeeCardPin' } });

    const exited = new Promise<number | null>((r) => up!.once('exit', (c) => r(c)));
    up.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(0);
    expect(upOut).toContain('Stopped.');
    expect(fs.existsSync(statePath)).toBe(false);
    expect(fs.existsSync(storage!)).toBe(false);
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps.split('\n').filter((l) => l.includes(storage!))).toEqual([]);
  });
});

describe('ssmax send --cancel (ssmax-plus hold, issue 15)', () => {
  it('cancels a mail held at the sending org (its 60 s hold named in the MSA reply) and says not-found for an unknown Message-ID', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-cli-plus-'));
    const state = path.join(dir, 'world.json');
    let out = '';
    const plus = spawn(process.execPath, ['--input-type=module', '-e', ENTRY, 'up', '--profile', 'ssmax-plus', '--state', state], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    plus.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    plus.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const end = Date.now() + 90_000;
      while (!out.includes('Ready.') && plus.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('Ready.');
      const sent = run(
        'send',
        ['--from', 'alice@org-a.example', '--to', 'bob@org-b.example', '--subject', 'Wrong', '--body', 'not for bob', '--no-wait', '--json', '--state', state],
        {
          SSMAX_PIN: '1111',
        },
      );
      expect(sent.code).toBe(0);
      const { messageId, response } = JSON.parse(sent.stdout) as { messageId: string; response: string };
      expect(response).toMatch(/held 60 s, cancel by Message-ID/);
      const cancel = run('send', ['--from', 'alice@org-a.example', '--cancel', messageId, '--state', state]);
      expect([cancel.code, cancel.stdout]).toEqual([0, `Cancelled ${messageId}: it will not be sent.\n`]);
      const unknown = run('send', ['--from', 'alice@org-a.example', '--cancel', '<nothing@org-a.example>', '--state', state]);
      expect(unknown.code).toBe(1);
      expect(unknown.stdout).toMatch(/^Not found/);
      // Cancelled once, it stays cancelled (the MTA-out will never take it).
      expect(run('send', ['--from', 'alice@org-a.example', '--cancel', messageId, '--state', state]).code).toBe(0);
    } finally {
      const exited = new Promise<void>((r) => plus.once('exit', () => r()));
      if (plus.exitCode === null) plus.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (plus.exitCode === null) plus.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
