import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { access, chmod, copyFile, link, lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteHelperClient, type HelperChannel } from '../../remote-helper/client.js';
import { spawnHelperChannel } from '../../remote-helper/child-channel.js';
import { TransportError, destError, errnoCode, showPath } from '../errors.js';
import { Lifecycle } from '../lifecycle.js';
import { mapLimit } from '../map-limit.js';
import { baseName, checkSourcePath, checkTempName, joinPath } from '../paths.js';
import { destDirPath, discardTempFile, fsyncFile } from '../temp-file.js';
import {
  silentLogger,
  type ChecksumAlgorithm,
  type FetchDestination,
  type FetchManyItem,
  type FetchManyOutcome,
  type FetchOptions,
  type FetchResult,
  type ListEntry,
  type SourceStat,
  type Transport,
  type TransportFeatures,
  type TransportLogger,
} from '../transport.js';
import { rsyncExitError } from './rsync-exit.js';
import { runRsync } from './run-rsync.js';
import { classifySshFailure, rsyncRemoteShell, sshOptions, type SshCommandConfig } from './ssh-command.js';

export interface RsyncTransportConfig {
  host: string;
  port?: number;
  user: string;
  identityFile: string;
  /** OpenSSH known_hosts; ssh runs with StrictHostKeyChecking=yes against it. */
  knownHostsFile: string;
  /** Command that starts the metadata helper on the source host (default `hpcmirror helper`). */
  helperCommand?: string;
  rsyncBinary?: string;
  /** rsync on the source host (`--rsync-path`, default `rsync`). */
  remoteRsync?: string;
  sshBinary?: string;
  /** Run rsync's ssh through the helper's connection (ControlMaster): no handshake per fetch (default true). */
  multiplex?: boolean;
  /** rsync processes at once per fetchMany (default 2). */
  rsyncConcurrency?: number;
  /** Paths per rsync in fetchMany (default 1000). */
  maxBatch?: number;
  connectTimeoutMs?: number;
  /** rsync --timeout and the helper's inactivity limit (default 30 s). */
  opTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  logger?: TransportLogger;
}

/** Content by rsync over ssh (many paths per rsync when a backlog builds); metadata from the helper over a long-lived ssh. */
export function createRsyncTransport(config: RsyncTransportConfig): Transport {
  return new RsyncTransport(config);
}

/** Staged files linked (and fsynced) into place at once. */
const PLACE_CONCURRENCY = 16;

/** Source paths longer than this are fetched one per rsync (see #fetchManyWith). */
const LONG_PATH = 2048;

interface QueuedFetch {
  item: FetchManyItem;
  opts: FetchOptions;
  settle(outcome: FetchManyOutcome): void;
}

class RsyncTransport implements Transport {
  readonly name = 'rsync' as const;
  readonly features: TransportFeatures = { nsTimes: true, inodes: true, batchStat: true, serverSideHash: true, fetchMany: true };
  readonly #config: Required<Omit<RsyncTransportConfig, 'logger'>>;
  readonly #logger: TransportLogger;
  readonly #life = new Lifecycle('rsync');
  readonly #label: string;
  #helper: RemoteHelperClient | undefined;
  #controlDir: string | undefined;
  /** fetch() calls waiting for an rsync slot: when a backlog builds, one rsync takes them all. */
  #queue: QueuedFetch[] = [];
  #activeRsyncs = 0;
  #dispatchQueued = false;
  /** Aborted by stop(): kills rsyncs in flight. */
  #stopping = new AbortController();

  constructor(config: RsyncTransportConfig) {
    this.#config = {
      port: 22,
      helperCommand: 'hpcmirror helper',
      rsyncBinary: 'rsync',
      remoteRsync: 'rsync',
      sshBinary: 'ssh',
      multiplex: true,
      rsyncConcurrency: 2,
      maxBatch: 1000,
      connectTimeoutMs: 15_000,
      opTimeoutMs: 30_000,
      keepaliveIntervalMs: 10_000,
      ...config,
    };
    this.#logger = config.logger ?? silentLogger;
    this.#label = `${this.#config.user}@${this.#config.host}:${this.#config.port}`;
  }

  async start(): Promise<void> {
    await this.#life.start(async () => {
      const c = this.#config;
      for (const [what, file] of [
        ['identity file', c.identityFile],
        ['known_hosts file', c.knownHostsFile],
      ] as const) {
        await access(file, constants.R_OK).catch((err: unknown) => {
          throw new TransportError('HPM_TRANSPORT_CONFIG', `cannot read ${what} ${file}: ${errnoCode(err)}`, { cause: err });
        });
      }
      // Short path: a ControlPath must fit in a unix socket address.
      this.#controlDir = c.multiplex ? await mkdtemp(join(tmpdir(), 'hpcm-ssh-')) : undefined;
      const helper = new RemoteHelperClient({
        label: `helper on ${this.#label}`,
        openChannel: () => this.#openHelperChannel(),
        startTimeoutMs: c.connectTimeoutMs + 15_000,
        inactivityTimeoutMs: c.opTimeoutMs,
        logger: this.#logger,
      });
      try {
        await helper.start();
      } catch (err) {
        await helper.stop();
        await this.#removeControlDir();
        throw err;
      }
      this.#helper = helper;
      this.#stopping = new AbortController();
    });
  }

  async stop(): Promise<void> {
    await this.#life.stop(async () => {
      this.#stopping.abort();
      const stopped = new TransportError('HPM_TRANSPORT_STOPPED', `rsync transport to ${this.#label} is stopped`);
      for (const queued of this.#queue.splice(0)) queued.settle({ ok: false, error: stopped });
      await this.#helper?.stop();
      this.#helper = undefined;
      await this.#removeControlDir();
    });
  }

  async stat(paths: Buffer[]): Promise<(SourceStat | null)[]> {
    this.#life.assertRunning();
    paths.forEach(checkSourcePath);
    return this.#requireHelper().stat(paths);
  }

  async readlink(path: Buffer): Promise<Buffer> {
    this.#life.assertRunning();
    checkSourcePath(path);
    return this.#requireHelper().readlink(path);
  }

  async list(dir: Buffer): Promise<ListEntry[] | null> {
    this.#life.assertRunning();
    checkSourcePath(dir);
    return this.#requireHelper().list(dir);
  }

  async checksum(path: Buffer, algo: ChecksumAlgorithm): Promise<string | null> {
    this.#life.assertRunning();
    checkSourcePath(path);
    return this.#requireHelper().checksum(path, algo);
  }

  async fetch(src: Buffer, dest: FetchDestination, opts: FetchOptions): Promise<FetchResult> {
    this.#life.assertRunning();
    checkSourcePath(src);
    checkTempName(dest.tempName);
    const outcome = await new Promise<FetchManyOutcome>((settle) => {
      this.#queue.push({ item: { src, dest }, opts, settle });
      // Fetches asked for in the same turn of the event loop share one rsync.
      if (!this.#dispatchQueued) {
        this.#dispatchQueued = true;
        setImmediate(() => {
          this.#dispatchQueued = false;
          this.#dispatch();
        });
      }
    });
    if (!outcome.ok) throw outcome.error;
    return { bytes: outcome.bytes, stat: outcome.stat };
  }

  /** Start rsyncs for queued fetches while slots are free; each takes every queued fetch it can batch. */
  #dispatch(): void {
    while (this.#activeRsyncs < this.#config.rsyncConcurrency && this.#queue.length > 0) {
      const first = this.#queue[0] as QueuedFetch;
      // Fetches with their own abort signal or rate go alone: aborting or pacing one rsync affects all in it.
      const batchable = (q: QueuedFetch): boolean =>
        !q.opts.signal && !q.opts.bwlimitBytesPerSec && q.opts.fsync === first.opts.fsync;
      const batch = batchable(first)
        ? this.#queue.filter(batchable).slice(0, this.#config.maxBatch)
        : [first];
      this.#queue = this.#queue.filter((q) => !batch.includes(q));
      this.#activeRsyncs++;
      void this.#fetchManyWith(batch.map((q) => q.item), first.opts, 1)
        .then(
          (outcomes) => batch.forEach((q, i) => q.settle(outcomes[i] as FetchManyOutcome)),
          (err: unknown) => {
            const error = err instanceof TransportError ? err : new TransportError('HPM_TRANSPORT_RSYNC', String(err), { cause: err });
            batch.forEach((q) => q.settle({ ok: false, error }));
          },
        )
        .finally(() => {
          this.#activeRsyncs--;
          this.#dispatch();
        });
    }
  }

  async fetchMany(items: FetchManyItem[], opts: FetchOptions): Promise<FetchManyOutcome[]> {
    this.#life.assertRunning();
    return this.#fetchManyWith(items, opts, this.#config.rsyncConcurrency);
  }

  /** Valid items in batches of maxBatch, `rsyncs` rsync processes at a time. */
  async #fetchManyWith(items: FetchManyItem[], opts: FetchOptions, rsyncs: number): Promise<FetchManyOutcome[]> {
    const outcomes: FetchManyOutcome[] = new Array(items.length);
    const valid: number[] = [];
    items.forEach((item, index) => {
      try {
        checkSourcePath(item.src);
        checkTempName(item.dest.tempName);
        valid.push(index);
      } catch (err) {
        outcomes[index] = { ok: false, error: err as TransportError };
      }
    });
    // rsync's receiver refuses --relative names near PATH_MAX ("rejecting unrequested file-list name"):
    // such paths go alone, without --relative.
    const long = valid.filter((i) => (items[i] as FetchManyItem).src.length > LONG_PATH);
    const short = valid.filter((i) => (items[i] as FetchManyItem).src.length <= LONG_PATH);
    const batches: number[][] = long.map((i) => [i]);
    for (let i = 0; i < short.length; i += this.#config.maxBatch) batches.push(short.slice(i, i + this.#config.maxBatch));
    await mapLimit(batches, rsyncs, async (batch) => {
      const results = await this.#fetchBatch(batch.map((i) => items[i] as FetchManyItem), opts);
      batch.forEach((itemIndex, k) => {
        outcomes[itemIndex] = results[k] as FetchManyOutcome;
      });
    });
    return outcomes;
  }

  /**
   * One rsync for many files: `--relative` into a private staging dir (in the first item's destination
   * dir), so names never collide; then each file is hard-linked to its temp name (copied when the
   * destination is another file system) and the staging dir removed.
   */
  async #fetchBatch(items: FetchManyItem[], opts: FetchOptions): Promise<FetchManyOutcome[]> {
    const fail = (error: TransportError): FetchManyOutcome[] => items.map(() => ({ ok: false, error }));
    if (opts.signal?.aborted) return fail(new TransportError('HPM_TRANSPORT_ABORTED', `${this.#label}: fetch aborted`));
    const first = (items[0] as FetchManyItem).dest;
    const staging = joinPath(destDirPath(first), stagingName(first.tempName));
    try {
      await mkdir(staging, { mode: 0o700 });
    } catch (err) {
      return fail(destError(errnoCode(err), staging, err));
    }
    const outcomes: (FetchManyOutcome | undefined)[] = new Array(items.length);
    const created: Buffer[] = [];
    let stagingFd: number | undefined;
    try {
      stagingFd = openSync(staging, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      const list = Buffer.concat(items.flatMap((item) => [item.src.subarray(1), Buffer.of(0)]));
      const signal = opts.signal ? AbortSignal.any([opts.signal, this.#stopping.signal]) : this.#stopping.signal;
      // One file needs no --relative: it lands under its own name; many keep their paths so none collide.
      const relative = items.length > 1;
      const run = await runRsync(this.#config.rsyncBinary, this.#rsyncArgs(opts, relative), list, stagingFd, signal);
      if (this.#stopping.signal.aborted) return fail(new TransportError('HPM_TRANSPORT_STOPPED', `${this.#label}: stopped during the fetch`));
      if (run.aborted || opts.signal?.aborted) return fail(new TransportError('HPM_TRANSPORT_ABORTED', `${this.#label}: fetch aborted`));
      const runError =
        run.code === 0 || run.code === 23 || run.code === 24 ? undefined : rsyncExitError(run.code, run.stderrTail, this.#label, false);

      // rsync renames a file into place only once it is complete: whatever is there under its name is whole.
      // Staged paths are reached through the staging fd: they may be as long as the source paths.
      const stagedRoot = Buffer.from(`/proc/self/fd/${stagingFd}/`);
      // The same source twice must not become one inode under two names: later ones are copies.
      const firstOf = new Map<string, number>();
      items.forEach((item, k) => {
        const key = item.src.toString('hex');
        if (!firstOf.has(key)) firstOf.set(key, k);
      });
      const undelivered: number[] = [];
      await mapLimit(items, PLACE_CONCURRENCY, async (item, k) => {
        const staged = Buffer.concat([stagedRoot, relative ? item.src.subarray(1) : baseName(item.src)]);
        const st = await lstat(staged, { bigint: true }).catch(() => null);
        if (!st?.isFile()) {
          undelivered.push(k);
          return;
        }
        const tmp = joinPath(destDirPath(item.dest), item.dest.tempName);
        try {
          if (firstOf.get(item.src.toString('hex')) === k) await linkOrCopy(staged, tmp);
          else await copyStaged(staged, tmp);
        } catch (err) {
          outcomes[k] = { ok: false, error: destError(errnoCode(err), tmp, err) };
          return;
        }
        created.push(tmp);
        try {
          if (opts.fsync) await fsyncFile(tmp);
        } catch (err) {
          outcomes[k] = { ok: false, error: err as TransportError };
          return;
        }
        outcomes[k] = { ok: true, bytes: Number(st.size), stat: null };
      });

      // One helper batch: the post-check stats of what arrived and the reason for what did not.
      const statIndexes = items.map((_, k) => k).filter((k) => outcomes[k]?.ok || undelivered.includes(k));
      let stats: (SourceStat | null)[];
      try {
        stats = await this.#requireHelper().stat(statIndexes.map((k) => (items[k] as FetchManyItem).src));
      } catch (err) {
        const error = err instanceof TransportError ? err : new TransportError('HPM_TRANSPORT_HELPER', String(err), { cause: err });
        for (const k of statIndexes) outcomes[k] = { ok: false, error };
        return outcomes.map((o) => o ?? { ok: false, error });
      }
      statIndexes.forEach((k, j) => {
        outcomes[k] = classifyOutcome(outcomes[k], stats[j] ?? null, (items[k] as FetchManyItem).src, runError, run.stderrTail);
      });
      return outcomes.map((o) => o ?? { ok: false, error: runError ?? new TransportError('HPM_TRANSPORT_RSYNC', `${this.#label}: no outcome`) });
    } catch (err) {
      return fail(err instanceof TransportError ? err : destError(errnoCode(err), staging, err));
    } finally {
      if (stagingFd !== undefined) closeSync(stagingFd);
      // Temp files of failed items are ours to remove; delivered ones are the caller's now.
      for (const [k, item] of items.entries()) {
        if (outcomes[k]?.ok) continue;
        const tmp = joinPath(destDirPath(item.dest), item.dest.tempName);
        if (created.some((c) => c.equals(tmp))) await discardTempFile(tmp).catch(() => undefined);
      }
      await rm(staging, { recursive: true, force: true }).catch((err: unknown) =>
        this.#logger.warn({ code: 'HPM_TRANSPORT_DEST_IO', err: String(err) }, 'could not remove an rsync staging directory'),
      );
    }
  }

  #rsyncArgs(opts: FetchOptions, relative: boolean): string[] {
    const c = this.#config;
    const host = c.host.includes(':') ? `[${c.host}]` : c.host;
    return [
      '--protect-args',
      '--whole-file',
      '--ignore-times',
      relative ? '--relative' : '--no-relative',
      '--files-from=-',
      '--from0',
      '--chmod=D700,F600',
      `--timeout=${Math.max(1, Math.ceil(c.opTimeoutMs / 1000))}`,
      ...(opts.bwlimitBytesPerSec ? [`--bwlimit=${Math.max(1, Math.round(opts.bwlimitBytesPerSec / 1024))}`] : []),
      `--rsync-path=${c.remoteRsync}`,
      '-e',
      rsyncRemoteShell([c.sshBinary, ...sshOptions(this.#sshConfig(), 'client')]),
      '--',
      `${c.user}@${host}:/`,
      '/proc/self/fd/3/',
    ];
  }

  #sshConfig(): SshCommandConfig {
    const c = this.#config;
    return {
      identityFile: c.identityFile,
      knownHostsFile: c.knownHostsFile,
      port: c.port,
      connectTimeoutMs: c.connectTimeoutMs,
      keepaliveIntervalMs: c.keepaliveIntervalMs,
      ...(this.#controlDir ? { controlPath: join(this.#controlDir, 'cm') } : {}),
    };
  }

  async #openHelperChannel(): Promise<HelperChannel> {
    const c = this.#config;
    const ssh = this.#sshConfig();
    // A master that died leaves its socket behind; a new master refuses to reuse it.
    if (ssh.controlPath) await rm(ssh.controlPath, { force: true });
    return spawnHelperChannel(c.sshBinary, [...sshOptions(ssh, 'master'), '-l', c.user, '--', c.host, c.helperCommand], {
      classifyExit: (_code, stderr) => classifySshFailure(stderr, this.#label),
    });
  }

  #requireHelper(): RemoteHelperClient {
    const helper = this.#helper;
    if (!helper) throw new TransportError('HPM_TRANSPORT_STOPPED', `rsync transport to ${this.#label} is stopped`);
    return helper;
  }

  async #removeControlDir(): Promise<void> {
    if (this.#controlDir) await rm(this.#controlDir, { recursive: true, force: true }).catch(() => undefined);
    this.#controlDir = undefined;
  }
}

/**
 * The staging dir is named like a temp file and keeps the caller's instance tag (the 6 hex digits after
 * `.hpcm.`), so a crashed worker's startup cleanup recognises it as its own leftover.
 */
function stagingName(tempName: Buffer): Buffer {
  const text = tempName.toString('latin1');
  const tag = /^\.hpcm\.[0-9a-f]{16}$/.test(text) ? text.slice(6, 12) : randomBytes(3).toString('hex');
  return Buffer.from(`.hpcm.${tag}${randomBytes(5).toString('hex')}`);
}

/** The outcome of one item once the source's current stat is known. */
function classifyOutcome(
  outcome: FetchManyOutcome | undefined,
  stat: SourceStat | null,
  src: Buffer,
  runError: TransportError | undefined,
  stderrTail: string,
): FetchManyOutcome {
  const failed = (error: TransportError): FetchManyOutcome => ({ ok: false, error });
  if (outcome?.ok) {
    if (stat && stat.type !== 'file') {
      return failed(new TransportError('HPM_TRANSPORT_NOT_A_FILE', `fetch ${showPath(src)}: source is now a ${stat.type}`, { path: src }));
    }
    return { ...outcome, stat };
  }
  if (!stat) return failed(new TransportError('HPM_TRANSPORT_SOURCE_GONE', `fetch ${showPath(src)}: source is gone`, { path: src }));
  if (stat.type !== 'file') {
    return failed(new TransportError('HPM_TRANSPORT_NOT_A_FILE', `fetch ${showPath(src)}: source is a ${stat.type}`, { path: src }));
  }
  return failed(
    runError ?? new TransportError('HPM_TRANSPORT_RSYNC', `fetch ${showPath(src)}: rsync did not deliver it${stderrNote(stderrTail)}`, { path: src }),
  );
}

/** Hard-link a staged file to its temp name (never replacing one); copy across file systems. */
async function linkOrCopy(staged: Buffer, tmp: Buffer): Promise<void> {
  try {
    await link(staged, tmp);
  } catch (err) {
    if (errnoCode(err) !== 'EXDEV') throw err;
    await copyStaged(staged, tmp);
  }
}

async function copyStaged(staged: Buffer, tmp: Buffer): Promise<void> {
  await copyFile(staged, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await chmod(tmp, 0o600);
}

function stderrNote(stderr: string): string {
  const last = stderr.trim().split('\n').pop();
  return last ? ` (${last})` : '';
}

