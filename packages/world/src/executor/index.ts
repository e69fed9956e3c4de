export { MATRIX_COSTS, createMatrixExecutor, needsFreshWorldAfter, needsFreshWorldBefore } from './matrix-executor.js';
export type { MatrixExecutorOptions } from './matrix-executor.js';
export { makePayload } from './payload.js';
export type { Payload, PayloadFile } from './payload.js';
export { MATRIX_WORLD, partyAddress } from './matrix-world.js';
