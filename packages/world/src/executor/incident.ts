/**
 * Procedure (12) as an observer sees it: the recipient reports the mail through its own org, which takes
 * the evidence from its own (7) records and files a case with the registry; the sending org's desk handles
 * it by itself (self-review against its MSA journal, then the vault and revocation). Observed afterwards
 * from outside only: what the desk concluded (its answer, no employee number), the org CRL fetched over
 * the simulated network, and whether a new submission signed with the reported card is refused at (4).
 */
import type { World } from '../world.js';
import type { CellContext } from '../runner/types.js';
import type { IncidentEvidence, RecipientView } from './evidence.js';
import { refusalIn } from './cell.js';

const norm = (x: string) => x.toLowerCase().replace(/^0+/, '');

/** Reports `messageId` as malicious from `recipient`'s org; undefined when that org has nothing to report (no (7) record naming a sender). */
export async function reportMalicious(
  world: World,
  recipient: string,
  messageId: string,
  _view: RecipientView | undefined,
  ctx: CellContext,
): Promise<IncidentEvidence | undefined> {
  const recvOrg = world.user(recipient).org;
  // An outside implementation runs only under SSMAX profiles; a builtin org says which security it runs.
  if (!recvOrg.outside && recvOrg.organisation.security !== 'ssmax') return undefined;
  const r = await world.user(recipient).reportMalicious(`<${messageId}>`, { summary: 'reported as malicious by the recipient' });
  if (r.status !== 'reported') {
    ctx.log(`(12) ${recvOrg.id} did not report ${messageId}: ${r.reason}`);
    return undefined;
  }
  const settled = await world.settleIncidents();
  const finding = settled.find((f) => f.caseId === r.caseId) ?? (await outsideAnswer(world, r.senderDomain, r.caseId));
  if (!finding) throw new Error(`Cannot observe (12). No desk answered case ${r.caseId} of ${messageId}.`);
  ctx.log(`(12) case ${r.caseId}: ${finding.org} concluded ${finding.cause}, identified=${finding.identified}, revoked ${finding.revokedSerials.length}`);
  const crl = await world.fetchCrl(r.senderDomain);
  const onCrl = crl.lists(r.senderCertificateSerial);
  const resubmissionRefused = onCrl ? await cardRefusedAtMsa(world, r.senderDomain, r.senderCertificateSerial, recipient) : false;
  return { identified: finding.identified, ownHosts: finding.cause === 'own-hosts', onCrl, resubmissionRefused };
}

/**
 * The answer of a sending org run by an outside implementation: it answers the registry's notice by itself
 * (docs/IMPLEMENTING.md §4 (12)), so its conclusion is read from the registry's case (`GET /v1/incidents/<id>`)
 * once it has responded (polled up to 30 s): a malicious sender or a client takeover is the sender's card
 * (identified when the corrective actions say so), an operation fault its own hosts.
 */
async function outsideAnswer(
  world: World,
  senderDomain: string,
  caseId: string,
): Promise<{ org: string; cause: 'sender' | 'own-hosts' | 'not-malicious'; identified: boolean; revokedSerials: readonly string[] } | undefined> {
  const org = world.orgs().find((o) => o.domain.toLowerCase() === senderDomain.toLowerCase());
  if (!org?.outside) return undefined;
  const until = Date.now() + 30_000;
  for (;;) {
    const c = await world.incidentCase(caseId);
    const response = c['response'] as { rootCause?: string; correctiveActions?: readonly string[] } | undefined;
    if (c['state'] === 'responded' && response?.rootCause) {
      const cause = response.rootCause === 'not-malicious' ? 'not-malicious' : response.rootCause === 'operation-fault' ? 'own-hosts' : 'sender';
      // Which serials it revoked is in its CRL, fetched next; the case says only whether it identified and revoked the sender.
      return {
        org: org.id,
        cause,
        identified: cause === 'sender' && (response.correctiveActions ?? []).includes('sender-identified-and-revoked'),
        revokedSerials: [],
      };
    }
    if (Date.now() > until) return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The holder of the card with `serial` submits a new mail: is it refused at (4)? */
async function cardRefusedAtMsa(world: World, domain: string, serial: string, to: string): Promise<boolean> {
  const holder = world
    .users()
    .find((u) => u.org.domain.toLowerCase() === domain.toLowerCase() && u.hasCard && norm(u.registered.signingCertificate.serialNumber) === norm(serial));
  if (!holder) return false;
  try {
    await holder.send({ to, subject: 'after (12)', body: 'resubmission with the reported card', pin: holder.pin });
    return false;
  } catch (e) {
    if (refusalIn(e) === undefined) throw e;
    return true;
  }
}
