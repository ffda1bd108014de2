#!/usr/bin/env node
/**
 * Winnow throughput and memory (run `npx tsc -b` first).
 *
 *   node bench/winnow.mjs [messages=20000] [rounds=3] [paths=10000000] [cacheMax=1000000]
 *
 * Throughput: a private RabbitMQ node (started here, stopped at the end). Each round queues the same
 * `messages` announcements (all distinct paths: every one is forwarded, the winnow's worst case) in
 * front of one winnow instance and, on a fresh flow, in front of a pass-through (same consumer,
 * same publisher, same prefetch, confirms on both sides, no cache, no window); the order alternates
 * per round. Rates count the messages forwarded from the first forward to the last (connection
 * set-up left out), two ways: per wall-clock second, and per CPU-second of this process plus the
 * broker (beam.smp, from /proc), which other load on a shared machine does not skew. Target: winnow
 * >= 0.8x the pass-through (median of the per-round ratios). 0 messages skips this part.
 *
 * Memory (a child process with --expose-gc --single-threaded-gc, no broker; see memory() for why):
 * `paths` distinct paths through the pure per-path state with cache_max = `cacheMax`; prints RSS and
 * heap as it goes and the heap bytes per cached path. Targets: <= 200 bytes per path, RSS flat once
 * the cache is full. 0 paths skips it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BrokerConnection,
  Publisher,
  StageConsumer,
  buildAnnouncement,
  declareStage,
  declareTopicExchange,
  parseConfig,
  silentLogger,
} from '@hpcmirror/core';
import { createWinnow, pathKeyOf, systemClock, Winnower, winnowSettings } from '@hpcmirror/winnow';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const MESSAGES = Number(args[0] ?? 20_000);
const ROUNDS = Math.max(1, Number(args[1] ?? 3));
const PATHS = Number(args[2] ?? 10_000_000);
const CACHE_MAX = Number(args[3] ?? 1_000_000);
const CLOCK_TICKS = 100; // USER_HZ on Linux

if (process.argv.includes('--memory-child')) {
  memoryChild();
} else {
  await main();
}

async function main() {
  console.log(`winnow bench: ${MESSAGES} messages x ${ROUNDS} rounds; memory: ${PATHS} paths, cache_max ${CACHE_MAX}`);
  if (MESSAGES > 0) await throughput();
  if (PATHS > 0) memory();
}

// ---------------------------------------------------------------- throughput

async function throughput() {
  const { startRabbitMQ } = await import('@hpcmirror/sandbox');
  const dir = mkdtempSync(join(tmpdir(), 'hpcm-bench-winnow-'));
  let broker;
  const cleanup = async () => {
    await broker?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    broker = await startRabbitMQ({ dir: join(dir, 'rabbitmq') });
    const bodies = makeBodies(MESSAGES);
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['pass', 'winnow'] : ['winnow', 'pass'];
      const r = {};
      for (const side of order) {
        r[side] = await runSide(side, broker.url, bodies, round, broker.pid);
        console.log(`  round ${round + 1} ${side.padEnd(6)} ${r[side].wall.toFixed(0).padStart(7)} msg/s wall, ${r[side].cpu.toFixed(0).padStart(7)} msg per CPU-second (CPU per message: ${r[side].nodeUs.toFixed(0)} µs node, ${r[side].brokerUs.toFixed(0)} µs broker)`);
      }
      rounds.push(r);
    }
    for (const [what, unit] of [['wall', 'msg/s'], ['cpu', 'msg per CPU-s']]) {
      const ratios = rounds.map((r) => r.winnow[what] / r.pass[what]);
      const ratio = median(ratios);
      console.log(`throughput (${what}): pass-through median ${median(rounds.map((r) => r.pass[what])).toFixed(0)} ${unit}, winnow median ${median(rounds.map((r) => r.winnow[what])).toFixed(0)} ${unit}; ratio ${ratio.toFixed(2)} (per round: ${ratios.map((x) => x.toFixed(2)).join(', ')}; target >= 0.80) ${ratio >= 0.8 ? 'OK' : 'BELOW TARGET'}`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

function makeBodies(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const rel = `fs/primary/bench/run${i % 100}/out-${i}.grib`;
    const m = buildAnnouncement({
      kind: 'content',
      path: Buffer.from(rel),
      baseUrl: 'sftp://opsm@hpc1/',
      pubTimeNs: 1_780_000_000_000_000_000n + BigInt(i),
      stat: { size: 4096 + i, mtimeNs: 1_780_000_000_000_000_000n + BigInt(i), ctimeNs: 1_780_000_000_000_000_001n + BigInt(i), ino: BigInt(1000 + i), mode: 0o644 },
      extra: { hpcm_seq: i + 1, hpcm_host: 'hpc1' },
    });
    out.push({ bytes: m.bytes, topic: m.topic, headers: m.headers });
  }
  return out;
}

function configFor(url, flow) {
  return parseConfig(`flow: ${flow}\nuser: bench\nbroker:\n  url: ${url}\nsource_root: /fs/primary\nwinnow:\n  window_ms: 1000\n  cache_max: 1000000\n`, 'bench.yaml');
}

async function runSide(side, url, bodies, round, brokerPid) {
  const logger = silentLogger();
  const config = configFor(url, `bench_${side}_${round}_${process.pid}`);
  const settings = winnowSettings(config);
  const conn = new BrokerConnection({ url, logger });
  await conn.waitConnected();
  const admin = await conn.manager.connection.createChannel();
  try {
    await declareStage(admin, settings.stage);
    for (const x of [settings.topology.small, settings.topology.large]) await declareTopicExchange(admin, x);
    const out = `${settings.stage.name}.bench-out`;
    await admin.assertQueue(out, { durable: true });
    await admin.bindQueue(out, settings.topology.small, '#');
    await admin.bindQueue(out, settings.topology.large, '#');

    const feeder = new Publisher(conn);
    await Promise.all(bodies.map((b) => feeder.publish(config.exchange, b.topic, b.bytes, { headers: b.headers })));
    await feeder.close();

    // Timed from the first forward to the last: connection set-up is not part of the rate.
    const stop = side === 'winnow' ? await startWinnow(config, logger) : await startPassThrough(url, settings, logger);
    let first;
    let last;
    for (;;) {
      const { messageCount } = await admin.checkQueue(out);
      const now = performance.now();
      if (first === undefined && messageCount > 0) first = { at: now, count: messageCount, cpu: cpuSeconds(brokerPid) };
      if (messageCount >= bodies.length) {
        last = { at: now, cpu: cpuSeconds(brokerPid) };
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (last.at - first.at) / 1000;
    const node = last.cpu.node - first.cpu.node;
    const brokerCpu = last.cpu.broker - first.cpu.broker;
    await stop();
    for (const q of [out, ...Array.from({ length: settings.stage.shards }, (_, i) => `${settings.stage.name}.${i}`)]) await admin.deleteQueue(q);
    const n = bodies.length - first.count;
    return { wall: n / seconds, cpu: n / (node + brokerCpu), nodeUs: (node / n) * 1e6, brokerUs: (brokerCpu / n) * 1e6 };
  } finally {
    await admin.close().catch(() => undefined);
    await conn.close();
  }
}

async function startWinnow(config, logger) {
  const w = createWinnow({ config, logger });
  await w.start();
  return () => w.stop();
}

/** The baseline: consume, publish the body as is with confirms, ack on confirm. */
async function startPassThrough(url, settings, logger) {
  // Its own connection, as the winnow has.
  const conn = new BrokerConnection({ url, logger });
  await conn.waitConnected();
  const publisher = new Publisher(conn, { setup: async (ch) => declareTopicExchange(ch, settings.topology.small) });
  await publisher.waitReady();
  const consumer = new StageConsumer(conn, {
    stage: settings.stage,
    prefetch: settings.prefetch,
    maxAttempts: settings.maxAttempts,
    logger,
    onMessage: (d) => {
      void publisher.publish(settings.topology.small, d.routingKey, d.content, { headers: d.headers }).then(() => d.ack(), () => d.requeue());
    },
  });
  await consumer.start();
  return async () => {
    await consumer.stop();
    await publisher.close();
    await conn.close();
  };
}

// ---------------------------------------------------------------- memory

function memory() {
  const self = fileURLToPath(import.meta.url);
  // Single-threaded GC: the parallel collector's helper threads keep malloc'd work lists for a while,
  // which swings RSS by about 10% with no trend; without them RSS shows the state itself.
  const r = spawnSync(process.execPath, ['--expose-gc', '--single-threaded-gc', self, '--memory-child', String(MESSAGES), String(ROUNDS), String(PATHS), String(CACHE_MAX)], { stdio: 'inherit' });
  if (r.status !== 0) console.log(`memory child failed (${r.status ?? r.signal})`);
}

function memoryChild() {
  const mb = (b) => (b / 2 ** 20).toFixed(1);
  const measure = () => {
    globalThis.gc();
    globalThis.gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal };
  };
  const w = new Winnower({ cacheMax: CACHE_MAX, cacheTtlMs: 3_600_000, windowMs: 1000, maxHeld: 1500, clock: systemClock });
  const buf = Buffer.alloc(256);
  const base = measure();
  console.log(`memory: start rss ${mb(base.rss)} MB heap ${mb(base.heap)} MB`);
  const step = Math.max(CACHE_MAX, Math.floor(PATHS / 10));
  const checkpoints = new Set([CACHE_MAX, PATHS]);
  for (let p = 2 * CACHE_MAX; p < PATHS; p += step) checkpoints.add(p);
  const seen = [];
  const began = performance.now();
  for (let i = 0; i < PATHS; i++) {
    const n = buf.write(`/fs/primary/project/run${i % 977}/step${i % 13}/output-${i}.nc`);
    const pathKey = pathKeyOf(buf.subarray(0, n));
    const decisions = w.receive({ payload: i, pathKey, pathCheck: pathKey, changeKey: pathKey + 1, content: true, clears: false, host: 'hpc1', seqs: [i, i] });
    for (const d of decisions) if (d.type === 'forward') w.confirmed(d.forward);
    if (checkpoints.has(i + 1)) {
      const m = measure();
      seen.push({ paths: i + 1, ...m });
      console.log(`  after ${String(i + 1).padStart(9)} paths: cache ${w.cache.size}, rss ${mb(m.rss)} MB, heap ${mb(m.heap)} of ${mb(m.heapTotal)} MB (${((performance.now() - began) / 1000).toFixed(1)} s)`);
    }
  }
  // Once the cache is full (and evictions have settled the key map), RSS should stay put.
  const settled = seen.filter((x) => x.paths >= 2 * CACHE_MAX);
  const last = seen.at(-1);
  const perPath = (last.heap - base.heap) / w.cache.size;
  const perPathRss = (last.rss - base.rss) / w.cache.size;
  const lo = Math.min(...settled.map((x) => x.rss));
  const hi = Math.max(...settled.map((x) => x.rss));
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const half = Math.floor(settled.length / 2);
  const trend = mean(settled.slice(half).map((x) => x.rss)) / mean(settled.slice(0, half || 1).map((x) => x.rss)) - 1;
  const spreadOf = (key) => (Math.max(...settled.map((x) => x[key])) - Math.min(...settled.map((x) => x[key]))) / Math.min(...settled.map((x) => x[key]));
  const flat = spreadOf('heap') <= 0.01 && spreadOf('heapTotal') <= 0.05 && trend <= 0.05;
  console.log(`memory: cache ${w.cache.size} / max ${CACHE_MAX}, evictions ${w.cache.evictions}`);
  console.log(`memory: ${perPath.toFixed(0)} heap bytes per cached path (${perPathRss.toFixed(0)} by RSS growth); target <= 200 ${perPath <= 200 ? 'OK' : 'ABOVE TARGET'}`);
  // Flat: the live heap does not move, and RSS has no upward trend (second half of the checkpoints against the first).
  console.log(`memory: from ${settled[0]?.paths ?? '-'} to ${last.paths} paths: heap used spread ${(spreadOf('heap') * 100).toFixed(2)}%, heap committed spread ${(spreadOf('heapTotal') * 100).toFixed(1)}%, RSS ${mb(lo)}..${mb(hi)} MB, trend ${(trend * 100).toFixed(1)}%; flat once full: ${flat ? 'OK' : 'NOT FLAT'}`);
}

/** CPU seconds used so far by this process and the broker (beam.smp): a rate that other load on the machine does not skew. */
function cpuSeconds(brokerPid) {
  const own = process.cpuUsage();
  const fields = readFileSync(`/proc/${brokerPid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { node: (own.user + own.system) / 1e6, broker: ticks / CLOCK_TICKS };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
