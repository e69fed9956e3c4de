export { protectedFileHop } from './protected-file-hop.js';
export type { ProtectedFileHop, ProtectedFileHopOptions, ProtectedFileHopResult, ReencryptTarget } from './protected-file-hop.js';
export type { SignedContentLayer } from './signed-content.js';
export { wholeContent } from './inspection.js';
export type { InspectionVerdict, StreamInspection, StreamInspector } from './inspection.js';
