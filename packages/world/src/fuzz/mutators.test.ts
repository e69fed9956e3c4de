/**
 * The structure-aware mutators keep the outer structure while they change the inside: measured against core's
 * byte-level mutatedFrom on the same seeds, and each mutator's output always differs from its seed somewhere.
 */
import fc from 'fast-check';
import { SoftwareKey, createZip, issueRootCertificate, readZip, signSignedData } from '@ssmax/core';
import { mutatedFrom, readBer, readContentInfo } from '@ssmax/core/fuzz';
import { beforeAll, describe, expect, it } from 'vitest';
import { derMutatedFrom } from './der-mutator.js';
import { jsonMutatedFrom } from './json-mutator.js';
import { mimeMutatedFrom } from './mime-mutator.js';
import { zipMutatedFrom } from './zip-mutator.js';

const RUNS = 400;
let signed: Uint8Array;
let cert: Uint8Array;

beforeAll(async () => {
  const key = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({ subject: { CN: 'Mutator Root' }, key, now: () => new Date('2026-01-01T00:00:00Z') });
  cert = root.der;
  signed = await signSignedData(new Uint8Array(Buffer.from('content')), { key, certificate: root.der });
});

const share = (values: readonly Uint8Array[], ok: (b: Uint8Array) => boolean) => values.filter(ok).length / values.length;
const readable = (b: Uint8Array) => {
  try {
    readBer(b, 'test');
    return true;
  } catch {
    return false;
  }
};
const signedDataFramed = (b: Uint8Array) => {
  try {
    return readContentInfo(b).contentType === '1.2.840.113549.1.7.2';
  } catch {
    return false;
  }
};

describe('derMutatedFrom', () => {
  it('keeps the outer ContentInfo of a SignedData far more often than byte flips do, and always changes the input', () => {
    const structured = fc.sample(derMutatedFrom([signed]), { seed: 1, numRuns: RUNS });
    const flipped = fc.sample(mutatedFrom([signed]), { seed: 1, numRuns: RUNS });
    expect(share(structured, signedDataFramed)).toBeGreaterThan(0.5);
    expect(share(structured, signedDataFramed)).toBeGreaterThan(share(flipped, signedDataFramed) + 0.1);
    expect(share(structured, (b) => Buffer.from(b).equals(Buffer.from(signed)))).toBeLessThan(0.2);
  });

  it('reaches inside OCTET STRING and BIT STRING contents of a certificate (extnValue, subjectPublicKey)', () => {
    const out = fc.sample(derMutatedFrom([cert]), { seed: 2, numRuns: RUNS });
    // A change that left every byte outside the encapsulated contents alone still reads as DER: most outputs do.
    expect(share(out, readable)).toBeGreaterThan(0.4);
    expect(new Set(out.map((b) => b.length)).size).toBeGreaterThan(20);
  });
});

describe('jsonMutatedFrom', () => {
  it('returns JSON that parses, keeps the document an object most of the time, and changes it', () => {
    const doc = { v: 1, type: 'ssmax-manifest', to: ['a@b.example'], files: [{ n: 1, name: 'a' }] };
    const out = fc.sample(jsonMutatedFrom([doc]), { seed: 3, numRuns: RUNS }).map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as unknown);
    expect(out.filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v)).length / out.length).toBeGreaterThan(0.7);
    expect(out.filter((v) => JSON.stringify(v) === JSON.stringify(doc)).length / out.length).toBeLessThan(0.2);
  });
});

describe('mimeMutatedFrom', () => {
  it('produces bare LF regions, changed boundaries and deep nesting among its outputs', () => {
    const mail = Buffer.from(
      'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n',
    );
    const out = fc.sample(mimeMutatedFrom([new Uint8Array(mail)]), { seed: 4, numRuns: RUNS }).map((b) => Buffer.from(b).toString('latin1'));
    expect(out.some((t) => /[^\r]\n/.test(t))).toBe(true);
    expect(out.some((t) => !t.includes('boundary="b1"'))).toBe(true);
    expect(out.some((t) => (t.match(/multipart\/mixed/g) ?? []).length > 50)).toBe(true);
  });
});

describe('zipMutatedFrom', () => {
  it('keeps most archives listable while changing their records', () => {
    const zip = createZip([
      { name: 'a.txt', data: 'hello' },
      { name: 'b.txt', data: 'world', method: 'store' },
    ]);
    const out = fc.sample(zipMutatedFrom([zip]), { seed: 5, numRuns: RUNS });
    const listable = share(out, (b) => {
      try {
        readZip(b);
        return true;
      } catch {
        return false;
      }
    });
    expect(listable).toBeGreaterThan(0.2);
    expect(listable).toBeLessThan(0.95);
  });
});
