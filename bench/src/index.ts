export { runBench, rerender, FULL_PLAN, QUICK_PLAN } from './run.js';
export type { BenchPlan, RunBenchOptions, RunBenchResult } from './run.js';
export { benchFileHop, orgHop, orgHopFile } from './org-hop.js';
export type { ContentInspector, OrgHopOptions, OrgHopResult } from './org-hop.js';
export { evaluateTargets, linearFit, renderMarkdown, sizeLabel } from './results.js';
export type { BenchCase, BenchMeta, BenchResults, MemoryFit, TargetCheck } from './results.js';
