/// <reference path="../../../test/infra.d.ts" />
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hpcm-scan-remote-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 45_000, env: { ...process.env, HPCM_SHIM: '0', LD_PRELOAD: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('scan: comparing through the remote helper on the destination host (agent.destination_ssh)', () => {
  it('announces what differs, as the native local compare does', async () => {
    const { ssh, brokerUrl } = inject('infra');
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    for (const root of [src, dst]) {
      mkdirSync(join(root, 'd'), { recursive: true });
      writeFileSync(join(root, 'same'), 'same');
      writeFileSync(join(root, 'd/same'), 'same');
      utimesSync(join(root, 'same'), 1_700_000_000, 1_700_000_000);
      utimesSync(join(root, 'd/same'), 1_700_000_000, 1_700_000_000);
    }
    writeFileSync(join(src, 'new'), 'new');
    writeFileSync(join(src, 'd/changed'), 'longer content');
    writeFileSync(join(dst, 'd/changed'), 'short');
    symlinkSync('same', join(src, 'link'));
    writeFileSync(join(dst, 'extra'), 'only on the destination');
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, [
      'flow: scanremote',
      `broker: { url: "${brokerUrl}" }`,
      `source_root: ${src}`,
      `destination_root: ${dst}`,
      `state_dir: ${join(dir, 'state')}`,
      'agent:',
      '  base_url: sftp://tester@hpc1/',
      `  spool_dir: ${join(dir, 'spool')}`,
      '  destination_ssh:',
      `    host: ${ssh.host}`,
      `    port: ${ssh.port}`,
      `    user: ${ssh.user}`,
      `    identity_file: ${ssh.identityFile}`,
      `    known_hosts: ${ssh.knownHostsFile}`,
      `    remote_helper: HPCM_SHIM=0 ${process.execPath} ${CLI} helper`,
      '',
    ].join('\n'));
    const remote = await cli(['scan', '--config', config, '--dry-run', '--remote-compare', '--json']);
    expect(remote.code, `${remote.stdout}\n${remote.stderr}`).toBe(0);
    const local = await cli(['scan', '--config', config, '--dry-run', '--json']);
    expect(local.code, local.stderr).toBe(0);
    const r = JSON.parse(remote.stdout) as { mode: string; found: number };
    const l = JSON.parse(local.stdout) as { mode: string; found: number };
    expect(r.mode).toBe('compare-remote');
    expect(l.mode).toBe('compare');
    expect(r.found).toBe(4); // new, d/changed, link, extra
    expect(r.found).toBe(l.found);
  }, 120_000);
});
