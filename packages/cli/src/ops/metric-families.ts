/**
 * Turns a service's metrics() object into Prometheus samples, generically: every finite number or
 * boolean leaf becomes `hpcmirror_<component>_<path in snake_case>` (a counter with `_total` when the
 * path is one of the component's counters, a gauge otherwise); an object shaped like a latency
 * histogram snapshot ({count, sumMs, buckets: [{le, count}]}) becomes a histogram in seconds.
 * Strings, arrays and nulls are left out.
 */
export interface ScalarSample {
  name: string;
  kind: 'counter' | 'gauge';
  help: string;
  value: number;
}

export interface HistogramSample {
  name: string;
  help: string;
  /** Cumulative counts by upper bound in seconds (Infinity last). */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export interface MetricSamples {
  scalars: ScalarSample[];
  histograms: HistogramSample[];
}

const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9_]/g, '_').toLowerCase();

interface HistogramLike {
  count: number;
  sumMs: number;
  buckets: { le: number; count: number }[];
}

function isHistogram(v: unknown): v is HistogramLike {
  const h = v as Partial<HistogramLike> | null;
  return h !== null && typeof h === 'object' && typeof h.count === 'number' && typeof h.sumMs === 'number'
    && Array.isArray(h.buckets) && h.buckets.every((b) => typeof b?.le === 'number' && typeof b.count === 'number');
}

export function metricSamples(component: string, metrics: unknown, counters: ReadonlySet<string>): MetricSamples {
  const prefix = `hpcmirror_${snake(component)}`;
  const out: MetricSamples = { scalars: [], histograms: [] };
  const nameOf = (path: string[]): string => {
    // `counters.applied` reads better as hpcmirror_subscriber_applied_total.
    const parts = path[0] === 'counters' && path.length > 1 ? path.slice(1) : path;
    return `${prefix}_${parts.map(snake).join('_')}`;
  };
  const walk = (v: unknown, path: string[]): void => {
    if (typeof v === 'number' || typeof v === 'boolean') {
      const value = typeof v === 'boolean' ? Number(v) : v;
      if (!Number.isFinite(value) || path.length === 0) return;
      const counter = counters.has(path.join('.'));
      out.scalars.push({
        name: `${nameOf(path)}${counter ? '_total' : ''}`,
        kind: counter ? 'counter' : 'gauge',
        help: `${component} metrics() ${path.join('.')}`,
        value,
      });
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
    if (isHistogram(v) && path.length > 0) {
      let cumulative = 0;
      const buckets = v.buckets.map((b) => ({ le: b.le / 1000, count: (cumulative += b.count) }));
      if (buckets[buckets.length - 1]?.le !== Infinity) buckets.push({ le: Infinity, count: v.count });
      out.histograms.push({ name: `${nameOf(path)}_seconds`, help: `${component} ${path.join('.')} (seconds)`, buckets, sum: v.sumMs / 1000, count: v.count });
      for (const [k, x] of Object.entries(v)) if (k !== 'count' && k !== 'sumMs' && k !== 'buckets') walk(x, [...path, k]);
      return;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, [...path, k]);
  };
  walk(metrics, []);
  return out;
}
