import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { StatusReport } from '../../packages/cli/src/ops/status-report.js';
import type { DoctorReport } from '../../packages/cli/src/ops/doctor/doctor.js';
import { CLI, eventually, runCli } from './cli-process.js';

/**
 * `hpcmirror watch` is a component like the others: it writes a status file that `status` shows
 * (state, rates, trees and watches), and `doctor` checks what it needs (its reader binary, its trees).
 */
describe('watch in status and doctor', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'hpcm-ops-watch-'));
  const src = join(scratch, 'src');
  const spool = join(scratch, 'spool');
  mkdirSync(src);
  mkdirSync(spool, { mode: 0o700 });
  const config = join(scratch, 'watch.yaml');
  writeFileSync(config, [
    `flow: w${randomBytes(4).toString('hex')}`, 'user: tester', `broker: {url: "${inject('infra').brokerUrl}"}`,
    `source_root: ${src}`, `state_dir: ${join(scratch, 'state')}`,
    `agent: {base_url: "sftp://tester@hpc1/", spool_dir: ${spool}, host: hpc1}`,
    `watch: {dirs: [${src}], stable_s: 0}`, '',
  ].join('\n'));
  let watcher: ChildProcess | undefined;

  afterAll(async () => {
    if (watcher?.exitCode === null) {
      watcher.kill('SIGTERM');
      await new Promise((r) => watcher!.once('exit', r));
    }
    rmSync(scratch, { recursive: true, force: true });
  });

  it('status shows a running watcher with its trees; doctor checks its binary and trees', async () => {
    watcher = spawn(process.execPath, [CLI, 'watch', '--config', config], { stdio: 'ignore', env: { ...process.env, HPCM_SHIM: '0', LD_PRELOAD: '' } });
    const status = await eventually(async () => {
      const r = await runCli(['status', 'watch', '--config', config, '--json']);
      const j = JSON.parse(r.stdout) as StatusReport;
      const w = j.flows[0]?.components.find((c) => c.component === 'watch');
      return w?.state === 'running' ? j : undefined;
    }, 60_000, 'the watcher to report running');
    const w = status.flows[0]!.components.find((c) => c.component === 'watch')!;
    expect(w).toMatchObject({ manager: 'foreground', pid: watcher.pid, watch: { trees: 1, watches: 1, recordsLost: 0 } });
    writeFileSync(join(src, 'a'), 'x');
    await eventually(async () => {
      const j = JSON.parse((await runCli(['status', 'watch', '--config', config, '--json'])).stdout) as StatusReport;
      const r = j.flows[0]!.components.find((c) => c.component === 'watch')!.rates.recordsWritten;
      return r !== undefined && r > 0 ? r : undefined;
    }, 30_000, 'a spooled event in the rates');
    const human = await runCli(['status', 'watch', '--config', config]);
    expect(human.stdout).toMatch(/^ {2}watch +running +foreground +\d+ .* ev\/s spooled +.*1 tree, 1 watches/m);

    const d = await runCli(['doctor', '--config', config, '--json']);
    const report = JSON.parse(d.stdout) as DoctorReport;
    const results = report.targets[0]!.results;
    expect(results.find((x) => x.check === 'watch binary')).toMatchObject({ level: 'ok', message: expect.stringMatching(/hpcm-watch .*max_user_watches \d+/) });
    expect(results.find((x) => x.check === 'watch dirs')).toMatchObject({ level: 'ok', message: `${src} readable` });
    rmSync(src, { recursive: true });
    const gone = JSON.parse((await runCli(['doctor', '--config', config, '--json'])).stdout) as DoctorReport;
    expect(gone.targets[0]!.results.find((x) => x.check === 'watch dirs')).toMatchObject({ level: 'warn', message: expect.stringMatching(/does not exist/) });
  }, 120_000);
});
