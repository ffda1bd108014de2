import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LatencyLogWriter, readLatencyLog, summarizeLatency, summarizeLatencyLog } from '../src/latency-log.js';
import { LatencyHistogram } from '../src/latency-histogram.js';

describe('latency log', () => {
  it('writes one line per event and reads it back, skipping a torn last line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcm-latency-'));
    const file = join(dir, 'latency.log');
    try {
      const w = new LatencyLogWriter(file);
      w.open();
      w.record({ eventNs: 1_000_000_000n, appliedNs: 1_250_000_000n, op: 'content' });
      w.record({ eventNs: 2_000_000_000n, appliedNs: 2_010_000_000n, op: 'rename' });
      w.close();
      appendFileSync(file, '3000000000 30');
      const records = [];
      for await (const r of readLatencyLog(file)) records.push(r);
      expect(records).toEqual([
        { eventNs: 1_000_000_000n, appliedNs: 1_250_000_000n, op: 'content' },
        { eventNs: 2_000_000_000n, appliedNs: 2_010_000_000n, op: 'rename' },
      ]);
      const s = await summarizeLatencyLog(file);
      expect(s).toMatchObject({ events: 2, maxMs: 250, p50Ms: 10, p99Ms: 250, over300s: 0 });
      expect((await summarizeLatencyLog(file, 1_500_000_000n)).events).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('summarises events, mean, p50, p99, max and the >300 s / >600 s counts', () => {
    const s = 1_000_000_000n;
    const rec = (sec: number) => ({ eventNs: 0n, appliedNs: BigInt(sec) * s, op: 'content' });
    const r = summarizeLatency([...Array.from({ length: 97 }, () => rec(1)), rec(301), rec(601), rec(700)]);
    expect(r).toMatchObject({ events: 100, p50Ms: 1000, p99Ms: 601_000, maxMs: 700_000, over300s: 3, over600s: 2 });
    expect(summarizeLatency([])).toMatchObject({ events: 0, meanMs: 0 });
  });

  it('histogram buckets latencies', () => {
    const h = new LatencyHistogram();
    for (const ms of [5, 40, 40, 2_000_000]) h.observe(ms);
    const snap = h.snapshot();
    expect(snap.count).toBe(4);
    expect(snap.buckets.find((b) => b.le === 10)!.count).toBe(1);
    expect(snap.buckets.find((b) => b.le === 50)!.count).toBe(2);
    expect(snap.buckets[snap.buckets.length - 1]).toEqual({ le: Infinity, count: 1 });
  });
});
