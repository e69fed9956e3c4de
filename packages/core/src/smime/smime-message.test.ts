import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import {
  buildMimeEntity,
  buildMultipartSigned,
  buildPkcs7Mime,
  canonicalizeMimeEntity,
  collectAttachments,
  detectCmsInput,
  findTextBody,
  getHeader,
  parseMimeEntity,
  parseSmime,
  splitMultipart,
  DEFAULT_MIME_LIMITS,
} from './index.js';

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const str = (u: Uint8Array): string => Buffer.from(u).toString('latin1');
const FAKE_SIG = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]);

function expectCode(fn: () => unknown, code: string, msg?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(SsmaxError.is(e)).toBe(true);
    expect((e as SsmaxError).code).toBe(code);
    if (msg) expect((e as SsmaxError).message).toMatch(msg);
    return;
  }
  throw new Error(`expected SsmaxError ${code}`);
}

describe('splitMultipart', () => {
  const limits = DEFAULT_MIME_LIMITS;
  it('keeps the CRLF before a delimiter out of the part when the part ends in CRLF itself', () => {
    const body = enc('preamble\r\n--b\r\nA\r\n\r\n--b\r\nB\r\n--b--\r\nepilogue');
    const s = splitMultipart(body, 'b', 'test', limits, { used: 0 });
    expect(s.parts.map(str)).toEqual(['A\r\n', 'B']);
    expect(str(s.preamble)).toBe('preamble');
    expect(str(s.epilogue)).toBe('epilogue');
  });

  it('accepts transport padding after a delimiter and ignores lines that only start with the boundary', () => {
    const body = enc('--b \t\r\nx\r\n--bogus\r\ny\r\n--b--  \r\n');
    const s = splitMultipart(body, 'b', 'test', limits, { used: 0 });
    expect(s.parts.map(str)).toEqual(['x\r\n--bogus\r\ny']);
  });

  it('ignores a boundary string in the middle of a line', () => {
    const s = splitMultipart(enc('--b\r\nsee --b here\r\n--b--'), 'b', 'test', limits, { used: 0 });
    expect(s.parts.map(str)).toEqual(['see --b here']);
  });

  it('throws MALFORMED_MIME when the close delimiter is missing', () => {
    expectCode(() => splitMultipart(enc('--b\r\nx\r\n--b\r\ny'), 'b', 'test', limits, { used: 0 }), 'MALFORMED_MIME', /closing/);
  });

  it('throws LIMIT_EXCEEDED when there are more parts than allowed', () => {
    const body = enc(`${'--b\r\nx\r\n'.repeat(5)}--b--`);
    expectCode(() => splitMultipart(body, 'b', 'test', { ...limits, maxParts: 4 }, { used: 0 }), 'LIMIT_EXCEEDED');
    expect(splitMultipart(body, 'b', 'test', { ...limits, maxParts: 5 }, { used: 0 }).parts).toHaveLength(5);
  });

  it('throws MALFORMED_MIME for a boundary longer than 70 characters', () => {
    expectCode(() => splitMultipart(enc('x'), 'a'.repeat(71), 'test', limits, { used: 0 }), 'MALFORMED_MIME', /70/);
  });
});

describe('buildMultipartSigned', () => {
  const inner = buildMimeEntity({
    text: 'Hello,\nthe report is attached.\n',
    attachments: [{ filename: 'report.pdf', contentType: 'application/pdf', content: new Uint8Array([1, 2, 3, 0, 255]) }],
  });

  it('round-trips the exact signed bytes, the signature and the outer headers when parsed', () => {
    const mail = buildMultipartSigned(inner, FAKE_SIG, {
      headers: {
        from: 'alice@a.example',
        to: ['bob@b.example', 'carol@b.example'],
        subject: 'Grüße',
        date: new Date(Date.UTC(2025, 0, 2, 3, 4, 5)),
        messageId: 'm1@a.example',
      },
    });
    const p = parseSmime(mail);
    expect(p.kind).toBe('multipart-signed');
    if (p.kind !== 'multipart-signed') return;
    expect(Buffer.from(p.signedEntity).equals(Buffer.from(inner))).toBe(true);
    expect(p.signature).toEqual(FAKE_SIG);
    expect(p.micalg).toBe('sha-256');
    expect(getHeader(p.headers, 'to')).toBe('bob@b.example, carol@b.example');
    expect(getHeader(p.headers, 'Message-ID')).toBe('<m1@a.example>');
    expect(getHeader(p.headers, 'Date')).toBe('Thu, 2 Jan 2025 03:04:05 +0000');
    expect(getHeader(p.headers, 'Subject')).toMatch(/^=\?UTF-8\?B\?/);
  });

  it('yields the same signed bytes when the mail is converted to LF line endings in transit', () => {
    const mail = buildMultipartSigned(inner, FAKE_SIG);
    const lf = enc(str(mail).replace(/\r\n/g, '\n'));
    const p = parseSmime(lf);
    expect(p.kind === 'multipart-signed' && Buffer.from(p.signedEntity).equals(Buffer.from(inner))).toBe(true);
  });

  it('throws USAGE when the entity to sign is not canonical CRLF', () => {
    expectCode(() => buildMultipartSigned(enc('Content-Type: text/plain\n\nx'), FAKE_SIG), 'USAGE', /canonicalise/);
  });

  it('throws USAGE when a header value would inject a line', () => {
    expectCode(() => buildMultipartSigned(inner, FAKE_SIG, { headers: { subject: 'x\r\nBcc: eve@evil.example' } }), 'USAGE');
  });
});

describe('parseSmime', () => {
  it('reads application/pkcs7-mime with each smime-type we build', () => {
    for (const t of ['signed-data', 'enveloped-data', 'authEnveloped-data'] as const) {
      const p = parseSmime(buildPkcs7Mime(FAKE_SIG, t, { headers: { subject: 's' } }));
      expect(p).toMatchObject({ kind: 'pkcs7-mime', smimeType: t, der: FAKE_SIG });
    }
  });

  it('returns plain for a mail without S/MIME', () => {
    const p = parseSmime(enc('From: a@b\r\nSubject: hi\r\n\r\nbody'));
    expect(p.kind).toBe('plain');
  });

  it('throws MALFORMED_MIME when multipart/signed has three parts', () => {
    const m = 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\r\n\r\n--b\r\nx\r\n--b\r\ny\r\n--b\r\nz\r\n--b--\r\n';
    expectCode(() => parseSmime(enc(m)), 'MALFORMED_MIME', /exactly two/);
  });

  it('throws MALFORMED_MIME when the signature part has another media type', () => {
    const m =
      'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\r\n\r\n--b\r\nx\r\n--b\r\nContent-Type: text/plain\r\n\r\nMAMCAQE=\r\n--b--\r\n';
    expectCode(() => parseSmime(enc(m)), 'MALFORMED_MIME', /second part/);
  });

  it('throws MALFORMED_MIME for two Content-Type fields (ambiguous to different parsers)', () => {
    expectCode(() => parseSmime(enc('Content-Type: text/plain\r\nContent-Type: application/pkcs7-mime\r\n\r\nx')), 'MALFORMED_MIME', /2 Content-Type/);
  });

  it('throws MALFORMED_MIME for a header line without a colon', () => {
    expectCode(() => parseSmime(enc('this is not a header\r\n\r\nx')), 'MALFORMED_MIME', /not a "Name: value"/);
  });

  it('throws MALFORMED_MIME for a base64 signature with characters outside the alphabet', () => {
    const m = 'Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMAMC*QE=\r\n';
    expectCode(() => parseSmime(enc(m)), 'MALFORMED_MIME', /base64/);
  });

  it('extracts the signed part of the RFC 4134 §4.8 example byte-exactly', async () => {
    const { readFileSync } = await import('node:fs');
    const raw = readFileSync(new URL('../../test-vectors/rfc4134/4.8.eml', import.meta.url));
    const p = parseSmime(raw);
    expect(p.kind).toBe('multipart-signed');
    if (p.kind !== 'multipart-signed') return;
    // RFC 4134 §4.8: the first part has no header fields, only the blank line and the sample content.
    expect(str(p.signedEntity)).toBe('\r\nThis is some sample content.');
    expect(p.micalg).toBe('sha1');
    expect(p.signature[0]).toBe(0x30);
  });
});

describe('parseMimeEntity', () => {
  it('round-trips text and attachments with non-ASCII filenames', () => {
    const files = [
      { filename: 'a.txt', contentType: 'text/plain', content: enc('line1\nline2') },
      { filename: 'Übersicht 2025.xlsx', content: new Uint8Array(300).map((_, i) => i % 256) },
    ];
    const e = buildMimeEntity({ text: 'Bonjour à tous', attachments: files });
    const tree = parseMimeEntity(e);
    expect(tree.contentType.mediaType).toBe('multipart/mixed');
    expect(findTextBody(tree)).toBe('Bonjour à tous');
    expect(collectAttachments(tree)).toEqual([
      { filename: 'a.txt', contentType: 'text/plain', content: files[0]?.content },
      { filename: 'Übersicht 2025.xlsx', contentType: 'application/octet-stream', content: files[1]?.content },
    ]);
  });

  it('chooses 7bit for plain ASCII text and base64 for text with trailing spaces', () => {
    expect(str(buildMimeEntity({ text: 'hi' }))).toContain('Content-Transfer-Encoding: 7bit');
    expect(str(buildMimeEntity({ text: 'hi  \nthere' }))).toContain('Content-Transfer-Encoding: base64');
    expect(findTextBody(parseMimeEntity(buildMimeEntity({ text: 'hi  \nthere' })))).toBe('hi  \r\nthere');
  });

  it('decodes quoted-printable and RFC 2231 continued filenames', () => {
    const m = [
      'Content-Type: multipart/mixed; boundary="x"',
      '',
      '--x',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'caf=C3=A9 soft=',
      'break',
      '--x',
      'Content-Disposition: attachment; filename*0*=UTF-8\'\'%C3%A9t; filename*1="e.txt"',
      '',
      'data',
      '--x--',
    ].join('\n');
    const t = parseMimeEntity(enc(m));
    expect(findTextBody(t)).toBe('café softbreak');
    expect(collectAttachments(t).map((a) => a.filename)).toEqual(['éte.txt']);
  });

  it('throws LIMIT_EXCEEDED when multiparts nest deeper than the limit', () => {
    let m = '\r\nleaf';
    for (let i = 0; i < 25; i++) m = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${m}\r\n--b${i}--\r\n`;
    expectCode(() => parseMimeEntity(enc(m)), 'LIMIT_EXCEEDED', /deeper than 20/);
    expect(() => parseMimeEntity(enc(m), { ...DEFAULT_MIME_LIMITS, maxDepth: 30 })).not.toThrow();
  });

  it('throws LIMIT_EXCEEDED for input above maxBytes', () => {
    expectCode(() => parseMimeEntity(new Uint8Array(101), { ...DEFAULT_MIME_LIMITS, maxBytes: 100 }), 'LIMIT_EXCEEDED');
  });
});

describe('canonicalizeMimeEntity', () => {
  it('turns bare LF and bare CR into CRLF and leaves CRLF alone', () => {
    expect(str(canonicalizeMimeEntity(enc('a\nb\r\nc\rd')))).toBe('a\r\nb\r\nc\r\nd');
  });
});

describe('detectCmsInput', () => {
  const der = new Uint8Array([0x30, 0x03, 0x06, 0x01, 0x00]);
  it('recognises DER, PEM (PKCS7 and CMS labels) and S/MIME', () => {
    expect(detectCmsInput(der)).toEqual({ format: 'der', der });
    for (const label of ['PKCS7', 'CMS']) {
      const pem = enc(`-----BEGIN ${label}-----\nMAMGAQA=\n-----END ${label}-----\n`);
      expect(detectCmsInput(pem)).toEqual({ format: 'pem', der });
    }
    const mime = detectCmsInput(buildPkcs7Mime(der, 'enveloped-data'));
    expect(mime.format).toBe('smime');
    expect(mime.der).toEqual(der);
    const signed = detectCmsInput(buildMultipartSigned(enc('x'), der));
    expect(signed.der).toEqual(der);
    expect(signed.detachedContent).toEqual(enc('x'));
  });

  it('throws typed errors for a certificate PEM, truncated DER and random text', () => {
    expectCode(() => detectCmsInput(enc('-----BEGIN CERTIFICATE-----\nMAMGAQA=\n-----END CERTIFICATE-----\n')), 'MALFORMED_PEM', /PKCS7 or CMS/);
    expectCode(() => detectCmsInput(der.subarray(0, 4)), 'MALFORMED_CMS', /length/);
    expectCode(() => detectCmsInput(enc('hello world')), 'MALFORMED_CMS');
  });
});
