export * from './signed/index.js';
export * from './enveloped/index.js';
