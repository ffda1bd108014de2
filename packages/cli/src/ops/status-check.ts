import type { StatusConfig } from '@hpcmirror/core';
import { formatBytes, formatDuration } from './human-format.js';
import { componentLabel } from './components.js';
import type { CheckLevel, CheckResult, FlowStatus } from './status-report.js';

const LABELS = ['OK', 'WARNING', 'CRITICAL'] as const;

/** warn/crit thresholds where 0 means "off": the level `value` reaches. */
function levelOf(value: number, warn: number, crit: number): CheckLevel {
  if (crit > 0 && value >= crit) return 2;
  if (warn > 0 && value >= warn) return 1;
  return 0;
}

/**
 * The verdict for monitoring systems: 0 OK, 1 warning, 2 critical, from the thresholds of each
 * config's `status:` section: components down or silent, broker unreachable, lag, parked messages,
 * spool losses and fill, deletes held back by the subscriber's guard.
 */
export function statusCheck(flows: FlowStatus[], nowMs: number): CheckResult {
  const problems: { level: CheckLevel; text: string }[] = [];
  const many = flows.length > 1;
  let lagMax = 0;
  let parkedSum = 0;
  let spoolSum = 0;
  let running = 0;
  let shown = 0;
  let thresholds: StatusConfig | undefined;
  for (const f of flows) {
    const t = f.thresholds;
    thresholds ??= t;
    const add = (level: CheckLevel, text: string): void => {
      if (level > 0) problems.push({ level, text: many ? `${f.name}: ${text}` : text });
    };
    if (!f.broker.reachable) add(2, `broker ${f.broker.url}: ${f.broker.error?.message ?? 'unreachable'}`);
    for (const c of f.components) {
      const name = componentLabel(c.component, c.instance);
      shown++;
      if (c.state === 'running' || c.state === 'starting' || c.state === 'stopping') running++;
      if (c.degraded && c.state === 'running') add(1, `${name} degraded: ${c.degraded}`);
      if (c.watch?.recordsLost) add(1, `${name} could not spool ${c.watch.recordsLost} events (loss marked: the agent schedules a scan)`);
      if (c.state === 'not reporting') add(1, `${name} not reporting for ${formatDuration(c.reportAgeS)}`);
      if ((c.state === 'stopped' || c.state === 'failed') && c.expected) add(2, `${name} ${c.state}${c.error ? ` (${c.error})` : ''}`);
      else if (c.state === 'failed') add(1, `${name} failed${c.error ? ` (${c.error})` : ''}`);
      if (c.lagS !== null) {
        lagMax = Math.max(lagMax, c.lagS);
        add(levelOf(c.lagS, t.lag_warn_s, t.lag_crit_s), `lag ${formatDuration(c.lagS)} (${c.pending ?? '?'} events pending)`);
      }
      if (c.spool) {
        const s = c.spool;
        spoolSum += s.bytes;
        const losses = s.lossPending.length + s.lossesRecent.length;
        const first = s.lossPending[0]?.since ?? s.lossesRecent[0]?.since;
        add(levelOf(losses, t.spool_loss_warn, t.spool_loss_crit), `shim could not spool events ${losses}x (since ${first}; catch-up scan scheduled)`);
        if (s.maxBytes > 0) {
          const fill = s.bytes / s.maxBytes;
          add(levelOf(fill, t.spool_fill_warn, t.spool_fill_crit), `spool ${Math.round(fill * 100)}% full (${formatBytes(s.bytes)} of ${formatBytes(s.maxBytes)})`);
        }
      }
      if (c.deletes?.paused) {
        const pausedS = c.deletes.pausedSince ? (nowMs - Date.parse(c.deletes.pausedSince)) / 1000 : 0;
        const level = Math.max(levelOf(pausedS, t.deletes_paused_warn_s, t.deletes_paused_crit_s), 1) as CheckLevel;
        add(level, `removes paused by the delete guard for ${formatDuration(pausedS)}${c.deletes.alert ? `: ${c.deletes.alert}` : ''}`);
      }
    }
    const parked = f.broker.stages.filter((s) => s.stage !== 'progress').reduce((n, s) => n + s.parked, 0);
    parkedSum += parked;
    add(levelOf(parked, t.parked_warn, t.parked_crit), `${parked} parked message${parked === 1 ? '' : 's'}`);
  }
  const level = problems.reduce<CheckLevel>((l, p) => (p.level > l ? p.level : l), 0);
  problems.sort((a, b) => b.level - a.level);
  const label = LABELS[level];
  const t = thresholds;
  const perf = [
    `lag=${Math.round(lagMax)}s;${t?.lag_warn_s ?? ''};${t?.lag_crit_s ?? ''}`,
    `parked=${parkedSum};${t?.parked_warn ?? ''};${t?.parked_crit ?? ''}`,
    `spool=${spoolSum}B`,
    `running=${running};;;0;${shown}`,
  ].join(' ');
  const text = problems.length
    ? problems.map((p) => p.text).join('; ')
    : `${running}/${shown} components running, lag ${formatDuration(lagMax)}, ${parkedSum} parked, spool ${formatBytes(spoolSum)}`;
  return { level, label, problems, line: `HPCMIRROR ${label} - ${text} | ${perf}` };
}
