import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LatencyRecord } from '@hpcmirror/subscriber';
import { histogramOf, plotData } from '../src/audit/plot-data.js';
import { plotFormatOf } from '../src/audit/plot-render.js';
import { writeLatencyPlot } from '../src/audit/plot.js';

const dir = mkdtempSync(join(tmpdir(), 'hpcm-plot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_763_900_000_000_000_000n;
/** N events 10 ms apart; latency 20 ms, every 50th 900 ms. */
const records = (n: number): LatencyRecord[] => Array.from({ length: n }, (_, i) => {
  const eventNs = T0 + BigInt(i) * 10_000_000n;
  return { eventNs, appliedNs: eventNs + (i % 50 === 49 ? 900_000_000n : 20_000_000n), op: 'write' };
});

describe('audit --plot: data', () => {
  it('p50/p99 per time slice from every event; the scatter thinned to maxPoints', async () => {
    const d = await plotData(records(10_000), { maxPoints: 1_000, bins: 10 });
    expect(d.events).toBe(10_000);
    expect(d.points.length).toBe(1_000);
    expect(d.bins).toHaveLength(10);
    for (const b of d.bins) {
      expect(b.events).toBe(1_000);
      expect(b.p50).toBe(20);
      expect(b.p99).toBe(900);
    }
    expect([d.p50, d.p99, d.max]).toEqual([20, 900, 900]);
    expect(d.histogram.reduce((a, h) => a + h.count, 0)).toBe(10_000);
  });

  it('a time slice without events breaks the p50/p99 lines instead of bridging the gap', async () => {
    const gap = [...records(100), ...records(100).map((r) => ({ ...r, eventNs: r.eventNs + 60_000_000_000n, appliedNs: r.appliedNs + 60_000_000_000n }))];
    const d = await plotData(gap, { bins: 10 });
    expect(d.bins).toHaveLength(10);
    const empty = d.bins.filter((b) => b.events === 0);
    expect(empty.length).toBeGreaterThan(5);
    expect(empty.every((b) => b.p50 === null && b.p99 === null)).toBe(true);
  });

  it('log-spaced histogram buckets cover every latency, zero included', () => {
    const h = histogramOf([0, 0.5, 3, 3, 2_000]);
    expect(h.reduce((a, b) => a + b.count, 0)).toBe(5);
    expect(h[0]!.lo).toBeCloseTo(0.1);
    expect(h[h.length - 1]!.hi).toBeGreaterThan(2_000);
  });

  it('the file name picks the format; anything else is a one-line usage error', () => {
    expect(plotFormatOf('a/b.PNG')).toBe('png');
    expect(plotFormatOf('x.html')).toBe('html');
    expect(() => plotFormatOf('x.svg')).toThrow(/--plot x\.svg: the file name must end in \.png or \.html/);
  });
});

describe('audit --plot: rendering (vega headless, resvg)', () => {
  it('writes a PNG with the PNG signature and sensible dimensions', async () => {
    const file = join(dir, 'latency.png');
    await writeLatencyPlot(file, records(3_000));
    const png = readFileSync(file);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    expect(width).toBeGreaterThanOrEqual(1_000);
    expect(width).toBeLessThanOrEqual(4_000);
    expect(height).toBeGreaterThanOrEqual(600);
    expect(height).toBeLessThan(width * 2);
  }, 120_000);

  it('writes a self-contained HTML page with the chart as inline SVG (also with no events)', async () => {
    const file = join(dir, 'latency.html');
    await writeLatencyPlot(file, records(500));
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).toContain('500 events');
    expect(html).not.toMatch(/<script|src="http/);
    const empty = join(dir, 'empty.html');
    await writeLatencyPlot(empty, []);
    expect(readFileSync(empty, 'utf8')).toContain('0 events');
  }, 120_000);
});
