/**
 * The in-process fuzz targets, one table entry per parser family: how its cases are made (random bytes, core's
 * byte-level mutatedFrom, and the structure-aware mutators over the corpus) and which entry points one case runs,
 * with the depth marks that show how far the input got. Run inside parser-worker.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import {
  MemorySink,
  Oids,
  SsmaxError,
  SsmaxOids,
  collectAttachments,
  compareOuterHeaders,
  decryptContent,
  decryptStream,
  detectCmsInput,
  findTextBody,
  looksLikeZip,
  openHeaderProtected,
  originatorOf,
  parseCertificate,
  parseCrl,
  parseDer,
  parseMimeEntity,
  parseSmime,
  readProtectedHeaders,
  readZip,
  signSignedData,
  validateChain,
  verifyCrlSignature,
  verifySignedData,
  zipBudget,
} from '@ssmax/core';
import { jsonValue, mimeTokenSoup, mutatedFrom, readBer, readContentInfo } from '@ssmax/core/fuzz';
import { DEFAULT_INSPECTION_POLICY, RegistryClient, classifyParts, inspect, verifyAttestation, verifyManifest } from '@ssmax/sim-org';
import { FUZZ_NOW, type FuzzCorpus } from './corpus.js';
import { derMutatedFrom } from './der-mutator.js';
import { jsonMutatedFrom } from './json-mutator.js';
import { mimeMutatedFrom } from './mime-mutator.js';
import type { CaseProbe } from './outcome.js';
import { x509PathTarget } from './x509-path-target.js';
import { zipMutatedFrom } from './zip-mutator.js';

/** One generated case: bytes, and what they are (`raw` goes to the entry point as is; JSON kinds are signed first). */
export interface FuzzInput {
  readonly kind: string;
  readonly bytes: Uint8Array;
}

export interface OpenTarget {
  readonly cases: fc.Arbitrary<FuzzInput>;
  /** Untimed: the entry point's input for a case (e.g. mutated JSON signed by the corpus key). */
  prepare(input: FuzzInput): Promise<Uint8Array>;
  /** Timed: every entry point of the target on one input. */
  run(bytes: Uint8Array, input: FuzzInput, probe: CaseProbe): Promise<void>;
  close(): Promise<void>;
}

export interface ParserTarget {
  readonly name: string;
  /** Cases in a default run and share of a budget run, where not the parsers' usual 9,000 and 1. */
  readonly defaultCases?: number;
  readonly budgetWeight?: number;
  open(c: FuzzCorpus): Promise<OpenTarget>;
}

const anyBytes = fc.uint8Array({ maxLength: 4096 });
const raw = (a: fc.Arbitrary<Uint8Array>, kind = 'raw'): fc.Arbitrary<FuzzInput> => a.map((bytes) => ({ kind, bytes }));
const asIs = async (i: FuzzInput): Promise<Uint8Array> => i.bytes;
const nothing = async (): Promise<void> => undefined;

/** Random bytes, byte flips of the seeds, and (most often) structure-aware mutations. */
function mixed(seeds: readonly Uint8Array[], structured: fc.Arbitrary<Uint8Array>, extra: fc.Arbitrary<Uint8Array>[] = []): fc.Arbitrary<FuzzInput> {
  return raw(
    fc.oneof(
      { weight: 1, arbitrary: anyBytes },
      { weight: 2, arbitrary: mutatedFrom(seeds) },
      { weight: 6, arbitrary: structured },
      ...extra.map((arbitrary) => ({ weight: 1, arbitrary })),
    ),
  );
}

/** The ContentInfo type when the outer framing is intact (the depth mark "got past ContentInfo"). */
function contentTypeOf(b: Uint8Array): string | undefined {
  try {
    return readContentInfo(b).contentType;
  } catch (e) {
    if (e instanceof SsmaxError) return undefined;
    throw e;
  }
}

const REACHED_RECIPIENTS = new Set(['DECRYPT_FAILED', 'AUTH_TAG_MISMATCH', 'NO_MATCHING_RECIPIENT', 'UNSUPPORTED_ALGORITHM']);

function chainOptions(c: FuzzCorpus) {
  return {
    intermediates: [c.pki.orgCa.cert.der],
    trustAnchors: [c.pki.root.cert.der],
    time: FUZZ_NOW,
    revocation: 'ifAvailable' as const,
    crls: [c.pki.crl.der],
  };
}

function envelopeTarget(name: string, seedsOf: (c: FuzzCorpus) => readonly Uint8Array[], containerType: string): ParserTarget {
  return {
    name,
    async open(c) {
      const seeds = seedsOf(c);
      const keys = [c.pki.rsaUser.key, c.pki.kmsEncryption.key];
      return {
        cases: fc.tuple(mixed(seeds, derMutatedFrom(seeds)), fc.nat(1)).map(([i, k]) => ({ ...i, kind: `key${k}` })),
        prepare: asIs,
        async run(b, input, probe) {
          if (contentTypeOf(b) === containerType) probe.mark('content-info');
          const opts = { key: keys[input.kind === 'key1' ? 1 : 0]!, password: c.password, secretKey: c.secretKey };
          const out = await probe.step(() => decryptContent(b, opts));
          if (out) probe.mark('decrypted');
          else if (REACHED_RECIPIENTS.has(probe.lastCode ?? '')) probe.mark('recipient-infos');
          // The streaming reader is a second parser of the same bytes (ber-stream-reader), fed in odd-sized chunks.
          const chunks = Array.from({ length: Math.ceil(b.length / 997) }, (_, i) => b.subarray(i * 997, (i + 1) * 997));
          if (await probe.step(() => decryptStream(chunks, new MemorySink(), opts))) probe.mark('stream-decrypted');
        },
        close: nothing,
      };
    },
  };
}

function signedJsonTarget(
  name: string,
  docsOf: (c: FuzzCorpus) => readonly unknown[],
  signer: (c: FuzzCorpus) => { key: FuzzCorpus['pki']['user']['key']; certificate: Uint8Array; chain: Uint8Array[]; contentType: string },
  verify: (der: Uint8Array, c: FuzzCorpus, probe: CaseProbe) => Promise<void>,
): ParserTarget {
  return {
    name,
    async open(c) {
      const s = signer(c);
      const sign = (bytes: Uint8Array) =>
        signSignedData(bytes, { key: s.key, certificate: s.certificate, chain: s.chain, contentType: s.contentType, signingTime: FUZZ_NOW });
      const signedSeeds = await Promise.all(docsOf(c).map((d) => sign(new Uint8Array(Buffer.from(JSON.stringify(d))))));
      return {
        cases: fc.oneof(
          { weight: 6, arbitrary: raw(jsonMutatedFrom(docsOf(c)), 'json') },
          {
            weight: 1,
            arbitrary: raw(
              jsonValue().map((v) => new Uint8Array(Buffer.from(JSON.stringify(v) ?? 'null'))),
              'json',
            ),
          },
          { weight: 1, arbitrary: raw(mutatedFrom(docsOf(c).map((d) => new Uint8Array(Buffer.from(JSON.stringify(d))))), 'json') },
          { weight: 2, arbitrary: raw(derMutatedFrom(signedSeeds)) },
        ),
        prepare: async (i) => (i.kind === 'json' ? sign(i.bytes) : i.bytes),
        run: (b, _i, probe) => verify(b, c, probe),
        close: nothing,
      };
    },
  };
}

/** A stand-in registry that serves the case's bytes, so the org's RegistryClient reads them as a registry answer. */
async function documentServer(): Promise<{ server: Server; url: string; serve: (b: Uint8Array) => void }> {
  let current: Uint8Array = new Uint8Array(0);
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/cms', 'content-length': String(current.byteLength) });
    res.end(Buffer.from(current));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, serve: (b) => (current = b) };
}

export const PARSER_TARGETS: readonly ParserTarget[] = [
  {
    name: 'ber-der',
    async open(c) {
      return {
        cases: mixed(c.der, derMutatedFrom(c.der)),
        prepare: asIs,
        async run(b, _i, probe) {
          if (await probe.step(() => readBer(b, 'fuzz input'))) probe.mark('ber-read');
          if (await probe.step(() => parseDer(b, 'fuzz input'))) probe.mark('asn1js-read');
        },
        close: nothing,
      };
    },
  },
  {
    name: 'cms-signed',
    async open(c) {
      return {
        cases: mixed(c.signed, derMutatedFrom(c.signed)),
        prepare: asIs,
        async run(b, _i, probe) {
          if (contentTypeOf(b) === Oids.signedData) probe.mark('content-info');
          let v = await probe.step(() => verifySignedData(b));
          if (v && !v.content) v = await probe.step(() => verifySignedData(b, { detachedContent: c.signedContent }));
          if (!v) return;
          probe.mark('verdict');
          if (v.signers.some((s) => s.valid)) probe.mark('signer-valid');
          const cert = v.signers[0]?.certificate;
          if (cert && (await probe.step(() => validateChain({ ...chainOptions(c), leaf: cert, intermediates: [...v.certificates, c.pki.orgCa.cert.der] })))) {
            probe.mark('chain-checked');
          }
        },
        close: nothing,
      };
    },
  },
  envelopeTarget('cms-enveloped', (c) => c.enveloped, Oids.envelopedData),
  envelopeTarget('cms-auth-enveloped', (c) => c.authEnveloped, Oids.authEnvelopedData),
  {
    name: 'x509-certificate',
    async open(c) {
      return {
        cases: mixed(c.certificates, derMutatedFrom(c.certificates)),
        prepare: asIs,
        async run(b, _i, probe) {
          const cert = await probe.step(() => parseCertificate(b));
          if (!cert) return;
          probe.mark('parsed');
          const r = await probe.step(() => validateChain({ ...chainOptions(c), leaf: cert }));
          if (r) probe.mark('chain-checked');
          if (r?.valid) probe.mark('chain-valid');
        },
        close: nothing,
      };
    },
  },
  {
    name: 'x509-crl',
    async open(c) {
      return {
        cases: mixed(c.crls, derMutatedFrom(c.crls)),
        prepare: asIs,
        async run(b, _i, probe) {
          const crl = await probe.step(() => parseCrl(b));
          if (!crl) return;
          probe.mark('parsed');
          for (const issuer of [c.pki.orgCa.cert, c.pki.root.cert]) {
            const r = await probe.step(() => verifyCrlSignature(crl, issuer));
            if (r) probe.mark('signature-checked');
            if (r?.ok) probe.mark('signature-valid');
          }
          if (await probe.step(() => validateChain({ ...chainOptions(c), leaf: c.pki.user.cert, crls: [b], revocation: 'require' })))
            probe.mark('used-in-chain');
        },
        close: nothing,
      };
    },
  },
  x509PathTarget,
  {
    name: 'mime-smime',
    async open(c) {
      return {
        cases: mixed(c.mails, mimeMutatedFrom(c.mails), [mimeTokenSoup()]),
        prepare: asIs,
        async run(b, _i, probe) {
          const p = await probe.step(() => parseSmime(b));
          if (p) {
            probe.mark('smime-parsed');
            if (await probe.step(() => originatorOf(p.headers))) probe.mark('originator');
            if (p.kind === 'multipart-signed') {
              if (await probe.step(() => classifyParts(p.signedEntity))) probe.mark('ssmax-parts');
              if (await probe.step(() => verifySignedData(p.signature, { detachedContent: p.signedEntity }))) probe.mark('signature-read');
            }
          }
          // RFC 9788: the payload's protected fields, and an envelope whose decryption yields the same bytes.
          const hp = await probe.step(() => readProtectedHeaders(b));
          if (hp) {
            probe.mark('protected-headers');
            await probe.step(() => compareOuterHeaders(p?.headers ?? [], hp));
          }
          if (await probe.step(() => openHeaderProtected(b, async () => b))) probe.mark('hp-opened');
          const tree = await probe.step(() => parseMimeEntity(b));
          if (tree) {
            probe.mark('entity-parsed');
            if (tree.parts.length >= 2) probe.mark('multipart');
            await probe.step(() => [collectAttachments(tree), findTextBody(tree)]);
          }
          if (await probe.step(() => detectCmsInput(b))) probe.mark('cms-detected');
        },
        close: nothing,
      };
    },
  },
  {
    name: 'zip',
    async open(c) {
      return {
        cases: mixed(c.zips, zipMutatedFrom(c.zips)),
        prepare: asIs,
        async run(b, _i, probe) {
          const budget = zipBudget({ maxTotalBytes: 64 * 1024 * 1024 });
          const z = await probe.step(() => readZip(b, {}, budget));
          if (z) {
            probe.mark('listed');
            for (const e of z.entries.slice(0, 16)) {
              const data = await probe.step(() => z.read(e, { password: 'pass' }));
              if (!data) continue;
              probe.mark('entry-read');
              if (looksLikeZip(data) && (await probe.step(() => readZip(data, {}, budget)))) probe.mark('nested');
            }
          }
          // Inspection (5)/(8) opens archives recursively under its own budget and deadline.
          const verdict = await probe.step(() =>
            inspect('inbound', [{ name: 'fuzz.zip', contentType: 'application/zip', bytes: b }], '', DEFAULT_INSPECTION_POLICY),
          );
          if (verdict) probe.mark('inspected');
        },
        close: nothing,
      };
    },
  },
  signedJsonTarget(
    'manifest-json',
    (c) => c.manifests,
    (c) => ({ key: c.pki.user.key, certificate: c.pki.user.cert.der, chain: [c.pki.orgCa.cert.der], contentType: SsmaxOids.ctManifest }),
    async (der, c, probe) => {
      const m = c.manifests[0] as {
        messageId: string;
        from: string;
        to: string[];
        cc: string[];
        subject: string;
        date: string;
        files: { n: number; name: string; sha256: string }[];
      };
      const expected = {
        ...m,
        body: new Uint8Array(Buffer.from('see the files\r\n')),
        files: m.files.map((f) => ({ n: f.n, name: f.name, sha256: f.sha256 })),
      };
      const v = await probe.step(() => verifyManifest(der, { trustAnchors: [c.pki.root.cert.der], crls: [c.pki.crl.der], time: FUZZ_NOW, expected }));
      if (v?.signerCertificate) probe.mark('signature-valid');
      if (v?.manifest) probe.mark('schema-ok');
      if (v?.valid) probe.mark('valid');
    },
  ),
  signedJsonTarget(
    'attestation-json',
    (c) => c.attestations,
    (c) => ({ key: c.pki.kmsSigning.key, certificate: c.pki.kmsSigning.cert.der, chain: [c.pki.orgCa.cert.der], contentType: SsmaxOids.ctOrgAttestation }),
    async (der, _c, probe) => {
      const v = await probe.step(() => verifyAttestation(der));
      if (!v) return;
      if (v.valid || /schema|JSON/.test(v.reason)) probe.mark('signature-valid');
      if (v.valid) probe.mark('schema-ok');
    },
  ),
  {
    name: 'registry-json',
    async open(c) {
      const stub = await documentServer();
      const client = new RegistryClient({ url: stub.url, rootCertificate: c.pki.root.cert.der, maxAgeSeconds: 0, timeoutMs: 1500, clock: () => FUZZ_NOW });
      const sign = (bytes: Uint8Array) => signSignedData(bytes, { key: c.pki.root.key, certificate: c.pki.root.cert.der, signingTime: FUZZ_NOW });
      const docs = (kind: string, seeds: readonly unknown[]) =>
        fc.oneof(
          { weight: 6, arbitrary: raw(jsonMutatedFrom(seeds), kind) },
          {
            weight: 1,
            arbitrary: raw(
              jsonValue().map((v) => new Uint8Array(Buffer.from(JSON.stringify(v) ?? 'null'))),
              kind,
            ),
          },
        );
      return {
        cases: fc.oneof(
          { weight: 4, arbitrary: docs('directory', c.directories) },
          { weight: 3, arbitrary: docs('status', c.statuses) },
          { weight: 2, arbitrary: raw(derMutatedFrom(c.crls), 'crl') },
          { weight: 1, arbitrary: raw(mutatedFrom(c.crls), 'crl') },
        ),
        prepare: async (i) => (i.kind === 'crl' ? i.bytes : sign(i.bytes)),
        async run(b, input, probe) {
          stub.serve(b);
          client.invalidate();
          if (input.kind === 'directory') {
            if (!(await probe.step(() => client.directory()))) return;
            probe.mark('document-accepted');
            if (await probe.step(() => client.memberByDomain('org-a.example'))) probe.mark('member-found');
          } else if (input.kind === 'status') {
            if (!(await probe.step(() => client.status()))) return;
            probe.mark('document-accepted');
            if (await probe.step(() => client.statusOf('org-a'))) probe.mark('member-found');
          } else if (await probe.step(() => client.crl())) probe.mark('document-accepted');
        },
        close: () =>
          new Promise<void>((r) => {
            stub.server.close(() => r());
            stub.server.closeAllConnections();
          }),
      };
    },
  },
];

/** The in-process targets in run order, with their case counts in a default run and their budget weights. */
export const PARSER_TARGET_RUNS = PARSER_TARGETS.map((t) => ({ name: t.name, defaultCases: t.defaultCases ?? 9_000, budgetWeight: t.budgetWeight ?? 1 }));
