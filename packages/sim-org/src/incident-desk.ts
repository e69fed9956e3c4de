/**
 * Procedure (12): malicious-mail handling between orgs, through the registry's HTTP API
 * (`POST /v1/incidents`, `GET /v1/orgs/<id>/outbox`, `GET /v1/incidents/<case>`,
 * `POST /v1/incidents/<case>/response`; every submitted body is `{ cms }`, a CMS SignedData over the JSON
 * document, signed by the org's KMS signing key).
 *
 * Receiving org: reports a mail from its own records ({@link IncidentDesk.reportFromRecords}): the (7)
 * record its MTA-in wrote names the sending domain and the sender certificate's serial; the caller only
 * names the message. The registry thereby asks the sending org for root cause and correction.
 * Sending org (paper §6 (12)): first reviews its own SSMAX operation: did this message pass its MSA (4)
 * with a verified card signature? If not, the mail left through the org's own compromised hosts, whatever
 * certificate the notice names: no user is traced or revoked, and the answer says so (root cause
 * `operation-fault`). If it did, the desk opens the trace vault for that case only (logged), identifies
 * the sender's employee number, revokes every certificate of the sender's trace id in the org CA (a new
 * CRL at once, published at `http://crl.<domain>/org.crl` and stapled into attestations), and answers.
 * The employee number stays inside the sending org: the registry learns only that the sender was
 * identified and revoked.
 *
 * Every step appends a journey event (procedure 12, actor `<org>/incident-desk`; docs/PROTOCOL.md §12).
 */
import { parseCertificate, signSignedData, SsmaxError, type CrlReason, type PrivateKeyOps } from '@ssmax/core';
import { canonicalJson } from './attestation.js';
import { readJourney, type JourneyCheck, type JourneyEvent, type JourneyLog, type JourneyOutcome } from './journey.js';
import type { OrgCa } from './org-ca.js';
import type { TraceVault } from './trace-vault.js';

export interface IncidentSigner {
  readonly key: PrivateKeyOps;
  /** The org's KMS signing certificate (registered with the registry), DER. */
  readonly certificate: Uint8Array;
  readonly chain?: readonly Uint8Array[];
}

/** What the sending side needs to trace and revoke: the org CA, the sealed trace vault and its opening key. */
export interface IncidentBackOffice {
  readonly orgCa: OrgCa;
  readonly vault: TraceVault;
  readonly vaultKey: PrivateKeyOps;
  /** Who opens the vault, recorded in its audit log (a role, not a person's data). */
  readonly officer?: string;
}

export interface IncidentDeskOptions extends Partial<IncidentBackOffice> {
  /** Registry base URL, e.g. http://127.0.0.10:8080 (loopback only in the test bed). */
  readonly registryUrl: string;
  /** This org's registry-assigned id. */
  readonly orgId: string;
  readonly signer: IncidentSigner;
  readonly now?: () => Date;
  /** The injected transport; default global fetch. */
  readonly fetch?: typeof fetch;
  /**
   * The org's journey log. The desk records each (12) step there, reviews its MSA journal in it (sending
   * side) and finds its MTA-in's (7) record in it (receiving side). Required for both; without it the
   * desk can only {@link IncidentDesk.report} with explicit evidence.
   */
  readonly journey?: JourneyLog;
  /** The org's id in actor names ("org-a" in `org-a/msa`); default {@link orgId}. */
  readonly actorOrg?: string;
  /** The org's registry view: the member that holds a mail domain (receiving side, {@link IncidentDesk.reportFromRecords}). */
  readonly memberByDomain?: (domain: string) => Promise<{ readonly orgId: string } | undefined>;
}

export interface IncidentReportInput {
  readonly messageId: string;
  readonly senderOrgId: string;
  /** Hex serial of the sender's certificate (from the (7) record / identity notice). */
  readonly senderCertificateSerial: string;
  readonly summary: string;
  readonly pattern?: 'A' | 'B' | 'C';
  /** Hex SHA-256 of the malicious file, if any. */
  readonly sha256?: string;
}

/** What a receiving org's user (or its SOC) says when reporting a mail; the evidence comes from the org's own records. */
export interface MaliciousMailReport {
  /** The Message-ID as the mail carries it (angle brackets optional). */
  readonly messageId: string;
  /** The local user who reported it, recorded in the journey. */
  readonly reportedBy?: string;
  readonly summary?: string;
  readonly pattern?: 'A' | 'B' | 'C';
  readonly sha256?: string;
}

/** The receiving org's answer to a report: a registry case, or why there was nothing to report. */
export type MaliciousReportResult =
  | {
      readonly status: 'reported';
      readonly caseId: string;
      /** The Message-ID as the org's (7) record holds it. */
      readonly messageId: string;
      readonly senderOrgId: string;
      readonly senderDomain: string;
      /** Hex, lower case, from the MTA-in's `sender-certificate` check. */
      readonly senderCertificateSerial: string;
    }
  | {
      readonly status: 'not-reported';
      readonly messageId: string;
      /** e.g. no (7) record of the message, or the (7) record names no sender certificate. */
      readonly reason: string;
    };

/** The registry's notice to the sending org (its outbox / callback body). */
export interface IncidentNotice {
  readonly type: 'ssmax-incident-notice';
  readonly caseId: string;
  readonly senderOrgId: string;
  readonly reporterOrgId: string;
  readonly messageId: string;
  readonly senderCertificateSerial: string;
  readonly evidence: { readonly summary: string; readonly pattern?: string; readonly sha256?: string };
  readonly responseDue: string;
  readonly responseUrl: string;
}

/**
 * What the sending org's self-review concluded:
 * `sender`: the message passed our MSA (4) with a card signature; the signer was traced;
 * `own-hosts`: our MSA journal has no (4) acceptance of the message, so it left through our own
 * (compromised) hosts: nobody is traced or revoked on the strength of the notice;
 * `unknown-certificate`: it passed (4) but the signing certificate is not in our org CA's directory;
 * `not-malicious`: the reviewer judged the mail not malicious.
 */
export type IncidentCause = 'sender' | 'own-hosts' | 'unknown-certificate' | 'not-malicious';

/** What the sending org's review found (kept inside the org). */
export interface IncidentFinding {
  readonly caseId: string;
  readonly messageId: string;
  readonly cause: IncidentCause;
  readonly identified: boolean;
  /** The serial the MSA (4) record names (what the desk traced), when the message passed (4). */
  readonly msaSerial?: string;
  readonly address?: string;
  /** From the sealed vault; never sent to the registry. */
  readonly employeeNumber?: string;
  readonly traceId?: string;
  readonly revokedSerials: readonly string[];
  readonly rootCause: 'operation-fault' | 'malicious-sender' | 'client-takeover' | 'not-malicious';
  /** The registry's answer to the response (case and re-evaluation decision). */
  readonly registryAnswer: unknown;
}

export interface IncidentReview {
  readonly malicious: boolean;
  readonly rootCause?: 'malicious-sender' | 'client-takeover' | 'operation-fault';
}

/** Message-IDs compared without angle brackets (RFC 5322 §3.6.4 msg-id). */
const bareId = (id: string): string => id.trim().replace(/^<|>$/g, '');
/** Serials compared as hex numbers (case and leading zeros do not matter). */
const sameSerial = (a: string, b: string): boolean => a.toLowerCase().replace(/^0+/, '') === b.toLowerCase().replace(/^0+/, '');
const SERIAL_DETAIL = /^serial ([0-9a-fA-F]+)\b/;

export class IncidentDesk {
  private readonly o: IncidentDeskOptions;
  private readonly now: () => Date;
  private readonly http: typeof fetch;
  #backOffice: IncidentBackOffice | undefined;
  /** Cases this desk answered or found answered (the registry's outbox keeps every notice). */
  readonly #done = new Set<string>();

  constructor(o: IncidentDeskOptions) {
    const host = new URL(o.registryUrl).hostname;
    if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost' && host !== '[::1]') {
      throw new SsmaxError('USAGE', `Cannot use registry ${o.registryUrl}. The test bed talks to loopback addresses only.`);
    }
    this.o = o;
    this.now = o.now ?? (() => new Date());
    this.http = o.fetch ?? fetch;
    if (o.orgCa && o.vault && o.vaultKey)
      this.#backOffice = { orgCa: o.orgCa, vault: o.vault, vaultKey: o.vaultKey, ...(o.officer ? { officer: o.officer } : {}) };
  }

  /** The back office (org CA, trace vault, vault key), when it is opened after the desk (organisation.ts). */
  attachBackOffice(b: IncidentBackOffice): void {
    if (this.#backOffice) throw new SsmaxError('USAGE', `Cannot attach a back office to the incident desk of ${this.o.orgId}. It has one already.`);
    this.#backOffice = b;
  }

  /** True once the desk can trace and revoke (sending side). */
  get canHandle(): boolean {
    return this.#backOffice !== undefined && this.o.journey !== undefined;
  }

  private get actor(): string {
    return `${this.o.actorOrg ?? this.o.orgId}/incident-desk`;
  }

  private async record(messageId: string, outcome: JourneyOutcome, checks: readonly JourneyCheck[], detail?: string): Promise<void> {
    await this.o.journey?.record({
      messageId,
      actor: this.actor,
      procedure: 12,
      checks,
      files: 'none',
      outcome,
      ...(detail ? { detail: detail.slice(0, 500) } : {}),
    });
  }

  /** The org's whole journal: the durable file (earlier runs too) or, without one, this process's events. */
  private async journal(): Promise<readonly JourneyEvent[]> {
    const j = this.o.journey;
    if (!j) return [];
    await j.flush();
    return j.path === undefined ? j.events() : readJourney(j.path);
  }

  private async signed(doc: unknown): Promise<{ cms: string }> {
    const der = await signSignedData(new TextEncoder().encode(canonicalJson(doc)), {
      key: this.o.signer.key,
      certificate: this.o.signer.certificate,
      ...(this.o.signer.chain ? { chain: this.o.signer.chain } : {}),
      signingTime: this.now(),
    });
    return { cms: Buffer.from(der).toString('base64') };
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const res = await this.http(new URL(path, this.o.registryUrl), {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new SsmaxError('IO_ERROR', `Cannot ${method} ${path} at the registry. It answered ${res.status}: ${text.slice(0, 300)}.`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  /** Receiving org: reports a malicious mail with explicit evidence; returns the registry's case (with its caseId). */
  async report(input: IncidentReportInput, checks: readonly JourneyCheck[] = [], detail?: string): Promise<{ caseId: string } & Record<string, unknown>> {
    const doc = {
      type: 'ssmax-incident-report',
      reporterOrgId: this.o.orgId,
      messageId: input.messageId,
      senderOrgId: input.senderOrgId,
      senderCertificateSerial: input.senderCertificateSerial.toLowerCase(),
      evidence: { summary: input.summary, ...(input.pattern ? { pattern: input.pattern } : {}), ...(input.sha256 ? { sha256: input.sha256 } : {}) },
      reportedAt: this.now().toISOString(),
    };
    const c = (await this.call('POST', '/v1/incidents', await this.signed(doc))) as { caseId: string } & Record<string, unknown>;
    await this.record(
      input.messageId,
      'reported',
      [...checks, { name: 'registry-case', result: 'pass', detail: `case ${c.caseId}: asked ${input.senderOrgId} for root cause and correction` }],
      detail ?? input.summary,
    );
    return c;
  }

  /**
   * Receiving org: reports the mail `messageId` from its own records. Its MTA-in's (7) record of the
   * message names the sending domain (`from-domain`) and the sender certificate (`sender-certificate`,
   * "serial <hex>: ..."); the registry directory names the org holding that domain. Nothing the caller
   * or the mail's sender claims is taken on trust.
   */
  async reportFromRecords(input: MaliciousMailReport): Promise<MaliciousReportResult> {
    if (!this.o.journey || !this.o.memberByDomain)
      throw new SsmaxError('USAGE', `Cannot report ${input.messageId}. The incident desk of ${this.o.orgId} has no journey log or registry view.`);
    const mtaIn = `${this.o.actorOrg ?? this.o.orgId}/mta-in`;
    const at7 = (await this.journal()).find(
      (e) => e.actor === mtaIn && e.procedure === 7 && e.outcome === 'accepted' && bareId(e.messageId) === bareId(input.messageId),
    );
    const passed = (name: string) => at7?.checks.find((c) => c.name === name && c.result === 'pass')?.detail;
    const serial = SERIAL_DETAIL.exec(passed('sender-certificate') ?? '')?.[1]?.toLowerCase();
    const domain = passed('from-domain')?.toLowerCase();
    const by = input.reportedBy ? `reported by ${input.reportedBy}` : 'reported';
    const notReported = async (reason: string): Promise<MaliciousReportResult> => {
      await this.record(
        at7?.messageId ?? input.messageId,
        'reviewed',
        [{ name: 'mta-in-record', result: 'fail', detail: reason }],
        `${by}; not sent to the registry`,
      );
      return { status: 'not-reported', messageId: at7?.messageId ?? input.messageId, reason };
    };
    if (!at7) return notReported(`no (7) acceptance of ${input.messageId} at ${mtaIn}`);
    if (!domain || !serial) return notReported(`the (7) record at ${mtaIn} names ${domain ? 'no sender certificate' : 'no verified From domain'}`);
    const member = await this.o.memberByDomain(domain);
    if (!member) return notReported(`${domain} has no registry member`);
    const evidence: JourneyCheck = {
      name: 'mta-in-record',
      result: 'pass',
      detail: `${mtaIn} verified it at (7) ${at7.at}: from-domain ${domain}, sender certificate serial ${serial}, org ${member.orgId}`,
    };
    const summary = input.summary ?? 'reported as malicious by the recipient';
    const c = await this.report(
      {
        messageId: at7.messageId,
        senderOrgId: member.orgId,
        senderCertificateSerial: serial,
        summary,
        ...(input.pattern ? { pattern: input.pattern } : {}),
        ...(input.sha256 ? { sha256: input.sha256 } : {}),
      },
      [evidence],
      `${by}: ${summary}`,
    );
    return { status: 'reported', caseId: c.caseId, messageId: at7.messageId, senderOrgId: member.orgId, senderDomain: domain, senderCertificateSerial: serial };
  }

  /** Sending org: the notices the registry holds for this org (answered ones included). */
  async notices(): Promise<IncidentNotice[]> {
    const list = (await this.call('GET', `/v1/orgs/${encodeURIComponent(this.o.orgId)}/outbox`)) as unknown[];
    return list.filter((n): n is IncidentNotice => (n as { type?: string })?.type === 'ssmax-incident-notice');
  }

  /** Sending org: the notices whose case still awaits this org's response (asked of the registry once per case). */
  async pending(): Promise<IncidentNotice[]> {
    const out: IncidentNotice[] = [];
    for (const n of await this.notices()) {
      if (this.#done.has(n.caseId)) continue;
      const c = (await this.call('GET', `/v1/incidents/${encodeURIComponent(n.caseId)}`)) as { state?: string };
      if (c.state === 'awaiting-response') out.push(n);
      else this.#done.add(n.caseId);
    }
    return out;
  }

  /** Sending org: handles every pending notice (see {@link handle}); returns the findings in outbox order. */
  async handlePending(): Promise<IncidentFinding[]> {
    const out: IncidentFinding[] = [];
    for (const n of await this.pending()) out.push(await this.handle(n));
    return out;
  }

  /**
   * Sending org: reviews one case. The MSA journal decides whether a user of ours sent the message; only
   * then is the vault opened for this case, every certificate of the signer's trace id revoked, and the
   * registry told that the sender was identified. Each step is a journey event.
   */
  async handle(notice: IncidentNotice, review: IncidentReview = { malicious: true }): Promise<IncidentFinding> {
    const b = this.#backOffice;
    if (!b || !this.o.journey)
      throw new SsmaxError(
        'USAGE',
        `Cannot handle case ${notice.caseId}. The incident desk of ${this.o.orgId} has no org CA, trace vault, vault key or journey log.`,
      );
    if (notice.senderOrgId !== this.o.orgId)
      throw new SsmaxError('USAGE', `Cannot handle case ${notice.caseId}. It concerns ${notice.senderOrgId}, not ${this.o.orgId}.`);
    const { orgCa, vault, vaultKey } = b;
    const id = notice.messageId;

    // Self-review (paper §6 (12)): the org's own record of the submission, not the notice, says who sent it.
    const msaActor = `${this.o.actorOrg ?? this.o.orgId}/msa`;
    const at4 = (await this.journal()).find(
      (e) =>
        e.actor === msaActor &&
        e.procedure === 4 &&
        e.outcome === 'accepted' &&
        bareId(e.messageId) === bareId(id) &&
        e.checks.some((c) => c.name === 'user-signature' && c.result === 'pass'),
    );
    const msaSerial = SERIAL_DETAIL.exec(at4?.checks.find((c) => c.name === 'user-signature')?.detail ?? '')?.[1]?.toLowerCase();
    const traced = at4 ? (msaSerial ?? notice.senderCertificateSerial) : undefined;
    const entry = traced !== undefined ? orgCa.find(traced) : undefined;
    const cause: IncidentCause = !review.malicious ? 'not-malicious' : !at4 ? 'own-hosts' : !entry ? 'unknown-certificate' : 'sender';
    const reviewChecks: JourneyCheck[] = [
      {
        name: 'registry-notice',
        result: 'pass',
        detail: `case ${notice.caseId} from ${notice.reporterOrgId}: sender certificate serial ${notice.senderCertificateSerial}`,
      },
      at4
        ? {
            name: 'msa-journal',
            result: 'pass',
            detail: `${msaActor} accepted it at (4) ${at4.at} with a verified card signature${msaSerial ? ` (serial ${msaSerial})` : ''}`,
          }
        : { name: 'msa-journal', result: 'fail', detail: `no (4) acceptance at ${msaActor}: no user of ours submitted it; it left through our own hosts` },
    ];
    if (at4 && msaSerial && !sameSerial(msaSerial, notice.senderCertificateSerial)) {
      reviewChecks.push({ name: 'notice-serial', result: 'fail', detail: `the notice names ${notice.senderCertificateSerial}; our MSA verified ${msaSerial}` });
    }
    if (at4)
      reviewChecks.push(
        entry
          ? { name: 'certificate-issued', result: 'pass', detail: `serial ${entry.serialNumber} issued to ${entry.address}` }
          : { name: 'certificate-issued', result: 'fail', detail: `serial ${traced} is not in our org CA's directory` },
      );
    await this.record(id, 'reviewed', reviewChecks, `cause: ${cause}`);

    let finding: Omit<IncidentFinding, 'registryAnswer'>;
    if (cause !== 'sender' || !entry) {
      finding = {
        caseId: notice.caseId,
        messageId: id,
        cause,
        identified: false,
        ...(msaSerial ? { msaSerial } : {}),
        revokedSerials: [],
        rootCause: cause === 'not-malicious' ? 'not-malicious' : 'operation-fault',
      };
    } else {
      const cert = parseCertificate(entry.certificate);
      const traceId = cert.traceId ? Buffer.from(cert.traceId).toString('hex') : undefined;
      // The vault writes its audit line (case id, trace id, officer) before it decrypts anything.
      const record = traceId
        ? await vault.open({
            caseId: notice.caseId,
            traceId,
            requestedBy: b.officer ?? `${this.o.orgId} incident desk`,
            reason: `registry case ${notice.caseId}: ${notice.evidence.summary.slice(0, 200)}`,
            key: vaultKey,
          })
        : undefined;
      await this.record(
        id,
        'traced',
        [
          record
            ? { name: 'trace-vault', result: 'pass', detail: `opened for case ${notice.caseId} only (trace id ${traceId}; opening logged)` }
            : { name: 'trace-vault', result: 'fail', detail: `certificate ${entry.serialNumber} carries no trace id` },
        ],
        record ? `sender ${entry.address} identified` : `sender ${entry.address} not identified`,
      );
      // Every certificate of the same trace id (signing and encryption on the card) goes.
      const same = orgCa.entries().filter((e) => {
        if (e.status !== 'valid') return false;
        const t = parseCertificate(e.certificate).traceId;
        return traceId !== undefined && t !== undefined && Buffer.from(t).toString('hex') === traceId;
      });
      const reason: CrlReason = review.rootCause === 'client-takeover' ? 'keyCompromise' : 'privilegeWithdrawn';
      const revokedSerials: string[] = [];
      let crlNumber: string | undefined;
      for (const e of same.length > 0 ? same : [entry]) {
        const crl = await orgCa.revoke(e.serialNumber, reason, `case ${notice.caseId}`);
        crlNumber = crl.crlNumber;
        revokedSerials.push(e.serialNumber);
      }
      await this.record(
        id,
        'revoked',
        [
          {
            name: 'revocation',
            result: 'pass',
            detail: `revoked ${revokedSerials.join(', ') || '(already revoked)'} (${reason}); CRL number ${crlNumber ? parseInt(crlNumber, 16) : '?'} published`,
          },
        ],
        `certificates of ${entry.address} revoked`,
      );
      finding = {
        caseId: notice.caseId,
        messageId: id,
        cause,
        identified: record !== undefined,
        ...(msaSerial ? { msaSerial } : {}),
        address: entry.address,
        ...(record ? { employeeNumber: record.employeeNumber } : {}),
        ...(traceId ? { traceId } : {}),
        revokedSerials,
        rootCause: review.rootCause ?? 'malicious-sender',
      };
    }
    const actions = finding.identified ? ['sender-identified-and-revoked'] : finding.revokedSerials.length > 0 ? ['operation-fixed'] : ['none'];
    const response = {
      type: 'ssmax-incident-response',
      caseId: notice.caseId,
      orgId: this.o.orgId,
      rootCause: finding.rootCause,
      correctiveActions: actions,
      summary: RESPONSE_SUMMARY[finding.cause](finding),
      respondedAt: this.now().toISOString(),
    };
    const registryAnswer = await this.call('POST', `/v1/incidents/${encodeURIComponent(notice.caseId)}/response`, await this.signed(response));
    this.#done.add(notice.caseId);
    const c = (registryAnswer as { case?: { state?: string; outcome?: string } } | undefined)?.case;
    await this.record(
      id,
      'answered',
      [
        {
          name: 'registry-response',
          result: 'pass',
          detail: `root cause ${finding.rootCause}; actions ${actions.join(', ')}; case ${c?.state ?? '?'} (${c?.outcome ?? '?'})`,
        },
      ],
      response.summary,
    );
    return { ...finding, registryAnswer };
  }
}

/** The response's summary per cause: what the registry (and through it the reporter) learns. */
const RESPONSE_SUMMARY: Record<IncidentCause, (f: Omit<IncidentFinding, 'registryAnswer'>) => string> = {
  sender: (f) =>
    f.identified
      ? `Our MSA accepted the message with a verified card signature; sender identified through the sealed trace table (opening logged for this case); ${f.revokedSerials.length} certificate(s) revoked and published in our CRL.`
      : `Our MSA accepted the message with a verified card signature; the certificate carries no trace id, so the sender was not identified; ${f.revokedSerials.length} certificate(s) revoked.`,
  'own-hosts': () =>
    'Reviewed our MSA journal: no user of ours submitted this message through our submission check (4); it left through our own hosts, which we treat as compromised. No user was traced or revoked on the strength of the notice.',
  'unknown-certificate': () =>
    'Reviewed: our MSA accepted the message, but the signing certificate is not in our directory; our SSMAX operation is under review.',
  'not-malicious': () => 'Reviewed: the mail was not malicious.',
};
