import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@hpcmirror/core';
import { AntiEntropy } from '../../src/anti-entropy.js';
import { systemClock } from '../../src/clock.js';
import { DeleteGuard } from '../../src/delete-guard.js';
import { DestTree } from '../../src/dest/dest-tree.js';
import { DirSync } from '../../src/dest/dir-sync.js';
import { HardLinkIndex } from '../../src/hard-link-index.js';
import { pathKey } from '../../src/path-bytes.js';
import { PathLocks } from '../../src/path-locks.js';
import { PathMap } from '../../src/path-map.js';
import { Reconciler, type ReconcileOptions, type ReconcileResult } from '../../src/reconciler.js';
import { TempJournal } from '../../src/temp-journal.js';
import { TempNames } from '../../src/temp-names.js';
import { Trash } from '../../src/trash.js';
import { createLocalTransport } from '../../src/transports/index.js';
import type { Transport } from '../../src/transports/transport.js';

export interface EngineOptions {
  deleteGuardPerMin?: number;
  trash?: boolean;
  fsync?: boolean;
  transport?: Transport;
  /** Source root (default: a fresh temp dir). */
  src?: string;
  unlockReadOnlyDirs?: boolean;
  /** subscriber.anti_entropy (default true) */
  antiEntropy?: boolean;
}

/** The apply engine on two temp trees with the local transport: no broker, for fast, exact tests. */
export interface Engine {
  base: string;
  src: string;
  dst: string;
  state: string;
  trashDir: string;
  /** Absolute source path bytes of a relative name (string or bytes). */
  s(rel: string | Buffer): Buffer;
  /** Absolute destination path string. */
  d(rel: string): string;
  reconcile(rel: string | Buffer, opts?: ReconcileOptions): Promise<ReconcileResult>;
  rename(oldRel: string | Buffer, newRel: string | Buffer): Promise<ReconcileResult>;
  reconciler: Reconciler;
  antiEntropy: AntiEntropy;
  guard: DeleteGuard;
  journal: TempJournal;
  temps: TempNames;
  tree: DestTree;
  touched: { dir: string; subtree: boolean }[];
  close(): Promise<void>;
}

export async function startEngine(opts: EngineOptions = {}): Promise<Engine> {
  const base = mkdtempSync(join(tmpdir(), 'hpcm-sub-engine-'));
  const src = opts.src ?? join(base, 'src');
  const dst = join(base, 'dst');
  const state = join(base, 'state');
  const trashDir = join(base, 'trash');
  for (const d of [src, dst, state]) mkdirSync(d, { recursive: true });
  const logger = silentLogger();
  const transport = opts.transport ?? createLocalTransport();
  await transport.start();
  const map = new PathMap(Buffer.from(src), Buffer.from(dst));
  const tree = new DestTree(Buffer.from(dst), { unlockReadOnlyDirs: opts.unlockReadOnlyDirs ?? false });
  await tree.start();
  const temps = new TempNames('abc123');
  const journal = new TempJournal(join(state, 'temp-dirs.log'), temps, logger);
  await journal.start(tree);
  const locks = new PathLocks(src);
  const guard = new DeleteGuard(opts.deleteGuardPerMin ?? 0, systemClock);
  let trash: Trash | undefined;
  if (opts.trash) {
    trash = new Trash(Buffer.from(trashDir), 3600, systemClock, logger);
    await trash.start(Buffer.from(dst));
  }
  const touched: { dir: string; subtree: boolean }[] = [];
  let ae: AntiEntropy | undefined;
  const abort = new AbortController();
  const reconciler = new Reconciler({
    transport, tree, map, temps, journal, guard, trash, links: new HardLinkIndex(), locks, dirSync: new DirSync(),
    attrs: { chown: process.getuid?.() === 0 }, fsync: opts.fsync ?? true, bwlimitBytesPerSec: 0,
    clock: systemClock, logger, signal: abort.signal,
    touched: (dir, subtree) => {
      touched.push({ dir: dir.toString('latin1'), subtree });
      ae?.touch(dir, subtree);
    },
  });
  ae = new AntiEntropy({ transport, tree, map, journal, locks, reconciler, quietMs: 0, enabled: opts.antiEntropy ?? true, owners: process.getuid?.() === 0, clock: systemClock, logger });
  const s = (rel: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${src}/`), typeof rel === 'string' ? Buffer.from(rel) : rel]);
  return {
    base, src, dst, state, trashDir, s,
    d: (rel) => join(dst, rel),
    // As the message handler does: the path's entry lock first, its tree lock when a directory must go.
    reconcile: (rel, o) => locks.withLocksEscalating([pathKey(s(rel))], (treeLocked) => reconciler.reconcile(s(rel), { ...o, treeLocked })),
    rename: (a, b) => locks.withLocks([pathKey(s(a)), pathKey(s(b))], () => reconciler.rename(s(a), s(b)), 'tree'),
    reconciler, antiEntropy: ae, guard, journal, temps, tree, touched,
    close: async () => {
      abort.abort();
      await ae?.stop();
      journal.stop();
      await transport.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
