export * from './errors.js';
export * from './message/index.js';
export * from './config/index.js';
export * from './log/index.js';
export * from './broker/index.js';
export * from './errors-doc.js';
export * from './glob.js';
