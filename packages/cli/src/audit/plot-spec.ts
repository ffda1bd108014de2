import type { PlotData } from './plot-data.js';

const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

/**
 * A plain vega (not vega-lite, which needs Node 22) spec of two panels: every event's latency
 * against the time the shim saw it, with p50 and p99 per time slice (log scale), and below it the
 * distribution of all latencies.
 */
export function latencyPlotSpec(d: PlotData, title: string): Record<string, unknown> {
  const width = 900;
  const top = 340;
  const bottom = 150;
  const gap = 70;
  const lines = d.bins.flatMap((b) => [
    { t: b.t, ms: b.p50, q: 'p50 per slice' },
    { t: b.t, ms: b.p99, q: 'p99 per slice' },
  ]);
  const drawn = lines.flatMap((l) => (l.ms === null ? [] : [l.ms]));
  const yDomainMin = Math.min(...d.points.map((p) => p.ms), ...drawn, 1);
  const yDomainMax = Math.max(...d.points.map((p) => p.ms), ...drawn, 10);
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    background: 'white',
    padding: 12,
    width,
    height: top + gap + bottom,
    title: {
      text: title,
      subtitle: [`${d.events} events`, `p50 ${fmtMs(d.p50)}`, `p99 ${fmtMs(d.p99)}`, `max ${fmtMs(d.max)}`, ...(d.points.length < d.events ? [`${d.points.length} drawn`] : [])].join(' · '),
      anchor: 'start', fontSize: 15, subtitleFontSize: 12,
    },
    data: [
      { name: 'points', values: d.points },
      { name: 'lines', values: lines },
      { name: 'hist', values: d.histogram },
    ],
    marks: [
      {
        type: 'group',
        encode: { enter: { x: { value: 0 }, y: { value: 0 }, width: { value: width }, height: { value: top } } },
        scales: [
          { name: 'x', type: 'utc', domain: { fields: [{ data: 'points', field: 't' }, { data: 'lines', field: 't' }] }, range: [0, width], nice: false },
          { name: 'y', type: 'log', domain: [yDomainMin, yDomainMax], range: [top, 0], nice: true },
          { name: 'color', type: 'ordinal', domain: ['p50 per slice', 'p99 per slice'], range: ['#1f77b4', '#d62728'] },
        ],
        axes: [
          { orient: 'bottom', scale: 'x', title: 'when the shim saw the change (UTC)', grid: false, labelOverlap: true, format: '%H:%M:%S', formatType: 'utc' },
          { orient: 'left', scale: 'y', title: 'latency to the destination (ms, log)', grid: true, gridOpacity: 0.25 },
        ],
        legends: [{ stroke: 'color', orient: 'top-left', symbolType: 'stroke', fillColor: 'white' }],
        marks: [
          {
            type: 'symbol', from: { data: 'points' },
            encode: { enter: { x: { scale: 'x', field: 't' }, y: { scale: 'y', field: 'ms' }, size: { value: 9 }, fill: { value: '#555' }, fillOpacity: { value: 0.35 }, strokeWidth: { value: 0 } } },
          },
          {
            type: 'group',
            from: { facet: { name: 'series', data: 'lines', groupby: 'q' } },
            marks: [{
              type: 'line', from: { data: 'series' },
              encode: { enter: { x: { scale: 'x', field: 't' }, y: { scale: 'y', field: 'ms' }, stroke: { scale: 'color', field: 'q' }, strokeWidth: { value: 2 }, defined: { signal: 'datum.ms !== null' } } },
            }],
          },
        ],
      },
      {
        type: 'group',
        encode: { enter: { x: { value: 0 }, y: { value: top + gap }, width: { value: width }, height: { value: bottom } } },
        scales: [
          { name: 'hx', type: 'log', domain: { fields: [{ data: 'hist', field: 'lo' }, { data: 'hist', field: 'hi' }] }, range: [0, width] },
          { name: 'hy', type: 'linear', domain: { data: 'hist', field: 'count' }, range: [bottom, 0], nice: true, zero: true },
        ],
        axes: [
          { orient: 'bottom', scale: 'hx', title: 'latency (ms, log)', labelOverlap: true },
          { orient: 'left', scale: 'hy', title: 'events', tickCount: 4 },
        ],
        marks: [{
          type: 'rect', from: { data: 'hist' },
          encode: { enter: { x: { scale: 'hx', field: 'lo' }, x2: { scale: 'hx', field: 'hi', offset: -1 }, y: { scale: 'hy', field: 'count' }, y2: { scale: 'hy', value: 0 }, fill: { value: '#4c78a8' } } },
        }],
      },
    ],
  };
}
