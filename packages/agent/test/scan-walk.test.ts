import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Test-only reach into the subscriber: the scan must speak to the very helper the CLI will hand it.
import { RemoteHelperClient } from '../../subscriber/src/remote-helper/client.js';
import { runRemoteHelper } from '../../subscriber/src/remote-helper/server.js';
import { defaultScanBinary, isScanError, localDestinationLister, runScan, type DestinationLister, type ScanEntry } from '../src/scan/index.js';
import { buildWalker, byPath, collect, key, scratchDir } from './scan-fixtures.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

let scratch: ReturnType<typeof scratchDir>;
beforeAll(() => {
  buildWalker();
  scratch = scratchDir('hpcm-scan-walk-');
});
afterAll(() => scratch.cleanup());

/** A tree with the awkward cases: symlinks (one to a dir, a loop), non-UTF-8 and newline names. */
function awkwardTree(root: string): void {
  mkdirSync(join(root, 'a/b'), { recursive: true });
  mkdirSync(join(root, 'outside/deep'), { recursive: true });
  writeFileSync(join(root, 'outside/deep/never'), 'x');
  writeFileSync(join(root, 'a/f1'), 'hello');
  writeFileSync(join(root, 'a/b/f2'), '');
  symlinkSync('../outside', join(root, 'a/to-dir'));
  symlinkSync('loop2', join(root, 'a/loop1'));
  symlinkSync('loop1', join(root, 'a/loop2'));
  linkSync(join(root, 'a/f1'), join(root, 'a/hard'));
  writeFileSync(Buffer.concat([b(root + '/a/'), Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x64])]), 'bytes');
  writeFileSync(join(root, 'a/new\nline'), 'nl');
  execFileSync('mkfifo', [join(root, 'a/fifo')]);
}

describe('hpcm-scan listing', () => {
  it('lists every entry once, paths as bytes, never following symlinks', async () => {
    const root = join(scratch.dir, 'list');
    awkwardTree(root);
    const { entries, issues, result } = await collect({ root, threads: 2 });
    expect(issues).toEqual([]);
    const paths = entries.map((e) => key(e.relPath)).sort();
    expect(paths).toEqual(
      [
        'a', 'a/b', 'a/b/f2', 'a/f1', 'a/fifo', 'a/hard', 'a/loop1', 'a/loop2', 'a/new\nline', 'a/n\xff\xfe.d', 'a/to-dir',
        'outside', 'outside/deep', 'outside/deep/never',
      ].sort(),
    );
    const m = byPath(entries);
    expect(m.get('a/to-dir')).toMatchObject({ type: 'symlink', target: b('../outside'), reason: 'list' });
    expect(m.get('a/loop1')?.target).toEqual(b('loop2'));
    expect(m.get('a/f1')).toMatchObject({ type: 'file', stat: { size: 5, nlink: 2 } });
    expect(m.get('a/fifo')?.type).toBe('other');
    expect(m.get('a/b')?.type).toBe('dir');
    expect(result).toMatchObject({ examined: 14, emitted: 14, dirs: 5, errors: 0 });
  });

  it('walks paths longer than PATH_MAX', async () => {
    const root = join(scratch.dir, 'long');
    mkdirSync(root);
    const comp = 'd'.repeat(200);
    // 22 levels of 200 bytes: the relative path is ~4.4 KB, beyond what one openat() takes.
    execFileSync('bash', ['-c', `cd "$1" && for i in $(seq 22); do mkdir ${comp} && cd ${comp} || exit 1; done && echo deep > leaf`, '_', root]);
    const { entries, issues } = await collect({ root, threads: 2 });
    expect(issues).toEqual([]);
    const leaf = entries.find((e) => e.relPath.toString().endsWith('/leaf'));
    expect(leaf?.relPath.length).toBe(22 * 201 + 4);
    expect(entries).toHaveLength(23);
  });

  it('reports an unreadable directory and walks on', async () => {
    const root = join(scratch.dir, 'locked');
    mkdirSync(join(root, 'open/sub'), { recursive: true });
    mkdirSync(join(root, 'shut/inner'), { recursive: true });
    writeFileSync(join(root, 'open/sub/f'), 'x');
    writeFileSync(join(root, 'shut/inner/g'), 'y');
    chmodSync(join(root, 'shut'), 0o000);
    let binary = defaultScanBinary();
    if (process.getuid?.() === 0) {
      // Root reads everything: run the walker as nobody so the mode bits count.
      binary = join(scratch.dir, 'as-nobody.sh');
      writeFileSync(binary, `#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups ${defaultScanBinary()} "$@"\n`, { mode: 0o755 });
    }
    const { entries, issues, result } = await collect({ root, binary, threads: 2 });
    expect(issues).toEqual([{ side: 'source', op: 'open', code: 'EACCES', relPath: b('shut') }]);
    expect(entries.map((e) => key(e.relPath)).sort()).toEqual(['open', 'open/sub', 'open/sub/f', 'shut']);
    expect(result.errors).toBe(1);
  });

  it('does not descend into excluded names or paths', async () => {
    const root = join(scratch.dir, 'excl');
    mkdirSync(join(root, 'keep/.snapshot/x'), { recursive: true });
    mkdirSync(join(root, 'keep/tmpdir'), { recursive: true });
    writeFileSync(join(root, 'keep/a.tmp'), '');
    writeFileSync(join(root, 'keep/tmpdir/z'), '');
    writeFileSync(join(root, 'keep/b'), '');
    const { entries } = await collect({ root, excludes: ['.snapshot', '*.tmp', 'keep/tmpdir'] });
    expect(entries.map((e) => key(e.relPath)).sort()).toEqual(['keep', 'keep/b']);
  });

  it('fails with a coded error for a missing root, and for contradictory options', async () => {
    const err = await runScan({ root: join(scratch.dir, 'nope') }).catch((e: unknown) => e);
    expect(isScanError(err, 'HPM_SCAN_BAD_ROOT')).toBe(true);
    expect((err as Error).message).toMatch(/source root .*nope: No such file or directory/);
    const err2 = await runScan({ root: scratch.dir, since: 1n, compareWith: scratch.dir }).catch((e: unknown) => e);
    expect(isScanError(err2, 'HPM_SCAN_USAGE')).toBe(true);
    const err3 = await runScan({ root: scratch.dir, compareWith: join(scratch.dir, 'nope') }).catch((e: unknown) => e);
    expect(isScanError(err3, 'HPM_SCAN_BAD_ROOT')).toBe(true);
  });
});

describe('hpcm-scan --since', () => {
  it('catches changes by ctime even when mtime was set back', async () => {
    const root = join(scratch.dir, 'since');
    mkdirSync(join(root, 'quiet/deeper'), { recursive: true });
    mkdirSync(join(root, 'busy'), { recursive: true });
    for (const f of ['quiet/old', 'quiet/deeper/old2', 'busy/edited', 'busy/backdated']) writeFileSync(join(root, f), 'v1');
    await new Promise((r) => setTimeout(r, 60));
    const since = BigInt(Date.now()) * 1_000_000n;
    await new Promise((r) => setTimeout(r, 60));
    writeFileSync(join(root, 'busy/edited'), 'v2');
    writeFileSync(join(root, 'busy/backdated'), 'v2');
    utimesSync(join(root, 'busy/backdated'), new Date('2001-01-01'), new Date('2001-01-01')); // like touch -d
    writeFileSync(join(root, 'busy/created'), 'new');
    const { entries, result } = await collect({ root, since });
    // busy itself: an entry was created in it, so its ctime moved too.
    expect(entries.map((e) => key(e.relPath)).sort()).toEqual(['busy', 'busy/backdated', 'busy/created', 'busy/edited']);
    expect(entries.every((e) => e.reason === 'since')).toBe(true);
    const backdated = byPath(entries).get('busy/backdated')!;
    expect(backdated.stat.mtimeNs < since && backdated.stat.ctimeNs >= since).toBe(true);
    expect(result.examined).toBe(8);
  });
});

describe('hpcm-scan --compare', () => {
  const src = () => join(scratch.dir, 'cmp-src');
  const dst = () => join(scratch.dir, 'cmp-dst');
  const expected = [
    'changed d/size [size,mtime]',
    'changed d/mtime [mtime]',
    'changed d/mode [mode]',
    'changed d/link [target]',
    'changed d/typechange [type]',
    'new d/gone-on-dst',
    'new d/sub',
    'new d/sub/x',
    'new newdir',
    'new newdir/nested',
    'new newdir/nested/n',
    'extra d/only-on-dst',
    'extra extra-dir',
  ].sort();
  const summary = (entries: ScanEntry[]): string[] =>
    entries.map((e) => `${e.reason} ${key(e.relPath)}${e.differs.length ? ` [${e.differs.join(',')}]` : ''}`).sort();

  beforeAll(() => {
    const src = join(scratch.dir, 'cmp-src');
    const dst = join(scratch.dir, 'cmp-dst');
    mkdirSync(join(src, 'd/sub'), { recursive: true });
    mkdirSync(join(src, 'same'), { recursive: true });
    for (const f of ['d/size', 'd/mtime', 'd/mode', 'd/same', 'd/sub/x', 'd/typechange', 'same/s1', 'd/gone-on-dst']) {
      writeFileSync(join(src, f), `content of ${f}`);
    }
    symlinkSync('target-a', join(src, 'd/link'));
    symlinkSync('same-target', join(src, 'd/samelink'));
    writeFileSync(Buffer.concat([b(src + '/d/'), Buffer.from([0xff, 0x0a])]), 'odd name');
    execFileSync('cp', ['-a', src, dst]);

    writeFileSync(join(src, 'd/size'), 'a longer content than before');
    utimesSync(join(src, 'd/mtime'), new Date('2020-01-01'), new Date('2020-01-01'));
    chmodSync(join(src, 'd/mode'), 0o600);
    execFileSync('ln', ['-sfn', 'target-b', join(src, 'd/link')]);
    execFileSync('rm', ['-f', join(dst, 'd/typechange')]);
    mkdirSync(join(dst, 'd/typechange'));
    execFileSync('rm', ['-f', join(dst, 'd/gone-on-dst')]);
    execFileSync('rm', ['-rf', join(dst, 'd/sub')]);
    writeFileSync(join(dst, 'd/only-on-dst'), 'extra');
    mkdirSync(join(dst, 'extra-dir/inner'), { recursive: true });
    writeFileSync(join(dst, 'd/.hpcm.0123456789abcdef'), 'a subscriber temp file');
    mkdirSync(join(src, 'newdir/nested'), { recursive: true });
    writeFileSync(join(src, 'newdir/nested/n'), 'n');
    // A sub-µs difference, as a destination set with µs precision shows: within the tolerance.
    const fine = join(src, 'same/s1');
    execFileSync('touch', ['-d', '2024-05-05 10:00:00.123456789', fine]);
    execFileSync('touch', ['-d', '2024-05-05 10:00:00.123456000', join(dst, 'same/s1')]);
  });

  it('finds exactly what is missing, changed and extra on the destination', async () => {
    const { entries, issues } = await collect({ root: src(), compareWith: dst(), threads: 2 });
    expect(issues).toEqual([]);
    expect(summary(entries)).toEqual(expected);
    const m = byPath(entries);
    expect(m.get('d/link')?.target).toEqual(b('target-b'));
    expect(m.get('extra-dir')?.type).toBe('dir');
  });

  it('finds the same through a destination lister (the remote helper\'s shape), one listing per directory', async () => {
    const lister = localDestinationLister();
    let listings = 0;
    const counting: DestinationLister = { list: (d) => (listings++, lister.list(d)), readlink: (p) => lister.readlink(p) };
    const { entries, issues, result } = await collect({
      root: src(),
      compareWith: { root: dst(), lister: counting, concurrency: 4 },
      maxBufferedEntries: 2,
    });
    expect(issues).toEqual([]);
    expect(summary(entries)).toEqual(expected);
    expect(byPath(entries).get('d/link')?.target).toEqual(b('target-b'));
    expect(listings).toBe(result.dirs);
    expect(result.emitted).toBe(expected.length);
  });

  it('finds the same through the subscriber\'s remote helper protocol (real client and server, in-process pipes)', async () => {
    const client = new RemoteHelperClient({
      label: 'scan test helper',
      openChannel: async () => {
        const toHelper = new PassThrough();
        const fromHelper = new PassThrough();
        const served = runRemoteHelper(toHelper, fromHelper);
        return { input: toHelper, output: fromHelper, closed: served.then(() => undefined, () => undefined), close: () => toHelper.end() };
      },
    });
    await client.start();
    try {
      const { entries, issues } = await collect({ root: src(), compareWith: { root: dst(), lister: client } });
      expect(issues).toEqual([]);
      expect(summary(entries)).toEqual(expected);
    } finally {
      await client.stop();
    }
  });

  it('reports nothing for identical trees', async () => {
    const src = join(scratch.dir, 'ident-src');
    mkdirSync(join(src, 'x/y'), { recursive: true });
    writeFileSync(join(src, 'x/y/z'), 'z');
    symlinkSync('z', join(src, 'x/y/l'));
    execFileSync('cp', ['-a', src, join(scratch.dir, 'ident-dst')]);
    const { entries, result } = await collect({ root: src, compareWith: join(scratch.dir, 'ident-dst') });
    expect(entries).toEqual([]);
    expect(result).toMatchObject({ examined: 4, emitted: 0 });
  });
});
