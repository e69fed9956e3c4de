/**
 * Issue 13 item 1: one org hop. orgHop keeps the mail's logic (MIME roles, attestation, the org signature)
 * and sends every protected file through one per-file function, core's protectedFileHop, which the bench
 * times (bench/src/one-hop.test.ts asserts the identity). Real KMS keys on SoftHSM2.
 */
import { decryptContent, encryptContent, parseMimeEntity, parseSmime, protectedFileHop, type CommitSink, type ProtectedFileHop } from '@ssmax/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityNotice } from './attestation.js';
import { assembleMixed, buildFilePart, classifyParts, orgFileHop, orgHop, type OrgHopOptions } from './org-hop.js';
import { createUserSideWorld, type FixtureOrg, type UserSideWorld } from './testing/user-side-fixture.js';

let world: UserSideWorld;
let a: FixtureOrg;
let b: FixtureOrg;

beforeAll(async () => {
  world = await createUserSideWorld();
  a = await world.org('hop-a', 'hop-a.example');
  b = await world.org('hop-b', 'hop-b.example');
});
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

const NOTICE: IdentityNotice = {
  sender: 'alice@hop-a.example',
  certSerial: '01',
  traceId: '',
  proofing: 'employeeCardPin',
  proofedAt: '2026-12-01T00:00:00.000Z',
  cardAndPinUsed: true,
};

/** A file as the user agent puts it inside the encryption (docs/PROTOCOL.md §4): a MIME entity with its real name. */
const fileEntity = (name: string, text: string): Uint8Array =>
  new Uint8Array(
    Buffer.from(
      `Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(text).toString('base64')}`,
      'latin1',
    ),
  );

/** The signed entity of a user's mail with `files`, each encrypted to org A's KMS encryption certificate. */
async function userEntity(files: readonly Uint8Array[]): Promise<Uint8Array> {
  const body = new Uint8Array(
    Buffer.from('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nZmlsZXMgYXR0YWNoZWQ=', 'latin1'),
  );
  const parts: Uint8Array[] = [body];
  for (const [i, f] of files.entries()) parts.push(buildFilePart(i + 1, await encryptContent(f, { recipients: [a.kms.certificates.encryption] })));
  return assembleMixed(parts);
}

function hopOptions(entity: Uint8Array, extra: Partial<OrgHopOptions>): OrgHopOptions {
  return {
    kms: a.kms,
    mode: 'org',
    direction: 'outbound',
    entity,
    headers: [
      { name: 'From', value: 'alice@hop-a.example' },
      { name: 'To', value: 'bob@hop-b.example' },
      { name: 'Message-ID', value: '<one-hop@hop-a.example>' },
    ],
    recipients: [b.kms.certificates.encryption],
    org: a.orgId,
    domain: a.domain,
    hop: 1,
    messageId: '<one-hop@hop-a.example>',
    checks: [],
    identityNotice: NOTICE,
    recipientMember: true,
    clock: world.now,
    ...extra,
  };
}

interface Call {
  readonly key: unknown;
  readonly recipients: readonly Uint8Array[];
  readonly signedContent: boolean;
  readonly written: Uint8Array[];
  outcome: 'committed' | 'aborted' | 'open';
}

/** The org's per-file hop, watched: what each call was given, what it wrote and whether its output was kept. */
function watched(calls: Call[]): ProtectedFileHop {
  return (input, sink, opts) => {
    const call: Call = { key: opts.key, recipients: opts.recipients, signedContent: opts.signedContent !== undefined, written: [], outcome: 'open' };
    calls.push(call);
    const recording: CommitSink = {
      write: (c) => {
        call.written.push(Uint8Array.from(c));
        return sink.write(c);
      },
      commit: async () => {
        call.outcome = 'committed';
        await sink.commit();
      },
      abort: async () => {
        call.outcome = 'aborted';
        await sink.abort();
      },
    };
    return orgFileHop(input, recording, opts);
  };
}

describe('orgHop (one org hop, issue 13 item 1)', () => {
  it('runs core protectedFileHop by default', () => {
    expect(orgFileHop).toBe(protectedFileHop);
  });

  it('sends each protected file once through the per-file hop with the KMS encryption key, and forwards exactly what it wrote', async () => {
    const files = [fileEntity('report.txt', 'quarterly figures'), fileEntity('notes.txt', 'meeting notes')];
    const calls: Call[] = [];
    const hop = await orgHop(hopOptions(await userEntity(files), { fileHop: watched(calls) }));
    if (hop.blocked) throw new Error(`blocked: ${JSON.stringify(hop.verdict)}`);
    expect(calls.map((c) => [c.key, c.recipients, c.signedContent, c.outcome])).toEqual([
      [a.kms.encryptionKey, [b.kms.certificates.encryption], false, 'committed'],
      [a.kms.encryptionKey, [b.kms.certificates.encryption], false, 'committed'],
    ]);
    const signed = parseSmime(hop.message);
    if (signed.kind !== 'multipart-signed') throw new Error('expected multipart/signed');
    const out = classifyParts(signed.signedEntity).files;
    expect(out.map((f) => f.n)).toEqual([1, 2]);
    for (const [i, f] of out.entries()) {
      // The file part on the wire is the per-file hop's output, byte for byte, and org B's KMS opens it to the user's file.
      expect(Buffer.from(f.der).equals(Buffer.concat(calls[i]!.written))).toBe(true);
      expect(
        Buffer.from((await decryptContent(f.der, { key: b.kms.encryptionKey, certificate: b.kms.certificates.encryption })).content).equals(files[i]!),
      ).toBe(true);
    }
    expect(hop.files.map((f) => f.name)).toEqual(['report.txt', 'notes.txt']);
  });

  it('inspects the files the per-file hop authenticated and forwards none of its output when (5) blocks', async () => {
    const calls: Call[] = [];
    const entity = await userEntity([fileEntity('list.txt', 'CONFIDENTIAL customer list')]);
    const hop = await orgHop(hopOptions(entity, { fileHop: watched(calls), inspect: true }));
    expect(hop.blocked).toBe(true);
    expect(hop.verdict.reasons.map((r) => r.rule)).toContain('confidential-marking');
    // The hop ran (and re-encrypted) before the mail's verdict; its output went nowhere.
    expect(calls.map((c) => c.outcome)).toEqual(['committed']);
    expect('message' in hop).toBe(false);
  });

  it('throws AUTH_TAG_MISMATCH, and the per-file hop keeps nothing, when a file part was altered', async () => {
    const der = await encryptContent(fileEntity('a.txt', 'x'.repeat(5000)), { recipients: [a.kms.certificates.encryption] });
    der[der.length - 1]! ^= 0x01; // the GCM mac is the last element (RFC 5083 §2.1)
    const entity = assembleMixed([parseMimeEntity(await userEntity([])).parts[0]!.raw, buildFilePart(1, der)]);
    const calls: Call[] = [];
    await expect(orgHop(hopOptions(entity, { fileHop: watched(calls), inspect: true }))).rejects.toMatchObject({ code: 'AUTH_TAG_MISMATCH' });
    expect(calls.map((c) => c.outcome)).toEqual(['aborted']);
  });
});
