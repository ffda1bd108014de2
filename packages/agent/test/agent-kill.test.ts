import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeRecord } from '../src/spool/record.js';
import { bindTestQueue, consumeQueue, testAgentConfig, type ReceivedMessage } from './broker-helpers.js';
import { buildAgent, RUN_AGENT } from './build-agent.js';
import { b, fileStat, tempDir, uniqueFlow } from './helpers.js';

const brokerUrl = inject('infra').brokerUrl;

function startChild(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [RUN_AGENT], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(child); });
    child.once('exit', (code) => reject(new Error(`agent exited with ${code} before it was ready`)));
  });
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((r) => child.once('exit', r));
}

describe('agent: kill -9 mid-stream, then restart', () => {
  const tmp = tempDir('kill');
  const children: ChildProcess[] = [];
  beforeAll(() => buildAgent(), 120_000);
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await exited(c);
    }
    tmp.cleanup();
  });

  it('publishes every record at least once, with gapless hpcm_seq', { timeout: 120_000 }, async () => {
    const root = join(tmp.dir, 'root');
    const spool = join(tmp.dir, 'spool');
    mkdirSync(root);
    mkdirSync(spool, { mode: 0o700 });
    const flow = uniqueFlow('kill');
    const config = testAgentConfig({ flow, brokerUrl, sourceRoot: root, stateDir: join(tmp.dir, 'state'), spoolDir: spool });
    const queue = `test.${flow}`;
    await bindTestQueue(brokerUrl, config.exchange, queue);
    const seg = join(spool, `hpc1.${String(Math.floor(Date.now() / 1000)).padStart(12, '0')}.seg`);
    const TOTAL = 3000;
    const write = (from: number, to: number): void => {
      const recs: Buffer[] = [];
      for (let i = from; i < to; i++) {
        recs.push(encodeRecord({ op: 'CLOSE_W', pid: 100 + (i % 7), timeNs: BigInt(i), path: b(join(root, `d${i % 10}`, `f${i}`)), stat: fileStat(i) }));
      }
      appendFileSync(seg, Buffer.concat(recs));
    };
    const env = { HPCM_TEST_AGENT_CONFIG: JSON.stringify(config) };
    const received: ReceivedMessage[] = [];
    let first: ChildProcess | undefined;
    let atKill = -1;
    // Killed from inside the consumer, the moment the 300th message arrives: mid-stream for sure.
    const consumer = await consumeQueue(brokerUrl, queue, (m) => {
      received.push(m);
      if (received.length === 300 && first) {
        first.kill('SIGKILL');
        atKill = received.length;
      }
    });
    try {
      write(0, 2000);
      first = await startChild(env);
      children.push(first);
      await exited(first);
      expect(atKill).toBe(300);
      const stateFile = join(tmp.dir, 'state', 'agent-state.json');
      const confirmedAtKill = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { seq: { confirmedBelow: number } }).seq.confirmedBelow : 0;
      expect(confirmedAtKill).toBeLessThan(2000);
      write(2000, 2500);
      const second = await startChild(env);
      children.push(second);
      write(2500, TOTAL);
      const paths = (): Set<unknown> => new Set(received.map((m) => m.body.relPath));
      const deadline = Date.now() + 60_000;
      while (paths().size < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(paths().size).toBe(TOTAL);
      second.kill('SIGTERM');
      await exited(second);
    } finally {
      await consumer.close();
    }

    const seqs = new Set(received.map((m) => m.body.hpcm_seq as number));
    const max = Math.max(...seqs);
    const missing = Array.from({ length: max }, (_, i) => i + 1).filter((n) => !seqs.has(n));
    expect(missing).toEqual([]);
    expect(max).toBeGreaterThanOrEqual(TOTAL);
    // The restart did publish again what the killed agent had not checkpointed (at-least-once).
    expect(received.length).toBeGreaterThan(TOTAL);
    // A number always names the same event, also when it was published twice.
    const bySeq = new Map<number, unknown>();
    for (const m of received) {
      const seen = bySeq.get(m.body.hpcm_seq as number);
      if (seen !== undefined) expect(m.body.relPath).toBe(seen);
      bySeq.set(m.body.hpcm_seq as number, m.body.relPath);
    }
  });
});
