import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, isRecordAlive, spawnDetached, stopProcess, stopProcessesSync } from '../src/process-control.js';
import { processesUsing } from '../src/proc-scan.js';

describe('process control', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hpcm-proc-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('spawns detached with output in a log file and stops with SIGTERM', async () => {
    const record = await spawnDetached({ name: 'echo', argv: ['bash', '-c', 'echo started; exec sleep 30'], cwd: dir, logFile: join(dir, 'a.log') });
    expect(isRecordAlive(record)).toBe(true);
    expect(processesUsing(dir).map((p) => p.pid)).toContain(record.pid);
    // Stopped only once it has written: a SIGTERM before bash ran `echo` left the log empty (loaded CI run).
    const deadline = Date.now() + 10_000;
    while (readFileSync(join(dir, 'a.log'), 'utf8') === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await stopProcess(record, { timeoutMs: 2_000 });
    expect(isAlive(record.pid)).toBe(false);
    expect(readFileSync(join(dir, 'a.log'), 'utf8')).toBe('started\n');
  });

  it('falls back to SIGKILL when SIGTERM is ignored', async () => {
    const record = await spawnDetached({ name: 'stubborn', argv: ['bash', '-c', "trap '' TERM; while :; do sleep 0.05; done"], cwd: dir, logFile: join(dir, 'b.log') });
    const began = Date.now();
    await stopProcess(record, { timeoutMs: 300 });
    expect(isAlive(record.pid)).toBe(false);
    expect(Date.now() - began).toBeLessThan(8_000); // far below the 10 s default grace: the 300 ms one was used
  });

  it('does not mistake a different process for a recorded one', async () => {
    const record = await spawnDetached({ name: 'sleep', argv: ['sleep', '30'], cwd: dir, logFile: join(dir, 'c.log') });
    expect(isAlive(record.pid, (record.startTime ?? 0) + 1)).toBe(false);
    stopProcessesSync([record], 2_000);
    expect(isRecordAlive(record)).toBe(false);
  });

  it('reports a missing program clearly', async () => {
    await expect(spawnDetached({ name: 'ghost', argv: ['/nonexistent/ghost'], logFile: join(dir, 'd.log') })).rejects.toMatchObject({
      code: 'HPM_SANDBOX_FAILED',
      field: 'ghost',
    });
  });
});
