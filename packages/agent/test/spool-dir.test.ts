import { chmodSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareSpoolDir } from '../src/spool/spool-dir.js';
import { tempDir } from './helpers.js';

describe('prepareSpoolDir', () => {
  const tmp = tempDir('spooldir');
  afterAll(() => tmp.cleanup());
  const root = join(tmp.dir, 'root');
  mkdirSync(root);

  it('creates a missing spool 0700', async () => {
    const d = join(tmp.dir, 'new', 'spool');
    await prepareSpoolDir(d, root);
    expect(statSync(d).mode & 0o777).toBe(0o700);
  });

  it('refuses a spool with a loose mode, a symlink, another owner, or one inside source_root', async () => {
    const loose = join(tmp.dir, 'loose');
    mkdirSync(loose);
    chmodSync(loose, 0o755);
    await expect(prepareSpoolDir(loose, root)).rejects.toMatchObject({ code: 'HPM_SPOOL_UNSAFE', message: expect.stringContaining('mode 755') });
    const good = join(tmp.dir, 'good');
    mkdirSync(good, { mode: 0o700 });
    const link = join(tmp.dir, 'link');
    symlinkSync(good, link);
    await expect(prepareSpoolDir(link, root)).rejects.toMatchObject({ code: 'HPM_SPOOL_UNSAFE', message: expect.stringContaining('symlink') });
    await expect(prepareSpoolDir(good, root, 12345)).rejects.toMatchObject({ code: 'HPM_SPOOL_UNSAFE', message: expect.stringContaining('owned by uid') });
    const inside = join(root, 'spool');
    mkdirSync(inside, { mode: 0o700 });
    await expect(prepareSpoolDir(inside, root)).rejects.toMatchObject({ code: 'HPM_SPOOL_UNSAFE', message: expect.stringContaining('inside source_root') });
    await prepareSpoolDir(good, root);
  });
});
