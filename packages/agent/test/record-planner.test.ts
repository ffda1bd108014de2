import { describe, expect, it } from 'vitest';
import { PathFilter } from '../src/changes/path-filter.js';
import { RecordPlanner } from '../src/changes/record-planner.js';
import { DirtySet } from '../src/dirty/dirty-set.js';
import { RecordFlag } from '../src/spool/record.js';
import { b, fileStat, rec } from './helpers.js';

function setup() {
  const dirty = new DirtySet();
  const planner = new RecordPlanner(new PathFilter(b('/r'), [], ['*.tmp']), dirty);
  const plan = (r: Parameters<typeof rec>[0]) => planner.plan({ host: 'h1', record: rec(r) }, 0).intents;
  return { dirty, plan };
}

describe('RecordPlanner: renames across boundaries (semantics.md)', () => {
  it('inside -> inside is a rename (directory flag carried)', () => {
    const { plan } = setup();
    expect(plan({ op: 'RENAME', pid: 1, path: b('/r/new'), path2: b('/r/old') })).toMatchObject([{ kind: 'rename', path: b('/r/new'), oldPath: b('/r/old') }]);
    expect(plan({ op: 'RENAME', pid: 1, flags: RecordFlag.DIR, path: b('/r/d2'), path2: b('/r/d1') })).toMatchObject([{ kind: 'rename', isDirectory: true }]);
  });

  it('excluded or outside -> inside is a content (type) change of the new path, scanned if a directory', () => {
    const { plan } = setup();
    expect(plan({ op: 'RENAME', pid: 1, path: b('/r/a'), path2: b('/r/a.tmp') })).toMatchObject([{ kind: 'typed', path: b('/r/a'), freshStat: true, scanIfDirectory: true }]);
    expect(plan({ op: 'RENAME', pid: 1, path: b('/r/a'), path2: b('/elsewhere/a') })).toMatchObject([{ kind: 'typed', path: b('/r/a') }]);
  });

  it('inside -> excluded or outside is a remove of the old path (rmdir for a directory)', () => {
    const { plan } = setup();
    expect(plan({ op: 'RENAME', pid: 1, path: b('/r/a.tmp'), path2: b('/r/a') })).toMatchObject([{ kind: 'remove', path: b('/r/a') }]);
    expect(plan({ op: 'RENAME', pid: 1, flags: RecordFlag.DIR, path: b('/tmp/d'), path2: b('/r/d') })).toMatchObject([{ kind: 'rmdir', path: b('/r/d') }]);
  });

  it('outside -> outside is nothing', () => {
    const { plan } = setup();
    expect(plan({ op: 'RENAME', pid: 1, path: b('/x/b'), path2: b('/x/a') })).toEqual([]);
  });

  it('RENAME_EXCHANGE is two content/type changes', () => {
    const { plan } = setup();
    const out = plan({ op: 'RENAME', pid: 1, flags: RecordFlag.EXCHANGE, path: b('/r/b'), path2: b('/r/a') });
    expect(out.map((i) => [i.kind, i.path.toString()])).toEqual([['typed', '/r/b'], ['typed', '/r/a']]);
  });
});

describe('RecordPlanner: other operations', () => {
  it('maps link, symlink, unlink, mkdir, rmdir, meta, changed', () => {
    const { plan } = setup();
    expect(plan({ op: 'LINK', pid: 1, path: b('/r/h'), path2: b('/r/f') })).toMatchObject([{ kind: 'hardlink', hlinkTo: b('/r/f') }]);
    expect(plan({ op: 'LINK', pid: 1, path: b('/r/h'), path2: b('/proc/self/fd/3') })).toMatchObject([{ kind: 'typed', path: b('/r/h') }]);
    expect(plan({ op: 'SYMLINK', pid: 1, path: b('/r/l'), path2: b('../x/y') })).toMatchObject([{ kind: 'symlink', linkTarget: b('../x/y') }]);
    expect(plan({ op: 'UNLINK', pid: 1, path: b('/r/f') })).toMatchObject([{ kind: 'remove' }]);
    expect(plan({ op: 'MKDIR', pid: 1, path: b('/r/d') })).toMatchObject([{ kind: 'mkdir' }]);
    expect(plan({ op: 'RMDIR', pid: 1, path: b('/r/d') })).toMatchObject([{ kind: 'rmdir' }]);
    expect(plan({ op: 'META', pid: 1, path: b('/r/f') })).toMatchObject([{ kind: 'typed', freshStat: true }]);
    expect(plan({ op: 'CHANGED', pid: 1, path: b('/r/f'), stat: fileStat(3) })).toMatchObject([{ kind: 'typed', stat: { size: 3n } }]);
    expect(plan({ op: 'UNLINK', pid: 1, path: b('/r/f.tmp') })).toEqual([]);
    expect(plan({ op: 'MKDIR', pid: 1, path: b('/outside') })).toEqual([]);
  });
});

describe('RecordPlanner + dirty set', () => {
  it('announces at close with the shim fstat, not at open', () => {
    const { plan, dirty } = setup();
    expect(plan({ op: 'OPEN_W', pid: 7, path: b('/r/f') })).toEqual([]);
    expect(dirty.size).toBe(1);
    expect(plan({ op: 'CLOSE_W', pid: 7, path: b('/r/f'), stat: fileStat(10) })).toMatchObject([{ kind: 'typed', stat: { size: 10n } }]);
    expect(dirty.size).toBe(0);
  });

  it('a close the shim saw unchanged announces nothing', () => {
    const { plan } = setup();
    plan({ op: 'OPEN_W', pid: 7, path: b('/r/f') });
    expect(plan({ op: 'CLOSE_W', pid: 7, flags: RecordFlag.UNCHANGED, path: b('/r/f'), stat: fileStat(10) })).toEqual([]);
  });

  it('with several writers, one announcement when the last one is done', () => {
    const { plan, dirty } = setup();
    plan({ op: 'OPEN_W', pid: 1, path: b('/r/mpi') });
    plan({ op: 'OPEN_W', pid: 2, path: b('/r/mpi') });
    plan({ op: 'OPEN_W', pid: 2, path: b('/r/mpi') });
    expect(plan({ op: 'CLOSE_W', pid: 1, path: b('/r/mpi'), stat: fileStat(1) })).toEqual([]);
    expect(dirty.size).toBe(1);
    expect(plan({ op: 'EXIT', pid: 2, path: b('') })).toMatchObject([{ kind: 'typed', path: b('/r/mpi') }]);
    expect(dirty.size).toBe(0);
  });

  it('EXIT announces every file the process still had open, once each', () => {
    const { plan } = setup();
    plan({ op: 'OPEN_W', pid: 5, path: b('/r/a') });
    plan({ op: 'OPEN_W', pid: 5, path: b('/r/a') });
    plan({ op: 'OPEN_W', pid: 5, path: b('/r/b') });
    plan({ op: 'OPEN_W', pid: 6, path: b('/r/c') });
    const out = plan({ op: 'EXIT', pid: 5, path: b('') });
    expect(out.map((i) => i.path.toString()).sort()).toEqual(['/r/a', '/r/b']);
  });

  it('open files follow renames of themselves and of their directories', () => {
    const { plan, dirty } = setup();
    plan({ op: 'OPEN_W', pid: 5, path: b('/r/d/f') });
    plan({ op: 'RENAME', pid: 9, flags: RecordFlag.DIR, path: b('/r/e'), path2: b('/r/d') });
    expect(dirty.has(b('/r/e/f'))).toBe(true);
    plan({ op: 'RENAME', pid: 9, path: b('/r/e/g'), path2: b('/r/e/f') });
    expect(dirty.has(b('/r/e/g'))).toBe(true);
    expect(plan({ op: 'CLOSE_W', pid: 5, path: b('/r/e/g'), stat: fileStat(1) })).toHaveLength(1);
  });
});
