/**
 * Regressions the fuzz run of issue 11 item 4 found in the streaming BER reader (npm run fuzz, cms-enveloped).
 */
import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { MemorySink } from './commit-sink.js';
import { decryptContent, decryptStream } from './decrypt.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));

async function failure(p: Promise<unknown>): Promise<SsmaxError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof SsmaxError)) throw new Error(`expected an SsmaxError, got ${String(e)}`);
  return e;
}

describe('BerStreamReader', () => {
  // ContentInfo { envelopedData, [0] EnvelopedData { version 2, recipientInfos SET {} } } and nothing after it: the empty
  // SET ends the input, and reading its zero content bytes took from an empty queue (TypeError, wrapped as IO_ERROR).
  const emptyRecipientInfosAtEnd = hex('3014 0609 2a864886f70d010703 a007 3005 020102 3100');

  it('refuses an envelope whose input ends with an empty element as MALFORMED_CMS, not an input-stream failure', async () => {
    const e = await failure(decryptContent(emptyRecipientInfosAtEnd, { password: 'x' }));
    expect(e.code).toBe('MALFORMED_CMS');
    expect(e.message).toBe('Cannot parse the CMS message. The input is truncated where EncryptedContentInfo was expected.');
  });

  it('refuses it the same way when the bytes arrive one chunk per byte', async () => {
    const chunks = Array.from(emptyRecipientInfosAtEnd, (b) => Uint8Array.of(b));
    const e = await failure(decryptStream(chunks, new MemorySink(), { password: 'x' }));
    expect(e.code).toBe('MALFORMED_CMS');
  });
});
