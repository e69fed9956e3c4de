export { createCompoundFile } from './cfb-writer.js';
export type { CfbStream } from './cfb-writer.js';
export { createVbaProject, ovbaCompress } from './vba-project.js';
export type { VbaModule } from './vba-project.js';
