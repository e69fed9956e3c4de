/**
 * `@ssmax/world/postfix-org`: an SSMAX organisation on Debian's Postfix (issue 14 item 3), an outside
 * implementation of docs/IMPLEMENTING.md that is not our own org code. docs/postfix-org.md describes it.
 */
export { runPostfixOrg, runFilter, queuedInPostfix } from './postfix-org.js';
export type { PostfixOrgOptions, FilterConfig } from './postfix-org.js';
export { ContentFilter, authenticatedSender } from './content-filter.js';
export type { ContentFilterOptions } from './content-filter.js';
export { PostfixInstance, instancePids, killInstance } from './postfix-instance.js';
export type { PostfixInstanceOptions } from './postfix-instance.js';
export { mainCf, masterCf, transportMap, tlsPolicyMap, mailboxesMap } from './postfix-config.js';
export type { PostfixConfigOptions, PostfixPorts, FilterPorts, PostfixPeer } from './postfix-config.js';
export { openOrgState } from './org-state.js';
export type { OrgStateConfig, OpenedOrgState } from './org-state.js';
