import { stat } from 'node:fs/promises';
import type { Logger } from '@hpcmirror/core';
import type { Clock } from './clock.js';
import { closeFd, errnoOf, lstatAt, mkdirAt, openDirAt, openDirPath, readdirFd, renameAt } from './dest/at-ops.js';
import { removeTree } from './dest/remove-tree.js';
import { SubscriberError } from './errors.js';
import { showPath } from './path-bytes.js';

const BUCKET_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})$/;
const HOUR_MS = 3_600_000;

/**
 * trash_dir: removed entries are moved to `<trash_dir>/<YYYYMMDDTHH>/<path below the root>` instead of
 * being unlinked, and hourly buckets older than trash_retention_s are purged. A rename is the only way
 * to move a tree atomically, so trash_dir must be on the destination's file system (checked at start).
 */
export class Trash {
  readonly #dir: Buffer;
  readonly #retentionMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(dir: Buffer, retentionS: number, clock: Clock, logger: Logger) {
    this.#dir = dir;
    this.#retentionMs = retentionS * 1000;
    this.#clock = clock;
    this.#log = logger;
  }

  get dir(): Buffer {
    return this.#dir;
  }

  async start(destinationRoot: Buffer): Promise<void> {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const [t, d] = await Promise.all([stat(this.#dir, { bigint: true }), stat(destinationRoot, { bigint: true })]);
    if (t.dev !== d.dev) {
      throw new SubscriberError('HPM_SUB_CONFIG', `subscriber.trash_dir ${showPath(this.#dir)} must be on the same file system as destination_root`);
    }
    await this.purge();
  }

  /** Moves `name` (in the directory `parentFd` holds; `rel` is its path below the root) into the trash. */
  async move(parentFd: number, name: Buffer, rel: readonly Buffer[]): Promise<void> {
    const unique = (): Buffer => Buffer.from(`hpcm-trash-${this.#clock.nowNs()}`);
    let fd = await ensureDir(await openDirPath(this.#dir), Buffer.from(bucketName(this.#clock.nowMs())), true);
    let target = name;
    try {
      for (const part of rel.slice(0, -1)) {
        const next = await ensureDir(fd, part, false).catch(() => undefined);
        // A file of that name is already in the trash: keep this one flat, under a unique name.
        if (next === undefined) { target = unique(); break; }
        await closeFd(fd);
        fd = next;
      }
      if (await lstatAt(fd, target)) target = Buffer.concat([name, Buffer.from(`.hpcm-trash-${this.#clock.nowNs()}`)]);
      try {
        await renameAt(parentFd, name, fd, target);
      } catch (err) {
        if (errnoOf(err) !== 'ENAMETOOLONG') throw err;
        await renameAt(parentFd, name, fd, unique());
      }
    } finally {
      await closeFd(fd);
    }
  }

  /** Removes buckets older than the retention time. */
  async purge(): Promise<void> {
    const now = this.#clock.nowMs();
    const fd = await openDirPath(this.#dir);
    try {
      for (const name of await readdirFd(fd)) {
        const m = BUCKET_RE.exec(name.toString('latin1'));
        if (!m) continue;
        const end = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4])) + HOUR_MS;
        if (now - end < this.#retentionMs) continue;
        await removeTree(fd, name);
        this.#log.info({ bucket: name.toString('latin1') }, 'trash bucket purged');
      }
    } finally {
      await closeFd(fd);
    }
  }
}

/** Opens (creating if needed) `name` under `parentFd`; closes the parent when `closeParent`. */
async function ensureDir(parentFd: number, name: Buffer, closeParent: boolean): Promise<number> {
  try {
    try {
      await mkdirAt(parentFd, name, 0o700);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    return await openDirAt(parentFd, name);
  } finally {
    if (closeParent) await closeFd(parentFd);
  }
}

function bucketName(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/-/g, '');
}
