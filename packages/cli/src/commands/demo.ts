import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Card,
  SoftHsmNative,
  SsmaxError,
  bindTokenKey,
  buildMimeEntity,
  buildMultipartSigned,
  collectAttachments,
  decryptContent,
  encryptContent,
  issueCrl,
  issueOrgCertificate,
  issueOrgKmsCertificate,
  issueRootCertificate,
  issueUserCertificate,
  newTraceId,
  parseCertificate,
  parseMimeEntity,
  parseSmime,
  reencrypt,
  signSignedData,
  validateChain,
  verifySignedData,
  type CertificateInfo,
  type PrivateKeyOps,
} from '@ssmax/core';

type Out = { write(line: string): void };

/**
 * The core demonstration behind `npm start` (until the scenario matrix lands): the chain of signatures
 * and the chain of encryption on real SoftHSM2 tokens, one step per line.
 */
export const DEMO_USAGE = `usage: ssmax demo
  The core demonstration on SoftHSM2 tokens in a temporary directory: a registry root, org A with its
  KMS keys, alice's and bob's cards; a stolen card without its PIN, one mail from alice to bob through
  org A (sign, encrypt, inspect, re-encrypt, verify, decrypt) and a card locked by wrong PINs, one step
  per line. No options.
`;

export async function runDemo(argv: string[], io: { stdout: Out }): Promise<number> {
  if (argv.includes('--help')) {
    io.stdout.write(DEMO_USAGE);
    return 0;
  }
  if (argv.length > 0) throw new SsmaxError('USAGE', `Cannot run the demo. It takes no arguments, got ${argv.join(' ')}.\n${DEMO_USAGE}`);
  const say = (s: string) => io.stdout.write(`${s}\n`);
  const step = async <T>(n: string, what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    say(`  [${n}] ${what} (${(performance.now() - t0).toFixed(1)} ms)`);
    return r;
  };
  const dir = mkdtempSync(join(tmpdir(), 'ssmax-demo-'));
  const now = () => new Date();
  try {
    say('SSMAX core demonstration: card → sending org → recipient, on SoftHSM2 tokens');
    await using reader = SoftHsmNative.open({ storageDir: join(dir, 'softhsm') });
    const so = 'so-secret-1234';

    // The registry and the organisation keep their keys on HSM tokens, users on cards.
    const hsm = async (label: string, pin: string) => {
      reader.initToken({ label, soPin: so, userPin: pin });
      const t = reader.openToken(label);
      await t.login(pin);
      return t;
    };
    const registryHsm = await hsm('registry-hsm', '1111');
    const orgHsm = await hsm('org-a-hsm', '2222');
    const keyOn = async (t: Awaited<ReturnType<typeof hsm>>, label: string, alg: 'RSA-2048' | 'EC-P256'): Promise<PrivateKeyOps> =>
      bindTokenKey(t, await t.generateKeyPair(label, alg));

    say('Set-up');
    const rootKey = await keyOn(registryHsm, 'root', 'EC-P256');
    const root = await step('1', 'registry root certificate (key on the registry HSM)', () =>
      issueRootCertificate({ subject: { O: 'SSMAX Registry', CN: 'SSMAX Registry Root' }, key: rootKey, now }),
    );
    const orgCaKey = await keyOn(orgHsm, 'org-ca', 'EC-P256');
    const orgCert = await step('1', 'org A admitted: org certificate issued by the registry', () =>
      issueOrgCertificate({ issuer: { certificate: root, key: rootKey }, subjectSpki: orgCaKey.spki, organization: 'Org A', mailDomain: 'org-a.example', now }),
    );
    const orgCa = { certificate: orgCert, key: orgCaKey };
    const kmsEncKey = await keyOn(orgHsm, 'kms-enc', 'RSA-2048');
    const kmsSignKey = await keyOn(orgHsm, 'kms-sign', 'EC-P256');
    const kmsEnc = await issueOrgKmsCertificate({ issuer: orgCa, subjectSpki: kmsEncKey.spki, purpose: 'encryption', now });
    const kmsSign = await issueOrgKmsCertificate({ issuer: orgCa, subjectSpki: kmsSignKey.spki, purpose: 'signing', now });
    say('  [1] org A KMS certificates: encryption (RSA-2048, OAEP) and signing (P-256), keys on the org HSM');

    const issueCard = async (label: string, email: string, pin: string) => {
      reader.initToken({ label, soPin: so, userPin: pin });
      const card = await Card.open({ token: reader.openToken(label), stateDir: join(dir, 'cards') });
      await card.login(pin);
      const h = await card.generateKeyPair('user', 'EC-P256');
      const cert = await issueUserCertificate({
        issuer: orgCa,
        subjectSpki: h.spki,
        email,
        usage: 'combined',
        identityProofing: { method: 'employeeCardPin', proofedAt: now(), proofedBy: 'Org A registration desk' },
        traceId: newTraceId(),
        now,
      });
      await card.putCertificate('user', cert.der);
      await card.putCertificate('org', orgCert.der);
      await card.logout();
      return { card, cert };
    };
    const alice = await step('2', 'alice@org-a.example registered: key generated on her card, certificate with proofing method + trace id', () =>
      issueCard('alice-card', 'alice@org-a.example', '123456'),
    );
    const bob = await step('2', 'bob@org-a.example registered the same way', () => issueCard('bob-card', 'bob@org-a.example', '654321'));
    const crl = await issueCrl({ issuer: orgCa, now, crlNumber: 1, revoked: [] });
    const rootCrl = await issueCrl({ issuer: { certificate: root, key: rootKey }, now, crlNumber: 1, revoked: [] });

    say('A stolen card');
    try {
      await alice.card.key('user');
      throw new Error('a card without PIN signed');
    } catch (e) {
      if (!SsmaxError.is(e, 'PIN_REQUIRED')) throw e;
      say(`  without the PIN the card refuses: ${e.code}`);
    }

    say('The mail');
    const file = new TextEncoder().encode(`Quarterly figures\n${randomBytes(16).toString('hex')}\n`);
    const fileHash = createHash('sha256').update(file).digest('hex');
    const p7m = await step('3', 'alice encrypts the file to her org (AuthEnvelopedData, AES-256-GCM, RSA-OAEP)', () =>
      encryptContent(file, { recipients: [kmsEnc.der], cipher: 'aes-256-gcm' }),
    );
    const entity = buildMimeEntity({
      text: `Hello Bob,\r\nattached: figures.txt (${file.length} bytes, SHA-256 ${fileHash}).\r\n`,
      attachments: [{ filename: 'figures.txt.p7m', contentType: 'application/pkcs7-mime', content: p7m }],
    });
    await alice.card.login('123456');
    const aliceKey = await alice.card.key('user');
    const sig = await step('3', 'alice signs the whole mail on her card (PIN entered)', () =>
      signSignedData(entity, { key: aliceKey, certificate: alice.cert.der, detached: true }),
    );
    await alice.card.logout();
    const mail = buildMultipartSigned(entity, sig, { headers: { from: 'alice@org-a.example', to: 'bob@org-a.example', subject: 'Figures' } });

    const chainOk = (leaf: CertificateInfo | Uint8Array, email?: string) =>
      validateChain({ leaf, intermediates: [orgCert], trustAnchors: [root], crls: [crl.der, rootCrl.der], time: now(), ...(email ? { email } : {}) });

    const received = parseSmime(mail);
    if (received.kind !== 'multipart-signed') throw new Error('not a signed mail');
    await step('4', 'org A verifies alice: signature, chain to the registry root, CRL, signer = From', async () => {
      const v = verifySignedData(received.signature, { detachedContent: received.signedEntity });
      const s = v.signers[0];
      if (!s?.valid || !s.certificate) throw new Error(`signature rejected: ${s?.reasons.join('; ')}`);
      const info = parseCertificate(s.certificate);
      const chain = chainOk(info, 'alice@org-a.example');
      if (!chain.valid) throw new Error(`chain rejected: ${chain.reasons.join('; ')}`);
      say(`      signer ${info.emailAddresses[0]}, proofing ${info.identityProofing?.method}, trace id ${Buffer.from(info.traceId ?? []).toString('hex')}`);
    });
    const part = collectAttachments(parseMimeEntity(received.signedEntity))[0];
    if (!part) throw new Error('no attachment');
    const hop = await step('5/6', 'org A KMS decrypts, DLP-inspects in memory, re-encrypts to bob', () =>
      reencrypt(part.content, {
        key: kmsEncKey,
        certificate: kmsEnc.der,
        recipients: [bob.cert.der],
        inspect: async (plain) => {
          const hit = /CONFIDENTIAL|社外秘/.test(new TextDecoder().decode(plain));
          return { allow: !hit, reasons: hit ? ['confidential marking'] : [] };
        },
      }),
    );
    if (!hop.verdict.allow || !hop.output) throw new Error(`blocked: ${hop.verdict.reasons.join('; ')}`);
    say(`      inspection verdict: allow; ciphertext ${p7m.length} → ${hop.output.length} bytes`);
    const orgSig = await step('6', 'org A signs the re-encrypted file with its KMS key', () =>
      signSignedData(hop.output!, { key: kmsSignKey, certificate: kmsSign.der, chain: [orgCert.der] }),
    );

    await step('10', 'bob verifies org A’s signature and chain, then decrypts on his card', async () => {
      const v = verifySignedData(orgSig);
      const s = v.signers[0];
      if (!s?.valid || !s.certificate || !v.content) throw new Error('org signature rejected');
      const chain = chainOk(s.certificate);
      if (!chain.valid) throw new Error(`org chain rejected: ${chain.reasons.join('; ')}`);
      await bob.card.login('654321');
      const out = await decryptContent(v.content, { key: await bob.card.key('user'), certificate: bob.cert.der });
      await bob.card.logout();
      const h = createHash('sha256').update(out.content).digest('hex');
      if (h !== fileHash) throw new Error('file changed on the way');
      say(`      file intact (SHA-256 ${h.slice(0, 16)}…), signed by ${parseCertificate(s.certificate).subject}`);
    });

    say('Three wrong PINs on bob’s card');
    for (let i = 0; i < 3; i++) await bob.card.login('000000').catch((e: unknown) => say(`  wrong PIN: ${(e as SsmaxError).code}`));
    await bob.card.login('654321').catch((e: unknown) => say(`  right PIN now: ${(e as SsmaxError).code} (only the org can unlock)`));
    await bob.card.unlock(so, '654321');
    await bob.card.login('654321');
    say('  org A unlocked the card with its SO PIN; bob logs in again');
    await bob.card.logout();
    say('Done.');
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
