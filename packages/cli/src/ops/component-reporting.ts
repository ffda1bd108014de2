import { hostname } from 'node:os';
import { describeError, isHpcmError, type LoadedConfig, type Logger } from '@hpcmirror/core';
import { processStartTime } from '@hpcmirror/sandbox';
import type { Component } from './components.js';
import { counterPaths, counterValues, lagInputs } from './component-metrics.js';
import { LagTracker } from './lag-tracker.js';
import { metricSamples, type MetricSamples } from './metric-families.js';
import { PrometheusEndpoint } from './prometheus-endpoint.js';
import { RateWindow } from './rate-window.js';
import { statusDirOf, writeStatusFile, type ComponentState, type StatusFileJson } from './status-file.js';

export interface ComponentReportingOptions {
  config: Pick<LoadedConfig, 'flow' | 'state_dir' | 'metrics' | 'configFile'>;
  component: Component;
  instance?: string;
  /** The service's metrics() (may throw before start: then the last good snapshot is kept). */
  metrics: () => unknown;
  logger: Logger;
  /** How often the status file is rewritten (default 2 s). */
  intervalMs?: number;
  now?: () => number;
}

/**
 * What a component process tells the world while it runs: its status file (state, pid, uptime,
 * counters, rates, lag) rewritten every couple of seconds, and, when `metrics.enabled`, a
 * Prometheus endpoint. Nothing here may stop the component: write errors are logged, not thrown.
 */
export class ComponentReporting {
  readonly #o: ComponentReportingOptions;
  readonly #now: () => number;
  readonly #dir: string;
  readonly #rates = new RateWindow();
  readonly #lag = new LagTracker();
  readonly #startedAt: string;
  readonly #pidStartTime: number | null;
  #endpoint: PrometheusEndpoint | undefined;
  #state: ComponentState = 'starting';
  #error: StatusFileJson['error'];
  #stoppedAt: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #lastMetrics: unknown = {};
  #warned = false;

  constructor(o: ComponentReportingOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#dir = statusDirOf(o.config);
    this.#startedAt = new Date(this.#now()).toISOString();
    this.#pidStartTime = processStartTime(process.pid);
  }

  get statusDir(): string {
    return this.#dir;
  }

  get metricsUrl(): string | undefined {
    return this.#endpoint?.url;
  }

  /** Writes the first status ("starting") and opens the metrics endpoint if configured (throws if it cannot listen). */
  async start(): Promise<void> {
    if (this.#timer) return;
    const m = this.#o.config.metrics;
    if (m.enabled) {
      const labels: Record<string, string> = { flow: this.#o.config.flow };
      if (this.#o.instance !== undefined) labels.instance = this.#o.instance;
      this.#endpoint = new PrometheusEndpoint({ host: m.host, port: m.port, labels, logger: this.#o.logger, collect: () => this.#samples() });
      await this.#endpoint.start();
    }
    await this.#write();
    this.#timer = setInterval(() => void this.#write(), this.#o.intervalMs ?? 2000);
    this.#timer.unref();
  }

  setState(state: ComponentState): void {
    this.#state = state;
    void this.#write();
  }

  /** Final status (stopped, or failed with the error), endpoint closed. Idempotent. */
  async stop(state: 'stopped' | 'failed', err?: unknown): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#state = state;
    this.#stoppedAt = new Date(this.#now()).toISOString();
    if (err !== undefined) this.#error = { ...(isHpcmError(err) && { code: err.code }), message: describeError(err) };
    await this.#endpoint?.stop();
    await this.#writing;
    await this.#write();
  }

  #snapshot(): unknown {
    try {
      this.#lastMetrics = this.#o.metrics() ?? {};
    } catch {
      // Before start some services have nothing to show yet: keep the last snapshot.
    }
    return this.#lastMetrics;
  }

  #lagOf(metrics: unknown): StatusFileJson['lag'] {
    const inputs = lagInputs(this.#o.component, metrics);
    return inputs && this.#lag.update(this.#now(), inputs.assigned, inputs.watermark);
  }

  #samples(): MetricSamples {
    const metrics = this.#snapshot();
    const c = this.#o.component;
    const samples = metricSamples(c, metrics, counterPaths(c));
    const lag = this.#lagOf(metrics);
    if (lag) {
      samples.scalars.push(
        { name: `hpcmirror_${c}_lag_seconds`, kind: 'gauge', help: 'age of the oldest announced event not yet applied', value: lag.oldestPendingS },
        { name: `hpcmirror_${c}_pending_events`, kind: 'gauge', help: 'announced events not yet applied, superseded, suppressed or parked', value: lag.pending },
      );
    }
    return samples;
  }

  #write(): Promise<void> {
    // One write at a time; a tick that finds one in flight is skipped.
    if (this.#writing) return this.#writing;
    this.#writing = this.#writeNow().finally(() => { this.#writing = undefined; });
    return this.#writing;
  }

  async #writeNow(): Promise<void> {
    const { component, instance, config } = this.#o;
    const metrics = this.#snapshot();
    const now = this.#now();
    this.#rates.add(now, counterValues(component, metrics));
    const lag = this.#lagOf(metrics);
    const status: StatusFileJson = {
      version: 1,
      component,
      ...(instance !== undefined && { instance }),
      pid: process.pid,
      pidStartTime: this.#pidStartTime,
      host: hostname(),
      flow: config.flow,
      configFile: config.configFile,
      state: this.#state,
      startedAt: this.#startedAt,
      updatedAt: new Date(now).toISOString(),
      ...(this.#stoppedAt && { stoppedAt: this.#stoppedAt }),
      ...(this.#error && { error: this.#error }),
      ...(this.#endpoint?.url && { metricsUrl: this.#endpoint.url }),
      rates: this.#rates.rates(),
      ...(lag && { lag }),
      metrics,
    };
    try {
      await writeStatusFile(this.#dir, status);
      this.#warned = false;
    } catch (err) {
      if (!this.#warned) this.#o.logger.warn({ err: describeError(err), dir: this.#dir }, 'cannot write the status file; `hpcmirror status` will not see this component');
      this.#warned = true;
    }
  }
}
