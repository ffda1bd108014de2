import {
  appendFileSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync,
  renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isHpcmError } from '@hpcmirror/core';
import { isSubscriberError } from '../src/errors.js';
import { createLocalTransport } from '../src/transports/index.js';
import type { Transport } from '../src/transports/transport.js';
import { startEngine, type Engine } from './helpers/engine.js';
import { diffTrees, linkGroups, snapshotTree } from './helpers/tree.js';

let e: Engine;

afterEach(async () => {
  await e?.close();
});

const ino = (p: string): bigint => lstatSync(p, { bigint: true }).ino;
const converged = (): string[] => diffTrees(snapshotTree(e.src), snapshotTree(e.dst));

describe('Reconciler: content', () => {
  beforeEach(async () => { e = await startEngine(); });

  it('copies a new file with mode and mtime (to the microsecond) and leaves no temp file', async () => {
    writeFileSync(join(e.src, 'a.grib'), 'hello');
    chmodSync(join(e.src, 'a.grib'), 0o640);
    utimesSync(join(e.src, 'a.grib'), 1_700_000_000, 1_700_000_000.123456);
    const r = await e.reconcile('a.grib');
    expect(r.outcome).toBe('written');
    expect(readFileSync(e.d('a.grib'), 'utf8')).toBe('hello');
    const st = lstatSync(e.d('a.grib'), { bigint: true });
    expect(Number(st.mode) & 0o777).toBe(0o640);
    expect(st.mtimeNs / 1000n).toBe(lstatSync(join(e.src, 'a.grib'), { bigint: true }).mtimeNs / 1000n);
    expect(readdirSync(e.dst)).toEqual(['a.grib']);
  });

  it('skips an unchanged file, re-copies an appended one', async () => {
    writeFileSync(join(e.src, 'log'), 'one\n');
    await e.reconcile('log');
    const first = ino(e.d('log'));
    expect((await e.reconcile('log')).outcome).toBe('unchanged');
    expect(ino(e.d('log'))).toBe(first);
    appendFileSync(join(e.src, 'log'), 'two\n');
    expect((await e.reconcile('log')).outcome).toBe('written');
    expect(readFileSync(e.d('log'), 'utf8')).toBe('one\ntwo\n');
  });

  it('applies a chmod alone without copying again', async () => {
    writeFileSync(join(e.src, 'x'), 'data');
    await e.reconcile('x');
    const before = ino(e.d('x'));
    chmodSync(join(e.src, 'x'), 0o600);
    expect((await e.reconcile('x')).outcome).toBe('attrs');
    expect(statSync(e.d('x')).mode & 0o777).toBe(0o600);
    expect(ino(e.d('x'))).toBe(before);
  });

  it('removes only when the source no longer has the path', async () => {
    writeFileSync(join(e.src, 'gone'), 'x');
    await e.reconcile('gone');
    // A remove overtaken by a re-create must not win.
    expect((await e.reconcile('gone')).outcome).toBe('unchanged');
    expect(existsSync(e.d('gone'))).toBe(true);
    unlinkSync(join(e.src, 'gone'));
    expect((await e.reconcile('gone')).outcome).toBe('removed');
    expect(existsSync(e.d('gone'))).toBe(false);
    expect((await e.reconcile('gone')).outcome).toBe('unchanged');
  });

  it('creates missing parents with the source mode; a message under a vanished source parent is a no-op', async () => {
    mkdirSync(join(e.src, 'p/q'), { recursive: true });
    chmodSync(join(e.src, 'p'), 0o750);
    writeFileSync(join(e.src, 'p/q/f'), 'x');
    await e.reconcile('p/q/f');
    expect(statSync(e.d('p')).mode & 0o777).toBe(0o750);
    expect(readFileSync(e.d('p/q/f'), 'utf8')).toBe('x');
    renameSync(join(e.src, 'p'), join(e.src, 'p2'));
    expect((await e.reconcile('p/q/f')).outcome).toBe('parent-gone');
    expect(existsSync(e.d('p/q/f'))).toBe(true);
  });

  it('refetches when the source changes during the copy (post-check)', async () => {
    await e.close();
    let fetches = 0;
    const local = createLocalTransport();
    const racing: Transport = {
      name: 'local', features: local.features,
      start: () => local.start(), stop: () => local.stop(), stat: (p) => local.stat(p),
      readlink: (p) => local.readlink(p), list: (d) => local.list(d),
      fetch: async (src, dest, o) => {
        const r = await local.fetch(src, dest, o);
        if (++fetches === 1) appendFileSync(src, ' and more');
        return fetches === 1 ? { ...r, stat: (await local.stat([src]))[0]! } : r;
      },
    };
    e = await startEngine({ transport: racing });
    writeFileSync(join(e.src, 'busy'), 'start');
    await e.reconcile('busy');
    expect(fetches).toBe(2);
    expect(readFileSync(e.d('busy'), 'utf8')).toBe('start and more');
    expect(readdirSync(e.dst)).toEqual(['busy']);
  });

  it('gives up after 3 fetches of a source that never holds still (retryable)', async () => {
    await e.close();
    const local = createLocalTransport();
    const racing: Transport = {
      name: 'local', features: local.features,
      start: () => local.start(), stop: () => local.stop(), stat: (p) => local.stat(p),
      readlink: (p) => local.readlink(p), list: (d) => local.list(d),
      fetch: async (src, dest, o) => {
        const r = await local.fetch(src, dest, o);
        appendFileSync(src, '+');
        return { ...r, stat: (await local.stat([src]))[0]! };
      },
    };
    e = await startEngine({ transport: racing });
    writeFileSync(join(e.src, 'growing'), 'x');
    const err = await e.reconcile('growing').catch((x: unknown) => x);
    expect(isSubscriberError(err, 'HPM_SUB_SOURCE_BUSY')).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect(readdirSync(e.dst)).toEqual([]);
  });

  it('refuses removals when the source root turns into another device (an empty mount point)', async () => {
    await e.close();
    const local = createLocalTransport();
    let unmounted = false;
    const transport: Transport = {
      name: 'local', features: local.features,
      start: () => local.start(), stop: () => local.stop(), readlink: (p) => local.readlink(p), list: (d) => local.list(d),
      fetch: (s, d, o) => local.fetch(s, d, o),
      stat: async (paths) => (await local.stat(paths)).map((st, i) => (unmounted && st && paths[i]!.equals(Buffer.from(e.src)) ? { ...st, dev: st.dev + 1n } : st)),
    };
    e = await startEngine({ transport });
    writeFileSync(join(e.src, 'keep'), 'x');
    await e.reconcile('keep');
    await e.reconciler.checkSourceRoot();
    unlinkSync(join(e.src, 'keep'));
    unmounted = true;
    expect(isSubscriberError(await e.reconcile('keep').catch((x: unknown) => x), 'HPM_SUB_SOURCE_ROOT')).toBe(true);
    expect(existsSync(e.d('keep'))).toBe(true);
  });

  it('refuses to act while the source root is missing (never reads as "all removed")', async () => {
    writeFileSync(join(e.src, 'keep'), 'x');
    await e.reconcile('keep');
    renameSync(e.src, `${e.src}.away`);
    const err = await e.reconcile('keep').catch((x: unknown) => x);
    expect(isSubscriberError(err, 'HPM_SUB_SOURCE_ROOT')).toBe(true);
    expect(existsSync(e.d('keep'))).toBe(true);
    renameSync(`${e.src}.away`, e.src);
  });
});

describe('Reconciler: types, symlinks, directories', () => {
  beforeEach(async () => { e = await startEngine(); });

  it('copies symlinks verbatim (dangling, absolute, outside) and re-points them atomically', async () => {
    symlinkSync('/etc/passwd', join(e.src, 'abs'));
    symlinkSync('../../nowhere', join(e.src, 'rel'));
    await e.reconcile('abs');
    await e.reconcile('rel');
    expect(readlinkSync(e.d('abs'))).toBe('/etc/passwd');
    expect(readlinkSync(e.d('rel'))).toBe('../../nowhere');
    unlinkSync(join(e.src, 'rel'));
    symlinkSync('elsewhere', join(e.src, 'rel'));
    expect((await e.reconcile('rel')).outcome).toBe('written');
    expect(readlinkSync(e.d('rel'))).toBe('elsewhere');
    expect(readdirSync(e.dst).sort()).toEqual(['abs', 'rel']);
  });

  it('mkdir/rmdir follow the source; a gone directory is removed with its content', async () => {
    mkdirSync(join(e.src, 'd'), { mode: 0o711 });
    chmodSync(join(e.src, 'd'), 0o711);
    expect((await e.reconcile('d')).outcome).toBe('written');
    expect(statSync(e.d('d')).mode & 0o777).toBe(0o711);
    writeFileSync(join(e.src, 'd/f'), 'x');
    await e.reconcile('d/f');
    rmSync(join(e.src, 'd'), { recursive: true });
    expect((await e.reconcile('d')).outcome).toBe('removed');
    expect(existsSync(e.d('d'))).toBe(false);
  });

  it('replaces an entry whose type changed (file -> dir -> symlink -> file)', async () => {
    writeFileSync(join(e.src, 't'), 'file');
    await e.reconcile('t');
    unlinkSync(join(e.src, 't'));
    mkdirSync(join(e.src, 't'));
    await e.reconcile('t');
    expect(statSync(e.d('t')).isDirectory()).toBe(true);
    rmSync(join(e.src, 't'), { recursive: true });
    symlinkSync('target', join(e.src, 't'));
    await e.reconcile('t');
    expect(readlinkSync(e.d('t'))).toBe('target');
    unlinkSync(join(e.src, 't'));
    writeFileSync(join(e.src, 't'), 'file again');
    await e.reconcile('t');
    expect(readFileSync(e.d('t'), 'utf8')).toBe('file again');
  });

  it('never follows a destination symlink planted where a directory should be: HPM_PATH_UNSAFE, outside untouched', async () => {
    const outside = join(e.base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim'), 'precious');
    mkdirSync(join(e.src, 'sub'));
    writeFileSync(join(e.src, 'sub/victim'), 'attacker content');
    symlinkSync(outside, e.d('sub'));
    const err = await e.reconcile('sub/victim').catch((x: unknown) => x);
    expect(isHpcmError(err, 'HPM_PATH_UNSAFE')).toBe(true);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious');
    expect(readdirSync(outside)).toEqual(['victim']);
    // A remove through it is refused the same way.
    unlinkSync(join(e.src, 'sub/victim'));
    expect(isHpcmError(await e.reconcile('sub/victim').catch((x: unknown) => x), 'HPM_PATH_UNSAFE')).toBe(true);
    expect(readdirSync(outside)).toEqual(['victim']);
  });

  it('treats a path written through a source symlink (mirrored as a symlink) as a no-op, not an attack', async () => {
    mkdirSync(join(e.src, 'run12'));
    symlinkSync('run12', join(e.src, 'latest'));
    writeFileSync(join(e.src, 'run12/out'), 'x');
    await e.reconcile('run12/out');
    await e.reconcile('latest');
    expect((await e.reconcile('latest/out')).outcome).toBe('parent-gone');
    expect(readdirSync(e.d('run12'))).toEqual(['out']);
    expect(converged()).toEqual([]);
  });

  it('reproduces non-UTF-8 names and a 4,000-byte path byte for byte', async () => {
    const odd = Buffer.from([0x66, 0xff, 0xfe, 0x0a, 0x25, 0x32]);
    writeFileSync(Buffer.concat([Buffer.from(`${e.src}/`), odd]), 'bytes');
    await e.reconcile(odd);
    expect(readdirSync(e.dst, { encoding: 'buffer' })).toEqual([odd]);
    // 4,000 bytes of relPath (root + relPath stays below PATH_MAX for the local source).
    const parts = Array.from({ length: 16 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(i === 15 ? 248 : 247)}`);
    const rel = parts.join('/');
    expect(Buffer.byteLength(rel)).toBe(4000);
    let dir = e.src;
    // Build it with relative steps: the absolute path is beyond what one syscall may take.
    for (const p of parts.slice(0, -1)) { dir = join(dir, p); mkdirSync(dir); }
    writeFileSync(join(dir, parts[parts.length - 1]!), 'deep');
    expect((await e.reconcile(rel)).outcome).toBe('written');
    expect(converged()).toEqual([]);
  });
});

describe('Reconciler: renames and hard links', () => {
  beforeEach(async () => { e = await startEngine(); });

  it('renames a file locally when the destination old path holds the new content', async () => {
    writeFileSync(join(e.src, 'b.tmp'), 'payload');
    await e.reconcile('b.tmp');
    const before = ino(e.d('b.tmp'));
    renameSync(join(e.src, 'b.tmp'), join(e.src, 'b'));
    await e.rename('b.tmp', 'b');
    expect(ino(e.d('b'))).toBe(before);
    expect(existsSync(e.d('b.tmp'))).toBe(false);
    expect(converged()).toEqual([]);
  });

  it('links locally when the source still has the old path as the same inode (hard link announced as rename)', async () => {
    writeFileSync(join(e.src, 'orig'), 'shared');
    await e.reconcile('orig');
    linkSync(join(e.src, 'orig'), join(e.src, 'alias'));
    await e.rename('orig', 'alias');
    expect(ino(e.d('alias'))).toBe(ino(e.d('orig')));
    expect(converged()).toEqual([]);
  });

  it('fetches the new path when the old one does not hold its content, and keeps a re-created old path', async () => {
    writeFileSync(join(e.src, 'a'), 'v1');
    await e.reconcile('a');
    renameSync(join(e.src, 'a'), join(e.src, 'b'));
    writeFileSync(join(e.src, 'b'), 'v2, longer');
    writeFileSync(join(e.src, 'a'), 'new a');
    await e.rename('a', 'b');
    expect(readFileSync(e.d('b'), 'utf8')).toBe('v2, longer');
    expect(readFileSync(e.d('a'), 'utf8')).toBe('new a');
  });

  it('renames a directory locally and schedules anti-entropy of the whole subtree', async () => {
    mkdirSync(join(e.src, 'run1/sub'), { recursive: true });
    writeFileSync(join(e.src, 'run1/sub/f'), 'x');
    await e.reconcile('run1/sub/f');
    const before = ino(e.d('run1'));
    renameSync(join(e.src, 'run1'), join(e.src, 'run2'));
    await e.rename('run1', 'run2');
    expect(ino(e.d('run2'))).toBe(before);
    expect(e.touched.some((t) => t.subtree && t.dir === join(e.src, 'run2'))).toBe(true);
    expect(converged()).toEqual([]);
  });

  it('a rename whose old path escapes the root is never followed by the engine', async () => {
    writeFileSync(join(e.src, 'n'), 'x');
    // The message layer drops such an old path; the engine itself only accepts paths under the root.
    await expect(e.reconciler.rename(Buffer.from('/etc/passwd'), e.s('n'))).resolves.toMatchObject({ outcome: 'written' });
    expect(existsSync('/etc/passwd')).toBe(true);
  });

  it('keeps hard-link groups together across a rewrite', async () => {
    writeFileSync(join(e.src, 'h1'), 'one');
    linkSync(join(e.src, 'h1'), join(e.src, 'h2'));
    linkSync(join(e.src, 'h1'), join(e.src, 'h3'));
    await e.reconcile('h1');
    await e.reconcile('h2', { linkHints: [e.s('h1')] });
    await e.reconcile('h3');
    expect(linkGroups(snapshotTree(e.dst))).toEqual([['h1', 'h2', 'h3']]);
    writeFileSync(join(e.src, 'h2'), 'rewritten in place');
    await e.reconcile('h2');
    expect(readFileSync(e.d('h1'), 'utf8')).toBe('rewritten in place');
    expect(linkGroups(snapshotTree(e.dst))).toEqual([['h1', 'h2', 'h3']]);
    expect(converged()).toEqual([]);
  });

  it('joins a group from the link message\'s hint when the new name was already copied on its own', async () => {
    // a mirrored while it had one name; `ln a b`; b copied for an earlier message (nothing named a
    // then); the hard-link message for b comes last and finds b's copy current.
    writeFileSync(join(e.src, 'a'), 'shared');
    await e.reconcile('a');
    linkSync(join(e.src, 'a'), join(e.src, 'b'));
    await e.reconcile('b');
    expect(linkGroups(snapshotTree(e.dst))).toEqual([]);
    expect((await e.reconcile('b', { linkHints: [e.s('a')] })).outcome).toBe('unchanged');
    expect(linkGroups(snapshotTree(e.dst))).toEqual([['a', 'b']]);
    expect(converged()).toEqual([]);
  });
});

describe('Reconciler: read-only directories', () => {
  it('changes entries inside a mirrored read-only directory and leaves it read-only', async () => {
    e = await startEngine({ unlockReadOnlyDirs: true });
    mkdirSync(join(e.src, 'done'));
    writeFileSync(join(e.src, 'done/a'), 'a');
    chmodSync(join(e.src, 'done'), 0o555);
    await e.reconcile('done');
    await e.reconcile('done/a');
    expect(statSync(e.d('done')).mode & 0o777).toBe(0o555);
    chmodSync(join(e.src, 'done'), 0o755);
    writeFileSync(join(e.src, 'done/b'), 'late file');
    unlinkSync(join(e.src, 'done/a'));
    chmodSync(join(e.src, 'done'), 0o555);
    await e.reconcile('done/b');
    await e.reconcile('done/a');
    expect(readdirSync(e.d('done'))).toEqual(['b']);
    expect(statSync(e.d('done')).mode & 0o777).toBe(0o555);
    expect(converged()).toEqual([]);
    chmodSync(join(e.src, 'done'), 0o755);
  });
});

describe('Reconciler: removes are guarded', () => {
  it('pauses removes above delete_guard_per_min (copies go on) and raises an alert', async () => {
    e = await startEngine({ deleteGuardPerMin: 2 });
    for (const n of ['r1', 'r2', 'r3']) {
      writeFileSync(join(e.src, n), n);
      await e.reconcile(n);
      unlinkSync(join(e.src, n));
    }
    await e.reconcile('r1');
    await e.reconcile('r2');
    const err = await e.reconcile('r3').catch((x: unknown) => x);
    expect(isSubscriberError(err, 'HPM_SUB_DELETE_PAUSED')).toBe(true);
    expect(existsSync(e.d('r3'))).toBe(true);
    expect(e.guard.status()).toMatchObject({ paused: true, lastMinute: 2 });
    expect(e.guard.status().alert).toMatch(/delete guard/);
    writeFileSync(join(e.src, 'copy'), 'still copied');
    expect((await e.reconcile('copy')).outcome).toBe('written');
  });

  it('moves removed entries into the trash instead of unlinking them', async () => {
    e = await startEngine({ trash: true });
    mkdirSync(join(e.src, 'dir'));
    writeFileSync(join(e.src, 'dir/old'), 'keep me');
    await e.reconcile('dir/old');
    unlinkSync(join(e.src, 'dir/old'));
    await e.reconcile('dir/old');
    expect(existsSync(e.d('dir/old'))).toBe(false);
    const [bucket] = readdirSync(e.trashDir);
    expect(bucket).toMatch(/^\d{8}T\d{2}$/);
    expect(readFileSync(join(e.trashDir, bucket!, 'dir/old'), 'utf8')).toBe('keep me');
  });
});

describe('temp files and anti-entropy', () => {
  beforeEach(async () => { e = await startEngine(); });

  it('sweeps our stale temp files from journaled directories at start, not someone else\'s fresh ones', async () => {
    mkdirSync(join(e.src, 'w'));
    writeFileSync(join(e.src, 'w/f'), 'x');
    await e.reconcile('w/f');
    const ours = e.d('w/.hpcm.abc1230123456789');
    const theirs = e.d('w/.hpcm.ffffff0123456789');
    writeFileSync(ours, 'partial');
    writeFileSync(theirs, 'someone else copying');
    e.journal.stop();
    const { TempJournal } = await import('../src/temp-journal.js');
    const { silentLogger } = await import('@hpcmirror/core');
    const again = new TempJournal(join(e.state, 'temp-dirs.log'), e.temps, silentLogger());
    expect(await again.start(e.tree)).toBe(1);
    again.stop();
    expect(existsSync(ours)).toBe(false);
    expect(existsSync(theirs)).toBe(true);
  });

  it('repairs what differs in a quiet directory: missing, extra, stale and mode-only entries', async () => {
    mkdirSync(join(e.src, 'ae/deep'), { recursive: true });
    for (const n of ['a', 'b', 'c']) writeFileSync(join(e.src, 'ae', n), n);
    writeFileSync(join(e.src, 'ae/deep/x'), 'x');
    await e.reconcile('ae/a');
    await e.reconcile('ae/b');
    writeFileSync(e.d('ae/extra'), 'not on the source');
    writeFileSync(join(e.src, 'ae/b'), 'b changed, never announced');
    chmodSync(join(e.src, 'ae/a'), 0o600);
    await e.antiEntropy.check(e.s('ae'), true);
    await e.antiEntropy.runDue();
    expect(converged()).toEqual([]);
    expect(e.antiEntropy.stats().repaired).toBeGreaterThanOrEqual(4);
  });
});
