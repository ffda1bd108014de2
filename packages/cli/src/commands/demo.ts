import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { HpcmError, loadConfig, percentEncodeBytes } from '@hpcmirror/core';
import { sandboxUp, type SandboxTransport } from '@hpcmirror/sandbox';
import { resolveSettings, summarizeLatency, summarizeLatencyLog } from '@hpcmirror/subscriber';
import { compareTrees } from '../audit/compare-trees.js';
import { renderLatencyReport } from '../audit/latency-report.js';
import { loggerFor } from '../context.js';
import { flowProgress, spoolSnapshot, waitForFlow } from '../flow-progress.js';
import { compareOptions, openMirrorSides } from '../mirror-sides.js';
import { cliEntry, writeSandboxConfigs } from '../sandbox/sandbox-configs.js';
import { shimEnvironment } from '../shim-env.js';
import { sandboxServices } from './sandbox.js';

const repo = (p: string): string => fileURLToPath(new URL(`../../../../${p}`, import.meta.url));
const say = (s: string): void => { process.stdout.write(`${s}\n`); };

/** Inputs the workload unpacks and runs: a tarball of a few thousand small files and a compiled writer. */
function prepareInputs(dir: string, files: number): { tarball: string; writer: string } {
  const inputs = join(dir, 'demo-inputs');
  const tarball = join(inputs, 'inputs.tar');
  const writer = join(inputs, 'model-writer');
  if (!existsSync(tarball)) {
    const tree = join(inputs, 'tree');
    for (let i = 0; i < files; i++) {
      const d = join(tree, `obs_${String(i % 40).padStart(2, '0')}`);
      if (i < 40) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `station_${i}.csv`), `station,${i}\nvalue,${(i * 7919) % 1000}\n`);
    }
    execFileSync('tar', ['-cf', tarball, '-C', tree, '.']);
  }
  if (!existsSync(writer)) execFileSync('gcc', ['-O2', '-o', writer, repo('test/fixtures/model-writer.c')]);
  return { tarball, writer };
}

function runUnderShim(argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => resolvePromise({ code: code ?? 1, stdout }));
  });
}

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('bring up the sandbox, mirror a realistic workload written under the shim, report latency and audit')
    .option('--dir <dir>', 'sandbox directory', '.hpcmirror-sandbox')
    .option('--transport <t>', 'sftp | rsync | local', 'sftp')
    .option('--files <n>', 'files in the tarball the workload unpacks', '3000')
    .option('--timeout <s>', 'how long to wait for the mirror to converge', '300')
    .action(async (o: { dir: string; transport: string; files: string; timeout: string }) => {
      if (!['sftp', 'rsync', 'local'].includes(o.transport)) throw new HpcmError('HPM_USAGE', `--transport must be sftp, rsync or local (got ${o.transport})`);
      const dir = resolve(o.dir);
      say(`hpcmirror demo: bringing up the sandbox in ${dir} (private RabbitMQ, loopback sshd, agent, winnow, subscriber over ${o.transport}) ...`);
      const state = await sandboxUp({
        dir, transport: o.transport as SandboxTransport,
        prepare: (s) => {
          const files = writeSandboxConfigs(s);
          return { services: sandboxServices(files.forward), shimEnv: shimEnvironment(loadConfig(files.forward)), extra: { configs: files } };
        },
      });
      const cfgFile = join(dir, 'configs', 'forward.yaml');
      const cfg = loadConfig(cfgFile);
      say(`  mirroring ${state.src} -> ${state.dst}`);
      const { tarball, writer } = prepareInputs(dir, Number(o.files));

      say('running the workload under the shim: .tmp renames, ln -sf latest, hard links, chmod, removes, a tar -x, a compiled model writer ...');
      const started = Date.now();
      const ticker = setInterval(() => {
        void (async () => {
          const p = await flowProgress(cfg, await spoolSnapshot(cfg), null).catch(() => undefined);
          if (p) process.stdout.write(`  ... ${p.target ?? '?'} events announced, ${p.watermark} mirrored\n`);
        })();
      }, 1000);
      const run = await runUnderShim(['bash', repo('scripts/demo-workload.sh'), state.src, tarball, writer], state.shimEnv);
      clearInterval(ticker);
      if (run.code !== 0) throw new HpcmError('HPM_SANDBOX_FAILED', `the workload failed with status ${run.code}`);
      say(`workload done in ${((Date.now() - started) / 1000).toFixed(1)} s (${relative(state.src, run.stdout.trim())}); waiting for the mirror ...`);

      let lastLine = 0;
      const p = await waitForFlow(cfg, Date.now() + Number(o.timeout) * 1000, (x) => {
        if (Date.now() - lastLine < 1000) return;
        lastLine = Date.now();
        say(`  announced ${x.target ?? '(agent still reading the spool)'}   mirrored ${x.watermark}   pending ${x.pending < 0 ? '?' : x.pending}`);
      });
      if (p.parked.length) for (const x of p.parked) say(`  parked: seq ${x.seq} ${x.path}: ${x.reason}`);
      say(p.target !== null && p.watermark >= p.target
        ? `mirrored: all ${p.target} announced events applied, ${((Date.now() - started) / 1000).toFixed(1)} s after the workload started`
        : `not converged within ${o.timeout} s: ${p.pending} events pending`);

      const sides = await openMirrorSides(cfg, loggerFor(cfg, 'demo'));
      let audit;
      try {
        audit = await compareTrees(sides.source, sides.destination, compareOptions({ checksum: true }));
      } finally {
        await sides.close();
      }
      const latency = await summarizeLatencyLog(resolveSettings(cfg).latencyLog).catch(() => summarizeLatency([]));
      say('');
      say(renderLatencyReport(latency));
      for (const d of audit.differences.slice(0, 20)) say(`  ${d.what} ${percentEncodeBytes(d.path)}`);
      say(`audit: ${audit.compared} paths compared with content, ${audit.differences.length} differences${audit.differences.length === 0 ? ': source and destination are identical' : ''}`);
      const bin = `node ${relative(process.cwd(), cliEntry()) || cliEntry()}`;
      say('');
      say('The sandbox is still running. Try it yourself:');
      say(`  try your own shell:  ${bin} shim run --sandbox ${o.dir} -- bash     (then write files under ${state.src})`);
      say(`  watch:               ${bin} status --sandbox ${o.dir}     (or: ${bin} audit --sandbox ${o.dir})`);
      say(`  stop:                ${bin} sandbox down --dir ${o.dir}`);
      process.exitCode = audit.differences.length === 0 && p.parked.length === 0 && p.target !== null && p.watermark >= p.target ? 0 : 1;
    });
}
