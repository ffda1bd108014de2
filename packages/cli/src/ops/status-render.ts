import { componentLabel } from './components.js';
import { formatBytes, formatDuration, formatRate } from './human-format.js';
import type { ComponentStatus, FlowStatus, StatusReport } from './status-report.js';

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

function rateText(c: ComponentStatus): string {
  const r = c.rates;
  switch (c.component) {
    case 'agent':
      return r.published === undefined ? '-' : `${formatRate(r.published)} ev/s published`;
    case 'watch':
      return r.recordsWritten === undefined ? '-' : `${formatRate(r.recordsWritten)} ev/s spooled`;
    case 'winnow':
      return r.received === undefined ? '-' : `${formatRate(r.received)} in, ${formatRate(r.forwarded)} fwd/s`;
    case 'subscriber':
      return r['counters.applied'] === undefined ? '-' : `${formatRate(r['counters.applied'])} ev/s, ${formatBytes(r['counters.bytes'] ?? 0)}/s`;
  }
}

function notes(c: ComponentStatus): string {
  const out: string[] = [];
  if (c.spool) {
    const s = c.spool;
    out.push(s.exists ? `spool ${formatBytes(s.bytes)} (${formatBytes(s.unconfirmedBytes)} unconfirmed)` : `spool ${s.dir} missing`);
    for (const l of s.lossPending) out.push(`SHIM LOSS since ${l.since} (${l.host})`);
    if (s.lossesRecent.length) out.push(`${s.lossesRecent.length} spool loss(es) recently, scans scheduled`);
  }
  if (c.degraded) out.push(c.degraded);
  if (c.watch) out.push(`${c.watch.trees} tree${c.watch.trees === 1 ? '' : 's'}, ${c.watch.watches} watches${c.watch.pending ? `, ${c.watch.pending} settling` : ''}${c.watch.recordsLost ? `, ${c.watch.recordsLost} EVENTS NOT SPOOLED` : ''}`);
  if (c.deletes?.paused) out.push(`REMOVES PAUSED${c.deletes.pausedSince ? ` since ${c.deletes.pausedSince}` : ''}`);
  if (c.state === 'not reporting') out.push(`last report ${formatDuration(c.reportAgeS)} ago`);
  if (c.error) out.push(c.error);
  if (c.metricsUrl) out.push(c.metricsUrl);
  return out.join('; ');
}

function renderFlow(f: FlowStatus): string[] {
  const lines = [`${f.name === 'sandbox' ? `sandbox ${f.sandboxDir}` : `config ${f.name}`}  (flow ${f.flow}, ${f.configFile})`];
  const b = f.broker;
  lines.push(`  broker ${b.url}  ${b.reachable ? `reachable (${b.via === 'management' ? 'management API' : 'AMQP passive declares'})` : `UNREACHABLE: ${b.error?.message ?? ''}`}`);
  if (b.managementError) lines.push(`  management API failed, queue depths by AMQP instead: ${b.managementError}`);
  lines.push(...table([
    ['COMPONENT', 'STATE', 'BY', 'PID', 'UPTIME', 'RATE', 'LAG', 'RETRIES', 'PARKED', 'NOTES'],
    ...f.components.map((c) => [
      componentLabel(c.component, c.instance),
      c.state === 'running' ? (c.degraded ? 'DEGRADED' : 'running') : c.state.toUpperCase(),
      c.manager ?? '-',
      c.pid === null ? '-' : String(c.pid),
      formatDuration(c.uptimeS),
      rateText(c),
      c.lagS === null ? '-' : `${formatDuration(c.lagS)} (${c.pending})`,
      c.retries === null ? '-' : String(c.retries),
      c.parked === null ? '-' : String(c.parked),
      notes(c),
    ]),
  ]));
  const stages = b.stages.filter((s) => s.declared);
  if (stages.length) {
    lines.push(...table([
      ['QUEUES', 'MESSAGES', 'UNACKED', 'CONSUMERS', 'RETRY', 'PARKED', 'IN/S', 'ACKED/S'],
      ...stages.map((s) => [
        s.stage,
        String(s.messages),
        s.unacked === null ? '-' : String(s.unacked),
        String(s.consumers),
        s.stage === 'progress' ? '-' : String(s.retry),
        s.stage === 'progress' ? '-' : String(s.parked),
        formatRate(s.inRate),
        formatRate(s.outRate),
      ]),
    ]));
  }
  return lines;
}

/** The human view: per flow, the broker, one line per component, one line per stage of queues, then the verdict. */
export function renderStatus(r: StatusReport): string {
  const lines: string[] = [];
  for (const f of r.flows) lines.push(...renderFlow(f), '');
  lines.push(r.check.line.replace(/ \| .*$/, ''));
  return `${lines.join('\n')}\n`;
}
