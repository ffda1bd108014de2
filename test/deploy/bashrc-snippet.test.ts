/**
 * deploy/bashrc/hpcmirror.bashrc in real bash processes: interactive (`bash -i`), batch-like
 * (`bash -c` reading it through BASH_ENV), and the shells sshd starts for a command, simulated the
 * way sshd starts them: `bash -c CMD` with SSH_CLIENT set, so Debian's bash reads ~/.bashrc by itself;
 * forced commands add SSH_ORIGINAL_COMMAND. CMD is exactly what the client sends (`rsync --server ...`,
 * `scp -t ...`, `hpcmirror helper`), and the programs it names are stand-ins on PATH that print the
 * environment they were given: what a real rsync server would run with. The library is a do-nothing
 * stand-in built here with cc at the `$LIB` layout ld.so expects, so every external command the shells
 * run is really preloaded.
 * Not covered: a real sshd login (it would read the test user's own ~/.bashrc), batch schedulers
 * (Slurm/PBS environment propagation), and the real shim's behaviour (native-shim/test does that).
 */
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderExports } from '../../packages/cli/src/shim-env.js';
import { DEPLOY_DIR, PLAIN_PATH, requireTool, run } from './deploy-fixtures.js';

const SNIPPET = join(DEPLOY_DIR, 'bashrc', 'hpcmirror.bashrc');
/** Prints the environment children get (an external command, so it runs preloaded), then any
 * variable or function the snippet left behind. */
const PROBE = '/usr/bin/env; echo ::leftovers; compgen -A variable __hpcm || true; compgen -A function __hpcm || true';
/** As sshd runs a command for an ssh client: bash reads ~/.bashrc when SSH_CLIENT is set. */
const SSH_ENV = { SSH_CLIENT: '192.0.2.7 50022 22', SSH_CONNECTION: '192.0.2.7 50022 192.0.2.1 22' };
/** `$LIB` as ld.so may expand it: Debian multiarch, RHEL-likes, others. */
const LIB_DIRS = (hosttype: string): string[] => [`lib/${hosttype}-linux-gnu`, 'lib64', 'lib'];

interface ShellRun {
  status: number | null;
  env: Map<string, string>;
  leftovers: string[];
  stdout: string;
  stderr: string;
}

/** bash -i without a terminal warns about job control, with its pid: compare without numbers. */
const normalise = (stderr: string): string => stderr.replace(/\(\d+\)/g, '(N)');

describe('deploy/bashrc/hpcmirror.bashrc', () => {
  let scratch: string;
  let home: string;
  let bareHome: string;
  let preload: string;
  let otherLib: string;
  let envFile: string;
  let installedSnippet: string;
  let shimEnv: Record<string, string>;
  /** Stand-ins for the programs ssh clients ask for; each prints its environment like PROBE. */
  let standIns: string;
  let sshEnv: NodeJS.ProcessEnv;

  const shell = (args: readonly string[], extra: NodeJS.ProcessEnv = {}, homeDir = home): ShellRun => {
    const r = run('bash', args, { env: { PATH: PLAIN_PATH, HOME: homeDir, ...extra }, cwd: scratch });
    const [before, after = ''] = r.stdout.split('::leftovers\n');
    const env = new Map<string, string>();
    for (const line of (before ?? '').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return { status: r.status, env, leftovers: after.split('\n').filter(Boolean), stdout: r.stdout, stderr: r.stderr };
  };
  const hpcmVars = (r: ShellRun): string[] => [...r.env.keys()].filter((k) => k.startsWith('HPCM_') || k === 'LD_PRELOAD').sort();

  beforeAll(() => {
    const cc = requireTool(['cc', 'gcc'], 'gcc');
    scratch = mkdtempSync(join(tmpdir(), 'hpcm-deploy-bashrc-'));
    const hosttype = run('bash', ['-c', 'printf %s "$HOSTTYPE"']).stdout;
    const standIn = join(scratch, 'stand-in.c');
    writeFileSync(standIn, 'void hpcm_stand_in(void) {}\n');
    for (const dir of LIB_DIRS(hosttype)) {
      mkdirSync(join(scratch, 'shim', dir), { recursive: true });
      const built = run(cc, ['-shared', '-fPIC', '-o', join(scratch, 'shim', dir, 'libhpcmshim.so'), standIn]);
      if (built.status !== 0) throw new Error(`cc could not build the stand-in library: ${built.stderr}`);
    }
    otherLib = join(scratch, 'libother.so');
    copyFileSync(join(scratch, 'shim', LIB_DIRS(hosttype)[0]!, 'libhpcmshim.so'), otherLib);
    preload = `${scratch}/shim/$LIB/libhpcmshim.so`;
    // What `hpcmirror shim env --config F > shim.env` writes, rendered by the CLI's own code.
    shimEnv = {
      LD_PRELOAD: preload,
      HPCM_SHIM: '1',
      HPCM_ROOTS: '/fs/primary',
      HPCM_SPOOL_DIR: join(scratch, 'spool'),
      HPCM_REJECT: "*.tmp:.nfs*:it's-*",
    };

    const bashrc = (withSnippet: boolean): string =>
      (withSnippet ? '[ -r ~/.config/hpcmirror/hpcmirror.bashrc ] && . ~/.config/hpcmirror/hpcmirror.bashrc\n' : '') +
      // Debian's skeleton .bashrc: non-interactive shells stop here, so the snippet goes above.
      'case $- in\n  *i*) ;;\n  *) return;;\nesac\nHISTCONTROL=ignoreboth\n';
    home = join(scratch, 'home');
    bareHome = join(scratch, 'bare-home');
    mkdirSync(join(home, '.config', 'hpcmirror'), { recursive: true });
    mkdirSync(bareHome);
    envFile = join(home, '.config', 'hpcmirror', 'shim.env');
    writeFileSync(envFile, renderExports(shimEnv), { mode: 0o600 });
    installedSnippet = join(home, '.config', 'hpcmirror', 'hpcmirror.bashrc');
    copyFileSync(SNIPPET, installedSnippet);
    writeFileSync(join(home, '.bashrc'), bashrc(true));
    writeFileSync(join(bareHome, '.bashrc'), bashrc(false));

    standIns = join(scratch, 'stand-ins');
    const report = '#!/bin/sh\n/usr/bin/env\necho ::leftovers\n';
    for (const rel of ['bin/rsync', 'bin/scp', 'bin/hpcmirror', 'bin/orted', 'bin/rrsync', 'bin/check-forced', 'usr/lib/openssh/sftp-server', 'opt/hpcmirror/bin/hpcmirror']) {
      mkdirSync(join(standIns, rel, '..'), { recursive: true });
      writeFileSync(join(standIns, rel), report, { mode: 0o755 });
    }
    sshEnv = { ...SSH_ENV, PATH: `${standIns}/bin:${PLAIN_PATH}` };
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  describe('turns the shim on', () => {
    it('in an interactive shell (bash -i): LD_PRELOAD keeps $LIB for ld.so, the variables arrive verbatim, nothing is printed', () => {
      const r = shell(['-i', '-c', PROBE]);
      const baseline = shell(['-i', '-c', PROBE], {}, bareHome);
      expect(r.status).toBe(0);
      for (const [k, v] of Object.entries(shimEnv)) expect(r.env.get(k), k).toBe(v);
      expect(r.leftovers).toEqual([]);
      // The same warnings bash -i prints without a terminal, and no ld.so complaint about the preload.
      expect(normalise(r.stderr)).toBe(normalise(baseline.stderr));
      expect(hpcmVars(baseline)).toEqual([]);
    });

    it('in a batch shell (bash -c reading it through BASH_ENV)', () => {
      const r = shell(['-c', PROBE], { BASH_ENV: installedSnippet });
      expect({ status: r.status, stderr: r.stderr, leftovers: r.leftovers }).toEqual({ status: 0, stderr: '', leftovers: [] });
      expect(r.env.get('LD_PRELOAD')).toBe(preload);
      expect(r.env.get('HPCM_SHIM')).toBe('1');
    });

    it('for any other command started over ssh (an MPI launcher, a directory named hpcmirror-*, a job step after `hpcmirror wait`)', () => {
      const others = ['orted -mca ess_base_jobid 1', 'cd / && orted --wdir /fs/primary/hpcmirror-runs', 'hpcmirror wait --timeout 600 && orted'];
      for (const cmd of others) {
        const r = shell(['-c', cmd], sshEnv);
        expect({ cmd, status: r.status, stderr: r.stderr, preload: r.env.get('LD_PRELOAD'), shim: r.env.get('HPCM_SHIM') }).toEqual({
          cmd, status: 0, stderr: '', preload, shim: '1',
        });
      }
    });

    it('after the entries already in LD_PRELOAD, and only once in nested shells', () => {
      const r = shell(['-i', '-c', `bash -i -c '${PROBE}'`], { LD_PRELOAD: otherLib });
      expect(r.env.get('LD_PRELOAD')).toBe(`${otherLib}:${preload}`);
      expect(r.stderr).not.toContain('ld.so');
      const spaced = shell(['-c', PROBE], { BASH_ENV: installedSnippet, LD_PRELOAD: `${otherLib} ${otherLib}` });
      expect(spaced.env.get('LD_PRELOAD')).toBe(`${otherLib} ${otherLib}:${preload}`);
    });

    it('under set -eu, with HOME unset and the env file named by HPCM_SHIM_ENV_FILE', () => {
      const script = `set -eu; . "$0"; ${PROBE}`;
      const r = run('bash', ['-c', script, installedSnippet], { env: { PATH: PLAIN_PATH, HPCM_SHIM_ENV_FILE: envFile } });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(r.stdout).toContain(`LD_PRELOAD=${preload}\n`);
      const none = run('bash', ['-c', `${script}; echo still-running`, installedSnippet], { env: { PATH: PLAIN_PATH } });
      expect({ status: none.status, stderr: none.stderr, endsWith: none.stdout.endsWith('still-running\n') }).toEqual({ status: 0, stderr: '', endsWith: true });
      expect(none.stdout).not.toContain('LD_PRELOAD=');
    });
  });

  describe('never turns it on for transfers and hpcmirror\'s own commands over ssh', () => {
    const transfers = [
      'rsync --server -vlogDtpre.iLsfxCIvu . /fs/primary/dir/',
      'rsync --server --sender -vlogDtpre.iLsfxCIvu . /fs/primary/dir/',
      'nice -n 5 rsync --server -logDtpr . /fs/primary/x',
      'STAND_INS/usr/lib/openssh/sftp-server',
      'scp -t /fs/primary/dir',
      'scp -r -f /fs/primary/dir',
      'hpcmirror helper',
      'STAND_INS/opt/hpcmirror/bin/hpcmirror helper',
      'exec STAND_INS/opt/hpcmirror/bin/hpcmirror helper',
    ];

    it.each(transfers)('`ssh host %s` runs with no LD_PRELOAD and HPCM_SHIM=0, nothing printed', (template) => {
      const r = shell(['-c', template.replaceAll('STAND_INS', standIns)], sshEnv);
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(r.env.get('HPCM_SHIM')).toBe('0');
      expect(hpcmVars(r)).toEqual(['HPCM_SHIM']);
    });

    it('a forced command (authorized_keys command=, ForceCommand) is judged by SSH_ORIGINAL_COMMAND and by itself', () => {
      const checked = shell(['-c', 'check-forced'], { ...sshEnv, SSH_ORIGINAL_COMMAND: 'rsync --server --sender -logDtpr . /fs/primary/x' });
      expect(hpcmVars(checked)).toEqual(['HPCM_SHIM']);
      expect(checked.env.get('HPCM_SHIM')).toBe('0');
      const rrsync = shell(['-c', 'rrsync -ro /fs/primary'], { ...sshEnv, SSH_ORIGINAL_COMMAND: 'ls' });
      expect(hpcmVars(rrsync)).toEqual(['HPCM_SHIM']);
      const harmless = shell(['-c', 'check-forced'], { ...sshEnv, SSH_ORIGINAL_COMMAND: 'orted -mca ess_base_jobid 1' });
      expect(harmless.env.get('LD_PRELOAD')).toBe(preload);
    });

    it('an inherited shim is silenced with HPCM_SHIM=0 (the shim then stays passive)', () => {
      const r = shell(['-c', 'rsync --server . /fs/primary/x'], { ...sshEnv, LD_PRELOAD: preload, HPCM_SHIM: '1' });
      expect(r.env.get('HPCM_SHIM')).toBe('0');
      expect(r.env.get('LD_PRELOAD')).toBe(preload);
    });
  });

  describe('is a silent no-op', () => {
    const expectNoOp = (r: ShellRun, baseline: ShellRun): void => {
      expect(r.status).toBe(0);
      expect(hpcmVars(r)).toEqual(hpcmVars(baseline));
      expect(r.leftovers).toEqual([]);
      expect(normalise(r.stderr)).toBe(normalise(baseline.stderr));
    };

    it('when the library the env file names is missing', () => {
      const missing = join(scratch, 'missing-lib.env');
      writeFileSync(missing, renderExports({ ...shimEnv, LD_PRELOAD: `${scratch}/nowhere/$LIB/libhpcmshim.so` }), { mode: 0o600 });
      const r = shell(['-i', '-c', PROBE], { HPCM_SHIM_ENV_FILE: missing });
      expectNoOp(r, shell(['-i', '-c', PROBE], { HPCM_SHIM_ENV_FILE: missing }, bareHome));
      expect(hpcmVars(r)).toEqual(['HPCM_SHIM_ENV_FILE']);
    });

    it('when the env file is missing', () => {
      const env = { HPCM_SHIM_ENV_FILE: join(scratch, 'no-such.env') };
      expectNoOp(shell(['-i', '-c', PROBE], env), shell(['-i', '-c', PROBE], env, bareHome));
    });

    it('when HPCM_SHIM=0 is already set (hpcmirror\'s services, a user opting out)', () => {
      const r = shell(['-i', '-c', PROBE], { HPCM_SHIM: '0' });
      expectNoOp(r, shell(['-i', '-c', PROBE], { HPCM_SHIM: '0' }, bareHome));
      expect(hpcmVars(r)).toEqual(['HPCM_SHIM']);
    });

    it.runIf(process.getuid?.() === 0)('when the env file belongs to another user', () => {
      const foreign = join(scratch, 'foreign.env');
      writeFileSync(foreign, renderExports(shimEnv), { mode: 0o644 });
      chownSync(foreign, 65534, 65534);
      const r = shell(['-i', '-c', PROBE], { HPCM_SHIM_ENV_FILE: foreign });
      expectNoOp(r, shell(['-i', '-c', PROBE], { HPCM_SHIM_ENV_FILE: foreign }, bareHome));
    });

    it('in a shell that is not bash (sh sourcing it returns at once)', () => {
      const r = run('sh', ['-c', '. "$0"; echo after', installedSnippet], { env: { PATH: PLAIN_PATH, HOME: home } });
      expect(r).toEqual({ status: 0, stdout: 'after\n', stderr: '' });
    });
  });
});
