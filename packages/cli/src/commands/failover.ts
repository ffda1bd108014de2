import type { Command } from 'commander';
import { HpcmError } from '@hpcmirror/core';
import { loadFlowPair, type FlowPairOptions } from '../failback/flow-pair.js';
import { runFailover } from '../failback/run-failover.js';

interface FailoverOptions extends FlowPairOptions { skew?: string; json?: boolean }

export function registerFailover(program: Command): void {
  program.command('failover')
    .description('the primary failed: stop the forward subscribers, set their queues aside, record T0 and its manifest, start the reverse agents')
    .option('--config <file>', 'the forward subscriber config of this node')
    .option('--reverse-config <file>', 'the reverse agent config of this node (secondary -> primary)')
    .option('--sandbox <dir>', 'use the sandbox in DIR (its forward and reverse flows)')
    .option('--skew <s>', 'clock-skew allowance subtracted from T0 (default: status.clock_skew_max_s)')
    .option('--json', 'print the failover record as JSON')
    .action(async (o: FailoverOptions) => {
      const pair = loadFlowPair(o);
      const skewS = o.skew === undefined ? pair.forward.status.clock_skew_max_s : Number(o.skew);
      if (!(skewS >= 0)) throw new HpcmError('HPM_USAGE', `--skew must be a number of seconds (got ${o.skew})`);
      const log = { info: (m: string) => { if (!o.json) process.stdout.write(`failover: ${m}\n`); } };
      const r = await runFailover({ ...pair, skewS, log });
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        process.stdout.write(`failover: T0 ${r.t0} (${r.boundBy === 'pending' ? 'the oldest pending forward event' : r.boundBy === 'applied' ? 'the newest applied forward event' : 'now; no applied or pending forward event was known'}, minus ${skewS} s skew)\n`);
        process.stdout.write(`failover: ${r.setAside.moved} forward messages set aside in ${r.setAside.queue}; manifest of ${r.manifestEntries} paths in ${r.manifest}\n`);
        process.stdout.write('failover: done; the secondary is live. Once the primary is back: hpcmirror failback --plan, then --run\n');
      }
    });
}
