import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAgent, type Agent } from '../src/index.js';
import { bindTestQueue, drainQueue, testAgentConfig, type ReceivedMessage } from './broker-helpers.js';
import { tempDir, uniqueFlow } from './helpers.js';

const brokerUrl = inject('infra').brokerUrl;
const SHIM_DIR = fileURLToPath(new URL('../../../native-shim', import.meta.url));

function runUnderShim(script: string, env: NodeJS.ProcessEnv): Promise<number | null> {
  const child = spawn('bash', ['-c', script], { env, stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('agent + the real shim: a bash under LD_PRELOAD', () => {
  const tmp = tempDir('e2e');
  let agent: Agent | undefined;
  beforeAll(() => {
    execFileSync('make', ['-s', '-C', SHIM_DIR], { stdio: ['ignore', 'ignore', 'inherit'] });
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    tmp.cleanup();
  });

  it('writes, renames, links and removes become the right v03 messages', async () => {
    const root = join(tmp.dir, 'root');
    const outside = join(tmp.dir, 'outside');
    const spool = join(tmp.dir, 'spool');
    mkdirSync(root);
    mkdirSync(outside);
    mkdirSync(spool, { mode: 0o700 });
    const flow = uniqueFlow('e2e');
    const config = testAgentConfig({
      flow, brokerUrl, sourceRoot: root, stateDir: join(tmp.dir, 'state'), spoolDir: spool,
      agent: { host: hostname(), reject: ['*.tmp'], inline_max_bytes: 4096 },
    });
    const queue = `test.${flow}`;
    await bindTestQueue(brokerUrl, config.exchange, queue);
    agent = createAgent({ config, sweepMs: 100 });
    await agent.start();

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      LC_ALL: 'C',
      LD_PRELOAD: `${SHIM_DIR}/build/$LIB/libhpcmshim.so`,
      HPCM_ROOTS: root,
      HPCM_SPOOL_DIR: spool,
      HPCM_REJECT: '*.tmp',
    };
    const script = [
      'set -e',
      `cd '${root}'`,
      'mkdir run',
      'mkdir run/sub',
      'echo hello > run/a.txt',
      'echo kept > run/kept.txt',
      'head -c 100 /dev/zero > run/b.tmp',
      'mv run/b.tmp run/b.dat',
      'mv run/a.txt run/c.txt',
      'ln run/c.txt run/hard',
      'ln -s c.txt run/link',
      'chmod 600 run/c.txt',
      'rm run/hard',
      'mv run/sub run/sub2',
      'rmdir run/sub2',
      `mv run/b.dat '${outside}/b.dat'`,
    ].join('\n');
    expect(await runUnderShim(script, env)).toBe(0);
    // A writer killed with the file still open: no close, no exit record; the agent sees the pid go.
    expect(await runUnderShim(`exec 3>'${root}/run/open.log'; echo partial >&3; kill -9 $$`, env)).toBe(null);

    const rel = (p: string): string => join(root, p).slice(1);
    const received: ReceivedMessage[] = [];
    const has = (path: string, pred: (b: Record<string, unknown>) => boolean): boolean =>
      received.some((m) => m.body.relPath === rel(path) && pred(m.body));
    const fop = (b: Record<string, unknown>): Record<string, unknown> => (b.fileOp ?? {}) as Record<string, unknown>;
    const expectations: [string, string, (b: Record<string, unknown>) => boolean][] = [
      ['mkdir run', 'run', (b) => fop(b).directory === '' && fop(b).remove === undefined],
      ['content a.txt', 'run/a.txt', (b) => b.fileOp === undefined && b.size === 6 && (b.identity as { method: string }).method === 'cod'],
      // Small and left alone: the shim's fstat still describes it, so its bytes travel in the message.
      ['inline content', 'run/kept.txt', (b) => JSON.stringify(b.content) === JSON.stringify({ encoding: 'utf-8', value: 'kept\n' })],
      ['excluded -> inside = content', 'run/b.dat', (b) => b.fileOp === undefined],
      ['rename', 'run/c.txt', (b) => fop(b).rename === rel('run/a.txt')],
      ['hard link', 'run/hard', (b) => fop(b).hlink === rel('run/c.txt')],
      ['symlink', 'run/link', (b) => fop(b).link === 'c.txt'],
      ['chmod', 'run/c.txt', (b) => b.fileOp === undefined && b.mode === '600'],
      ['unlink', 'run/hard', (b) => fop(b).remove === ''],
      ['dir rename', 'run/sub2', (b) => fop(b).rename === rel('run/sub') && fop(b).directory === ''],
      ['rmdir', 'run/sub2', (b) => fop(b).remove === '' && fop(b).directory === ''],
      ['inside -> outside = remove', 'run/b.dat', (b) => fop(b).remove === ''],
      ['killed writer', 'run/open.log', (b) => b.size === 8],
    ];
    const missing = (): string[] => expectations.filter(([, p, pred]) => !has(p, pred)).map(([what]) => what);
    await drainQueue(brokerUrl, queue, () => missing().length === 0, 30_000, received);
    expect(missing()).toEqual([]);
    expect(received.some((m) => String(m.body.relPath).includes('.tmp'))).toBe(false);

    // At-least-once: a publish whose confirm is late goes out again, so a seq may show up twice.
    const seqs = [...new Set(received.map((m) => m.body.hpcm_seq as number))];
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const c = lstatSync(join(root, 'run/c.txt'), { bigint: true });
    const closeMsg = received.find((m) => m.body.relPath === rel('run/a.txt'))!.body;
    expect(closeMsg).toMatchObject({ hpcm_host: hostname(), hpcm_ino: c.ino.toString(), baseUrl: 'sftp://tester@hpc1/', from_cluster: 'clusterA' });
    expect(BigInt(closeMsg.hpcm_eventNs as string)).toBeGreaterThan(0n);
    expect(closeMsg.hpcm_mtimeNs).toBe(c.mtimeNs.toString());
    for (const m of received) {
      expect(m.body.pubTime).toMatch(/^\d{8}T\d{6}\.\d{6}$/);
      expect(m.headers.hpcm_path).toBe(m.body.relPath);
    }
  });
});
