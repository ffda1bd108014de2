// Standalone entry of the remote helper: `node packages/subscriber/dist/remote-helper/main.js`.
import { runRemoteHelper } from './server.js';

runRemoteHelper(process.stdin, process.stdout).then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`hpcmirror helper: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
