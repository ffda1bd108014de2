// CPU profiles of the sandbox's services (agent, winnow, subscriber) for a bench run. `--cpu-prof` is
// not allowed in NODE_OPTIONS, and the sandbox passes its environment on to the services, so:
//   HPCM_PROFILE_DIR=DIR NODE_OPTIONS="--require $PWD/bench/service-profile.cjs" node bench/e2e.mjs ...
// writes DIR/<service>-<pid>.cpuprofile when each service exits (at `sandbox down`); other node
// processes are left alone. Read them with `node bench/cpuprofile-top.mjs FILE` or Chrome DevTools.
// (The remote helper is started over ssh, which does not pass the environment on.)
'use strict';
const service = / (agent|winnow|subscriber) --config /.exec(process.argv.join(' '))?.[1];
const dir = process.env.HPCM_PROFILE_DIR;
if (service && dir) {
  const { Session } = require('node:inspector');
  const { writeFileSync } = require('node:fs');
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  // An in-process session answers synchronously, so this works inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(`${dir}/${service}-${process.pid}.cpuprofile`, JSON.stringify(result.profile));
    });
  });
}
