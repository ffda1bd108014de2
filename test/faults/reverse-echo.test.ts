import { spawn } from 'node:child_process';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSandboxState, spawnDetached, writeSandboxState } from '../../packages/sandbox/src/index.js';
import { CLI, hpcmirror, REPO, SandboxUnderTest } from '../e2e/cli-harness.js';
import { differencesUnder, shellInCase } from '../e2e/mirror-checks.js';
import { Canary, LONG, recordRow, runWriter, type FaultRow } from './fault-kit.js';

/**
 * The reverse flow (secondary -> primary, configs/reverse.yaml of the sandbox, as failover starts it)
 * running while the forward flow runs: users write on both sides, in different directories. No
 * change may echo: the forward exchange never carries a path the reverse mirror wrote, the reverse
 * exchange never one the forward mirror wrote; both sides end equal. Long form (or HPCM_FAULTS_REVERSE=1).
 */
const RUN = LONG || process.env.HPCM_FAULTS_REVERSE === '1';
const WRITER = join(REPO, 'test/faults/fixtures/self-check-writer.py');

describe.skipIf(!RUN)('reverse flow beside the forward flow: no echo', () => {
  const sb = new SandboxUnderTest('sftp');
  let canary: Canary;
  beforeAll(async () => {
    canary = new Canary(sb.dir);
    await sb.up();
    const st = readSandboxState(sb.dir)!;
    for (const c of ['agent', 'winnow', 'subscriber'] as const) {
      const name = `reverse-${c}`;
      const argv = [process.execPath, CLI, c, '--config', join(sb.dir, 'configs/reverse.yaml')];
      const logFile = join(sb.dir, 'logs', `${name}.log`);
      const record = await spawnDetached({ name, argv, cwd: sb.dir, logFile, env: { ...process.env, HPCMIRROR_SANDBOX: sb.dir, HPCM_SHIM: '0', LD_PRELOAD: '' } });
      st.services.push({ ...record, argv, logFile, stopTimeoutMs: 15_000 });
      st.pids[name] = record.pid;
    }
    writeSandboxState(st);
  }, 300_000);
  afterAll(async () => {
    await sb.down();
  }, 120_000);

  it('users write on both sides at once; each flow carries only its own side\'s changes', async () => {
    const st = readSandboxState(sb.dir)!;
    // Every announcement of both flows, as the broker routes them.
    const conn = await amqp.connect(st.brokerUrl);
    const seen: { flow: string; path: string }[] = [];
    try {
      const ch = await conn.createChannel();
      for (const [flow, ex] of [['forward', st.exchange], ['reverse', `${st.exchange}.reverse`]] as const) {
        await ch.assertExchange(ex, 'topic', { durable: true });
        const { queue } = await ch.assertQueue('', { exclusive: true });
        await ch.bindQueue(queue, ex, '#');
        await ch.consume(queue, (m) => { if (m) seen.push({ flow, path: String((JSON.parse(m.content.toString()) as { relPath?: unknown }).relPath) }); }, { noAck: true });
      }
      await shellInCase(sb, 'fwd', 'true');
      await shellInCase(sb, 'rev', 'true');
      const reverseShim = { ...st.shimEnv, HPCM_ROOTS: sb.dst, HPCM_SPOOL_DIR: join(sb.dir, 'spool-reverse') };
      const revWriter = new Promise<number>((resolve) => {
        const p = spawn('python3', [WRITER, join(sb.dst, 'rev'), '88', '200', String(16 << 10), '0.01'], { env: { ...process.env, ...reverseShim }, stdio: 'ignore' });
        p.on('close', (code) => resolve(code ?? 1));
      });
      const [fwdOut, revCode] = await Promise.all([runWriter(sb, 'fwd', 87, 200, 16 << 10, 0.01), revWriter]);
      expect(revCode).toBe(0);
      const [wf, wr] = await Promise.all([
        sb.wait(300),
        hpcmirror(['wait', '--config', join(sb.dir, 'configs/reverse.yaml'), '--timeout', '300'], { timeoutMs: 400_000 }),
      ]);
      const diffs = [...(await differencesUnder(sb, 'fwd')), ...(await differencesUnder(sb, 'rev'))];
      const rel = (p: string) => `${p.slice(1)}/`;
      const echoes = seen.filter((s) => (s.flow === 'forward' && s.path.startsWith(rel(join(sb.src, 'rev'))))
        || (s.flow === 'reverse' && s.path.startsWith(rel(join(sb.dst, 'fwd')))));
      const row: FaultRow = {
        name: 'fault: reverse flow beside the forward flow', runs: 1, events: seen.length,
        lost: diffs.filter((d) => d.what === 'missing').length, divergent: diffs.filter((d) => d.what !== 'missing').length,
        partial: 0, outside: canary.writes(), parked: '-',
        note: `${echoes.length} echoes; forward ${seen.filter((s) => s.flow === 'forward').length}, reverse ${seen.filter((s) => s.flow === 'reverse').length} announcements (${fwdOut})`,
      };
      recordRow(row);
      expect(echoes.slice(0, 10)).toEqual([]);
      expect(wf.code, wf.stdout + wf.stderr).toBe(0);
      expect(wr.code, wr.stdout + wr.stderr).toBe(0);
      expect(diffs.slice(0, 20)).toEqual([]);
      expect(row.outside).toBe(0);
    } finally {
      await conn.close();
    }
  }, 900_000);
});

