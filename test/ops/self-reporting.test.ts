import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@hpcmirror/core';
import { LATENCY_BUCKETS_MS } from '@hpcmirror/subscriber';
import { RateWindow } from '../../packages/cli/src/ops/rate-window.js';
import { LagTracker } from '../../packages/cli/src/ops/lag-tracker.js';
import { metricSamples } from '../../packages/cli/src/ops/metric-families.js';
import { counterPaths } from '../../packages/cli/src/ops/component-metrics.js';
import { PrometheusEndpoint } from '../../packages/cli/src/ops/prometheus-endpoint.js';
import { ComponentReporting } from '../../packages/cli/src/ops/component-reporting.js';
import { readStatusFiles } from '../../packages/cli/src/ops/status-file.js';

const scratch = mkdtempSync(join(tmpdir(), 'hpcm-ops-self-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A subscriber-shaped metrics() snapshot (the real interface's fields). */
function subscriberMetrics(applied: number) {
  const buckets = [...LATENCY_BUCKETS_MS.map((le) => ({ le, count: 0 })), { le: Infinity, count: 0 }];
  buckets[0]!.count = applied;
  return {
    running: true,
    counters: { received: applied, applied, written: applied, attrs: 0, removed: 0, unchanged: 0, parentGone: 0, superseded: 0, suppressed: 0, parked: 1, retried: 2, requeued: 0, bytes: applied * 100, removes: 0, warnings: 0 },
    pools: { small: { workers: 8, busy: 1, queued: 0 }, large: { workers: 2, busy: 0, queued: 0 } },
    pathsHeld: 0,
    deleteGuard: { limitPerMin: 10_000, lastMinute: 0, paused: false, pausedSince: null, refused: 0, alert: null },
    alerts: [],
    latency: { count: applied, sumMs: applied * 5, maxMs: 9, buckets },
    antiEntropy: { pending: 0, checked: 3, repaired: 0, tempsRemoved: 0, errors: 0 },
    hardLinkGroups: 0,
    progressReportsPublished: 4,
    mtimePrecisionNs: 1,
  };
}

describe('rates and lag', () => {
  it('rates are per second over the window, and a counter that went down counts from zero', () => {
    const w = new RateWindow(10_000);
    w.add(0, { a: 0, b: 100 });
    w.add(2_000, { a: 10, b: 100 });
    w.add(4_000, { a: 20, b: 4 });
    expect(w.rates()).toEqual({ a: 5, b: 1 });
    for (let t = 6_000; t <= 30_000; t += 2_000) w.add(t, { a: 20, b: 4 });
    expect(w.rates()).toEqual({ a: 0, b: 0 });
  });

  it('lag is the age of the oldest seq above the watermark, 0 when nothing is pending', () => {
    const lag = new LagTracker();
    expect(lag.update(1_000, 10, 10)).toEqual({ oldestPendingS: 0, pending: 0 });
    expect(lag.update(2_000, 15, 10)).toEqual({ oldestPendingS: 0, pending: 5 });
    expect(lag.update(5_000, 20, 10)).toEqual({ oldestPendingS: 3, pending: 10 });
    // 11..15 applied: the oldest pending was first seen at 5 s.
    expect(lag.update(9_000, 20, 15)).toEqual({ oldestPendingS: 4, pending: 5 });
    expect(lag.update(9_500, 20, 20)).toEqual({ oldestPendingS: 0, pending: 0 });
  });
});

describe('Prometheus mapping', () => {
  it('maps every number generically: counters with _total, gauges, booleans as 0/1, the latency histogram in seconds', () => {
    const s = metricSamples('subscriber', subscriberMetrics(7), counterPaths('subscriber'));
    const byName = new Map(s.scalars.map((x) => [x.name, x]));
    expect(byName.get('hpcmirror_subscriber_applied_total')).toMatchObject({ kind: 'counter', value: 7 });
    expect(byName.get('hpcmirror_subscriber_bytes_total')).toMatchObject({ kind: 'counter', value: 700 });
    expect(byName.get('hpcmirror_subscriber_retried_total')).toMatchObject({ kind: 'counter', value: 2 });
    expect(byName.get('hpcmirror_subscriber_pools_small_busy')).toMatchObject({ kind: 'gauge', value: 1 });
    expect(byName.get('hpcmirror_subscriber_running')).toMatchObject({ kind: 'gauge', value: 1 });
    expect(byName.get('hpcmirror_subscriber_delete_guard_paused')).toMatchObject({ kind: 'gauge', value: 0 });
    expect(byName.has('hpcmirror_subscriber_delete_guard_paused_since')).toBe(false);
    expect(s.histograms).toHaveLength(1);
    const h = s.histograms[0]!;
    expect(h.name).toBe('hpcmirror_subscriber_latency_seconds');
    expect(h.buckets[0]).toEqual({ le: 0.01, count: 7 });
    expect(h.buckets[h.buckets.length - 1]).toEqual({ le: Infinity, count: 7 });
    expect(h.sum).toBeCloseTo(0.035);
  });

  it('serves the text format over HTTP with the component numbers refreshed at each scrape', async () => {
    let applied = 3;
    const ep = new PrometheusEndpoint({
      host: '127.0.0.1', port: 0, labels: { flow: 'unit' }, logger: silentLogger(),
      collect: () => metricSamples('subscriber', subscriberMetrics(applied), counterPaths('subscriber')),
    });
    const url = await ep.start();
    try {
      const first = await (await fetch(url)).text();
      expect(first).toContain('# TYPE hpcmirror_subscriber_applied_total counter');
      expect(first).toContain('hpcmirror_subscriber_applied_total{flow="unit"} 3');
      expect(first).toContain('hpcmirror_subscriber_latency_seconds_bucket{le="0.01",flow="unit"} 3');
      expect(first).toContain('hpcmirror_subscriber_latency_seconds_count{flow="unit"} 3');
      expect(first).toMatch(/^process_cpu_user_seconds_total/m);
      applied = 5;
      expect(await (await fetch(url)).text()).toContain('hpcmirror_subscriber_applied_total{flow="unit"} 5');
      expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await ep.stop();
    }
  });

  it('a metrics port in use is a configuration error naming metrics.port', async () => {
    const a = new PrometheusEndpoint({ host: '127.0.0.1', port: 0, logger: silentLogger(), collect: () => ({ scalars: [], histograms: [] }) });
    const url = await a.start();
    const port = Number(new URL(url).port);
    const b = new PrometheusEndpoint({ host: '127.0.0.1', port, logger: silentLogger(), collect: () => ({ scalars: [], histograms: [] }) });
    await expect(b.start()).rejects.toMatchObject({ code: 'HPM_CONFIG_INVALID', field: 'metrics.port' });
    await a.stop();
  });
});

describe('component reporting', () => {
  it('writes the status file atomically while running and a final one on stop; the agent gets a lag', async () => {
    let assignedSeq = 5;
    const config = { flow: 'unit', state_dir: join(scratch, 'state'), configFile: '/x/unit.yaml', metrics: { enabled: true, port: 0, host: '127.0.0.1' } };
    const r = new ComponentReporting({
      config, component: 'agent', logger: silentLogger(), intervalMs: 50,
      metrics: () => ({ published: assignedSeq, confirmed: assignedSeq, assignedSeq, progressWatermark: 2, spoolBytes: 10, brokerConnected: true }),
    });
    await r.start();
    r.setState('running');
    assignedSeq = 9;
    // A status write every intervalMs: wait for one that saw the new numbers (a loaded machine delays timers).
    const statusDir = join(scratch, 'state', 'status');
    for (const t0 = Date.now(); Date.now() - t0 < 30_000; await new Promise((res) => setTimeout(res, 50))) {
      const [s] = await readStatusFiles(statusDir);
      if (s?.state === 'running' && s.lag?.pending === 7 && (s.rates.published ?? 0) > 0) break;
    }
    const [running] = await readStatusFiles(statusDir);
    expect(running).toMatchObject({ component: 'agent', pid: process.pid, state: 'running', flow: 'unit', configFile: '/x/unit.yaml' });
    expect(running!.lag).toMatchObject({ pending: 7 });
    expect(running!.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(running!.rates.published).toBeGreaterThan(0);
    const scrape = await (await fetch(running!.metricsUrl!)).text();
    expect(scrape).toContain('hpcmirror_agent_published_total{flow="unit"} 9');
    expect(scrape).toContain('hpcmirror_agent_pending_events{flow="unit"} 7');
    expect(scrape).toMatch(/hpcmirror_agent_lag_seconds\{flow="unit"\} [0-9.]+/);
    await r.stop('stopped');
    const text = readFileSync(join(scratch, 'state', 'status', 'agent.json'), 'utf8');
    const stopped = JSON.parse(text);
    expect(stopped.state).toBe('stopped');
    expect(stopped.stoppedAt).toBeTruthy();
    expect(stopped.metricsUrl).toBeUndefined();
    await expect(fetch(running!.metricsUrl!)).rejects.toThrow();
  });
});
