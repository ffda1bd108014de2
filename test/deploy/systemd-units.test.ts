/**
 * deploy/systemd: every unit passes `systemd-analyze --user verify` with no warning, and systemd's own
 * parser (`systemd --test --user`, which dumps each unit as the user manager would load it) shows the
 * settings the deployment guide promises. The units run in a scratch HOME whose ~/.local/bin/hpcmirror
 * is a stand-in script: these tests check the unit files, not the program. What a live user manager
 * does with them (starting, stopping, restarting, linger) is not covered: there is none in CI.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPLOY_DIR, PLAIN_PATH, requireTool, run, type RunResult } from './deploy-fixtures.js';

const UNITS_DIR = join(DEPLOY_DIR, 'systemd');
const UNIT_FILES = [
  'hpcmirror.target',
  'hpcmirror-agent@.service',
  'hpcmirror-winnow@.service',
  'hpcmirror-subscriber@.service',
  'hpcmirror-watch@.service',
  'hpcmirror-scan@.service',
  'hpcmirror-scan@.timer',
];
const LONG_RUNNING = [
  { component: 'agent', timeoutStop: '1min' },
  { component: 'winnow', timeoutStop: '1min' },
  { component: 'subscriber', timeoutStop: '2min' },
  { component: 'watch', timeoutStop: '1min' },
] as const;
const INSTANCE = 'ops';
/** `systemd --test` refuses to run as root; as root the dump runs as this uid (Debian's nobody). */
const NOBODY = 65534;

const instanceOf = (file: string): string => file.replace('@.', `@${INSTANCE}.`);

/** Keys of one section of a unit file, several values per key when repeated. */
function unitSection(file: string, section: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let current = '';
  for (const raw of readFileSync(join(UNITS_DIR, file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (current !== section || eq < 0) continue;
    const key = line.slice(0, eq);
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

interface UnitDump {
  settings: Map<string, string[]>;
  execStart: string[];
}

/** Splits the `Command Line:` of a dump (systemd quotes words with "..." and escapes \ " $). */
function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let word = '';
    const quoted = line[i] === '"';
    if (quoted) i++;
    while (i < line.length && (quoted ? line[i] !== '"' : line[i] !== ' ')) {
      if (line[i] === '\\') i++;
      word += line[i++];
    }
    if (quoted) i++;
    words.push(word);
  }
  return words;
}

/** The unit's block of a `systemd --test --user` dump. */
function parseDump(dump: string, unit: string): UnitDump {
  const start = dump.indexOf(`\t-> Unit ${unit}:\n`);
  if (start < 0) throw new Error(`${unit} is not in the dump:\n${dump.slice(0, 2000)}`);
  const next = dump.indexOf('\n\t-> Unit ', start + 1);
  const block = dump.slice(start, next < 0 ? undefined : next);
  const settings = new Map<string, string[]>();
  for (const m of block.matchAll(/^\t\t([A-Za-z][A-Za-z0-9 ]*): (.*)$/gm)) {
    settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  const exec = /\t\t-> ExecStart:\n\t\t\tCommand Line: (.*)\n/.exec(block);
  return { settings, execStart: exec ? splitCommandLine(exec[1]!) : [] };
}

/** What systemd does to each argument when it spawns the command: `$$` is a literal `$`. */
const atExec = (words: readonly string[]): string[] => words.map((w) => w.replaceAll('$$', '$'));

describe('deploy/systemd user units', () => {
  let analyze: string;
  let systemd: string;
  let setpriv: string | undefined;
  let scratch: string;
  let home: string;
  let runtimeDir: string;
  let userDir: string;
  let fakeBin: string;
  let config: string;
  const dumps = new Map<string, string>();

  const userEnv = (): NodeJS.ProcessEnv => ({ PATH: PLAIN_PATH, HOME: home, XDG_RUNTIME_DIR: runtimeDir });
  const verify = (unit: string): RunResult => run(analyze, ['--user', 'verify', join(userDir, unit)], { env: userEnv() });
  const dump = (unit: string): UnitDump => {
    let text = dumps.get(unit);
    if (text === undefined) {
      const args = ['--test', '--user', `--unit=${unit}`];
      const r = setpriv
        ? run(setpriv, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', systemd, ...args], { env: userEnv(), cwd: scratch })
        : run(systemd, args, { env: userEnv(), cwd: scratch });
      if (r.status !== 0) throw new Error(`systemd --test --user --unit=${unit} failed (${r.status}): ${r.stderr || r.stdout}`);
      text = r.stdout;
      dumps.set(unit, text);
    }
    return parseDump(text, unit);
  };

  beforeAll(() => {
    analyze = requireTool(['systemd-analyze'], 'systemd');
    systemd = requireTool(['/usr/lib/systemd/systemd', '/lib/systemd/systemd'], 'systemd');
    if (process.getuid?.() === 0) setpriv = requireTool(['setpriv'], 'util-linux');

    scratch = mkdtempSync(join(tmpdir(), 'hpcm-deploy-units-'));
    home = join(scratch, 'home');
    runtimeDir = join(scratch, 'run');
    userDir = join(home, '.config', 'systemd', 'user');
    mkdirSync(userDir, { recursive: true });
    mkdirSync(join(home, '.local', 'bin'), { recursive: true });
    mkdirSync(runtimeDir, { mode: 0o700 });
    for (const f of UNIT_FILES) copyFileSync(join(UNITS_DIR, f), join(userDir, f));
    config = join(home, '.config', 'hpcmirror', `${INSTANCE}.yaml`);
    mkdirSync(join(home, '.config', 'hpcmirror'), { recursive: true });
    writeFileSync(config, 'flow: ops\n');
    // Stands in for the CLI; records its arguments when asked to.
    fakeBin = join(home, '.local', 'bin', 'hpcmirror');
    writeFileSync(fakeBin, '#!/bin/sh\n[ -z "${HPCM_ARGS_OUT:-}" ] || printf \'%s\\n\' "$@" > "$HPCM_ARGS_OUT"\nexit 0\n', { mode: 0o755 });
    if (setpriv) run('chown', ['-R', `${NOBODY}:${NOBODY}`, scratch]);
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('deploy/systemd holds exactly the units these tests know', () => {
    expect(readdirSync(UNITS_DIR).sort()).toEqual([...UNIT_FILES].sort());
  });

  it.each(UNIT_FILES)('%s: systemd-analyze --user verify passes without a warning', (file) => {
    const r = verify(instanceOf(file));
    expect({ status: r.status, output: (r.stdout + r.stderr).trim() }).toEqual({ status: 0, output: '' });
  });

  it('verify is a real check: it fails on a missing binary and warns on a misspelt key', () => {
    chmodSync(fakeBin, 0o644);
    try {
      const r = verify('hpcmirror-agent@ops.service');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`${fakeBin} is not executable`);
    } finally {
      chmodSync(fakeBin, 0o755);
    }
    const dropIn = join(userDir, 'hpcmirror-agent@.service.d');
    mkdirSync(dropIn);
    writeFileSync(join(dropIn, 'typo.conf'), '[Service]\nRestartSecs=5\n');
    try {
      expect(verify('hpcmirror-agent@ops.service').stderr).toContain("Unknown key 'RestartSecs'");
    } finally {
      rmSync(dropIn, { recursive: true, force: true });
    }
  });

  describe.each(LONG_RUNNING)('hpcmirror-$component@.service as the user manager loads it', ({ component, timeoutStop }) => {
    const unit = `hpcmirror-${component}@${INSTANCE}.service`;

    it('runs ~/.local/bin/hpcmirror <component> --config ~/.config/hpcmirror/<instance>.yaml', () => {
      expect(dump(unit).execStart).toEqual([fakeBin, component, '--config', config]);
    });

    it('runs with the shim off and without any inherited LD_PRELOAD', () => {
      const s = dump(unit).settings;
      expect(s.get('Environment')).toContain('HPCM_SHIM=0');
      expect(s.get('UnsetEnvironment')).toEqual(['LD_PRELOAD']);
      expect(s.get('EnvironmentFile')).toEqual([
        `-${home}/.config/hpcmirror/systemd.env`,
        `-${home}/.config/hpcmirror/${INSTANCE}.env`,
      ]);
    });

    it('restarts on failure, stops cleanly with time to flush, logs to the journal under its own name', () => {
      const s = dump(unit).settings;
      const one = (key: string): string | undefined => s.get(key)?.[0];
      expect({
        Type: one('Type'),
        Restart: one('Restart'),
        RestartSec: one('RestartSec'),
        KillMode: one('KillMode'),
        KillSignal: one('KillSignal'),
        TimeoutStopSec: one('TimeoutStopSec'),
        LimitNOFILE: one('LimitNOFILE'),
        TasksMax: one('TasksMax'),
        UMask: one('UMask'),
        StandardOutput: one('StandardOutput'),
        StandardError: one('StandardError'),
        PartOf: one('PartOf'),
        AssertPathExists: one('AssertPathExists'),
      }).toEqual({
        Type: 'exec',
        Restart: 'on-failure',
        RestartSec: '5s',
        KillMode: 'mixed',
        KillSignal: 'SIGTERM',
        TimeoutStopSec: timeoutStop,
        LimitNOFILE: '65536',
        TasksMax: '4096',
        UMask: '0077',
        StandardOutput: 'journal',
        StandardError: 'journal',
        PartOf: 'hpcmirror.target (origin-file)',
        AssertPathExists: `${config} untested`,
      });
      // Not in the dump: read from the file.
      const unitKeys = unitSection(`hpcmirror-${component}@.service`, 'Unit');
      const serviceKeys = unitSection(`hpcmirror-${component}@.service`, 'Service');
      expect(serviceKeys.get('SyslogIdentifier')).toEqual([`hpcmirror-%i-${component}`]);
      expect(serviceKeys.get('RestartPreventExitStatus')).toEqual(['2']);
      expect(unitKeys.get('StartLimitIntervalSec')).toEqual(['600']);
      expect(unitKeys.get('StartLimitBurst')).toEqual(['10']);
    });

    it('is enabled into hpcmirror.target and default.target', () => {
      expect(unitSection(`hpcmirror-${component}@.service`, 'Install').get('WantedBy')).toEqual(['hpcmirror.target default.target']);
    });
  });

  it('hpcmirror.target starts with the user manager', () => {
    expect(unitSection('hpcmirror.target', 'Install').get('WantedBy')).toEqual(['default.target']);
  });

  describe('safety-net scan', () => {
    it('the timer fires hourly, persistently, into hpcmirror-scan@<instance>.service', () => {
      const s = dump(`hpcmirror-scan@${INSTANCE}.timer`).settings;
      expect({ unit: s.get('Unit'), calendar: s.get('OnCalendar'), persistent: s.get('Persistent') }).toEqual({
        unit: [`hpcmirror-scan@${INSTANCE}.service`],
        calendar: ['*-*-* *:00:00'],
        persistent: ['yes'],
      });
    });

    it('the service runs `hpcmirror scan --config F --since <2 hours ago, UTC ISO 8601> DIR` with the shim off', () => {
      const { settings, execStart } = dump(`hpcmirror-scan@${INSTANCE}.service`);
      expect(settings.get('Environment')).toEqual(['HPCM_SCAN_SINCE=2 hours ago', 'HPCM_SHIM=0']);
      expect(settings.get('UnsetEnvironment')).toEqual(['LD_PRELOAD']);
      const argsOut = join(scratch, 'scan-args');
      const unitEnv = Object.fromEntries(settings.get('Environment')!.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const [file, ...args] = atExec(execStart);
      const before = Date.now();
      const r = run(file!, args, { env: { ...userEnv(), ...unitEnv, HPCM_SCAN_DIR: '/fs/primary', HPCM_ARGS_OUT: argsOut } });
      expect(r).toMatchObject({ status: 0, stderr: '' });
      const got = readFileSync(argsOut, 'utf8').trimEnd().split('\n');
      expect(got.slice(0, 4)).toEqual(['scan', '--config', config, '--since']);
      expect(got[4]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const sinceMs = Date.parse(got[4]!);
      expect(Math.abs(before - 2 * 3600_000 - sinceMs)).toBeLessThan(120_000);
      expect(got.slice(5)).toEqual(['/fs/primary']);
      rmSync(argsOut);
    });

    it('the service fails with a message naming HPCM_SCAN_DIR and the file to set it in when it is missing', () => {
      const { execStart } = dump(`hpcmirror-scan@${INSTANCE}.service`);
      const argsOut = join(scratch, 'scan-args-missing');
      const [file, ...args] = atExec(execStart);
      const r = run(file!, args, { env: { ...userEnv(), HPCM_SCAN_SINCE: '2 hours ago', HPCM_ARGS_OUT: argsOut } });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`HPCM_SCAN_DIR: missing: put HPCM_SCAN_DIR=<tree to scan> in ${home}/.config/hpcmirror/${INSTANCE}.env`);
      expect(existsSync(argsOut)).toBe(false);
    });

    it('the service scans nothing when HPCM_SCAN_SINCE is not a time date(1) understands', () => {
      const { execStart } = dump(`hpcmirror-scan@${INSTANCE}.service`);
      const argsOut = join(scratch, 'scan-args-bad-since');
      const [file, ...args] = atExec(execStart);
      const r = run(file!, args, { env: { ...userEnv(), HPCM_SCAN_SINCE: 'two hours ago', HPCM_SCAN_DIR: '/fs/primary', HPCM_ARGS_OUT: argsOut } });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('invalid date');
      expect(existsSync(argsOut)).toBe(false);
    });
  });
});
