/**
 * What the content filter opens of an organisation enrolled by our reference org (sim-org serveOrg, procedures
 * (1)-(2), on this storage): the KMS token, the registry client, the org CA's user directory, the journey log and
 * a clamd. Together they are the {@link OrgContext} sim-org's own (4), (7), (8) and org-hop functions read; the
 * filter owns no spool (Postfix's queue is the org's queue).
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SoftHsmNative, SsmaxError } from '@ssmax/core';
import { SimNet } from '@ssmax/sim-net';
import {
  ClamdDaemon,
  DEFAULT_DLP_RULES,
  JourneyLog,
  Kms,
  OrgCa,
  RegistryClient,
  Spool,
  type OrgContext,
  type OrgProfile,
  type OrgUserDirectory,
} from '@ssmax/sim-org';

/** The org's state as the enrolment left it, and what the filter is told of the world. */
export interface OrgStateConfig {
  readonly id: string;
  readonly domain: string;
  readonly mode: 'org' | 'esp';
  /** The contract's storageDir: serveOrg keeps the org under `org/` and the CA under `ca/`. */
  readonly storageDir: string;
  /** The contract's `keys`: the org's own SoftHSM2 store. */
  readonly hsm: { readonly storeDir: string; readonly pkcs11Module: string };
  readonly registryUrl: string;
  /** DER of the registry root, base64. */
  readonly registryRootCert: string;
  /** The org's sim-net /24 (e.g. "127.77.3"). */
  readonly netPrefix: string;
  /** The sim-net test CA directory shared by the world. */
  readonly caDir?: string;
  readonly profile: Pick<OrgProfile, 'starttls' | 'outboundTls' | 'endToEnd'>;
  /** Where journey events go as JSON lines (the world's `POST /v1/journey`); optional in the contract. */
  readonly journeyUrl?: string;
}

const MEMBER_DLP_RULES = DEFAULT_DLP_RULES.map((r) => (r.id === 'confidential-marking' ? { ...r, appliesTo: 'non-member' as const } : r));

/** The KMS PINs of the reference org's enrolment (organisation.ts defaults). */
const KMS_PIN = '246810';
const KMS_SO_PIN = '13579111';

export interface OpenedOrgState extends AsyncDisposable {
  readonly ctx: OrgContext;
  /** The org's SoftHSM2 store (the trace vault's token is there too) and its CA. */
  readonly hsm: SoftHsmNative;
  readonly orgCa: OrgCa;
  /** Runs `f` before the state closes (the filter's own resources on the same token). */
  onClose(f: () => Promise<void>): void;
  close(): Promise<void>;
}

/** The users as the filter needs them: the org CA's directory (SMTP AUTH is Dovecot's, through Postfix). */
class OrgCaUsers implements OrgUserDirectory {
  constructor(private readonly orgCa: OrgCa) {}
  async authenticate(): Promise<boolean> {
    return false;
  }
  async has(address: string): Promise<boolean> {
    return this.orgCa.lookup(address.toLowerCase()).length > 0;
  }
  async encryptionCertificate(address: string): Promise<Uint8Array | undefined> {
    return this.orgCa
      .lookup(address.toLowerCase())
      .filter((e) => e.status === 'valid' && e.usage !== 'signing')
      .at(-1)?.certificate;
  }
  async crl(): Promise<Uint8Array | undefined> {
    return (await this.orgCa.currentCrl()).der;
  }
}

/** Opens the enrolled org's KMS, registry view and users as an {@link OrgContext}. Throws USAGE when the org was never enrolled. */
export async function openOrgState(c: OrgStateConfig): Promise<OpenedOrgState> {
  const state = await fs.readFile(join(c.storageDir, 'org', 'org.json'), 'utf8').then(
    (t) => JSON.parse(t) as { registryOrgId: string },
    () => undefined,
  );
  if (!state) throw new SsmaxError('USAGE', `Cannot open organisation ${c.id}. ${c.storageDir} holds no enrolment.`);
  const clock = () => new Date();
  const hsm = SoftHsmNative.open({ storageDir: c.hsm.storeDir, modulePath: c.hsm.pkcs11Module });
  const closers: (() => Promise<void>)[] = [() => hsm.close()];
  const close = async () => {
    for (const f of closers.reverse()) await f().catch(() => undefined);
    closers.length = 0;
  };
  try {
    const kms = await Kms.open({ hsm, label: `kms-${c.id}`, userPin: KMS_PIN, soPin: KMS_SO_PIN });
    closers.push(() => kms.close());
    const rootCertificate = new Uint8Array(Buffer.from(c.registryRootCert, 'base64'));
    const registry = new RegistryClient({ url: c.registryUrl, rootCertificate, clock, maxAgeSeconds: 0 });
    const orgCa = await OrgCa.open({ certificate: kms.certificates.org, key: kms.caKey, chain: [kms.certificates.root], storageDir: join(c.storageDir, 'ca') });
    const net = await SimNet.create({ prefix: c.netPrefix, ...(c.caDir !== undefined ? { caDir: c.caDir } : {}) });
    closers.push(() => net[Symbol.asyncDispose]());
    const ca = await net.ca();
    const clamd = c.mode === 'org' ? new ClamdDaemon({ dir: join(c.storageDir, 'clamd') }) : undefined;
    if (clamd) closers.push(() => clamd.close());
    const journey = new JourneyLog(join(c.storageDir, 'filter-journey.jsonl'), clock);
    let posting = Promise.resolve();
    const journeyUrl = c.journeyUrl;
    if (journeyUrl !== undefined) {
      // In order, best effort: a lost event costs only the report's detail (docs/IMPLEMENTING.md §5).
      const unsubscribe = journey.subscribe((e) => {
        posting = posting.then(() =>
          fetch(journeyUrl, {
            method: 'POST',
            body: JSON.stringify(e) + '\n',
            headers: { 'content-type': 'application/x-ndjson' },
            signal: AbortSignal.timeout(5_000),
          }).then(
            () => undefined,
            () => undefined,
          ),
        );
      });
      closers.push(async () => {
        unsubscribe();
        await posting;
      });
    }
    closers.push(() => journey.flush());
    const ctx: OrgContext = {
      id: c.id,
      domain: c.domain.toLowerCase(),
      mode: c.mode,
      net,
      kms,
      registry,
      users: new OrgCaUsers(orgCa),
      mailbox: {
        deliver: () => Promise.reject(new SsmaxError('USAGE', `Cannot deliver from the filter of ${c.id}. Postfix delivers (LMTP to Dovecot).`)),
      },
      // The filter keeps no spool; these stay empty (Postfix's queue holds the mail).
      outbound: await Spool.open(join(c.storageDir, 'filter-unused', 'outbound')),
      inbound: await Spool.open(join(c.storageDir, 'filter-unused', 'inbound')),
      journey,
      clock,
      // The org's outbound DLP as docs/IMPLEMENTING.md §4 asks of a member: a CONFIDENTIAL marking may go to a
      // member (re-encrypted to an accountable, inspected org), never to anyone else.
      profile: { ...c.profile, inspection: { dlpRules: MEMBER_DLP_RULES } },
      registryOrgId: state.registryOrgId,
      addresses: { msa: `${c.netPrefix}.25`, mtaIn: `${c.netPrefix}.25`, mtaOut: `${c.netPrefix}.25` },
      mxHost: `mx.${c.domain.toLowerCase()}`,
      tlsCa: ca.certificatePem,
      kick: () => undefined,
      ...(clamd ? { malwareScanner: clamd } : {}),
    };
    return { ctx, hsm, orgCa, onClose: (f) => void closers.push(f), close, [Symbol.asyncDispose]: close };
  } catch (e) {
    await close();
    throw e;
  }
}
