/**
 * The attacker capabilities scenario steps may name: one module per capability, collected here. The
 * scenario schema's step `capability` enum and per-capability `params`, and scenarios/capabilities.json,
 * are generated from this list (`npm run gen:capabilities`, generate.ts).
 */
import type { ParamsOf, RunnableCapability } from './capability.js';
import { forwardingRule } from './forwarding-rule.js';
import { lookAlikeDomain } from './look-alike-domain.js';
import { maliciousInsider } from './malicious-insider.js';
import { onPathMta } from './on-path-mta.js';
import { orgServerTakeover } from './org-server-takeover.js';
import { passiveCapture } from './passive-capture.js';
import { registryEnrolment } from './registry-enrolment.js';
import { replay } from './replay.js';
import { rewrapSigned } from './rewrap-signed.js';
import { senderPcMalware } from './sender-pc-malware.js';
import { spoofColleague } from './spoof-colleague.js';
import { spoofDirect } from './spoof-direct.js';
import { stolenCard } from './stolen-card.js';
import { stolenPasswordImap } from './stolen-password-imap.js';

export { ADDRESS, MTA_IN, TO, capability, capabilitySpec, stepPhase } from './capability.js';
export type {
  Capability,
  CapabilityRun,
  RunnableCapability,
  CapabilityPhase,
  CapabilitySpec,
  FromSchema,
  ParamSchema,
  ParamsOf,
  ParamsSchema,
} from './capability.js';
export type { ForwardingRuleParams } from './forwarding-rule.js';
export type { LookAlikeDomainParams } from './look-alike-domain.js';
export type { MaliciousInsiderParams } from './malicious-insider.js';
export type { OnPathMtaParams } from './on-path-mta.js';
export type { OrgServerTakeoverParams } from './org-server-takeover.js';
export type { PassiveCaptureParams } from './passive-capture.js';
export type { RegistryEnrolmentParams } from './registry-enrolment.js';
export type { ReplayParams } from './replay.js';
export type { RewrapSignedParams } from './rewrap-signed.js';
export type { SenderPcMalwareParams } from './sender-pc-malware.js';
export type { SpoofColleagueParams } from './spoof-colleague.js';
export type { SpoofDirectParams } from './spoof-direct.js';
export type { StolenCardParams } from './stolen-card.js';
export type { StolenPasswordImapParams } from './stolen-password-imap.js';
export {
  forwardingRule,
  lookAlikeDomain,
  maliciousInsider,
  onPathMta,
  orgServerTakeover,
  passiveCapture,
  registryEnrolment,
  replay,
  rewrapSigned,
  senderPcMalware,
  spoofColleague,
  spoofDirect,
  stolenCard,
  stolenPasswordImap,
};

/** Every capability a scenario step may name, in the order capabilities.json lists them. */
export const CAPABILITIES = [
  spoofDirect,
  lookAlikeDomain,
  registryEnrolment,
  orgServerTakeover,
  spoofColleague,
  stolenPasswordImap,
  forwardingRule,
  onPathMta,
  passiveCapture,
  stolenCard,
  senderPcMalware,
  maliciousInsider,
  replay,
  rewrapSigned,
] as const;

type AnyCapability = (typeof CAPABILITIES)[number];
/** A capability name scenario steps may use. */
export type CapabilityName = AnyCapability['name'];

/**
 * A scenario step, typed by its capability: `step.capability === 'stolen-card'` narrows `step.params`
 * to {@link StolenCardParams}. Valid for steps of a scenario that passed the schema.
 */
export type CapabilityStep = {
  [C in AnyCapability as C['name']]: { readonly capability: C['name']; readonly note?: string } & ({} extends ParamsOf<C>
    ? { readonly params?: ParamsOf<C> }
    : { readonly params: ParamsOf<C> });
}[CapabilityName];

const BY_NAME: ReadonlyMap<string, RunnableCapability> = new Map(CAPABILITIES.map((c): [string, RunnableCapability] => [c.name, c]));

/** The capability (spec and run), or undefined when no capability has that name. */
export function capabilityByName(name: string): RunnableCapability | undefined {
  return BY_NAME.get(name);
}
