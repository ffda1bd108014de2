export * from './schema.js';
export * from './load.js';
export * from './credentials.js';
export * from './paths.js';
export * from './watch-schema.js';
