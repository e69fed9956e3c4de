/**
 * The organisation's real default inspection from sim-org (DLP rules and malware scan), as a
 * whole-content inspector for the hop.
 */
import { inspect } from '@ssmax/sim-org';
import type { ContentInspector } from './org-hop.js';

/**
 * Runs both of an organisation's default inspections on the file: outbound DLP (procedure (5)) and
 * inbound malware scanning (procedure (8)). A real hop runs one of them; running both is the upper
 * bound of what inspection adds to a hop. `flag` forwards, `block` refuses.
 */
export const defaultOrgInspection: ContentInspector = (content) => {
  const files = [{ name: 'report.txt', contentType: 'text/plain; charset=us-ascii', bytes: content }];
  const reasons = [...inspect('outbound', files, '').reasons, ...inspect('inbound', files, '').reasons];
  return { allow: !reasons.some((r) => r.action === 'block'), reasons: reasons.map((r) => `${r.rule}: ${r.detail}`) };
};
