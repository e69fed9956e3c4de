/**
 * Test support: ONE behavioural suite for every {@link Token} backend, each case gated by the backend's
 * declared capabilities (a capability declared true must work; one declared false must be refused).
 * Oracles are node:crypto (signature verification, OAEP encryption, ECDH) and the openssl CLI (the
 * stored certificate). Not exported from the package index; backend test files import it by path.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmaxError, type ErrorCode } from '../errors.js';
import { bindTokenKey } from './bind-token-key.js';
import { Card } from './card.js';
import type { KeyHandle, OaepHash, SignScheme, Token } from './token.js';

export interface TokenSuiteBackend {
  readonly name: string;
  /** Called once: a token with these PINs, holding no keys yet, not logged in. */
  setup(): Promise<{ token: Token; userPin: string; soPin: string }>;
  /** The same token as a new object, as after a restart; the suite has closed or logged out `previous`. */
  reopen(previous: Token): Promise<Token>;
  teardown(): Promise<void>;
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<SsmaxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(SsmaxError);
  expect((err as SsmaxError).code).toBe(code);
  return err as SsmaxError;
}

const SCHEMES: readonly SignScheme[] = ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'ECDSA-SHA256'];
const HASHES: readonly OaepHash[] = ['SHA-1', 'SHA-256'];

function nodeVerify(spki: Uint8Array, scheme: SignScheme, data: Uint8Array, sig: Uint8Array): boolean {
  const key = crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const opts: crypto.VerifyKeyObjectInput =
    scheme === 'RSASSA-PSS-SHA256'
      ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
      : scheme === 'ECDSA-SHA256'
        ? { key, dsaEncoding: 'der' }
        : { key, padding: crypto.constants.RSA_PKCS1_PADDING };
  return crypto.verify('sha256', data, opts, sig);
}

/** Registers the shared describe blocks for one backend. */
export function registerTokenSuite(backend: TokenSuiteBackend): void {
  describe(`Token (${backend.name})`, () => {
    let token: Token;
    let userPin: string;
    let soPin: string;
    let rsa: KeyHandle;
    let ec: KeyHandle;
    let stateDir: string;
    let certDer: Uint8Array;

    beforeAll(async () => {
      ({ token, userPin, soPin } = await backend.setup());
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-card-state-'));
      certDer = new Uint8Array(
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-keyout',
            '/dev/null',
            '-subj',
            '/CN=suite card/O=SSMAX',
            '-days',
            '1',
            '-outform',
            'DER',
          ],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        ),
      );
      await token.login(userPin);
      rsa = await token.generateKeyPair('card-rsa', 'RSA-2048');
      ec = await token.generateKeyPair('card-ec', 'EC-P256');
    });

    afterAll(async () => {
      await token?.close();
      await backend.teardown();
      if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    });

    it('generates an RSA-2048 and a P-256 key pair whose public halves node:crypto reads', async () => {
      const r = crypto.createPublicKey({ key: Buffer.from(rsa.spki), format: 'der', type: 'spki' });
      expect(r.asymmetricKeyType).toBe('rsa');
      expect(r.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(r.asymmetricKeyDetails?.publicExponent).toBe(65537n);
      const e = crypto.createPublicKey({ key: Buffer.from(ec.spki), format: 'der', type: 'spki' });
      expect(e.asymmetricKeyType).toBe('ec');
      expect(e.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(rsa.algorithm).toBe('RSA-2048');
      expect(ec.algorithm).toBe('EC-P256');
      expect(rsa.id).not.toBe(ec.id);
      const found = await token.findKey('card-rsa');
      expect(found?.id).toBe(rsa.id);
      expect(Buffer.from(found!.spki).equals(Buffer.from(rsa.spki))).toBe(true);
      expect((await token.listKeys()).map((k) => k.label).sort()).toEqual(['card-ec', 'card-rsa']);
      expect(await token.findKey('no-such-key')).toBeUndefined();
      await expectCode(token.generateKeyPair('card-rsa', 'RSA-2048'), 'USAGE');
    });

    for (const scheme of SCHEMES) {
      it(`signs with ${scheme} verifiably by node:crypto when declared, refuses it otherwise`, async () => {
        await token.login(userPin);
        const key = scheme === 'ECDSA-SHA256' ? ec : rsa;
        const ops = bindTokenKey(token, key);
        const data = crypto.randomBytes(300);
        if (token.capabilities.signSchemes.includes(scheme)) {
          expect(ops.signSchemes).toContain(scheme);
          const sig = await ops.sign(scheme, data);
          expect(nodeVerify(key.spki, scheme, data, sig)).toBe(true);
          const other = Uint8Array.from(data);
          other[0]! ^= 1;
          expect(nodeVerify(key.spki, scheme, other, sig)).toBe(false);
          // The other key's public half must not verify it either (the token used the right key).
          const wrongKey = scheme === 'ECDSA-SHA256' ? await token.generateKeyPair(`other-${crypto.randomUUID()}`, 'EC-P256') : undefined;
          if (wrongKey) expect(nodeVerify(wrongKey.spki, scheme, data, sig)).toBe(false);
        } else {
          expect(ops.signSchemes).not.toContain(scheme);
          await expect(ops.sign(scheme, data)).rejects.toBeInstanceOf(SsmaxError);
        }
      });
    }

    it('refuses a scheme that does not fit the key when signing', async () => {
      await token.login(userPin);
      await expect(bindTokenKey(token, ec).sign('RSASSA-PKCS1-v1_5-SHA256', new Uint8Array(3))).rejects.toBeInstanceOf(SsmaxError);
      await expect(bindTokenKey(token, rsa).sign('ECDSA-SHA256', new Uint8Array(3))).rejects.toBeInstanceOf(SsmaxError);
    });

    for (const hash of HASHES) {
      it(`decrypts node:crypto RSA-OAEP-${hash} ciphertexts when declared, and fails tampered ones with DECRYPT_FAILED`, async () => {
        await token.login(userPin);
        const pub = crypto.createPublicKey({ key: Buffer.from(rsa.spki), format: 'der', type: 'spki' });
        const cek = crypto.randomBytes(32);
        const c = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash === 'SHA-1' ? 'sha1' : 'sha256' }, cek);
        const ops = bindTokenKey(token, rsa);
        if (!token.capabilities.oaepHashes.includes(hash)) {
          expect(ops.oaepHashes).not.toContain(hash);
          await expectCode(ops.decryptRsaOaep(hash, c), 'CAPABILITY_MISSING');
          return;
        }
        expect(Buffer.from(await ops.decryptRsaOaep(hash, c)).equals(cek)).toBe(true);
        const tampered = Buffer.from(c);
        tampered[100]! ^= 0x40;
        await expectCode(ops.decryptRsaOaep(hash, tampered), 'DECRYPT_FAILED');
        // The other OAEP hash must not decode it (the hash really is applied).
        const otherHash: OaepHash = hash === 'SHA-1' ? 'SHA-256' : 'SHA-1';
        if (token.capabilities.oaepHashes.includes(otherHash)) await expectCode(ops.decryptRsaOaep(otherHash, c), 'DECRYPT_FAILED');
        await expectCode(ops.decryptRsaOaep(hash, c.subarray(1)), 'DECRYPT_FAILED');
      });
    }

    it('agrees on the ECDH shared secret with node:crypto when declared, refuses ECDH otherwise', async () => {
      await token.login(userPin);
      const peer = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const peerSpki = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }));
      if (!token.capabilities.ecdh) {
        await expectCode(token.deriveEcdh(ec, peerSpki), 'CAPABILITY_MISSING');
        return;
      }
      const z = await bindTokenKey(token, ec).deriveEcdh(peerSpki);
      const expected = crypto.diffieHellman({
        privateKey: peer.privateKey,
        publicKey: crypto.createPublicKey({ key: Buffer.from(ec.spki), format: 'der', type: 'spki' }),
      });
      expect(z.length).toBe(32);
      expect(Buffer.from(z).equals(expected)).toBe(true);
      const rsaSpki = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
      await expect(token.deriveEcdh(ec, new Uint8Array(rsaSpki))).rejects.toBeInstanceOf(SsmaxError);
    });

    it('keeps private keys sensitive and non-extractable when their value is read', async () => {
      await token.login(userPin);
      expect(token.auditPrivateKey).toBeTypeOf('function');
      for (const key of [rsa, ec]) {
        const audit = await token.auditPrivateKey!(key);
        expect(audit.sensitive).toBe(true);
        expect(audit.extractable).toBe(false);
        expect(audit.valueReadRefused).toBe(true);
        if (token.capabilities.keyStorage === 'token') {
          expect(audit.alwaysSensitive).toBe(true);
          expect(audit.neverExtractable).toBe(true);
        }
      }
    });

    it('stores a certificate and reads back the same bytes', async () => {
      await token.login(userPin);
      await token.putCertificate('card-cert', certDer);
      expect(Buffer.from((await token.getCertificate('card-cert'))!).equals(Buffer.from(certDer))).toBe(true);
      expect(await token.getCertificate('no-such-cert')).toBeUndefined();
      await expectCode(token.putCertificate('junk', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), 'MALFORMED_CERTIFICATE');
    });

    it('rejects a wrong PIN with PIN_INCORRECT and stays logged out', async () => {
      await token.logout();
      await expectCode(token.login(`${userPin}9`), 'PIN_INCORRECT');
      expect(token.loggedIn).toBe(false);
      await token.login(userPin);
      expect(token.loggedIn).toBe(true);
    });

    it('cannot sign, decrypt or even see keys when a stolen card is used without the PIN', async () => {
      await token.logout();
      expect(await token.findKey('card-rsa')).toBeUndefined();
      expect(await token.listKeys()).toEqual([]);
      await expectCode(bindTokenKey(token, rsa).sign('RSASSA-PKCS1-v1_5-SHA256', new Uint8Array(10)), 'PIN_REQUIRED');
      await expectCode(token.decryptRsaOaep(rsa, 'SHA-1', new Uint8Array(256)), 'PIN_REQUIRED');
      const card = await Card.open({ token, stateDir });
      await expectCode(card.key('card-rsa'), 'PIN_REQUIRED');
      await card.login(userPin);
      const ops = await card.key('card-rsa');
      await card.logout();
      // Ops kept from an earlier session are dead once the session ends.
      await expectCode(ops.sign('RSASSA-PKCS1-v1_5-SHA256', new Uint8Array(10)), 'PIN_REQUIRED');
    });

    it('resets the failure counter when a correct PIN follows wrong ones', async () => {
      const card = await Card.open({ token, stateDir });
      await expectCode(card.login('000000'), 'PIN_INCORRECT');
      const e = await expectCode(card.login('000001'), 'PIN_INCORRECT');
      expect(e.details['remainingTries']).toBe(1);
      await card.login(userPin);
      expect(card.remainingPinTries).toBe(3);
      const e2 = await expectCode(card.login('000002'), 'PIN_INCORRECT');
      expect(e2.details['remainingTries']).toBe(2);
      await card.login(userPin);
      const data = crypto.randomBytes(64);
      const sig = await (await card.key('card-rsa')).sign('RSASSA-PKCS1-v1_5-SHA256', data);
      expect(nodeVerify(rsa.spki, 'RSASSA-PKCS1-v1_5-SHA256', data, sig)).toBe(true);
      await card.logout();
    });

    it('locks after 3 wrong PINs, stays locked across a re-open, and unlocks only with the SO PIN', async () => {
      let card = await Card.open({ token, stateDir });
      const remaining: unknown[] = [];
      for (const wrong of ['111111', '222222', '333333']) {
        const e = await expectCode(card.login(wrong), 'PIN_INCORRECT');
        remaining.push(e.details['remainingTries']);
      }
      expect(remaining).toEqual([2, 1, 0]);
      expect(card.locked).toBe(true);
      await expectCode(card.login(userPin), 'PIN_LOCKED');
      expect(card.loggedIn).toBe(false);

      // Restart: a new token object and a new card read the persisted state.
      await token.logout();
      token = await backend.reopen(token);
      card = await Card.open({ token, stateDir });
      expect(card.locked).toBe(true);
      await expectCode(card.login(userPin), 'PIN_LOCKED');
      const file = JSON.parse(fs.readFileSync(path.join(stateDir, `card-${encodeURIComponent(token.label)}.json`), 'utf8'));
      expect(file).toMatchObject({ locked: true });

      await expectCode(card.unlock(`${soPin}9`, '424242'), 'PIN_INCORRECT');
      expect(card.locked).toBe(true);
      await card.unlock(soPin, '424242');
      expect(card.locked).toBe(false);
      await expectCode(card.login(userPin), 'PIN_INCORRECT');
      await card.login('424242');
      const data = crypto.randomBytes(64);
      const key = await card.key('card-ec');
      expect(nodeVerify(ec.spki, 'ECDSA-SHA256', data, await key.sign('ECDSA-SHA256', data))).toBe(true);
      // Restore the suite's PIN for any later case.
      await card.unlock(soPin, userPin);
      expect(card.loggedIn).toBe(false);
      await card.login(userPin);
      expect(card.remainingPinTries).toBe(3);
    });
  });
}
