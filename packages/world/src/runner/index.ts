export { MATRIX_PROFILES, OUTCOME_FIELDS } from './types.js';
export type {
  CellContext,
  CellExecutor,
  CellRun,
  ExpectedCell,
  IdentityShown,
  Implementations,
  JourneyEvent,
  Leak,
  LoadedScenario,
  Matrix,
  MatrixMeta,
  MatrixResult,
  Outcome,
  MatrixProfile,
  Scenario,
  ScenarioSet,
  ShardMeta,
  ShardTiming,
  Traced,
  Verdict,
} from './types.js';
export { BUNDLED_SCENARIOS, REPO_ROOT, loadScenarios } from './load-scenarios.js';
export { cellSeed, compareMatrices, compareOutcome, joinWorldRuns, matrixExitCode, normalizeJourneyEvent, parseProfiles, runMatrix } from './run-matrix.js';
export type { CellChange, CellCosts, RunMatrixOptions } from './run-matrix.js';
export { cellCode, formatChanges, formatMatrixTable } from './terminal-table.js';
export { formatJunit } from './junit-report.js';
export { formatHtml } from './html-report.js';
export {
  ablationExitCode,
  cellFlips,
  cellsForDefence,
  creditReasons,
  creditedCells,
  creditsDefence,
  deadDefences,
  defenceAblation,
  defencesFor,
  formatAblation,
  maliciousKinds,
  notFalsifiable,
  runAblation,
} from './ablation.js';
export type { AblationError, AblationFlip, AblationReport, AblationRun, CellRef, DefenceAblation, RunAblationOptions } from './ablation.js';
export { environmentMeta, matrixSchema, readMatrix, writeReport } from './write-report.js';
export { MERGE_PROBLEMS, cellId, mergeShards, parseShard, plannedCells, scenarioSet, scenariosOfSet, shardCells } from './shard.js';
export type { MergeOptions, MergeProblem, PlannedCell, ShardReport, ShardSpec } from './shard.js';
