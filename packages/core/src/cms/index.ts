export * from './signed/index.js';
export * from './enveloped/index.js';
export { encodePlainData, readPlainData } from './common/content-info.js';
export * from './hop/index.js';
