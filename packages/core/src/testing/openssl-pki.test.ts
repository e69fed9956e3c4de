import { describe, expect, it } from 'vitest';
import { createOpensslPki } from './openssl-pki.js';

describe('createOpensslPki', () => {
  it('issues RSA and EC e-mail certificates that openssl verifies against the CA', () => {
    using pki = createOpensslPki();
    for (const id of [pki.rsa, pki.ec]) {
      const r = pki.openssl(['verify', '-CAfile', pki.caCertPath, '-purpose', 'smimesign', id.certPath]);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(pki.rsa.key.algorithm).toBe('RSA-2048');
    expect(pki.ec.key.algorithm).toBe('EC-P256');
  });
});
