import { describe, expect, it } from 'vitest';
import { dmarcPassed, readMail } from './conventional.js';

/** A mail as the best-practice MX stores it: its own Authentication-Results (mailauth writes the A-label) above the sender's header. */
function stored(from: string, headerFrom: string, result = 'pass'): Uint8Array {
  const raw = [
    `Authentication-Results: mx.org-b.example; spf=pass smtp.mailfrom=${headerFrom}; dmarc=${result} (p=REJECT) header.from=${headerFrom}`,
    `From: <${from}>`,
    'To: <bob@org-b.example>',
    'Subject: invoice',
    'Message-ID: <idn-1@example>',
    '',
    'Pay today.',
    '',
  ].join('\r\n');
  return new Uint8Array(Buffer.from(raw));
}

describe('dmarcPassed with an IDN From domain (issue 16)', () => {
  it('sees the pass mailauth recorded for the A-label of the U-label mailparser shows', async () => {
    const m = await readMail(stored('alice@xn--r--6eb673asa.example', 'xn--r--6eb673asa.example'));
    expect(m!.from).toBe('alice@\u0585r\u0581-\u0251.example'); // mailparser decodes the A-label
    expect(dmarcPassed(m!, 'org-b.example')).toBe(true);
  });

  it('still refuses a pass recorded for another domain, and a fail for this one', async () => {
    expect(dmarcPassed((await readMail(stored('alice@xn--r--6eb673asa.example', 'org-a.example')))!, 'org-b.example')).toBe(false);
    expect(dmarcPassed((await readMail(stored('alice@xn--r--6eb673asa.example', 'xn--r--6eb673asa.example', 'fail')))!, 'org-b.example')).toBe(false);
  });
});
