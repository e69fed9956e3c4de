import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { receivedIdOf } from './delivery.js';
import { Mailbox, dovecotHolds } from './mailbox.js';
import { totp, base32Decode, base32Encode } from './totp.js';

const root = mkdtempSync(join(tmpdir(), 'ssmax-mbx-'));
// Dovecot's mail processes run as an unprivileged uid and must traverse to each org's mail dir.
chmodSync(root, 0o711);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function mail(n: number): Uint8Array {
  return new TextEncoder().encode(
    `From: a@org-a.example\r\nTo: b@org-b.example\r\nSubject: test ${n}\r\nMessage-ID: <m${n}@org-a.example>\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n` +
      `本文 ${n}\r\n.leading dot\r\n${'x'.repeat(n * 100)}\r\n`,
  );
}

async function login(mb: Mailbox, user: string, pass: string): Promise<ImapFlow> {
  const c = new ImapFlow({ host: mb.host, port: mb.imapPort, secure: false, auth: { user, pass }, logger: false });
  try {
    await c.connect();
  } catch (err) {
    c.close();
    throw err;
  }
  return c;
}

async function fetchAll(mb: Mailbox, user: string, pass: string): Promise<Buffer[]> {
  const c = await login(mb, user, pass);
  try {
    const lock = await c.getMailboxLock('INBOX');
    try {
      const out: Buffer[] = [];
      for await (const m of c.fetch('1:*', { source: true })) out.push(m.source!);
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
}

const canConnectUnix = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

const running = (pattern: string) => {
  try {
    return execFileSync('pgrep', ['-f', pattern]).toString().trim();
  } catch {
    return '';
  }
};

describe('Mailbox', () => {
  it('stores LMTP deliveries that IMAP returns byte-exact, refuses a wrong password, and leaves no process behind', async () => {
    const dir = mkdtempSync(join(root, 'org-b-'));
    let conf = '';
    let instance = '';
    {
      await using mb = await Mailbox.start({ dir, host: '127.0.0.22', users: [{ address: 'b@org-b.example', password: 'correct horse' }] });
      conf = mb.configPath;
      instance = mb.instanceName;
      expect(running(conf)).not.toBe('');
      const users = statSync(join(dir, 'dovecot', 'users'));
      expect(users.mode & 0o777).toBe(0o640);
      for (const n of [1, 2, 3]) {
        const r = await mb.deliver('b@org-b.example', mail(n), { mailFrom: 'a@org-a.example' });
        expect(r.response).toMatch(/^250 /);
      }
      const got = await fetchAll(mb, 'b@org-b.example', 'correct horse');
      expect(got).toHaveLength(3);
      got.forEach((m, i) => {
        // RFC 5321 §4.4: the final delivery adds Return-Path from the envelope and its own Received (one
        // field, folded); everything after them is our bytes.
        const trace =
          /^Return-Path: <a@org-a\.example>\r\nReceived: from \[127\.0\.0\.22\]\r\n\tby mailbox\.org-b\.example with LMTP\r\n\tid \S+\r\n\t\(envelope-from <a@org-a\.example>\); [^\r\n]+\r\n/.exec(
            m.toString('latin1'),
          );
        expect(trace, m.subarray(0, 300).toString('latin1')).not.toBeNull();
        expect(m.subarray(trace![0].length).equals(Buffer.from(mail(i + 1)))).toBe(true);
      });
      await expect(login(mb, 'b@org-b.example', 'wrong')).rejects.toMatchObject({ authenticationFailed: true });
      await expect(mb.deliver('nobody@org-b.example', mail(1))).rejects.toMatchObject({ code: 'UNKNOWN_RECIPIENT' });
      await mb.addUser('c@org-b.example', 'pw-c');
      await mb.deliver('c@org-b.example', mail(4));
      expect(await fetchAll(mb, 'c@org-b.example', 'pw-c')).toHaveLength(1);
    }
    expect(running(conf)).toBe('');
    expect(running(instance)).toBe('');
  }, 30_000);

  it('finds a delivered copy by the exact id clause of a Received field, and cannot answer (typed error, so the caller retries) while the mailbox is down', async () => {
    const dir = mkdtempSync(join(root, 'org-h-'));
    const mb = await Mailbox.start({ dir, host: '127.0.0.23', users: [{ address: 'h@org-h.example', password: 'pw' }] });
    const traced = (id: string, n: number) =>
      Buffer.concat([
        Buffer.from(
          `Received: from mx.org-a.example ([127.0.0.9])\r\n\tby mx.org-h.example with ESMTPS\r\n\tid ${id};\r\n\tMon, 7 Dec 2026 02:00:00 +0000\r\n`,
        ),
        mail(n),
      ]);
    try {
      // No mail yet: no INBOX, and nothing held.
      expect(await mb.holds('h@org-h.example', '0abc')).toBe(false);
      await mb.deliver('h@org-h.example', traced('0abc-2', 5));
      expect(receivedIdOf(traced('0abc-2', 5))).toBe('0abc-2');
      expect(await mb.holds('h@org-h.example', '0abc-2')).toBe(true);
      // Dovecot's header search matches substrings; the answer must not.
      expect(await mb.holds('h@org-h.example', '0abc')).toBe(false);
      expect(await mb.holds('h@org-h.example', 'abc-2')).toBe(false);
      // The id of a field other than Received does not count.
      await mb.deliver('h@org-h.example', Buffer.concat([Buffer.from('X-Other: id 7zz;\r\n'), mail(6)]));
      expect(await mb.holds('h@org-h.example', '7zz')).toBe(false);
      await expect(mb.holds('h@org-h.example', 'a b')).rejects.toMatchObject({ code: 'USAGE' });
      await mb.stop();
      // A stopped mailbox cannot look its user up: no answer rather than a wrong "not held".
      await expect(dovecotHolds(mb.configPath, 'h@org-h.example', '0abc-2')).rejects.toMatchObject({ code: 'MAILBOX_DELIVERY_FAILED' });
    } finally {
      await mb.stop();
    }
  }, 30_000);

  it('starts again over what a SIGKILLed master left behind: a child of the old instance still holding the LMTP socket', async () => {
    const dir = mkdtempSync(join(root, 'org-o-'));
    const first = await Mailbox.start({ dir, host: '127.0.0.24', users: [{ address: 'o@org-o.example', password: 'pw' }] });
    const { instanceName, lmtpSocket } = first;
    if (first.pid !== undefined) process.kill(first.pid, 'SIGKILL');
    await first.stop();
    // What a busy lmtp child looks like once its master is gone: titled as the instance's, listening on its socket.
    const orphan = spawn(
      'bash',
      [
        '-c',
        `exec -a dovecot-${instanceName}/lmtp ${process.execPath} -e "require('fs').rmSync(process.argv[1], { force: true }); require('net').createServer().listen(process.argv[1])" ${lmtpSocket}`,
      ],
      {
        stdio: 'ignore',
      },
    );
    const orphanExit = new Promise((r) => orphan.once('exit', r));
    for (let i = 0; i < 100 && !(await canConnectUnix(lmtpSocket)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await canConnectUnix(lmtpSocket)).toBe(true);
    const again = await Mailbox.start({ dir, host: '127.0.0.24', users: [{ address: 'o@org-o.example', password: 'pw' }] });
    try {
      await orphanExit;
      expect(orphan.signalCode).toBe('SIGKILL');
      expect((await again.deliver('o@org-o.example', mail(7))).response).toMatch(/^250 /);
    } finally {
      await again.stop();
    }
  }, 30_000);

  it('demands password:TOTP when the second factor is on and rejects the password alone or a stale code', async () => {
    const dir = mkdtempSync(join(root, 'org-2fa-'));
    const secret = base32Encode(new Uint8Array(20).map((_, i) => i * 13 + 1));
    await using mb = await Mailbox.start({
      dir,
      host: '127.0.0.23',
      secondFactor: true,
      users: [{ address: 'b@org-b.example', password: 'pw', totpSecret: secret }],
    });
    await mb.deliver('b@org-b.example', mail(1));
    const now = Math.floor(Date.now() / 1000);
    const key = base32Decode(secret);
    await expect(login(mb, 'b@org-b.example', 'pw')).rejects.toMatchObject({ authenticationFailed: true });
    await expect(login(mb, 'b@org-b.example', `pw:${totp(key, now - 300)}`)).rejects.toMatchObject({ authenticationFailed: true });
    await expect(login(mb, 'b@org-b.example', `wrong:${totp(key, now)}`)).rejects.toMatchObject({ authenticationFailed: true });
    expect(await fetchAll(mb, 'b@org-b.example', `pw:${totp(key, now)}`)).toHaveLength(1);
    // A stolen password alone cannot plant a forwarding rule either (incident 6 → 7).
    await expect(mb.addForwardingRule('b@org-b.example', { password: 'pw' }, 'x@evil.example')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  }, 30_000);

  it('executes a forwarding rule planted with stolen credentials, unless external forwarding is denied', async () => {
    const forwarded: string[][] = [];
    const forward = async (to: string[]) => void forwarded.push(to);
    const user = { address: 'b@org-b.example', password: 'stolen' };
    {
      await using mb = await Mailbox.start({ dir: mkdtempSync(join(root, 'fw-')), host: '127.0.0.24', users: [user], forward });
      await expect(mb.addForwardingRule(user.address, { password: 'guess' }, 'x@evil.example')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      await mb.addForwardingRule(user.address, { password: 'stolen' }, 'x@evil.example');
      const r = await mb.deliver(user.address, mail(1));
      expect(r.forwardedTo).toEqual(['x@evil.example']);
      expect(forwarded).toEqual([['x@evil.example']]);
    }
    await using strict = await Mailbox.start({
      dir: mkdtempSync(join(root, 'fw-deny-')),
      host: '127.0.0.25',
      users: [user],
      forward,
      externalForwarding: 'deny',
    });
    await expect(strict.addForwardingRule(user.address, { password: 'stolen' }, 'x@evil.example')).rejects.toMatchObject({ code: 'FORWARDING_REFUSED' });
    await strict.addForwardingRule(user.address, { password: 'stolen' }, 'colleague@org-b.example');
    expect((await strict.deliver(user.address, mail(2))).forwardedTo).toEqual(['colleague@org-b.example']);
  }, 30_000);
});
