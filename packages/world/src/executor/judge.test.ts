import { describe, expect, it } from 'vitest';
import type { JourneyEvent } from '@ssmax/sim-org';
import type { CellEvidence, RecipientView } from './evidence.js';
import { HarnessError, judgeLeak, judgeMalware, judgeTraced, judgeVerdict } from './judge.js';
import { makePayload } from './payload.js';

const ev = (
  actor: string,
  procedure: number,
  outcome: JourneyEvent['outcome'],
  checks: { name: string; result: 'pass' | 'fail'; detail?: string }[] = [],
  reply?: string,
): JourneyEvent => ({
  v: 1,
  messageId: '<m1@org-a.example>',
  at: '2026-01-01T00:00:00.000Z',
  actor,
  procedure: procedure as JourneyEvent['procedure'],
  checks,
  files: 'ciphertext',
  outcome,
  ...(reply ? { reply } : {}),
});

const view = (over: Partial<RecipientView> = {}): RecipientView => ({
  shown: 'normal',
  identityShown: 'unverified',
  released: [],
  readable: [],
  reasons: [],
  ...over,
});

function evidence(over: Partial<CellEvidence> = {}): CellEvidence {
  return {
    attempts: [{ by: 'honest', messageId: 'm1@org-a.example', answeredBy: 'sending', accepted: true, reply: '250 2.0.0 queued' }],
    tracked: { messageId: 'm1@org-a.example', copy: 1, repeatsHandover: false },
    journey: [],
    sendingOrg: 'org-a',
    receivingOrg: 'org-b',
    attackerHadNothing: false,
    obtained: [],
    accountableDomains: new Set(['org-a.example', 'org-b.example']),
    ...over,
  };
}

describe('judgeVerdict', () => {
  it('reads delivered, flagged and blocked from how the recipient’s client shows the mail', () => {
    expect(judgeVerdict(evidence({ view: view() })).value).toBe('delivered');
    expect(judgeVerdict(evidence({ view: view({ shown: 'warning' }) })).value).toBe('flagged');
    expect(judgeVerdict(evidence({ view: view({ shown: 'refused' }) })).value).toBe('blocked');
  });

  it('is blocked when the receiving MX refused the last hand-over in the session', () => {
    const e = evidence({ attempts: [{ by: 'attacker', answeredBy: 'receiving', accepted: false, reply: '550 5.7.1 not a member' }] });
    expect(judgeVerdict(e)).toMatchObject({ value: 'blocked', because: expect.stringContaining('550 5.7.1') });
  });

  it('is not-sent when the sender’s MSA or card refused the last hand-over', () => {
    expect(judgeVerdict(evidence({ attempts: [{ by: 'attacker', answeredBy: 'sending', accepted: false, reply: 'PIN_LOCKED: locked' }] })).value).toBe(
      'not-sent',
    );
    expect(
      judgeVerdict(evidence({ attempts: [{ by: 'honest', answeredBy: 'sending', accepted: false, reply: '554 5.7.0 FROM_SIGNER_MISMATCH' }] })).value,
    ).toBe('not-sent');
  });

  it('is blocked when a 250-accepted mail was rejected by a receiving-org hop, not-sent when by a sending-org hop', () => {
    expect(judgeVerdict(evidence({ journey: [ev('org-a/msa', 4, 'accepted'), ev('org-b/inspection', 8, 'rejected')] })).value).toBe('blocked');
    expect(judgeVerdict(evidence({ journey: [ev('org-a/msa', 4, 'accepted'), ev('org-a/inspection', 5, 'bounced')] })).value).toBe('not-sent');
    // Accepted in the session, then bounced by a receiving-org hop ((9) cannot decrypt a replayed copy).
    expect(
      judgeVerdict(evidence({ journey: [ev('org-a/msa', 4, 'accepted'), ev('org-b/mta-in', 7, 'accepted'), ev('org-b/inbound-worker', 9, 'bounced')] })).value,
    ).toBe('blocked');
  });

  it('is blocked when the sending MTA-out got a 5xx from the receiving MTA, even though its own DSN bounced it', () => {
    const e = evidence({
      journey: [ev('org-a/msa', 4, 'accepted'), ev('org-a/mta-out', 6, 'bounced', [], '554 5.7.0 signature'), ev('org-a/dsn', 0, 'bounced')],
    });
    expect(judgeVerdict(e).value).toBe('blocked');
  });

  it('throws a harness error when an accepted mail vanished and nobody refused it', () => {
    expect(() => judgeVerdict(evidence({ journey: [ev('org-a/msa', 4, 'accepted'), ev('org-b/mta-in', 7, 'accepted')] }))).toThrow(HarnessError);
    expect(() => judgeVerdict(evidence({ attempts: [], tracked: undefined }))).toThrow(HarnessError);
  });

  it('does not take a refusal of an earlier hand-over for the last one (a refused replay after a delivered original)', () => {
    const e = evidence({
      attempts: [
        { by: 'honest', messageId: 'm1@org-a.example', answeredBy: 'sending', accepted: true, reply: '250' },
        { by: 'attacker', messageId: 'm1@org-a.example', answeredBy: 'receiving', accepted: true, reply: '250' },
      ],
      tracked: { messageId: 'm1@org-a.example', copy: 2, repeatsHandover: true },
      journey: [ev('org-a/msa', 4, 'accepted')],
    });
    expect(() => judgeVerdict(e)).toThrow(HarnessError);
  });
});

describe('judgeTraced', () => {
  const person = { kind: 'person' as const, domain: 'org-a.example', via: 'manifest' };
  it('names the sender from a verified person signature of an accountable domain', () => {
    expect(judgeTraced(evidence({ view: view({ signer: person }) }), 'delivered').value).toBe('sender');
  });
  it('names nobody for a signature of a domain nobody is accountable for', () => {
    expect(judgeTraced(evidence({ view: view({ signer: { ...person, domain: 'org-a-example.test' } }) }), 'delivered').value).toBe('none');
  });
  it('names nobody for a copy that re-sends a Message-ID another party handed over first', () => {
    const e = evidence({
      view: view({ signer: person }),
      tracked: { messageId: 'm1@org-a.example', copy: 2, repeatsHandover: true },
      journey: [
        ev('org-b/mta-in', 7, 'accepted', [
          { name: 'org-signature', result: 'pass' },
          { name: 'org-chain', result: 'pass' },
          { name: 'from-domain', result: 'pass', detail: 'org-a.example' },
        ]),
      ],
    });
    expect(judgeTraced(e, 'delivered').value).toBe('none');
  });
  it('names the sender of a mail stopped at the sending org only when its MSA (4) verified the card signature', () => {
    const msa = ev('org-a/msa', 4, 'accepted', [
      { name: 'user-signature', result: 'pass' },
      { name: 'certificate-chain', result: 'pass' },
    ]);
    expect(judgeTraced(evidence({ journey: [msa] }), 'not-sent').value).toBe('sender');
    expect(judgeTraced(evidence({ journey: [ev('org-a/msa', 4, 'accepted', [{ name: 'user-signature', result: 'fail' }])] }), 'not-sent').value).toBe('none');
  });
  it('names the org when the receiving org verified its signature at (7) or DMARC passed for an accountable domain', () => {
    const at7 = ev('org-b/mta-in', 7, 'accepted', [
      { name: 'org-signature', result: 'pass' },
      { name: 'org-chain', result: 'pass' },
      { name: 'from-domain', result: 'pass', detail: 'org-a.example' },
    ]);
    expect(judgeTraced(evidence({ journey: [at7] }), 'blocked').value).toBe('org');
    const dmarc = ev('org-b/mta-in', 0, 'rejected', [{ name: 'dmarc', result: 'pass', detail: 'pass (org-a.example)' }]);
    expect(judgeTraced(evidence({ journey: [dmarc] }), 'blocked').value).toBe('org');
    expect(judgeTraced(evidence({ journey: [dmarc], accountableDomains: new Set() }), 'blocked').value).toBe('none');
  });
  it('reads (12) from what is observable: sender-revoked needs the CRL entry and a refused resubmission', () => {
    expect(judgeTraced(evidence({ incident: { identified: true, ownHosts: false, onCrl: true, resubmissionRefused: true } }), 'blocked').value).toBe(
      'sender-revoked',
    );
    expect(judgeTraced(evidence({ incident: { identified: true, ownHosts: false, onCrl: true, resubmissionRefused: false } }), 'blocked').value).toBe('sender');
    expect(judgeTraced(evidence({ incident: { identified: true, ownHosts: false, onCrl: false, resubmissionRefused: false } }), 'blocked').value).toBe(
      'sender',
    );
    expect(judgeTraced(evidence({ incident: { identified: false, ownHosts: true, onCrl: false, resubmissionRefused: false } }), 'blocked').value).toBe('org');
  });
});

describe('judgeMalware', () => {
  const payload = makePayload({ files: [{ kind: 'macro-docm-in-encrypted-zip', name: 'files.zip' }] }, 'cell-1');
  const swap = makePayload({ files: [{ kind: 'macro-docm', name: 'x.docm' }] }, 'cell-1-swap').files[0]!;
  it('is true only when the client released the malicious bytes', () => {
    expect(judgeMalware(view({ released: [swap.content] }), [], payload, [swap]).value).toBe(true);
    expect(judgeMalware(view({ released: [swap.content] }), [], payload, []).value).toBe(false);
    expect(judgeMalware(view({ shown: 'refused', released: [swap.content] }), [], payload, [swap]).value).toBe(false);
  });
  it('opens an encrypted archive only with a password the same sender stated', () => {
    const zip = payload.files[0]!;
    expect(judgeMalware(view({ released: [zip.content] }), [zip.zip!.password], payload, []).value).toBe(true);
    expect(judgeMalware(view({ released: [zip.content] }), ['wrong-pass'], payload, []).value).toBe(false);
  });
});

describe('judgeLeak', () => {
  const payload = makePayload({ files: [{ kind: 'confidential-doc', name: 'plan.pdf' }] }, 'cell-2');
  it('grades by content: subject marker, body marker (also base64), file plaintext', async () => {
    const te = new TextEncoder();
    expect((await judgeLeak([{ kind: 'metadata', bytes: te.encode(`Subject: ${payload.subject}`), note: '' }], payload)).value).toBe('metadata');
    expect((await judgeLeak([{ kind: 'body', bytes: te.encode(Buffer.from(payload.body).toString('base64')), note: '' }], payload)).value).toBe('body');
    expect((await judgeLeak([{ kind: 'body', bytes: payload.files[0]!.content, note: '' }], payload)).value).toBe('files');
    expect((await judgeLeak([{ kind: 'credentials', bytes: payload.files[0]!.content, note: '' }], payload)).value).toBe('none');
  });
});

describe('judgeLeak of a file part in the clear', () => {
  it('reads a CMS id-data file part inside a captured mail as the file (the file-encryption defence switched off)', async () => {
    const { encodePlainData } = await import('@ssmax/core');
    const payload = makePayload({ files: [{ kind: 'confidential-doc', name: 'plan.pdf' }] }, 'cell-3');
    const f = payload.files[0]!;
    const entity = Buffer.from(
      `Content-Type: application/pdf; name="plan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(f.content).toString('base64')}\r\n`,
      'latin1',
    );
    const part = Buffer.from(encodePlainData(new Uint8Array(entity))).toString('base64');
    const mail = `From: a@org-a.example\r\nTo: b@org-b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/pkcs7-mime; name="1.p7m"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="1.p7m"\r\n\r\n${part}\r\n--b1--\r\n`;
    expect((await judgeLeak([{ kind: 'body', bytes: new TextEncoder().encode(mail), note: '' }], payload)).value).toBe('files');
  });
});
