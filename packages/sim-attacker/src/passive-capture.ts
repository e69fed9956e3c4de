import type { TapConnection, WireTap } from '@ssmax/sim-net';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { recordMailContent } from './mailbox-access.js';
import { openCapturedZips } from './ppap.js';

export interface PassiveCaptureOptions {
  /** Only connections to this service (`mx.org-b.example:25`); default every recorded connection. */
  readonly service?: string;
  /** Only connections started at or after this time (a later capture window). */
  readonly since?: Date;
}

/** What one SMTP transcript (client → server bytes) yields to an eavesdropper. */
export interface SmtpTranscriptReading {
  /** Messages sent in clear (DATA content, dot-stuffing removed, RFC 5321 §4.5.2). */
  readonly messages: Uint8Array[];
  /** The client switched to TLS (RFC 3207): everything after is ciphertext. */
  readonly tls: boolean;
  /** Bytes after the switch (ciphertext to the eavesdropper). */
  readonly ciphertextBytes: number;
  /** Envelope commands seen in clear. */
  readonly envelope: string[];
}

/** Reads an SMTP client transcript as an eavesdropper can: commands and DATA up to any STARTTLS. */
export function readSmtpTranscript(clientBytes: Uint8Array): SmtpTranscriptReading {
  const b = Buffer.from(clientBytes);
  const messages: Uint8Array[] = [];
  const envelope: string[] = [];
  let pos = 0;
  while (pos < b.length) {
    const eol = b.indexOf('\r\n', pos);
    if (eol < 0) break;
    const line = b.subarray(pos, eol).toString('latin1');
    pos = eol + 2;
    const verb = line.slice(0, 8).toUpperCase();
    if (verb.startsWith('STARTTLS')) return { messages, tls: true, ciphertextBytes: b.length - pos, envelope };
    if (verb.startsWith('MAIL') || verb.startsWith('RCPT') || verb.startsWith('EHLO') || verb.startsWith('HELO')) envelope.push(line);
    if (verb.startsWith('DATA')) {
      const end = b.indexOf('\r\n.\r\n', pos - 2);
      const stop = end < 0 ? b.length : end + 2;
      const data = b.subarray(pos, stop).toString('latin1').replace(/^\.\./gm, '.');
      messages.push(new Uint8Array(Buffer.from(data, 'latin1')));
      pos = end < 0 ? b.length : end + 5;
    }
  }
  return { messages, tls: false, ciphertextBytes: 0, envelope };
}

/**
 * Incident 5: an eavesdropper on the link between mail servers. It reads the wire tap's recordings and
 * extracts what is readable: envelopes, whole messages, attached files, PPAP password mails (and opens
 * the ZIPs with them); after STARTTLS it sees only ciphertext, which it records as metadata.
 */
export function capturePassively(tap: WireTap, o: PassiveCaptureOptions = {}): AttackOutcome {
  const rec = new OutcomeRecorder('passive-capture');
  const service = o.service?.trim().toLowerCase();
  const conns = tap
    .connections()
    .filter((c: TapConnection) => (service === undefined || c.service === service) && (o.since === undefined || c.startedAt >= o.since));
  rec.act(`listened on ${service ?? 'every link'}: ${conns.length} connection(s)`);
  for (const c of conns) {
    const r = readSmtpTranscript(c.captured('client-to-server'));
    const who = `${c.fromActor ?? c.from.address} → ${c.service}`;
    if (r.envelope.length > 0) {
      rec.obtain({ kind: 'metadata', bytes: new Uint8Array(Buffer.from(r.envelope.join('\r\n'), 'latin1')), note: `SMTP envelope in clear on ${who}` });
    }
    for (const m of r.messages) recordMailContent(rec, m, `captured on ${who}`);
    if (r.tls) {
      rec.obtain({ kind: 'metadata', note: `${r.ciphertextBytes} bytes of TLS ciphertext on ${who} after STARTTLS` });
      rec.act(`connection ${c.id} (${who}) switched to TLS: nothing readable after STARTTLS`);
    }
  }
  openCapturedZips(rec);
  if (!rec.obtained.some((x) => x.kind === 'body' || x.kind === 'files'))
    rec.fail('NOTHING_CAPTURED', 'Cannot read any message on the link. Everything was encrypted or nothing was sent.');
  return rec.done();
}
