export { World, WorldUser, randomSeed } from './world.js';
export type { WorldOptions, WorldOrg, ServiceListing, SendInput, InboxInput, SettledIncident, FetchedCrl } from './world.js';
export { WORLD_CONFIG_SCHEMA, validateWorldConfig, parseWorldConfig, loadWorldConfig, userAddress, implementationName } from './world-config.js';
export type { WorldConfig, WorldOrgConfig, WorldUserConfig, WorldImplementationConfig } from './world-config.js';
// The reference outside implementation of an org (docs/IMPLEMENTING.md), for `ssmax org serve`.
export { serveOrg as serveOrgImplementation } from '@ssmax/sim-org';
export { OrgImplementationProcess, type OrgLaunchOptions } from './implementation/org-launcher.js';
export {
  CONFORMANCE_PROFILE,
  CONFORMANCE_ROWS,
  conformanceExitCode,
  formatConformance,
  formatConformanceJunit,
  runConformance,
} from './implementation/conformance.js';
export type { ConformanceReport, ConformanceRow, ConformanceRowResult, ConformanceStatus, RunConformanceOptions } from './implementation/conformance.js';
export { PROFILES, PROFILE_IDS, getProfile, modeFor } from './profiles.js';
export type { ProfileId, DefenceProfile, ProfileDns, ProfileOrgSettings, ConventionalSettings, ConventionalAttachments, PlusSwitches } from './profiles.js';
export { DEFENCES, DEFENCE_IDS, getDefence, parseDefenceIds, switchesFor } from './defences.js';
export type { DefenceId, DefenceSpec, WorldSwitches } from './defences.js';
export type { SmimeClientPolicy } from './smime-client.js';
export { startControlServer, controlRequest, describeWorld, ControlApiError } from './control.js';
export type { CancelResponse, InboxMail, SendRequest, SendResponse } from './control.js';
export * from './runner/index.js';
export { stateFilePath, controlSocketPath, readWorldState, worldRunning, writeWorldState, removeWorldState } from './state-file.js';
export type { WorldState } from './state-file.js';
export { MATRIX_COSTS, createMatrixExecutor, needsFreshWorldAfter, needsFreshWorldBefore, makePayload, MATRIX_WORLD, partyAddress } from './executor/index.js';
export type { MatrixExecutorOptions, Payload, PayloadFile } from './executor/index.js';
// The recipient's SSMAX user agent (10) and the card's object labels, for `ssmax mail verify` on SSMAX mail;
// the world's IMAP reader, for tests that take a delivered mail as a client sees it.
export { UserAgent, CardObjects } from '@ssmax/sim-org';
export type { MailVerdict, VerificationMode, UserAgentOptions, IdentityNoticeView, ReceivedFile, WithheldReason } from '@ssmax/sim-org';
export { fetchInbox } from './imap-fetch.js';
export { ProcessWorld, type ProcessWorldOptions, type ProcessTarget } from './chaos/process-world.js';
