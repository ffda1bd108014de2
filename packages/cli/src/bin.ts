#!/usr/bin/env node
// The remote helper runs once per subscriber connection over ssh: start it without loading the
// rest of the CLI (half the start-up time on a busy login node).
if (process.argv[2] === 'helper' && process.argv.length === 3) {
  await import('@hpcmirror/subscriber/remote-helper');
} else {
  const { main } = await import('./main.js');
  process.exitCode = await main(process.argv);
}
