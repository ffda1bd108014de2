/**
 * runScan: spawns hpcm-scan, decodes its record stream and hands entries to the caller with
 * backpressure, keeping the resumable checkpoint. A part is written to the checkpoint only after
 * every entry before it was handled (onEntry's promise settled), so a resumed scan never skips an
 * entry that was not announced.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkScanBinary, defaultScanBinary } from './scan-binary.js';
import { ScanCheckpoint, type ScanIdentity } from './scan-checkpoint.js';
import { ScanError } from './scan-errors.js';
import { progressFrom, type ScanProgress } from './scan-progress.js';
import { excludeMatcher } from './glob-match.js';
import { RemoteComparer, type DestinationTree } from './remote-compare.js';
import { ScanRecordDecoder, type EndRecord, type ScanEntry, type ScanIssue } from './scan-records.js';

/** Temp files of the subscriber (`.hpcm.<16 hex>`) are never differences worth announcing. */
export const SUBSCRIBER_TEMP_GLOB = '.hpcm.????????????????';

/** hpcm-scan's exit statuses (native-scan/README.md). */
const WALKER_EXIT = { failed: 1, usage: 2, readerGone: 3, badRoot: 4, badSkipFile: 5 } as const;

export interface RunScanOptions {
  /** The source directory to walk. */
  root: string;
  /** Only entries whose ctime (or mtime) is at or after this time, ns since the epoch. */
  since?: bigint;
  /**
   * Compare with a destination instead: a local (or mounted) root, walked natively alongside, or a
   * tree seen through a DestinationLister (the remote helper over ssh), listed one directory at a time.
   */
  compareWith?: string | DestinationTree;
  /** Walker threads (default: online CPUs; raise it on network file systems). */
  threads?: number;
  /** Journal of finished parts; a matching unfinished scan is resumed from it. */
  checkpointFile?: string;
  /** Depth of the checkpoint units (default 2). */
  partDepth?: number;
  /** Globs: without '/' on the name, with '/' on the path relative to root. Never descended into. */
  excludes?: string[];
  /** Compare: mtimes this close count as equal (default 2000 ns). */
  mtimeToleranceNs?: number;
  compareDirTimes?: boolean;
  compareOwner?: boolean;
  /** Descend into other file systems (default: stay on the root's, like find -xdev). */
  crossFileSystems?: boolean;
  progressIntervalMs?: number;
  /** For the ETA when no previous run of this root is in the checkpoint. */
  expectedTotal?: number;
  /** Called for each entry in stream order; a returned promise is awaited before the part is checkpointed. */
  onEntry?: (entry: ScanEntry) => void | Promise<unknown>;
  onProgress?: (progress: ScanProgress) => void;
  /** A path the walker could not read; the walk goes on. */
  onIssue?: (issue: ScanIssue) => void;
  signal?: AbortSignal;
  /** Path of hpcm-scan (default: defaultScanBinary()). */
  binary?: string;
  /** Unsettled onEntry promises before reading pauses (default 4096). */
  maxPendingEntries?: number;
  /** Lister compare: source entries held for pending directory comparisons before reading pauses (default 200,000). */
  maxBufferedEntries?: number;
  /** Queued directories kept in the walker's memory before it spills to a temp file. */
  queueMemItems?: number;
  /** Walker's stdout block per thread (default 256 KiB); small blocks checkpoint sooner. */
  outputBlockBytes?: number;
}

export interface ScanResult {
  examined: number;
  /** Including the parts the resumed run had finished. */
  examinedTotal: number;
  emitted: number;
  dirs: number;
  errors: number;
  elapsedMs: number;
  filesPerSecond: number;
  /** Peak resident memory of the walker process. */
  maxRssBytes: number;
  skippedParts: number;
  partsDone: number;
  resumed: boolean;
}

function modeOf(o: RunScanOptions): ScanIdentity['mode'] {
  return o.compareWith !== undefined ? 'compare' : o.since !== undefined ? 'since' : 'list';
}

function compareTarget(c: string | DestinationTree): string {
  return typeof c === 'string' ? resolve(c) : `lister:${c.root}`;
}

function usage(message: string): ScanError {
  return new ScanError('HPM_SCAN_USAGE', message);
}

function buildArgs(o: RunScanOptions, root: string, skipFile: string | undefined): string[] {
  const args: string[] = [];
  if (o.since !== undefined) args.push('--since', o.since.toString());
  if (typeof o.compareWith === 'object') {
    // Listed here, compared in Node against the lister's directory listings.
    args.push('--list', '--dir-records', '--exclude', SUBSCRIBER_TEMP_GLOB);
  } else if (o.compareWith !== undefined) {
    args.push('--compare', resolve(o.compareWith));
    if (o.mtimeToleranceNs !== undefined) args.push('--mtime-tolerance', String(o.mtimeToleranceNs));
    if (o.compareDirTimes) args.push('--dir-times');
    if (o.compareOwner) args.push('--owner');
    args.push('--exclude', SUBSCRIBER_TEMP_GLOB);
  }
  if (o.threads !== undefined) args.push('--threads', String(o.threads));
  if (o.partDepth !== undefined) args.push('--part-depth', String(o.partDepth));
  if (o.crossFileSystems) args.push('--cross-fs');
  if (o.queueMemItems !== undefined) args.push('--queue-mem', String(o.queueMemItems));
  if (o.outputBlockBytes !== undefined) args.push('--block-size', String(o.outputBlockBytes));
  args.push('--progress-ms', String(o.progressIntervalMs ?? 500));
  for (const g of o.excludes ?? []) args.push('--exclude', g);
  if (skipFile) args.push('--skip-parts', skipFile);
  args.push('--', root);
  return args;
}

function validate(o: RunScanOptions): void {
  if (typeof o.root !== 'string' || o.root.length === 0) throw usage('scan: root must be a non-empty path');
  if (o.since !== undefined && o.compareWith !== undefined) throw usage('scan: since and compareWith exclude each other');
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 1024)) {
    throw usage(`scan: threads must be an integer in 1..1024, got ${o.threads}`);
  }
  if (o.partDepth !== undefined && (!Number.isInteger(o.partDepth) || o.partDepth < 0 || o.partDepth > 64)) {
    throw usage(`scan: partDepth must be an integer in 0..64, got ${o.partDepth}`);
  }
  if (typeof o.compareWith === 'object' && (typeof o.compareWith.root !== 'string' || !o.compareWith.root.startsWith('/'))) {
    throw usage('scan: compareWith.root must be an absolute path');
  }
  if (o.mtimeToleranceNs !== undefined && (!Number.isInteger(o.mtimeToleranceNs) || o.mtimeToleranceNs < 0)) {
    throw usage(`scan: mtimeToleranceNs must be a non-negative integer`);
  }
}

export async function runScan(options: RunScanOptions): Promise<ScanResult> {
  validate(options);
  const binary = options.binary ?? defaultScanBinary();
  checkScanBinary(binary);
  if (options.signal?.aborted) throw new ScanError('HPM_SCAN_ABORTED', 'scan aborted before it started', { cause: options.signal.reason });
  const root = resolve(options.root);
  const identity: ScanIdentity = {
    root,
    mode: modeOf(options),
    ...(options.since !== undefined ? { since: options.since.toString() } : {}),
    ...(options.compareWith !== undefined ? { compareWith: compareTarget(options.compareWith) } : {}),
    partDepth: options.partDepth ?? 2,
    excludes: options.excludes ?? [],
  };
  const opened = options.checkpointFile ? ScanCheckpoint.open(resolve(options.checkpointFile), identity) : undefined;
  const checkpoint = opened?.checkpoint;
  const state = opened?.state ?? { doneParts: [], examinedBefore: 0, resumed: false };
  const expectedTotal = options.expectedTotal ?? state.previousTotal;
  let skipFile: string | undefined;
  try {
    if (checkpoint && state.doneParts.length > 0) {
      skipFile = `${checkpoint.file}.skip`;
      writeFileSync(skipFile, Buffer.concat(state.doneParts.flatMap((k) => [k, Buffer.from([0])])), { mode: 0o600 });
    }
    return await walk(options, binary, buildArgs(options, root, skipFile), checkpoint, state.examinedBefore, state.resumed, expectedTotal);
  } finally {
    if (skipFile) rmSync(skipFile, { force: true });
    checkpoint?.close();
  }
}

async function walk(
  o: RunScanOptions,
  binary: string,
  args: string[],
  checkpoint: ScanCheckpoint | undefined,
  examinedBefore: number,
  resumed: boolean,
  expectedTotal: number | undefined,
): Promise<ScanResult> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 65536) stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((done) => {
    child.once('error', (spawnError) => done({ code: null, signal: null, spawnError }));
    child.once('close', (code, signal) => done({ code, signal }));
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  o.signal?.addEventListener('abort', kill, { once: true });

  const decoder = new ScanRecordDecoder();
  const maxPending = o.maxPendingEntries ?? 4096;
  const maxBuffered = o.maxBufferedEntries ?? 200_000;
  const remote =
    typeof o.compareWith === 'object'
      ? new RemoteComparer(o.compareWith, {
          mtimeToleranceNs: o.mtimeToleranceNs ?? 2000,
          compareDirTimes: o.compareDirTimes ?? false,
          compareOwner: o.compareOwner ?? false,
          exclude: excludeMatcher([SUBSCRIBER_TEMP_GLOB, ...(o.excludes ?? [])]),
        })
      : undefined;
  // With a lister the walker emits every entry; what counts as emitted is the differences found here.
  let differences = 0;
  const deliver = (entry: ScanEntry): unknown => {
    differences++;
    return o.onEntry?.(entry);
  };
  const emittedOf = (walkerEmitted: number): number => (remote ? differences : walkerEmitted);
  const report = (issue: ScanIssue): void => o.onIssue?.(issue);
  let pending: Promise<void>[] = [];
  let failure: unknown;
  let end: EndRecord | undefined;
  let partsDone = 0;
  const settle = (p: Promise<unknown>): Promise<void> =>
    p.then(
      () => undefined,
      (err: unknown) => {
        failure ??= err;
      },
    );

  try {
    reading: for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      for (const rec of decoder.push(chunk)) {
        switch (rec.kind) {
          case 'entry': {
            if (remote) {
              const { kind: _kind, ...entry } = rec;
              remote.add(entry);
              break;
            }
            if (!o.onEntry) break;
            const { kind: _kind, ...entry } = rec;
            const r = o.onEntry(entry);
            if (r && typeof (r as Promise<unknown>).then === 'function') {
              pending.push(settle(r));
              while (pending.length >= maxPending) await pending.shift();
            }
            break;
          }
          case 'dir':
            if (!remote) break;
            pending.push(settle(remote.finishDir(rec, deliver, report)));
            while (pending.length >= maxPending || (remote.buffered > maxBuffered && pending.length > 0)) await pending.shift();
            break;
          case 'part':
            if (pending.length > 0) {
              await Promise.all(pending);
              pending = [];
            }
            if (failure !== undefined || o.signal?.aborted) break reading;
            checkpoint?.partDone(rec.key, rec.examined);
            partsDone++;
            break;
          case 'progress':
            o.onProgress?.(progressFrom({ ...rec, emitted: emittedOf(rec.emitted) }, examinedBefore, expectedTotal));
            break;
          case 'issue': {
            const { kind: _kind, ...issue } = rec;
            report(issue);
            break;
          }
          case 'end':
            end = rec;
            break;
        }
        if (failure !== undefined || o.signal?.aborted) break reading;
      }
    }
    await Promise.all(pending);
  } catch (err) {
    failure ??= err;
  } finally {
    o.signal?.removeEventListener('abort', kill);
    if (failure !== undefined || o.signal?.aborted) kill();
  }
  const exit = await exited;
  if (o.signal?.aborted) throw new ScanError('HPM_SCAN_ABORTED', 'scan aborted; the checkpoint keeps the finished parts', { cause: o.signal.reason });
  if (failure !== undefined) throw failure;
  if (exit.spawnError) throw new ScanError('HPM_SCAN_BINARY_MISSING', `cannot start ${binary}: ${exit.spawnError.message}`, { cause: exit.spawnError });
  const firstLine = stderr.split('\n').find((l) => l.trim() !== '')?.replace(/^hpcm-scan: /, '') ?? '';
  if (exit.code === WALKER_EXIT.usage) throw new ScanError('HPM_SCAN_USAGE', `scan: ${firstLine}`);
  if (exit.code === WALKER_EXIT.badRoot) throw new ScanError('HPM_SCAN_BAD_ROOT', `scan: ${firstLine}`);
  if (exit.code !== 0 || end === undefined || decoder.hasPartial) {
    const how = exit.signal ? `killed by ${exit.signal}` : `exit status ${String(exit.code)}`;
    throw new ScanError('HPM_SCAN_FAILED', `scan walker failed (${how})${firstLine ? `: ${firstLine}` : ''}`);
  }
  const final = progressFrom({ ...end, emitted: emittedOf(end.emitted) }, examinedBefore, expectedTotal);
  o.onProgress?.(final);
  checkpoint?.finish(final.examinedTotal, final.emitted, final.elapsedMs);
  return {
    examined: end.examined,
    examinedTotal: final.examinedTotal,
    emitted: final.emitted,
    dirs: end.dirs,
    errors: end.errors,
    elapsedMs: final.elapsedMs,
    filesPerSecond: final.filesPerSecond,
    maxRssBytes: end.maxRssBytes,
    skippedParts: end.skippedParts,
    partsDone,
    resumed,
  };
}
