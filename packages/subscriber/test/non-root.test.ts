import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSubscriber } from './fixtures/built-helper.js';

const NOBODY = 65534;
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const CORE = fileURLToPath(new URL('../../core/dist/index.js', import.meta.url));

/** The built engine, run as `nobody`, reconciling the paths given on the command line. */
const SCRIPT = `
const [src, dst, state, ...paths] = process.argv.slice(1);
const S = ${JSON.stringify(DIST)};
const { silentLogger } = await import(${JSON.stringify(CORE)});
const m = async (f) => import(S + f);
const { Reconciler } = await m('reconciler.js');
const { DestTree } = await m('dest/dest-tree.js');
const { DirSync } = await m('dest/dir-sync.js');
const { PathMap } = await m('path-map.js');
const { TempNames } = await m('temp-names.js');
const { TempJournal } = await m('temp-journal.js');
const { PathLocks } = await m('path-locks.js');
const { DeleteGuard } = await m('delete-guard.js');
const { HardLinkIndex } = await m('hard-link-index.js');
const { systemClock } = await m('clock.js');
const { createLocalTransport } = await m('transports/index.js');
const transport = createLocalTransport();
await transport.start();
const tree = new DestTree(Buffer.from(dst));
await tree.start();
const temps = new TempNames('abcdef');
const journal = new TempJournal(state + '/temp-dirs.log', temps, silentLogger());
await journal.start(tree);
const r = new Reconciler({ transport, tree, map: new PathMap(Buffer.from(src), Buffer.from(dst)), temps, journal,
  guard: new DeleteGuard(0, systemClock), trash: undefined, links: new HardLinkIndex(), locks: new PathLocks(), dirSync: new DirSync(),
  attrs: { chown: false }, fsync: true, bwlimitBytesPerSec: 0, clock: systemClock, logger: silentLogger(),
  signal: new AbortController().signal, touched: () => {} });
for (const p of paths) await r.reconcile(Buffer.from(src + '/' + p));
journal.stop();
await transport.stop();
`;

describe.runIf(process.getuid?.() === 0)('as a non-root user', () => {
  let base: string;
  const run = async (...paths: string[]): Promise<void> => {
    await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT, join(base, 'src'), join(base, 'dst'), join(base, 'state'), ...paths], { uid: NOBODY, gid: NOBODY, timeout: 30_000 });
  };

  beforeAll(async () => {
    await buildSubscriber();
    base = mkdtempSync(join(tmpdir(), 'hpcm-nonroot-'));
    chmodSync(base, 0o755);
    for (const d of ['src', 'dst', 'state']) {
      mkdirSync(join(base, d));
      chownSync(join(base, d), NOBODY, NOBODY);
    }
  }, 180_000);

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('keeps mirroring into a directory the source made read-only (chmod a-w at the end of a run)', async () => {
    const S = (p: string): string => join(base, 'src', p);
    mkdirSync(S('run'));
    writeFileSync(S('run/a'), 'a');
    chownSync(S('run'), NOBODY, NOBODY);
    chmodSync(S('run'), 0o555);
    await run('run', 'run/a');
    expect(statSync(join(base, 'dst/run')).mode & 0o777).toBe(0o555);
    chmodSync(S('run'), 0o755);
    writeFileSync(S('run/late'), 'written after the chmod arrived');
    unlinkSync(S('run/a'));
    chmodSync(S('run'), 0o555);
    await run('run/late', 'run/a');
    expect(readdirSync(join(base, 'dst/run'))).toEqual(['late']);
    expect(statSync(join(base, 'dst/run')).mode & 0o777).toBe(0o555);
    chmodSync(S('run'), 0o755);
  }, 60_000);
});
