import { describe, expect, it } from 'vitest';
import { buildDsn } from '@ssmax/sim-org';
import { readDsn } from './dsn-evidence.js';
import type { CellEvidence } from './evidence.js';
import { HarnessError, judgeVerdict } from './judge.js';

const orgs = [
  { id: 'org-a', domain: 'org-a.example' },
  { id: 'org-b', domain: 'org-b.example' },
];

/** A DSN as an org's bounce writer makes it (sim-org dsn.ts, RFC 3464), for the mail <m1@org-a.example>. */
function dsnFrom(reportingMta: string, messageId = '<m1@org-a.example>'): Uint8Array {
  return buildDsn({
    reportingMta,
    from: `MAILER-DAEMON@${reportingMta}`,
    to: 'alice@org-a.example',
    originalMessageId: messageId,
    recipients: ['bob@org-b.example'],
    rule: 'macro-document',
    text: 'The mail was refused by inbound inspection.',
    clock: () => new Date('2026-12-07T00:00:00Z'),
    originalHeaders: [
      { name: 'From', value: 'alice@org-a.example' },
      { name: 'Message-ID', value: messageId },
    ],
    code: 'MALWARE',
  });
}

/** The evidence of a mail the receiving MX accepted with 250 and that never reached the mailbox, with no journey. */
const accepted: CellEvidence = {
  attempts: [{ by: 'honest', messageId: '<m1@org-a.example>', answeredBy: 'sending', accepted: true, reply: '250 2.0.0 queued' }],
  tracked: { messageId: 'm1@org-a.example', copy: 1, repeatsHandover: false },
  journey: [],
  sendingOrg: 'org-a',
  receivingOrg: 'org-b',
  attackerHadNothing: false,
  obtained: [],
  accountableDomains: new Set(['org-a.example', 'org-b.example']),
};

describe('DSN evidence', () => {
  it('reads who refused the tracked mail after its 250, from the DSN in the sender mailbox', () => {
    const d = readDsn(dsnFrom('mx.org-b.example'), 'm1@org-a.example', orgs);
    expect(d).toMatchObject({ reportingMta: 'mx.org-b.example', reportingOrg: 'org-b' });
    expect(d?.status).toMatch(/^5\./);
    expect(readDsn(dsnFrom('mx.org-b.example'), 'other@org-a.example', orgs)).toBeUndefined();
    expect(readDsn(new TextEncoder().encode('From: a\r\nMessage-ID: <m1@org-a.example>\r\n\r\nhi\r\n'), 'm1@org-a.example', orgs)).toBeUndefined();
  });

  it('judges blocked from a receiving-side DSN when no event says it, not-sent from a sending-side one, and refuses to guess without', () => {
    const fromB = readDsn(dsnFrom('mx.org-b.example'), 'm1@org-a.example', orgs)!;
    const fromA = readDsn(dsnFrom('mta-out.org-a.example'), 'm1@org-a.example', orgs)!;
    expect(judgeVerdict({ ...accepted, dsn: fromB }).value).toBe('blocked');
    expect(judgeVerdict({ ...accepted, dsn: fromA }).value).toBe('not-sent');
    expect(() => judgeVerdict(accepted)).toThrow(HarnessError);
  });
});
