import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import { HpcmError, type Logger } from '@hpcmirror/core';
import type { HistogramSample, MetricSamples } from './metric-families.js';

export interface PrometheusEndpointOptions {
  host: string;
  /** 0: any free port (the bound one is in `url` after start). */
  port: number;
  /** Called at every scrape: the component's numbers right now. */
  collect: () => MetricSamples;
  /** Labels on every series (flow, instance). */
  labels?: Record<string, string>;
  logger: Logger;
}

/** A histogram whose buckets are set from a snapshot the service keeps (prom-client's own only observes). */
class SnapshotHistogram {
  readonly name: string;
  readonly help: string;
  #sample: HistogramSample;

  constructor(sample: HistogramSample) {
    this.name = sample.name;
    this.help = sample.help;
    this.#sample = sample;
  }

  set(sample: HistogramSample): void {
    this.#sample = sample;
  }

  async get() {
    const s = this.#sample;
    return {
      name: this.name,
      help: this.help,
      type: 'histogram',
      aggregator: 'sum',
      values: [
        ...s.buckets.map((b) => ({ metricName: `${this.name}_bucket`, labels: { le: b.le === Infinity ? '+Inf' : String(b.le) }, value: b.count })),
        { metricName: `${this.name}_sum`, labels: {}, value: s.sum },
        { metricName: `${this.name}_count`, labels: {}, value: s.count },
      ],
    };
  }

  reset(): void {
    // Values come from the service's snapshot; nothing to reset here.
  }
}

/**
 * `GET /metrics` in Prometheus text format on metrics.host:metrics.port, for one component process:
 * the component's own numbers (refreshed at each scrape) plus Node's process metrics.
 */
export class PrometheusEndpoint {
  readonly #o: PrometheusEndpointOptions;
  readonly #registry = new Registry();
  readonly #gauges = new Map<string, Gauge>();
  readonly #counters = new Map<string, Counter>();
  readonly #histograms = new Map<string, SnapshotHistogram>();
  #server: Server | undefined;
  #url: string | undefined;

  constructor(o: PrometheusEndpointOptions) {
    this.#o = o;
    if (o.labels) this.#registry.setDefaultLabels(o.labels);
    collectDefaultMetrics({ register: this.#registry });
  }

  /** http://host:port/metrics once started. */
  get url(): string | undefined {
    return this.#url;
  }

  async start(): Promise<string> {
    if (this.#url) return this.#url;
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new HpcmError('HPM_CONFIG_INVALID',
        `metrics: cannot listen on ${this.#o.host}:${this.#o.port} (${err.code ?? err.message}); change metrics.port or metrics.host`,
        { field: 'metrics.port', cause: err })));
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    this.#server = server;
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    this.#url = `http://${host}:${port}/metrics`;
    this.#o.logger.info({ url: this.#url }, 'metrics endpoint listening');
    return this.#url;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#url = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The text a scrape gets now. */
  async render(): Promise<string> {
    this.#sync(this.#o.collect());
    return this.#registry.metrics();
  }

  #sync(samples: MetricSamples): void {
    for (const s of samples.scalars) {
      if (s.kind === 'gauge') {
        let g = this.#gauges.get(s.name);
        if (!g) this.#gauges.set(s.name, (g = new Gauge({ name: s.name, help: s.help, registers: [this.#registry] })));
        g.set(s.value);
      } else {
        let c = this.#counters.get(s.name);
        if (!c) this.#counters.set(s.name, (c = new Counter({ name: s.name, help: s.help, registers: [this.#registry] })));
        c.reset();
        if (s.value > 0) c.inc(s.value);
      }
    }
    for (const h of samples.histograms) {
      const known = this.#histograms.get(h.name);
      if (known) {
        known.set(h);
        continue;
      }
      const created = new SnapshotHistogram(h);
      this.#histograms.set(h.name, created);
      this.#registry.registerMetric(created as unknown as Metric);
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('hpcmirror: metrics are at /metrics\n');
        return;
      }
      const body = await this.render();
      res.writeHead(200, { 'content-type': this.#registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'metrics scrape failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
    }
  }
}
