export * from './connection.js';
export * from './publisher.js';
export * from './consumer.js';
export * from './topology.js';
export * from './flow.js';
