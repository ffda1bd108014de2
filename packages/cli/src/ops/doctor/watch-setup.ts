import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { defaultWatchBinary, watchSection } from '@hpcmirror/agent';
import type { LoadedConfig } from '@hpcmirror/core';
import { fail, ok, warn, type DoctorResult } from './doctor-result.js';

const BINARY = 'watch binary';
const DIRS = 'watch dirs';

/** inotify mode needs the hpcm-watch reader; its watch limit is shown, since a big tree can exceed it. */
async function checkWatchBinary(binary: string): Promise<DoctorResult> {
  try {
    await access(binary, constants.X_OK);
  } catch (err) {
    return fail(BINARY, `${binary}: not executable (${(err as NodeJS.ErrnoException).code}); build it (npm run build) or set HPCM_WATCH_BIN`);
  }
  const limit = await readFile('/proc/sys/fs/inotify/max_user_watches', 'utf8').then((s) => s.trim()).catch(() => undefined);
  return ok(BINARY, `${binary}${limit ? ` (fs.inotify.max_user_watches ${limit}: one watch per directory)` : ''}`);
}

/** Each tree `hpcmirror watch` would watch: a readable directory under source_root. */
async function checkWatchDir(dir: string, sourceRoot: string): Promise<DoctorResult> {
  const root = resolve(sourceRoot);
  const d = resolve(dir);
  if (d !== root && !d.startsWith(root + sep)) return fail(DIRS, `${d} is outside source_root ${root}`);
  try {
    const st = await stat(d);
    if (!st.isDirectory()) return fail(DIRS, `${d} is not a directory`);
    await access(d, constants.R_OK | constants.X_OK);
    return ok(DIRS, `${d} readable`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? warn(DIRS, `${d} does not exist (yet): the watcher refuses to start without it`) : fail(DIRS, `${d}: ${code}`);
  }
}

/** What `hpcmirror watch` needs on this node, from the config's `watch:` section. */
export async function checkWatchSetup(cfg: LoadedConfig): Promise<DoctorResult[]> {
  let w;
  try {
    w = watchSection(cfg);
  } catch (err) {
    return [fail(DIRS, (err as Error).message)];
  }
  const dirs = w.dirs.length ? w.dirs : [cfg.source_root];
  const checks = dirs.map((d) => checkWatchDir(d, cfg.source_root));
  if (w.mode === 'inotify') checks.unshift(checkWatchBinary(defaultWatchBinary()));
  return Promise.all(checks);
}
