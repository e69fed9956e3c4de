/**
 * Key backends: our key layer (SoftwareKey in-process, Pkcs11Token on SoftHSM2 native and in the
 * container) against the raw calls on the same key (node:crypto; pkcs11js C_Sign / C_Decrypt /
 * C_DeriveKey on the same token, own session), plus the org hop at 64 KiB with the org key there.
 */
import * as crypto from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import {
  bindTokenKey,
  P11KIT_CLIENT_MODULE_PATH,
  Pkcs11Module,
  SOFTHSM2_MODULE_PATH,
  SoftHsmContainer,
  SoftHsmNative,
  SoftwareKey,
  type KeyAlgorithm,
  type KeyHandle,
  type PrivateKeyOps,
  type SignScheme,
  type Token,
} from '@ssmax/core';
import { certifyPublicKey, makeIncoming, type BenchPki, type Suite } from './fixtures.js';
import { measure, measureRounds, type Budget, type Measurement } from './measure.js';
import { orgHopFile } from './org-hop.js';
import { sizeLabel, type BenchCase } from './results.js';

export type KeyBackend = 'in-process' | 'softhsm-native' | 'softhsm-container';

const P = pkcs11js;
const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

interface RawOps {
  sign(digest: Buffer): void;
  /** RSA: raw decryption of one block; EC: ECDH derive + read Z. */
  unwrap(): void;
}

function ecPoint(spki: Uint8Array): Buffer {
  // SubjectPublicKeyInfo of P-256 ends with the 65-byte uncompressed point (RFC 5480 §2.2).
  return Buffer.from(spki.subarray(spki.byteLength - 65));
}

/** Raw pkcs11js calls on the key `handle`, in a session of our own on the same slot. */
function rawPkcs11(module: Pkcs11Module, label: string, handle: KeyHandle, unwrapInput: Buffer): RawOps & { close(): void } {
  const p = module.pkcs11;
  const slot = module.slotByLabel(label)!;
  const s = p.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  p.C_FindObjectsInit(s, [
    { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
    { type: P.CKA_ID, value: Buffer.from(handle.id, 'hex') },
  ]);
  const [priv] = p.C_FindObjects(s, 1);
  p.C_FindObjectsFinal(s);
  if (!priv) throw new Error(`raw pkcs11js: key ${handle.id} not found`);
  const ec = handle.algorithm === 'EC-P256';
  return {
    sign(digest) {
      p.C_SignInit(s, { mechanism: ec ? P.CKM_ECDSA : P.CKM_RSA_PKCS }, priv);
      p.C_Sign(s, ec ? digest : Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]), Buffer.allocUnsafe(512));
    },
    unwrap() {
      if (!ec) {
        p.C_DecryptInit(s, { mechanism: P.CKM_RSA_X_509 }, priv);
        p.C_Decrypt(s, unwrapInput, Buffer.alloc(256));
        return;
      }
      const secret = p.C_DeriveKey(
        s,
        { mechanism: P.CKM_ECDH1_DERIVE, parameter: { type: P.CK_PARAMS_EC_DH, kdf: P.CKD_NULL, publicData: unwrapInput } as pkcs11js.ECDH1 },
        priv,
        [
          { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
          { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
          { type: P.CKA_TOKEN, value: false },
          { type: P.CKA_SENSITIVE, value: false },
          { type: P.CKA_EXTRACTABLE, value: true },
          { type: P.CKA_VALUE_LEN, value: 32 },
        ],
      );
      p.C_GetAttributeValue(s, secret, [{ type: P.CKA_VALUE }]);
      p.C_DestroyObject(s, secret);
    },
    close() {
      p.C_CloseSession(s);
    },
  };
}

interface BackendKey {
  readonly ops: PrivateKeyOps;
  readonly token?: Token;
  readonly handle?: KeyHandle;
  readonly raw: RawOps & { close(): void };
}

const ALGS: readonly { alg: KeyAlgorithm; suite: Suite; scheme: SignScheme }[] = [
  { alg: 'RSA-2048', suite: 'rsa', scheme: 'RSASSA-PKCS1-v1_5-SHA256' },
  { alg: 'EC-P256', suite: 'ec', scheme: 'ECDSA-SHA256' },
];

/** The input of one unwrap: an OAEP-SHA-256 block for RSA, an ephemeral public key for EC. */
function unwrapInputs(spki: Uint8Array, alg: KeyAlgorithm): { ours: Uint8Array; raw: Buffer } {
  const pub = crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  if (alg !== 'EC-P256') {
    const ct = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.alloc(32, 1));
    return { ours: ct, raw: ct };
  }
  const eph = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
  return { ours: new Uint8Array(eph), raw: ecPoint(eph) };
}

export interface TokenBenchOptions {
  readonly pki: BenchPki;
  readonly workDir: string;
  readonly backends: readonly KeyBackend[];
  readonly budget: Budget;
  readonly hopBudget: Budget;
  /** Interleaved rounds of ours/raw (see measureRounds). */
  readonly rounds: number;
  /** Hop size (64 KiB). */
  readonly hopSize: number;
  readonly log: (line: string) => void;
}

/** Measures every backend; a backend that cannot start (no Docker) is reported in `skipped`. */
export async function runTokenBench(o: TokenBenchOptions): Promise<{ cases: BenchCase[]; skipped: string[] }> {
  const cases: BenchCase[] = [];
  const skipped: string[] = [];
  const digest = crypto.createHash('sha256').update('ssmax bench').digest();
  let serial = 1000;
  for (const backend of o.backends) {
    const cleanup: (() => Promise<void> | void)[] = [];
    try {
      let openKey: (alg: KeyAlgorithm, label: string) => Promise<BackendKey>;
      if (backend === 'in-process') {
        openKey = async (alg) => {
          const { privateKey } =
            alg === 'EC-P256' ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }) : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
          const ops = SoftwareKey.fromBytes(new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })));
          const inputs = unwrapInputs(ops.spki, alg);
          // The peer key arrives as a SubjectPublicKeyInfo in every message: parsing it is part of the raw call.
          const ecdhPeer = alg === 'EC-P256' ? () => crypto.createPublicKey({ key: Buffer.from(inputs.ours), format: 'der', type: 'spki' }) : undefined;
          return {
            ops,
            raw: {
              sign: (d) =>
                void crypto.sign(
                  null,
                  Buffer.concat(alg === 'EC-P256' ? [d] : [SHA256_DIGEST_INFO_PREFIX, d]),
                  alg === 'EC-P256' ? { key: privateKey, dsaEncoding: 'der' } : { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING },
                ),
              unwrap: () =>
                void (ecdhPeer
                  ? crypto.diffieHellman({ privateKey, publicKey: ecdhPeer() })
                  : crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, inputs.raw)),
              close: () => undefined,
            },
          };
        };
      } else {
        let token: Token;
        let module: Pkcs11Module;
        const label = `bench-${backend}`;
        const pin = '123456';
        if (backend === 'softhsm-native') {
          const storageDir = join(o.workDir, 'softhsm');
          mkdirSync(storageDir, { recursive: true });
          const reader = SoftHsmNative.open({ storageDir });
          cleanup.push(() => reader.close());
          reader.initToken({ label, soPin: '12345678', userPin: pin });
          token = reader.openToken(label);
          module = Pkcs11Module.acquire({ path: SOFTHSM2_MODULE_PATH, env: { SOFTHSM2_CONF: reader.confPath } });
        } else {
          o.log('starting the SoftHSM2 container …');
          const container = await SoftHsmContainer.start({ label, soPin: '12345678', userPin: pin });
          cleanup.push(() => container[Symbol.asyncDispose]());
          token = container.openToken();
          module = Pkcs11Module.acquire({
            path: P11KIT_CLIENT_MODULE_PATH,
            initializeFlags: P.CKF_OS_LOCKING_OK,
            env: { P11_KIT_SERVER_ADDRESS: `unix:path=${container.socketPath}` },
          });
        }
        cleanup.unshift(() => token.close());
        cleanup.unshift(() => module.release());
        await token.login(pin);
        openKey = async (alg, keyLabel) => {
          const handle = await token.generateKeyPair(keyLabel, alg);
          const inputs = unwrapInputs(handle.spki, alg);
          const raw = rawPkcs11(module, label, handle, inputs.raw);
          cleanup.unshift(() => raw.close());
          return { ops: bindTokenKey(token, handle), token, handle, raw };
        };
      }

      for (const { alg, suite, scheme } of ALGS) {
        const k = await openKey(alg, `org-${alg}`);
        const name = `token/${backend}/${alg}`;
        const inputs = unwrapInputs(k.ops.spki, alg);
        const oursSign = k.token && k.handle ? () => k.token!.signDigest(k.handle!, scheme, digest) : () => k.ops.sign(scheme, digest);
        const oursUnwrap = alg === 'EC-P256' ? () => k.ops.deriveEcdh(inputs.ours) : () => k.ops.decryptRsaOaep('SHA-256', inputs.ours);
        // Same key, same kind of input (a fresh OAEP block / ephemeral point of the same size).
        const raw = k.raw;
        const refName = backend === 'in-process' ? 'rawNodeCrypto' : 'rawPkcs11js';
        const noEcdh = alg === 'EC-P256' && k.token !== undefined && !k.token.capabilities.ecdh;
        if (noEcdh) skipped.push(`${name}/unwrap and its hop: the backend offers no ECDH (capabilities.ecdh = false), so an EC org key cannot live there`);
        for (const [op, ours, ref, size] of [
          ['sign', oursSign, () => raw.sign(digest), 32],
          ...(noEcdh ? [] : ([['unwrap', oursUnwrap, () => raw.unwrap(), alg === 'EC-P256' ? 65 : 256]] as const)),
        ] as const) {
          const [a, b] = (await measureRounds(
            [
              { name: `${name}/${op}`, fn: ours, budget: o.budget },
              { name: `${name}/${op}/raw`, fn: ref, budget: o.budget },
            ],
            o.rounds,
          )) as [Measurement, Measurement];
          o.log(`${name}/${op}: ${a.opsPerSec.toFixed(0)}/s, raw ${b.opsPerSec.toFixed(0)}/s`);
          cases.push({
            name: `${name}/${op}`,
            size,
            opsPerSec: a.opsPerSec,
            mbPerSec: (a.opsPerSec * size) / 1e6,
            peakRssDelta: null,
            references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null, [refName]: b.opsPerSec },
            ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null, [refName]: a.opsPerSec / b.opsPerSec },
          });
        }

        if (noEcdh) continue;
        // The hop with the org key in this backend; the incoming message is encrypted to its certificate.
        const cert = certifyPublicKey(o.pki, `org-${backend}-${suite}`, k.ops.spki, ++serial);
        const { inPath } = makeIncoming(o.pki, o.workDir, suite, 'aes-256-gcm', o.hopSize, cert.certPath, `-${backend}`);
        const outPath = join(o.workDir, `out-${backend}-${suite}.der`);
        const hopOpts = {
          key: k.ops,
          certificate: cert.certDer,
          trustAnchors: [o.pki.caDer],
          recipients: [o.pki.suites[suite].next.certDer],
          cipher: 'aes-256-gcm' as const,
        };
        const first = await orgHopFile(inPath, outPath, hopOpts);
        if (!first.committed) throw new Error(`the ${backend} hop did not commit: ${first.verdict.reasons.join('; ')}`);
        const h = await measure(`${name}/hop`, () => orgHopFile(inPath, outPath, hopOpts), o.hopBudget);
        o.log(`hop/${backend}/${suite}: ${h.opsPerSec.toFixed(1)}/s`);
        cases.push({
          name: `hop/key-${backend}/${suite}/aes-256-gcm/${sizeLabel(o.hopSize)}`,
          size: o.hopSize,
          opsPerSec: h.opsPerSec,
          mbPerSec: (h.opsPerSec * o.hopSize) / 1e6,
          peakRssDelta: null,
          references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
          ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
        });
      }
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      o.log(`key backend ${backend} skipped: ${why}`);
      skipped.push(`${backend}: ${why}`);
    } finally {
      for (const c of cleanup) await Promise.resolve(c()).catch(() => undefined);
    }
  }
  return { cases, skipped };
}
