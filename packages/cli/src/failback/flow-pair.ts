/**
 * The two flows failover and failback work with: the forward flow as this node (the secondary's
 * side) runs it, and the reverse flow (secondary -> primary), from --config and --reverse-config or
 * from a sandbox (configs/forward.yaml and configs/reverse.yaml, services in sandbox.json).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HpcmError, type LoadedConfig } from '@hpcmirror/core';
import { loadRoleConfig } from '../context.js';
import { backgroundFlowServices, sandboxFlowServices, type FlowServices } from './flow-services.js';

export interface FlowPairOptions {
  config?: string;
  reverseConfig?: string;
  sandbox?: string;
}

export interface FlowPair {
  forward: LoadedConfig;
  reverse: LoadedConfig;
  forwardServices: FlowServices;
  reverseServices: FlowServices;
}

export function loadFlowPair(o: FlowPairOptions): FlowPair {
  if (o.sandbox && (o.config || o.reverseConfig)) throw new HpcmError('HPM_USAGE', 'give either --sandbox or --config with --reverse-config, not both');
  if (o.sandbox || (!o.config && !o.reverseConfig)) {
    const dir = resolve(o.sandbox ?? process.env.HPCM_SANDBOX ?? '.hpcmirror-sandbox');
    const reverseFile = join(dir, 'configs', 'reverse.yaml');
    if (!existsSync(reverseFile)) throw new HpcmError('HPM_CONFIG_NOT_FOUND', `no sandbox with a reverse flow in ${dir} (run \`hpcmirror sandbox up --dir ${dir}\`, or give --config and --reverse-config)`);
    const forward = loadRoleConfig({ sandbox: dir }, 'subscriber');
    const reverse = loadRoleConfig({ config: reverseFile }, 'agent');
    return {
      forward, reverse,
      forwardServices: sandboxFlowServices(dir, forward, forward.configFile, ''),
      reverseServices: sandboxFlowServices(dir, reverse, reverseFile, 'reverse-'),
    };
  }
  if (!o.config || !o.reverseConfig) throw new HpcmError('HPM_USAGE', 'give both --config (the forward subscriber config here) and --reverse-config (the reverse agent config here)');
  const forward = loadRoleConfig({ config: o.config }, 'subscriber');
  const reverse = loadRoleConfig({ config: o.reverseConfig }, 'agent');
  if (reverse.flow === forward.flow) throw new HpcmError('HPM_USAGE', `${reverse.configFile}: the reverse flow must have its own name (both are "${forward.flow}")`);
  return {
    forward, reverse,
    forwardServices: backgroundFlowServices(forward, forward.configFile),
    reverseServices: backgroundFlowServices(reverse, reverse.configFile),
  };
}
