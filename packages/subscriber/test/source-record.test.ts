import { chmodSync, linkSync, lstatSync, readFileSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@hpcmirror/core';
import {
  SOURCE_RECORD_XATTR, createSourceRecords, decodeRecord, encodeRecord, loadXattrCalls, recordVerdict, type XattrCalls,
} from '../src/dest/source-record.js';
import type { SourceStat } from '../src/transports/transport.js';
import { startEngine, type Engine } from './helpers/engine.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';

const stat = (over: Partial<SourceStat>): SourceStat => ({
  type: 'file', size: 10, mode: 0o644, mtimeNs: 1n, ctimeNs: 2n, ino: 3n, dev: 4n, nlink: 1, uid: 0, gid: 0, nsPrecision: true, ...over,
});

describe('source records: format and verdict', () => {
  it('round-trips dev, inode and ctime; rejects anything else', () => {
    const S = stat({ dev: 2049n, ino: 18446744073709551615n, ctimeNs: 1_763_900_000_123_456_789n });
    expect(encodeRecord(S).toString()).toBe('1 2049 18446744073709551615 1763900000123456789');
    expect(decodeRecord(encodeRecord(S))).toEqual({ dev: 2049n, ino: 18446744073709551615n, ctimeNs: 1_763_900_000_123_456_789n });
    for (const bad of ['', '2 1 2 3', '1 1 2', '1 a 2 3', '1 1 2 3 ', '1 -1 2 3']) expect(decodeRecord(Buffer.from(bad))).toBeNull();
  });

  it('same inode and ctime = same (the device may move); another ctime = maybe; another inode = stale; no record or no inode = unknown', () => {
    const rec = { dev: 4n, ino: 3n, ctimeNs: 2n };
    expect(recordVerdict(rec, stat({}))).toBe('same');
    expect(recordVerdict(rec, stat({ dev: 7n }))).toBe('same');
    expect(recordVerdict(rec, stat({ ctimeNs: 99n }))).toBe('maybe');
    expect(recordVerdict(rec, stat({ ino: 5n }))).toBe('other');
    expect(recordVerdict(null, stat({}))).toBe('unknown');
    expect(recordVerdict(rec, stat({ ino: 0n, nsPrecision: false }))).toBe('unknown');
  });

  it('without the native calls nothing is recorded and reads give null', async () => {
    const records = createSourceRecords(silentLogger(), new Error('not built'));
    await records.write(0, stat({}));
    expect(await records.read(0, Buffer.from('x'))).toBeNull();
  });

  it('a file system without user xattrs turns records off after the first refusal', async () => {
    let calls = 0;
    const refusing: XattrCalls = {
      setFd: async () => { calls++; throw Object.assign(new Error('fsetxattr: Operation not supported'), { code: 'ENOTSUP' }); },
      get: async () => { calls++; return null; },
    };
    const records = createSourceRecords(silentLogger(), refusing);
    await records.write(0, stat({}));
    await records.write(0, stat({}));
    expect(await records.read(0, Buffer.from('x'))).toBeNull();
    expect(calls).toBe(1);
  });
});

describe('source records: the apply engine', () => {
  let e: Engine;
  beforeEach(async () => { e = await startEngine(); });
  afterEach(async () => { await e?.close(); });

  const native = loadXattrCalls();
  const recordOf = async (rel: string) => {
    if (native instanceof Error) throw native;
    const v = await native.get(Buffer.from(e.d(rel)), SOURCE_RECORD_XATTR);
    return v && decodeRecord(v);
  };
  const ino = (p: string): bigint => lstatSync(p, { bigint: true }).ino;
  const converged = (): string[] => diffTrees(snapshotTree(e.src), snapshotTree(e.dst), { content: true });

  it('the native calls are built (make -C packages/subscriber/native)', () => {
    expect(native).not.toBeInstanceOf(Error);
  });

  it('records the source inode on the copy, and re-fetches a file re-created with the same size and mtime', async () => {
    const f = join(e.src, 'f');
    writeFileSync(f, 'version-1\n');
    utimesSync(f, 1_600_000_000, 1_600_000_000);
    expect((await e.reconcile('f')).outcome).toBe('written');
    expect((await recordOf('f'))?.ino).toBe(ino(f));
    expect((await e.reconcile('f')).outcome).toBe('unchanged');

    // rm + re-create with the old mtime (tar -x, cp -p, a restore tool); ext4 may give it the freed inode number.
    const keep = join(e.base, 'keep');
    writeFileSync(keep, 'VERSION-2\n');
    unlinkSync(f);
    writeFileSync(f, readFileSync(keep));
    utimesSync(f, 1_600_000_000, 1_600_000_000);
    expect((await e.reconcile('f')).outcome).toBe('written');
    expect(readFileSync(e.d('f'), 'utf8')).toBe('VERSION-2\n');
    expect((await recordOf('f'))?.ino).toBe(ino(f));
    expect(converged()).toEqual([]);
  });

  it('a chmod, a rename and a new hard link keep the inode: content compared, no copy again, record brought up to date', async () => {
    writeFileSync(join(e.src, 'a'), 'payload');
    chmodSync(join(e.src, 'a'), 0o644);
    await e.reconcile('a');
    const copy = ino(e.d('a'));
    chmodSync(join(e.src, 'a'), 0o444);
    expect((await e.reconcile('a')).outcome).toBe('attrs');
    renameSync(join(e.src, 'a'), join(e.src, 'b'));
    await e.rename('a', 'b');
    expect(ino(e.d('b'))).toBe(copy);
    linkSync(join(e.src, 'b'), join(e.src, 'c'));
    await e.rename('b', 'c');
    expect(ino(e.d('c'))).toBe(copy);
    expect((await e.reconcile('b')).outcome).toBe('unchanged');
    expect((await recordOf('b'))?.ctimeNs).toBe(lstatSync(join(e.src, 'b'), { bigint: true }).ctimeNs);
    expect(converged()).toEqual([]);
  });

  it('a rename does not move a copy of another inode into place: the new name is fetched', async () => {
    writeFileSync(join(e.src, 'old'), 'AAAA');
    utimesSync(join(e.src, 'old'), 1_500_000_000, 1_500_000_000);
    await e.reconcile('old');
    // Another file with the same size and mtime is renamed over the old name's place.
    rmSync(join(e.src, 'old'));
    writeFileSync(join(e.src, 'new'), 'BBBB');
    utimesSync(join(e.src, 'new'), 1_500_000_000, 1_500_000_000);
    await e.rename('old', 'new');
    expect(readFileSync(e.d('new'), 'utf8')).toBe('BBBB');
    expect(converged()).toEqual([]);
  });

  it('a copy without a record (made before records, or by someone else) is judged by size and mtime as before', async () => {
    const f = join(e.src, 'legacy');
    writeFileSync(f, 'same');
    utimesSync(f, 1_400_000_000, 1_400_000_000);
    writeFileSync(e.d('legacy'), 'same');
    utimesSync(e.d('legacy'), 1_400_000_000, 1_400_000_000);
    chmodSync(e.d('legacy'), lstatSync(f).mode & 0o7777);
    expect((await e.reconcile('legacy')).outcome).toBe('unchanged');
  });
});
