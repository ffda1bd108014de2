export { createWatcher, watchSection, watchIndexFile, type Watcher, type WatcherOptions, type WatcherMetrics } from './watch-service.js';
export { defaultWatchBinary } from './native-watcher.js';
