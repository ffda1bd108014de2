import { createHash } from 'node:crypto';
import { closeSync, constants, fchmod, openSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readFile, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TransportError } from '../../src/transports/errors.js';
import type { FetchDestination, SourceStat, Transport } from '../../src/transports/transport.js';
import { buildSourceTree, type SourceTree } from './source-tree.js';

/**
 * The one suite every transport passes (house rule 5). The source tree is local: for sftp/rsync the
 * loopback sshd serves the same absolute paths.
 */
export function runTransportConformance(name: string, makeTransport: (srcRoot: string) => Promise<Transport>): void {
  describe(`transport conformance: ${name}`, () => {
    let work: string;
    let tree: SourceTree;
    let transport: Transport;
    let destCount = 0;

    /** A fresh empty destination directory and a temp name in it. */
    const newDest = async (): Promise<{ dir: string; dest: FetchDestination; tempPath: string }> => {
      const dir = join(work, 'dst', String(destCount++));
      await mkdir(dir, { recursive: true });
      const tempName = Buffer.from(`.hpcm.${(destCount * 7919).toString(16).padStart(16, '0')}`);
      return { dir, dest: { dirPath: Buffer.from(dir), tempName }, tempPath: join(dir, tempName.toString()) };
    };

    const expectTransportError = async (work: Promise<unknown>, code: string, retryable?: boolean): Promise<TransportError> => {
      const err = await work.then(
        () => {
          throw new Error(`expected ${code}, got success`);
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).code).toBe(code);
      if (retryable !== undefined) expect((err as TransportError).retryable).toBe(retryable);
      return err as TransportError;
    };

    /** The transport's stat agrees with a local lstat, to the precision the transport claims. */
    const expectSameStat = async (got: SourceStat | null | undefined, path: Buffer): Promise<void> => {
      const want = await lstat(path, { bigint: true });
      expect(got).toBeTruthy();
      const st = got as SourceStat;
      const type = want.isFile() ? 'file' : want.isDirectory() ? 'dir' : want.isSymbolicLink() ? 'symlink' : 'other';
      expect(st.type).toBe(type);
      expect(st.size).toBe(Number(want.size));
      expect(st.mode).toBe(Number(want.mode) & 0o7777);
      expect(st.uid).toBe(Number(want.uid));
      expect(st.gid).toBe(Number(want.gid));
      if (st.nsPrecision) {
        expect(st.mtimeNs).toBe(want.mtimeNs);
        expect(st.ctimeNs).toBe(want.ctimeNs);
        expect(st.ino).toBe(want.ino);
        expect(st.dev).toBe(want.dev);
        expect(st.nlink).toBe(Number(want.nlink));
      } else {
        expect(st.mtimeNs / 1_000_000_000n).toBe(want.mtimeNs / 1_000_000_000n);
      }
    };

    const expectOnlyTemp = async (dir: string, tempName: Buffer | null): Promise<void> => {
      const names = await readdir(dir, { encoding: 'buffer' });
      expect(names.map((n) => n.toString('latin1'))).toEqual(tempName ? [tempName.toString('latin1')] : []);
    };

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), `hpcm-conf-${name}-`));
      tree = buildSourceTree(join(work, 'src'));
      transport = await makeTransport(tree.root);
      await transport.start();
    });

    afterAll(async () => {
      await transport?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('start() is idempotent and features are declared', async () => {
      await transport.start();
      expect(transport.name).toBe(name);
      expect(typeof transport.features.nsTimes).toBe('boolean');
      expect(typeof transport.features.inodes).toBe('boolean');
      expect(typeof transport.features.batchStat).toBe('boolean');
      if (transport.features.fetchMany) expect(typeof transport.fetchMany).toBe('function');
      if (transport.features.serverSideHash) expect(typeof transport.checksum).toBe('function');
    });

    it('stat: lstat semantics for every kind of entry, in one batch, in order', async () => {
      const f = tree.files;
      const paths = [
        f.one!.path,
        tree.p('link'),
        tree.p('dangling'),
        tree.p('sub'),
        tree.p('missing'),
        f.mode640!.path,
        f.exec755!.path,
        f.empty!.path,
        tree.p('fifo'),
        tree.p('one/under-a-file'),
        f.big!.path,
      ];
      const stats = await transport.stat(paths);
      expect(stats).toHaveLength(paths.length);
      expect(stats[1]?.type).toBe('symlink');
      expect(stats[2]?.type).toBe('symlink');
      expect(stats[3]?.type).toBe('dir');
      expect(stats[4]).toBeNull();
      expect(stats[5]?.mode).toBe(0o640);
      expect(stats[6]?.mode).toBe(0o755);
      expect(stats[8]?.type).toBe('other');
      expect(stats[9]).toBeNull();
      for (const [i, path] of paths.entries()) {
        if (stats[i] !== null) await expectSameStat(stats[i], path);
      }
      expect(await transport.stat([])).toEqual([]);
    });

    it('stat: nanosecond mtimes and inodes when the transport claims them', async () => {
      const [ns, h1, h2] = await transport.stat([tree.files.ns!.path, tree.files.hard1!.path, tree.files.hard2!.path]);
      if (transport.features.nsTimes) {
        expect(ns?.nsPrecision).toBe(true);
        expect(ns?.mtimeNs).toBe(tree.nsMtime);
      } else {
        expect(ns?.mtimeNs).toBe((tree.nsMtime / 1_000_000_000n) * 1_000_000_000n);
      }
      if (transport.features.inodes) {
        expect(h1?.ino).toBe(h2?.ino);
        expect(h1?.dev).toBe(h2?.dev);
        expect(h1?.nlink).toBe(2);
      }
    });

    it('stat: names with a newline, non-UTF-8 bytes, 255 bytes, and a ~4000-byte path', async () => {
      const w = tree.weird;
      expect(w.deepPath.length).toBeGreaterThan(3900);
      expect(w.deepPath.length).toBeLessThan(4096);
      const stats = await transport.stat([w.newline, w.nonUtf8, w.long255, w.deepPath]);
      for (const [i, path] of [w.newline, w.nonUtf8, w.long255, w.deepPath].entries()) {
        await expectSameStat(stats[i], path);
      }
    });

    it('list: every entry with its lstat; null for a missing dir or a file', async () => {
      const entries = await transport.list(Buffer.from(tree.root));
      expect(entries).not.toBeNull();
      const want = (await readdir(tree.root, { encoding: 'buffer' })).map((n) => n.toString('hex')).sort();
      expect(entries!.map((e) => e.name.toString('hex')).sort()).toEqual(want);
      for (const entry of entries!) await expectSameStat(entry.stat, tree.p(entry.name));
      const link = entries!.find((e) => e.name.equals(Buffer.from('link')));
      expect(link?.stat.type).toBe('symlink');

      const sub = await transport.list(tree.p('sub'));
      expect(sub!.map((e) => e.name.toString()).sort()).toEqual(['deeper', 'inner']);
      expect(await transport.list(tree.p('sub/deeper'))).toEqual([]);
      expect(await transport.list(tree.p('no-such-dir'))).toBeNull();
      expect(await transport.list(tree.files.one!.path)).toBeNull();
    });

    it('readlink: targets verbatim, dangling too; typed errors otherwise', async () => {
      expect((await transport.readlink(tree.p('link'))).toString()).toBe('one');
      expect((await transport.readlink(tree.p('dangling'))).toString()).toBe('nope/nowhere');
      await expectTransportError(transport.readlink(tree.files.one!.path), 'HPM_TRANSPORT_NOT_A_SYMLINK', false);
      await expectTransportError(transport.readlink(tree.p('missing')), 'HPM_TRANSPORT_SOURCE_GONE', false);
    });

    it('fetch: every kind of file arrives byte-identical under the temp name only, mode 0600', async () => {
      const keys = ['empty', 'one', 'mib', 'big', 'mode640', 'newline', 'nonUtf8', 'long255', 'deep'];
      const dests = await Promise.all(keys.map(() => newDest()));
      const results = await Promise.all(keys.map((key, i) => transport.fetch(tree.files[key]!.path, dests[i]!.dest, { fsync: false })));
      for (const [i, key] of keys.entries()) {
        const file = tree.files[key]!;
        const { dir, dest, tempPath } = dests[i]!;
        expect(results[i]!.bytes, key).toBe(file.content.length);
        const got = await readFile(tempPath);
        expect(got.length, key).toBe(file.content.length);
        expect(got.equals(file.content), key).toBe(true);
        expect((await lstat(tempPath)).mode & 0o7777, key).toBe(0o600);
        await expectOnlyTemp(dir, dest.tempName);
        await expectSameStat(results[i]!.stat, file.path);
      }
    });

    it('fetch: one file on its own', async () => {
      const { dir, dest, tempPath } = await newDest();
      const result = await transport.fetch(tree.files.exec755!.path, dest, { fsync: false });
      expect(result.bytes).toBe(tree.files.exec755!.content.length);
      expect((await readFile(tempPath)).equals(tree.files.exec755!.content)).toBe(true);
      await expectOnlyTemp(dir, dest.tempName);
    });

    it('fetch: opts.finish, when the transport calls it, gets the temp file with all its content before the close', async () => {
      const { dir, dest, tempPath } = await newDest();
      const content = tree.files.mib!.content;
      let seen: number | undefined;
      const result = await transport.fetch(tree.files.mib!.path, dest, {
        fsync: false,
        finish: async (fd) => {
          // What the caller does there: attributes through the writer's fd.
          const fh = await open(`/proc/self/fd/${fd}`, 'r');
          try {
            seen = (await fh.stat()).size;
          } finally {
            await fh.close();
          }
          await new Promise<void>((ok, fail) => fchmod(fd, 0o640, (err) => (err ? fail(err) : ok())));
          return true;
        },
      });
      // SFTP writes through its own fd and calls it; local (copyFile) and rsync never hold one.
      expect(result.finished === true).toBe(name === 'sftp');
      if (result.finished) {
        expect(seen).toBe(content.length);
        expect((await lstat(tempPath)).mode & 0o7777).toBe(0o640);
      } else {
        expect(seen).toBeUndefined();
      }
      expect((await readFile(tempPath)).equals(content)).toBe(true);
      await expectOnlyTemp(dir, dest.tempName);
    });

    it('fetch: opts.finish sees the post-copy stat and may decline (then finished is false)', async () => {
      const { dir, dest, tempPath } = await newDest();
      const file = tree.files.exec755!;
      let after: SourceStat | null | undefined;
      const result = await transport.fetch(file.path, dest, { fsync: false, finish: async (_fd, a) => { after = a; return false; } });
      expect(result.finished === true).toBe(false);
      if (name === 'sftp') expect(after).toEqual(result.stat);
      expect((await readFile(tempPath)).equals(file.content)).toBe(true);
      await expectOnlyTemp(dir, dest.tempName);
    });

    it('fetch: opts.expect is only a hint (a stale size or type does not change what is copied)', async () => {
      const [oneStat] = await transport.stat([tree.files.one!.path]);
      const stale = await newDest();
      const result = await transport.fetch(tree.files.mib!.path, stale.dest, { fsync: false, expect: oneStat! });
      expect(result.bytes).toBe(tree.files.mib!.content.length);
      expect((await readFile(stale.tempPath)).equals(tree.files.mib!.content)).toBe(true);
      const link = await newDest();
      await expectTransportError(
        transport.fetch(tree.p('link'), link.dest, { fsync: false, expect: oneStat! }),
        'HPM_TRANSPORT_NOT_A_FILE',
        false,
      );
      await expectOnlyTemp(link.dir, null);
      const sub = await newDest();
      await expectTransportError(
        transport.fetch(tree.p('sub'), sub.dest, { fsync: false, expect: oneStat! }),
        'HPM_TRANSPORT_NOT_A_FILE',
        false,
      );
      await expectOnlyTemp(sub.dir, null);
    });

    it('fetch: the fsync flag is honoured (FileHandle.sync called only when asked)', async () => {
      const probe = await open(tree.files.one!.path, 'r');
      const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
      await probe.close();
      const spy = vi.spyOn(proto, 'sync');
      try {
        const a = await newDest();
        await transport.fetch(tree.files.mib!.path, a.dest, { fsync: false });
        expect(spy).not.toHaveBeenCalled();
        const b = await newDest();
        await transport.fetch(tree.files.mib!.path, b.dest, { fsync: true });
        expect(spy).toHaveBeenCalled();
        expect((await readFile(b.tempPath)).equals(tree.files.mib!.content)).toBe(true);
      } finally {
        spy.mockRestore();
      }
    });

    it('fetch: relative to dest.dirFd when given (a renamed parent does not redirect the write)', async () => {
      const { dir, dest } = await newDest();
      const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        const moved = `${dir}-moved`;
        await rename(dir, moved);
        await transport.fetch(tree.files.one!.path, { ...dest, dirFd: fd }, { fsync: true });
        expect((await readFile(join(moved, dest.tempName.toString()))).toString()).toBe('x');
      } finally {
        closeSync(fd);
      }
    });

    it('fetch: a vanished source is SOURCE_GONE, not retryable, and leaves no temp file', async () => {
      const path = tree.p('vanishing');
      await writeFile(path, 'soon gone');
      await unlink(path);
      const { dir, dest } = await newDest();
      const parentGone = await newDest();
      await Promise.all([
        expectTransportError(transport.fetch(path, dest, { fsync: false }), 'HPM_TRANSPORT_SOURCE_GONE', false),
        expectTransportError(transport.fetch(tree.p('missing-dir/file'), parentGone.dest, { fsync: false }), 'HPM_TRANSPORT_SOURCE_GONE', false),
      ]);
      await expectOnlyTemp(dir, null);
      await expectOnlyTemp(parentGone.dir, null);
    });

    it('fetch: symlinks, directories and FIFOs are NOT_A_FILE and leave no temp file', async () => {
      await Promise.all(
        ['link', 'dangling', 'sub', 'fifo'].map(async (rel) => {
          const { dir, dest } = await newDest();
          await expectTransportError(transport.fetch(tree.p(rel), dest, { fsync: false }), 'HPM_TRANSPORT_NOT_A_FILE', false);
          await expectOnlyTemp(dir, null);
        }),
      );
    });

    it('fetch: an existing temp name is TEMP_EXISTS and that file is left alone', async () => {
      const { dest, tempPath } = await newDest();
      await writeFile(tempPath, 'not yours');
      await expectTransportError(transport.fetch(tree.files.one!.path, dest, { fsync: false }), 'HPM_TRANSPORT_TEMP_EXISTS');
      expect((await readFile(tempPath)).toString()).toBe('not yours');
    });

    it('fetch: a temp name that is not one component is BAD_PATH', async () => {
      const { dir, dest } = await newDest();
      await expectTransportError(
        transport.fetch(tree.files.one!.path, { ...dest, tempName: Buffer.from('../escape') }, { fsync: false }),
        'HPM_TRANSPORT_BAD_PATH',
        false,
      );
      await expectOnlyTemp(dir, null);
    });

    it('fetch: an aborted fetch is ABORTED and leaves no temp file', async () => {
      const { dir, dest } = await newDest();
      const controller = new AbortController();
      controller.abort();
      await expectTransportError(
        transport.fetch(tree.files.mib!.path, dest, { fsync: false, signal: controller.signal }),
        'HPM_TRANSPORT_ABORTED',
      );
      await expectOnlyTemp(dir, null);
    });

    it('fetch: bwlimit paces the copy', async () => {
      const { dest, tempPath } = await newDest();
      const began = performance.now();
      await transport.fetch(tree.files.mib!.path, dest, { fsync: false, bwlimitBytesPerSec: 4 * 1024 * 1024 });
      // 1 MiB at 4 MiB/s: a lower bound only (never an upper one: the machine may be slow).
      expect(performance.now() - began).toBeGreaterThan(150);
      expect((await readFile(tempPath)).equals(tree.files.mib!.content)).toBe(true);
    });

    it('fetch: concurrent fetches all arrive intact', async () => {
      const keys = ['big', 'mib', 'one', 'empty', 'exec755', 'nonUtf8', 'newline', 'inner', 'hard1', 'hard2', 'long255', 'deep'];
      const dests = await Promise.all(keys.map(() => newDest()));
      const results = await Promise.all(
        keys.map((key, i) => transport.fetch(tree.files[key]!.path, dests[i]!.dest, { fsync: i % 2 === 0 })),
      );
      for (const [i, key] of keys.entries()) {
        const want = tree.files[key]!.content;
        expect(results[i]!.bytes).toBe(want.length);
        expect((await readFile(dests[i]!.tempPath)).equals(want)).toBe(true);
        await expectOnlyTemp(dests[i]!.dir, dests[i]!.dest.tempName);
      }
    });

    it('checksum (when offered): base64 digest of the content; null when gone', async () => {
      if (!transport.checksum) return;
      const file = tree.files.mib!;
      expect(await transport.checksum(file.path, 'sha512')).toBe(createHash('sha512').update(file.content).digest('base64'));
      expect(await transport.checksum(tree.weird.nonUtf8, 'md5')).toBe(
        createHash('md5').update(tree.files.nonUtf8!.content).digest('base64'),
      );
      expect(await transport.checksum(tree.p('missing'), 'sha512')).toBeNull();
      await expectTransportError(transport.checksum(tree.p('link'), 'sha512'), 'HPM_TRANSPORT_NOT_A_FILE', false);
    });

    it('fetchMany (when offered): one outcome per item, in order', async () => {
      if (!transport.fetchMany || !transport.features.fetchMany) return;
      const keys = ['one', 'mib', 'nonUtf8', 'newline', 'empty', 'inner'];
      const dests = await Promise.all(keys.map(() => newDest()));
      const shared = await newDest();
      const sharedNames = [Buffer.from('.hpcm.aaaaaaaaaaaaaaaa'), Buffer.from('.hpcm.bbbbbbbbbbbbbbbb')];
      const items = [
        ...keys.map((key, i) => ({ src: tree.files[key]!.path, dest: dests[i]!.dest })),
        { src: tree.p('missing'), dest: (await newDest()).dest },
        { src: tree.p('link'), dest: (await newDest()).dest },
        // Two files of one source dir into one destination dir.
        { src: tree.files.exec755!.path, dest: { ...shared.dest, tempName: sharedNames[0]! } },
        { src: tree.files.mode640!.path, dest: { ...shared.dest, tempName: sharedNames[1]! } },
      ];
      const outcomes = await transport.fetchMany(items, { fsync: true });
      expect(outcomes).toHaveLength(items.length);
      for (const [i, key] of keys.entries()) {
        const outcome = outcomes[i]!;
        expect(outcome.ok).toBe(true);
        expect((await readFile(dests[i]!.tempPath)).equals(tree.files[key]!.content)).toBe(true);
        await expectOnlyTemp(dests[i]!.dir, dests[i]!.dest.tempName);
      }
      const missing = outcomes[keys.length]!;
      expect(missing.ok).toBe(false);
      if (!missing.ok) expect(missing.error.code).toBe('HPM_TRANSPORT_SOURCE_GONE');
      const link = outcomes[keys.length + 1]!;
      expect(link.ok).toBe(false);
      if (!link.ok) expect(link.error.code).toBe('HPM_TRANSPORT_NOT_A_FILE');
      expect((await readFile(join(shared.dir, sharedNames[0]!.toString()))).equals(tree.files.exec755!.content)).toBe(true);
      expect((await readFile(join(shared.dir, sharedNames[1]!.toString()))).equals(tree.files.mode640!.content)).toBe(true);
      expect((await readdir(shared.dir)).sort()).toEqual(sharedNames.map((n) => n.toString()).sort());
    });

    it('stop() is idempotent; calls after it fail with STOPPED; start() again works', async () => {
      await transport.stop();
      await transport.stop();
      await expectTransportError(transport.stat([tree.files.one!.path]), 'HPM_TRANSPORT_STOPPED');
      const { dest } = await newDest();
      await expectTransportError(transport.fetch(tree.files.one!.path, dest, { fsync: false }), 'HPM_TRANSPORT_STOPPED');
      await transport.start();
      const [st] = await transport.stat([tree.files.one!.path]);
      expect(st?.size).toBe(1);
      await transport.stop();
    });
  });
}
