/**
 * The bound on SignerInfos per SignedData. Regression for the fuzz run of issue 11 item 4 (cms-signed target): a
 * SignedData whose signerInfos SET held one SignerInfo 6,000 times (1.7 MB) took 5 s to verify, every copy a
 * signature check and a certificate search.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError } from '../../errors.js';
import { SoftwareKey } from '../../software-key.js';
import { issueRootCertificate } from '../../x509/index.js';
import { signSignedData } from './sign-signed-data.js';
import { MAX_SIGNER_INFOS, verifySignedData } from './verify-signed-data.js';

let key: SoftwareKey;
let cert: Uint8Array;
const content = new Uint8Array(Buffer.from('limit'));

beforeAll(async () => {
  key = SoftwareKey.generate('EC-P256');
  cert = (await issueRootCertificate({ subject: { CN: 'Signer' }, key, now: () => new Date('2026-01-01T00:00:00Z') })).der;
});

const signedBy = (n: number) =>
  signSignedData(content, { key, certificate: cert, coSigners: Array.from({ length: n - 1 }, () => ({ key, certificate: cert })) });

describe('verifySignedData signer bound', () => {
  it(`verifies ${MAX_SIGNER_INFOS} SignerInfos, every one valid`, async () => {
    const v = verifySignedData(await signedBy(MAX_SIGNER_INFOS));
    expect(v.signers).toHaveLength(MAX_SIGNER_INFOS);
    expect(v.allValid).toBe(true);
  });

  it(`refuses ${MAX_SIGNER_INFOS + 1} SignerInfos as LIMIT_EXCEEDED before checking any signature`, async () => {
    const der = await signedBy(MAX_SIGNER_INFOS + 1);
    const e = (() => {
      try {
        verifySignedData(der);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(SsmaxError);
    expect((e as SsmaxError).code).toBe('LIMIT_EXCEEDED');
    expect((e as SsmaxError).message).toBe(`Cannot verify the SignedData. It has ${MAX_SIGNER_INFOS + 1} SignerInfos, above the limit of ${MAX_SIGNER_INFOS}.`);
  });

  it('takes a lower bound from the caller', async () => {
    const der = await signedBy(3);
    expect(verifySignedData(der, { maxSignerInfos: 3 }).signers).toHaveLength(3);
    expect(() => verifySignedData(der, { maxSignerInfos: 2 })).toThrow(/It has 3 SignerInfos, above the limit of 2\./);
  });
});
