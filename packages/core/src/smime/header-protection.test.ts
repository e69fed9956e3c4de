/**
 * Header Protection (RFC 9788): wrapping and unwrapping, the outer header section under hcp_baseline, a
 * forged outer Subject reported as a difference, a message without hp read as before; openssl cms and gpgsm
 * as outside readers of what we build.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpensslPki, type OpensslPki } from '../testing/openssl-pki.js';
import { GpgsmHome, hasStatus } from '../testing/gpgsm-home.js';
import { decryptContent, encryptContent, signSignedData, verifySignedData } from '../cms/index.js';
import {
  OBSCURED_SUBJECT,
  buildMimeEntity,
  buildMultipartSigned,
  buildPkcs7Mime,
  compareOuterHeaders,
  getHeader,
  injectProtectedHeaders,
  openHeaderProtected,
  outerHeadersFor,
  parseSmime,
  readProtectedHeaders,
  wrapHeaderProtected,
  type MimeHeader,
} from './index.js';

let pki: OpensslPki;
let dir: string;
let n = 0;

beforeAll(() => {
  pki = createOpensslPki();
  dir = mkdtempSync(join(tmpdir(), 'ssmax-hp-'));
});
afterAll(() => {
  pki?.[Symbol.dispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const file = (data: Uint8Array | string): string => {
  const p = join(dir, `f${++n}`);
  writeFileSync(p, data);
  return p;
};
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

const SUBJECT = 'Contract ref-7f3a for Q3';
const BODY = 'The figures are attached. body-7f3a';
const protectedFields: MimeHeader[] = [
  { name: 'From', value: 'alice@a.example' },
  { name: 'To', value: 'bob@b.example' },
  { name: 'Subject', value: SUBJECT },
  { name: 'Date', value: 'Mon, 07 Dec 2026 05:00:00 +0000' },
  { name: 'Message-ID', value: '<m1@a.example>' },
];

/** Sender side: payload with injected headers, signed (multipart/signed), encrypted to `recipient`. */
async function protectedMail(recipient: Uint8Array, outer: MimeHeader[] = outerHeadersFor(protectedFields)): Promise<{ raw: Uint8Array; inner: Uint8Array }> {
  const payload = injectProtectedHeaders(buildMimeEntity({ text: BODY }), protectedFields, { hp: 'cipher', outer: outerHeadersFor(protectedFields) });
  const sig = await signSignedData(payload, { key: pki.rsa.key, certificate: pki.rsa.certDer, detached: true });
  const inner = buildMultipartSigned(payload, sig);
  return { raw: await wrapHeaderProtected(inner, { recipients: [recipient], outer }), inner };
}

const decryptWith = (id: OpensslPki['rsa']) => async (der: Uint8Array) => (await decryptContent(der, { key: id.key, certificate: id.certDer })).content;

describe('Header Protection (RFC 9788)', () => {
  it('puts the protected fields, HP-Outer and hp="cipher" on the payload and leaves only hcp_baseline values outside', async () => {
    const { raw } = await protectedMail(pki.ec.certDer);
    const outer = parseSmime(raw);
    expect(outer.kind).toBe('pkcs7-mime');
    expect(getHeader(outer.headers, 'Subject')).toBe(OBSCURED_SUBJECT);
    expect(getHeader(outer.headers, 'From')).toBe('alice@a.example');
    expect(getHeader(outer.headers, 'Content-Type')).toMatch(/smime-type=authEnveloped-data/);
    // Neither the Subject nor the body is anywhere in the bytes on the wire, not even base64-aligned.
    expect(text(raw)).not.toContain('ref-7f3a');
    expect(text(raw)).not.toContain('body-7f3a');

    const opened = await openHeaderProtected(raw, decryptWith(pki.ec));
    expect(opened).toBeDefined();
    const p = opened!.protectedHeaders!;
    expect(p.hp).toBe('cipher');
    expect(getHeader(p.fields, 'Subject')).toBe(SUBJECT);
    expect(p.hpOuter).toContainEqual({ name: 'Subject', value: OBSCURED_SUBJECT });
    expect(opened!.differences).toEqual([]);
    // The reader's message: protected Subject on top, the signed entity verifies over the injected fields.
    const view = parseSmime(opened!.message);
    expect(view.kind).toBe('multipart-signed');
    if (view.kind !== 'multipart-signed') return;
    expect(getHeader(view.headers, 'Subject')).toBe(SUBJECT);
    expect(verifySignedData(view.signature, { detachedContent: view.signedEntity }).allValid).toBe(true);
    expect(text(view.signedEntity)).toMatch(/^From: alice@a\.example\r\n/);
    expect(text(view.signedEntity)).toContain('HP-Outer: Subject: [...]\r\n');
    expect(readProtectedHeaders(view.signedEntity)?.hp).toBe('cipher');
  });

  it('reports a forged outer Subject as a difference, with the protected value beside it', async () => {
    const forged = outerHeadersFor(protectedFields).map((h) => (h.name === 'Subject' ? { ...h, value: 'URGENT: new bank details' } : h));
    const { raw } = await protectedMail(pki.rsa.certDer, forged);
    const opened = await openHeaderProtected(raw, decryptWith(pki.rsa));
    expect(opened!.differences).toEqual([{ name: 'subject', outer: ['URGENT: new bank details'], expected: [OBSCURED_SUBJECT], protectedValue: [SUBJECT] }]);
    // The reader is shown the protected Subject, never the forged one.
    expect(getHeader(parseSmime(opened!.message).headers, 'Subject')).toBe(SUBJECT);
  });

  it('reports an outer field the sender never set (an added Reply-To) and one removed (To)', async () => {
    const outer = [...outerHeadersFor(protectedFields).filter((h) => h.name !== 'To'), { name: 'Reply-To', value: 'mallory@evil.example' }];
    const { raw } = await protectedMail(pki.rsa.certDer, outer);
    const d = (await openHeaderProtected(raw, decryptWith(pki.rsa)))!.differences;
    expect(d.map((x) => x.name).sort()).toEqual(['reply-to', 'to']);
  });

  it('compares hp="clear" (signed only) against the protected values themselves', () => {
    const payload = injectProtectedHeaders(buildMimeEntity({ text: BODY }), protectedFields, { hp: 'clear', outer: outerHeadersFor(protectedFields) });
    const p = readProtectedHeaders(payload)!;
    expect(p.hp).toBe('clear');
    expect(p.hpOuter).toEqual([]);
    expect(compareOuterHeaders(protectedFields, p)).toEqual([]);
    expect(compareOuterHeaders(outerHeadersFor(protectedFields), p).map((x) => x.name)).toEqual(['subject']);
  });

  it('reads a message without Header Protection as before: no hp, the outer fields are what the reader sees', async () => {
    const entity = buildMimeEntity({ text: BODY });
    expect(readProtectedHeaders(entity)).toBeUndefined();
    const raw = buildPkcs7Mime(await encryptContent(entity, { recipients: [pki.rsa.certDer] }), 'authEnveloped-data', {
      headers: { from: 'alice@a.example', subject: SUBJECT },
    });
    const opened = await openHeaderProtected(raw, decryptWith(pki.rsa));
    expect(opened!.protectedHeaders).toBeUndefined();
    expect(opened!.differences).toEqual([]);
    expect(getHeader(parseSmime(opened!.message).headers, 'Subject')).toBe(SUBJECT);
    // A signed, not enveloped, message is not opened at all.
    const sig = await signSignedData(entity, { key: pki.rsa.key, certificate: pki.rsa.certDer, detached: true });
    expect(await openHeaderProtected(buildMultipartSigned(entity, sig, { headers: { subject: SUBJECT } }), decryptWith(pki.rsa))).toBeUndefined();
  });

  it('refuses an hp value RFC 9788 does not define, a second injection, and a header-injecting value', () => {
    const entity = buildMimeEntity({ text: BODY });
    const withHp = Buffer.from(text(entity).replace(/^Content-Type: ([^\r]*)/m, 'Content-Type: $1; hp="maybe"'), 'latin1');
    expect(() => readProtectedHeaders(withHp)).toThrow(/neither "cipher" nor "clear"/);
    const once = injectProtectedHeaders(entity, protectedFields, { hp: 'cipher' });
    expect(() => injectProtectedHeaders(once, protectedFields, { hp: 'cipher' })).toThrow(/already/);
    expect(() => injectProtectedHeaders(entity, [{ name: 'Subject', value: 'x\r\nBcc: eve@evil.example' }], { hp: 'cipher' })).toThrow(/line break/);
  });

  it('refuses a payload with two protected From fields (which one the reader sees would be up to its parser), and allows repeated Keywords', () => {
    const entity = buildMimeEntity({ text: BODY });
    const two = injectProtectedHeaders(entity, [...protectedFields, { name: 'From', value: 'mallory@evil.example' }], { hp: 'cipher' });
    expect(() => readProtectedHeaders(two)).toThrow(/2 from fields \(RFC 5322 §3\.6 allows one\)/);
    const keywords = injectProtectedHeaders(entity, [...protectedFields, { name: 'Keywords', value: 'a' }, { name: 'Keywords', value: 'b' }], { hp: 'cipher' });
    expect(readProtectedHeaders(keywords)!.fields.filter((f) => f.name === 'Keywords')).toHaveLength(2);
  });
});

describe('Header Protection read by outside implementations', () => {
  for (const kind of ['rsa', 'ec'] as const) {
    it(`openssl cms -decrypt opens the envelope (${kind} recipient) and openssl cms -verify checks the signature over the injected headers`, async () => {
      const id = pki[kind];
      const { raw, inner } = await protectedMail(id.certDer);
      const out = join(dir, `o${++n}`);
      const dec = spawnSync('openssl', ['cms', '-decrypt', '-binary', '-in', file(raw), '-inkey', id.keyPath, '-recip', id.certPath, '-out', out]);
      expect(dec.stderr.toString()).toBe('');
      expect(Buffer.compare(readFileSync(out), Buffer.from(inner))).toBe(0);
      // What openssl decrypted is S/MIME multipart/signed whose signed part starts with the protected fields.
      const content = join(dir, `c${++n}`);
      const ver = spawnSync('openssl', ['cms', '-verify', '-in', out, '-CAfile', pki.caCertPath, '-out', content]);
      expect(ver.stderr.toString()).toContain('Verification successful');
      expect(ver.status).toBe(0);
      expect(readFileSync(content, 'latin1')).toContain(`Subject: ${SUBJECT}\r\n`);
      expect(readFileSync(content, 'latin1')).toContain('hp="cipher"');
    });
  }

  it('opens an encrypted-only message (RFC 9788 §4.1: the payload is the decrypted entity) that openssl cms -encrypt made', async () => {
    const outer = outerHeadersFor(protectedFields);
    const payload = injectProtectedHeaders(buildMimeEntity({ text: BODY }), protectedFields, { hp: 'cipher', outer });
    const der = join(dir, `e${++n}`);
    const enc = spawnSync('openssl', ['cms', '-encrypt', '-binary', '-aes-256-cbc', '-outform', 'DER', '-in', file(payload), '-out', der, pki.rsa.certPath]);
    expect(enc.status, enc.stderr.toString()).toBe(0);
    // Outside: the hcp_baseline fields and a Subject someone changed on the way.
    const forged = outer.map((h) => (h.name === 'Subject' ? { name: 'Subject', value: 'Urgent: new bank details' } : h));
    const raw = buildPkcs7Mime(new Uint8Array(readFileSync(der)), 'enveloped-data', { headers: { extra: forged } });
    const opened = await openHeaderProtected(raw, decryptWith(pki.rsa));
    expect(opened!.protectedHeaders!.hp).toBe('cipher');
    const shown = parseSmime(opened!.message).headers;
    // The reader is shown each protected field once, from the payload, and the body under it.
    expect(shown.filter((h) => h.name.toLowerCase() === 'subject').map((h) => h.value)).toEqual([SUBJECT]);
    expect(shown.filter((h) => h.name.toLowerCase() === 'from').map((h) => h.value)).toEqual(['alice@a.example']);
    expect(text(opened!.message)).toContain(BODY);
    expect(opened!.differences.map((d) => [d.name, d.outer, d.expected])).toEqual([['subject', ['Urgent: new bank details'], [OBSCURED_SUBJECT]]]);
  });

  it('reads the protected fields inside an opaque signed-data layer (openssl cms -sign -nodetach, then -encrypt)', async () => {
    const outer = outerHeadersFor(protectedFields);
    const payload = injectProtectedHeaders(buildMimeEntity({ text: BODY }), protectedFields, { hp: 'cipher', outer });
    const signed = join(dir, `s${++n}`);
    const sign = spawnSync('openssl', [
      'cms',
      '-sign',
      '-nodetach',
      '-binary',
      '-crlfeol',
      '-in',
      file(payload),
      '-signer',
      pki.ec.certPath,
      '-inkey',
      pki.ec.keyPath,
      '-out',
      signed,
    ]);
    expect(sign.status, sign.stderr.toString()).toBe(0);
    expect(readFileSync(signed, 'latin1')).toMatch(/smime-type="?signed-data/);
    const der = join(dir, `e${++n}`);
    const enc = spawnSync('openssl', ['cms', '-encrypt', '-binary', '-aes-256-cbc', '-outform', 'DER', '-in', signed, '-out', der, pki.rsa.certPath]);
    expect(enc.status, enc.stderr.toString()).toBe(0);
    const forged = outer.map((h) => (h.name === 'Subject' ? { name: 'Subject', value: 'Urgent: new bank details' } : h));
    const raw = buildPkcs7Mime(new Uint8Array(readFileSync(der)), 'enveloped-data', { headers: { extra: forged } });
    const opened = await openHeaderProtected(raw, decryptWith(pki.rsa));
    expect(opened!.protectedHeaders!.fields.find((f) => f.name === 'Subject')?.value).toBe(SUBJECT);
    // The reader is shown the protected Subject once, in front of the opaque signed entity, and the forgery is reported.
    const shown = parseSmime(opened!.message).headers;
    expect(shown.filter((h) => h.name.toLowerCase() === 'subject').map((h) => h.value)).toEqual([SUBJECT]);
    expect(opened!.differences.map((d) => [d.name, d.outer, d.expected])).toEqual([['subject', ['Urgent: new bank details'], [OBSCURED_SUBJECT]]]);
  });

  it('gpgsm --verify checks the signature over the payload with its injected headers, and rejects a changed protected Subject', async () => {
    using gpg = new GpgsmHome(pki.caCertPath);
    gpg.addCertificate(pki.rsa.certPath);
    const { raw } = await protectedMail(pki.rsa.certDer);
    const opened = await openHeaderProtected(raw, decryptWith(pki.rsa));
    const view = parseSmime(opened!.inner);
    if (view.kind !== 'multipart-signed') throw new Error('not multipart/signed');
    const sig = gpg.file(view.signature);
    const good = gpg.run(['--verify', sig, gpg.file(view.signedEntity)]);
    expect(hasStatus(good, 'GOODSIG')).toBe(true);
    const tampered = Buffer.from(text(view.signedEntity).replace(SUBJECT, SUBJECT.replace('Q3', 'Q4')), 'latin1');
    const bad = gpg.run(['--verify', sig, gpg.file(tampered)]);
    expect(hasStatus(bad, 'GOODSIG')).toBe(false);
    expect(hasStatus(bad, 'BADSIG')).toBe(true);
  });
});
