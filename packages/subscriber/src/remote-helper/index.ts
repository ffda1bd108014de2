export { runRemoteHelper, type RemoteHelperOptions } from './server.js';
export { RemoteHelperClient, type HelperChannel, type RemoteHelperClientConfig } from './client.js';
export { spawnHelperChannel, type SpawnHelperOptions } from './child-channel.js';
export { GREETING as REMOTE_HELPER_GREETING } from './wire.js';
