import { resolve } from 'node:path';
import { resolveAgentSettings } from '@hpcmirror/agent';
import { describeError, readCredentials, silentLogger, stateDirFor, withCredentials } from '@hpcmirror/core';
import { expandHome } from '../../context.js';
import { readSandboxState } from '@hpcmirror/sandbox';
import type { FlowTarget } from '../config-targets.js';
import { checkBrokerLogin } from './broker-login.js';
import { checkClock } from './clock-skew.js';
import { skip, type DoctorResult } from './doctor-result.js';
import { checkFileModes } from './file-modes.js';
import { checkLinger } from './linger.js';
import { checkShimLibrary } from './shim-library.js';
import { checkRemoteHelper, checkSshSource } from './ssh-source.js';
import { checkWatchSetup } from './watch-setup.js';
import { checkSpoolDir, checkStateDir } from './writable-dirs.js';

export interface DoctorTargetResult {
  name: string;
  configFile: string;
  results: DoctorResult[];
}

export interface DoctorReport {
  ok: boolean;
  node: DoctorResult[];
  targets: DoctorTargetResult[];
}

/** Every check that applies to one config on this node: what its sections say this node runs. */
async function checkTarget(t: FlowTarget): Promise<DoctorResult[]> {
  const cfg = t.config;
  const runsAgent = t.components.includes('agent') && cfg.agent !== undefined;
  const runsWatch = t.components.includes('watch') && cfg.watch !== undefined;
  const sub = t.components.includes('subscriber') ? cfg.subscriber : undefined;
  const ssh = sub && sub.transport !== 'local' ? sub.ssh : undefined;
  const managementUrl = cfg.status.management_url ?? (t.sandboxDir ? readSandboxState(t.sandboxDir)?.mgmtUrl ?? undefined : undefined);
  const results: DoctorResult[] = [...checkFileModes(cfg)];
  // Configs come without their credentials: a bad credentials file is reported above, not fatal here.
  let broker: typeof cfg.broker | undefined = cfg.broker;
  if (cfg.credentials) {
    try {
      broker = { ...cfg.broker, url: withCredentials(cfg.broker.url, readCredentials(expandHome(cfg.credentials))) };
    } catch (err) {
      broker = undefined;
      results.push(skip('broker', `not tried: ${describeError(err)}`));
    }
  }
  const pending: Promise<DoctorResult | DoctorResult[]>[] = [
    ...(broker ? [checkBrokerLogin(broker)] : []),
    checkStateDir(resolve(stateDirFor(cfg))),
  ];
  if (runsAgent) {
    pending.push(checkShimLibrary());
    const a = resolveAgentSettings(cfg);
    pending.push(checkSpoolDir(a.spoolDir, cfg.source_root));
  }
  if (runsWatch) {
    pending.push(checkWatchSetup(cfg));
    // The watcher writes the agent's spool: checked here too when this node runs no agent.
    if (!runsAgent) pending.push(checkSpoolDir(resolveAgentSettings(cfg).spoolDir, cfg.source_root));
  }
  if (ssh) {
    pending.push(checkSshSource(ssh, cfg.source_root, silentLogger()));
    pending.push(checkRemoteHelper(ssh, cfg.source_root, silentLogger()));
  }
  pending.push(checkClock({ ...(broker && { broker }), managementUrl, ssh }, cfg.status.clock_skew_max_s));
  for (const r of await Promise.all(pending)) results.push(...(Array.isArray(r) ? r : [r]));
  return results;
}

export async function runDoctor(targets: FlowTarget[]): Promise<DoctorReport> {
  const node = [checkLinger()];
  const out: DoctorTargetResult[] = [];
  for (const t of targets) out.push({ name: t.name, configFile: t.configFile, results: await checkTarget(t) });
  const all = [...node, ...out.flatMap((t) => t.results)];
  return { ok: all.every((r) => r.level !== 'fail'), node, targets: out };
}

const MARK: Record<DoctorResult['level'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function renderDoctor(r: DoctorReport): string {
  const line = (x: DoctorResult): string => `  ${MARK[x.level]}  ${x.check.padEnd(14)} ${x.message}`;
  const lines = ['this node', ...r.node.map(line)];
  for (const t of r.targets) lines.push(`config ${t.name} (${t.configFile})`, ...t.results.map(line));
  const fails = [...r.node, ...r.targets.flatMap((t) => t.results)].filter((x) => x.level === 'fail').length;
  lines.push(fails ? `${fails} problem${fails === 1 ? '' : 's'} to fix` : 'no problems found');
  return `${lines.join('\n')}\n`;
}
