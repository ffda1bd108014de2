import { execFile, execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAgent, type Agent } from '../src/index.js';
import { bindTestQueue, drainQueue, testAgentConfig, type ReceivedMessage } from './broker-helpers.js';
import { tempDir, uniqueFlow } from './helpers.js';

const brokerUrl = inject('infra').brokerUrl;
const SHIM_DIR = fileURLToPath(new URL('../../../native-shim', import.meta.url));
const execFileP = promisify(execFile);

type Body = Record<string, unknown>;
/** What one wrapped call must have announced about one path: a test on one message's body. */
interface Expectation {
  call: string;
  path: string;
  test: (b: Body) => boolean;
}

const fop = (b: Body): Record<string, unknown> => (b.fileOp ?? {}) as Record<string, unknown>;
/** A content change: no fileOp, checksum on download, the size and (optionally) mode the file has. */
const content = (size: number, mode?: string) => (b: Body): boolean =>
  b.fileOp === undefined && (b.identity as { method?: string } | undefined)?.method === 'cod' && b.size === size && (mode === undefined || b.mode === mode);
const T0 = '20200102T030405'; // what every time-setting call in every-call.c sets
const timesSet = (b: Body): boolean => b.fileOp === undefined && String(b.mtime).startsWith(T0) && b.hpcm_mtimeNs === '1577934245000000000';

describe('every wrapped call, from a real program under the real shim, reaches the broker as v03', () => {
  const tmp = tempDir('every-call');
  let agent: Agent | undefined;
  let prog = '';
  beforeAll(async () => {
    execFileSync('make', ['-s', '-C', SHIM_DIR], { stdio: ['ignore', 'ignore', 'inherit'] });
    prog = join(tmp.dir, 'every-call');
    await execFileP('gcc', ['-O1', '-o', prog, join(SHIM_DIR, 'test/progs/every-call.c')]);
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    tmp.cleanup();
  });

  it('open/close/dup/rename/link/symlink/unlink/mkdir/rmdir/truncate/chmod/chown/utimes/sendfile/exit families', async () => {
    const root = join(tmp.dir, 'root');
    const spool = join(tmp.dir, 'spool');
    const alias = join(tmp.dir, 'outside-alias');
    mkdirSync(join(root, 'd'), { recursive: true });
    mkdirSync(spool, { mode: 0o700 });
    symlinkSync(root, alias);
    // the files the metadata and truncating calls change exist beforehand, so each announcement
    // about them can only come from the call under test
    const before: Record<string, string> = { 'source.dat': 'source bytes for sendfile and copy_file_range\n', 'append.dat': 'one\n' };
    for (const f of ['truncate.dat', 'truncate64.dat', 'ftruncate.dat']) before[f] = '0123456789';
    for (const f of ['sendfile.dat', 'copy_file_range.dat']) before[f] = '';
    for (const f of ['chmod.dat', 'fchmod.dat', 'd/fchmodat.dat', 'chown.dat', 'lchown.dat', 'fchown.dat', 'd/fchownat.dat']) before[f] = 'm\n';
    for (const f of ['utime.dat', 'utimes.dat', 'lutimes.dat', 'futimes.dat', 'd/futimesat.dat', 'utimensat.dat', 'futimens.dat']) before[f] = 't\n';
    for (const [f, text] of Object.entries(before)) writeFileSync(join(root, f), text, { mode: 0o644 });

    const flow = uniqueFlow('every');
    const config = testAgentConfig({ flow, brokerUrl, sourceRoot: root, stateDir: join(tmp.dir, 'state'), spoolDir: spool, agent: { host: hostname() } });
    const queue = `test.${flow}`;
    await bindTestQueue(brokerUrl, config.exchange, queue);
    agent = createAgent({ config, sweepMs: 100 });
    await agent.start();

    const env = {
      PATH: process.env.PATH, LC_ALL: 'C',
      LD_PRELOAD: `${SHIM_DIR}/build/$LIB/libhpcmshim.so`, HPCM_ROOTS: root, HPCM_SPOOL_DIR: spool,
    };
    const run = await execFileP(prog, [alias], { cwd: root, env });
    expect(run.stderr).toBe('');
    const mkstemp = /^mkstemp (\S+)$/m.exec(run.stdout)?.[1];
    expect(mkstemp).toBeDefined();

    const rel = (p: string): string => join(root, p).slice(1);
    const dir = (b: Body): boolean => fop(b).directory === '' && fop(b).remove === undefined;
    const removed = (b: Body): boolean => fop(b).remove === '' && fop(b).directory === undefined;
    const rmdired = (b: Body): boolean => fop(b).remove === '' && fop(b).directory === '';
    const renamedFrom = (old: string) => (b: Body): boolean => fop(b).rename === rel(old);
    const hlinkTo = (to: string) => (b: Body): boolean => fop(b).hlink === rel(to) && b.size === 7;
    const symlinkTo = (target: string) => (b: Body): boolean => fop(b).link === target;
    const metaOnly = (b: Body): boolean => b.fileOp === undefined && b.size === 2 && b.mode === '644';
    const expectations: Expectation[] = [
      { call: 'mkdir', path: 'mkdir.d', test: dir },
      { call: 'mkdirat', path: 'd/mkdirat.d', test: dir },
      { call: 'open+close', path: 'open.dat', test: content(5, '644') },
      { call: 'open64+close', path: 'open64.dat', test: content(7) },
      { call: 'openat+close', path: 'd/openat.dat', test: content(8, '640') },
      { call: 'creat+close', path: 'creat.dat', test: content(6, '600') },
      { call: 'fopen+fclose', path: 'fopen.dat', test: content(6) },
      { call: 'freopen (old stream)', path: 'freopen-1.dat', test: content(6) },
      { call: 'freopen+fclose', path: 'freopen-2.dat', test: content(8) },
      { call: 'mkstemp+close', path: mkstemp ?? 'mkstemp', test: content(8, '600') },
      { call: 'open existing O_APPEND+close', path: 'append.dat', test: content(8) },
      { call: 'dup+fcntl(F_DUPFD_CLOEXEC)+close', path: 'dup.dat', test: content(10) },
      { call: 'dup2 over a written fd', path: 'dup2.dat', test: content(5) },
      { call: 'dup3 over a written fd', path: 'dup3.dat', test: content(6) },
      { call: 'close_range', path: 'close_range.dat', test: content(12) },
      { call: 'closefrom', path: 'closefrom.dat', test: content(10) },
      { call: 'rename', path: 'rename-b.dat', test: renamedFrom('rename-a.dat') },
      { call: 'renameat', path: 'renameat-b.dat', test: renamedFrom('d/renameat-a.dat') },
      { call: 'renameat2 NOREPLACE', path: 'd/noreplace-b.dat', test: renamedFrom('noreplace-a.dat') },
      { call: 'renameat2 EXCHANGE (file side)', path: 'exchange-b', test: content(11) },
      { call: 'renameat2 EXCHANGE (dir side)', path: 'exchange-a.dat', test: dir },
      { call: 'syscall(SYS_renameat2)', path: 'raw-b.dat', test: renamedFrom('raw-a.dat') },
      { call: 'link', path: 'link.dat', test: hlinkTo('link-src.dat') },
      { call: 'linkat', path: 'd/linkat.dat', test: hlinkTo('link-src.dat') },
      { call: 'O_TMPFILE + linkat AT_EMPTY_PATH', path: 'tmpfile-empty-path.dat', test: content(12, '644') },
      { call: 'O_TMPFILE + linkat /proc/self/fd', path: 'tmpfile-proc.dat', test: content(13, '600') },
      { call: 'symlink', path: 'symlink', test: symlinkTo('open.dat') },
      { call: 'symlinkat', path: 'd/symlinkat', test: symlinkTo('../open.dat') },
      { call: 'unlink', path: 'unlink.dat', test: removed },
      { call: 'unlinkat', path: 'd/unlinkat.dat', test: removed },
      { call: 'unlinkat AT_REMOVEDIR', path: 'd/unlinkat-dir.d', test: rmdired },
      { call: 'remove (file)', path: 'remove.dat', test: removed },
      { call: 'remove (directory)', path: 'remove-dir.d', test: rmdired },
      { call: 'rmdir', path: 'rmdir.d', test: rmdired },
      { call: 'truncate', path: 'truncate.dat', test: content(3) },
      { call: 'truncate64', path: 'truncate64.dat', test: content(4) },
      { call: 'ftruncate', path: 'ftruncate.dat', test: content(5) },
      { call: 'sendfile', path: 'sendfile.dat', test: content(46) },
      { call: 'copy_file_range', path: 'copy_file_range.dat', test: content(20) },
      { call: 'chmod', path: 'chmod.dat', test: (b) => b.fileOp === undefined && b.mode === '600' },
      { call: 'fchmod', path: 'fchmod.dat', test: (b) => b.fileOp === undefined && b.mode === '640' },
      { call: 'fchmodat', path: 'd/fchmodat.dat', test: (b) => b.fileOp === undefined && b.mode === '604' },
      { call: 'chown', path: 'chown.dat', test: metaOnly },
      { call: 'lchown', path: 'lchown.dat', test: metaOnly },
      { call: 'fchown', path: 'fchown.dat', test: metaOnly },
      { call: 'fchownat', path: 'd/fchownat.dat', test: metaOnly },
      { call: 'utime', path: 'utime.dat', test: timesSet },
      { call: 'utimes', path: 'utimes.dat', test: timesSet },
      { call: 'lutimes', path: 'lutimes.dat', test: timesSet },
      { call: 'futimes', path: 'futimes.dat', test: timesSet },
      { call: 'futimesat', path: 'd/futimesat.dat', test: timesSet },
      { call: 'utimensat', path: 'utimensat.dat', test: timesSet },
      { call: 'futimens', path: 'futimens.dat', test: timesSet },
      { call: '_exit with the file open', path: 'exit-_exit.dat', test: content(6) },
      { call: '_Exit with the file open', path: 'exit-_Exit.dat', test: content(7) },
      { call: 'syscall(SYS_exit_group) with the file open', path: 'exit-group.dat', test: content(11) },
      { call: 'exit() with the file open', path: 'exit.dat', test: content(18) },
    ];

    const received: ReceivedMessage[] = [];
    const about = (p: string): Body[] => received.filter((m) => m.body.relPath === rel(p)).map((m) => m.body);
    const missing = (): string[] => expectations.filter((e) => !about(e.path).some(e.test)).map((e) => `${e.call} (${e.path}): ${JSON.stringify(about(e.path))}`);
    await drainQueue(brokerUrl, queue, () => missing().length === 0, 45_000, received);
    expect(missing()).toEqual([]);

    // At-least-once: a publish whose confirm came late goes out again under the same seq; count events, not copies.
    const copies = received.splice(0);
    received.push(...new Map(copies.map((m) => [m.body.hpcm_seq as number, m])).values());
    // files that existed before: announced once, by the call under test, and only that
    for (const f of Object.keys(before).filter((p) => p !== 'source.dat')) expect(about(f), f).toHaveLength(1);
    expect(about('source.dat')).toEqual([]); // only read
    // nothing outside the root (the alias), no path the program only read
    for (const m of received) expect(String(m.body.relPath).startsWith(rel(''))).toBe(true);

    // fields every message carries (messages.md), sequence per host without gaps, the shim's stat
    const seqs = received.map((m) => m.body.hpcm_seq as number);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    for (const m of received) {
      expect(m.body.pubTime).toMatch(/^\d{8}T\d{6}\.\d{6}$/);
      expect(m.body).toMatchObject({ baseUrl: 'sftp://tester@hpc1/', hpcm_host: hostname() });
      expect(m.headers.hpcm_path).toBe(m.body.relPath);
      expect(m.routingKey).toBe(`v03.${String(m.body.relPath).split('/').slice(0, -1).join('.')}`); // no component needs encoding here
    }
    const open = lstatSync(join(root, 'open.dat'), { bigint: true });
    expect(about('open.dat')[0]).toMatchObject({ hpcm_ino: open.ino.toString(), hpcm_mtimeNs: open.mtimeNs.toString(), mtime: expect.stringMatching(/^\d{8}T\d{6}/) });
    expect(readdirSync(spool).filter((f) => f.endsWith('.loss'))).toEqual([]);
  }, 120_000);
});
