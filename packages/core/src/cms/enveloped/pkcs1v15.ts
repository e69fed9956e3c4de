/**
 * RSAES-PKCS1-v1_5 key transport (RFC 3370 §4.2.1), read for old mail only, with implicit rejection:
 * no error oracle (Bleichenbacher 1998; RFC 8017 §7.2.2 note; RFC 3218 §2.3).
 *
 * A ciphertext whose padding is wrong, whose message has the wrong length, or that is out of range does
 * not fail here: it yields a synthetic content-encryption key of the right length, so the message fails
 * later, at the content's padding or tag, exactly as a message for a different key does. Like OpenSSL
 * 3.2's implicit rejection (rsa_pk1.c, ossl_rsa_padding_check_PKCS1_type_2), the synthetic key is a
 * deterministic function of a secret of the private key and the ciphertext, so repeating a query teaches
 * nothing. OpenSSL derives that secret from the private exponent d; a token never reveals d, so here it
 * is SHA-256 of RSADP of a fixed constant, which only the key holder can compute (one extra private-key
 * operation per key, cached). The padding check runs without early exit and the choice between the
 * decoded and the synthetic key is a mask, not a branch; JavaScript gives no constant-time guarantee,
 * so this removes the API-level oracle, not every timing difference.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';

interface RejectionSecret {
  readonly k: number;
  readonly secret: Uint8Array;
}

const secrets = new WeakMap<PrivateKeyOps, Promise<RejectionSecret>>();

function rejectionSecret(key: PrivateKeyOps, rsadp: (c: Uint8Array) => Promise<Uint8Array>): Promise<RejectionSecret> {
  let s = secrets.get(key);
  if (!s) {
    s = (async () => {
      const bits = crypto.createPublicKey({ key: Buffer.from(key.spki), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength ?? 0;
      const k = Math.ceil(bits / 8);
      // A leading zero byte keeps the constant below any k-byte modulus (RFC 8017 §5.1.2 step 1).
      const c0 = new Uint8Array(k);
      c0.set(new Uint8Array(crypto.hkdfSync('sha256', 'ssmax', '', 'pkcs1-implicit-rejection-constant', k - 1)), 1);
      const m0 = await rsadp(c0);
      const secret = new Uint8Array(crypto.createHash('sha256').update(m0).digest());
      m0.fill(0);
      return { k, secret };
    })();
    secrets.set(key, s);
    s.catch(() => secrets.delete(key));
  }
  return s;
}

/**
 * Recovers a `keyLength`-byte content-encryption key from a PKCS#1 v1.5 encryptedKey, or a synthetic one
 * (see the module comment). Throws only for what does not depend on the ciphertext's secret contents: a
 * key that cannot run raw RSA, or an infrastructure failure of the token.
 */
export async function decryptPkcs1v15ContentKey(key: PrivateKeyOps, encryptedKey: Uint8Array, keyLength: number): Promise<Uint8Array> {
  const raw = key.decryptRsaRaw?.bind(key);
  if (!raw || !key.algorithm.startsWith('RSA')) {
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot decrypt the content-encryption key. RSA PKCS#1 v1.5 key transport needs a raw RSA decryption, which this ${key.algorithm} key does not offer.`,
    );
  }
  const { k, secret } = await rejectionSecret(key, raw);
  const c = new Uint8Array(k);
  c.set(encryptedKey.subarray(Math.max(0, encryptedKey.byteLength - k)), Math.max(0, k - encryptedKey.byteLength));
  const synthetic = crypto.createHmac('sha256', secret).update(Uint32Array.of(encryptedKey.byteLength)).update(c).digest().subarray(0, keyLength);

  let em = new Uint8Array(k);
  let bad = encryptedKey.byteLength === k ? 0 : 1;
  try {
    const m = await raw(encryptedKey.byteLength === k ? encryptedKey : c);
    em.set(m.subarray(Math.max(0, m.byteLength - k)), Math.max(0, k - m.byteLength));
    m.fill(0);
  } catch (e) {
    // Out of range (c ≥ n) or a wrong length is public; it still takes the synthetic path.
    if (!SsmaxError.is(e, 'DECRYPT_FAILED')) throw e;
    bad = 1;
    em = new Uint8Array(k);
  }
  // RFC 8017 §7.2.2 step 3: EM = 0x00 || 0x02 || PS (≥ 8 non-zero bytes) || 0x00 || M.
  bad |= em[0]! | (em[1]! ^ 0x02);
  let found = 0;
  let sep = 0;
  for (let i = 2; i < k; i++) {
    const isZero = ((em[i]! - 1) >> 31) & 1; // 1 when em[i] === 0
    const first = isZero & (found ^ 1);
    sep = first ? i : sep;
    found |= isZero;
  }
  bad |= found ^ 1;
  bad |= sep < 10 ? 1 : 0; // PS shorter than 8 bytes
  bad |= k - sep - 1 === keyLength ? 0 : 1; // RFC 3218 §2.3: a key of the wrong length is a failure too
  const mask = -bad & 0xff; // 0xff to take the synthetic key, 0x00 to take the decoded one
  const out = new Uint8Array(keyLength);
  for (let i = 0; i < keyLength; i++) {
    const decoded = em[Math.min(k - 1, sep + 1 + i)]!;
    out[i] = (decoded & ~mask) | (synthetic[i]! & mask);
  }
  em.fill(0);
  return out;
}
