export * from './body.js';
export * from './time.js';
export * from './path-encoding.js';
export * from './topic.js';
export * from './announcement.js';
export * from './mirror-origin.js';
