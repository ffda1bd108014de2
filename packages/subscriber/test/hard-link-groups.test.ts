import { appendFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HardLinkIndex } from '../src/hard-link-index.js';
import { HardLinkJournal } from '../src/hard-link-journal.js';
import { startService, type ServiceHarness } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'hpcm-hlj-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (s: string): Buffer => Buffer.from(s, 'latin1');
const names = (bufs: Buffer[]): string[] => bufs.map((b) => b.toString('latin1')).sort();

describe('hard-link journal', () => {
  it('gives a new index what the previous one learned and did not drop (names are bytes)', () => {
    const file = join(dir, 'a.log');
    const errors: Error[] = [];
    const first = new HardLinkIndex();
    first.attach(new HardLinkJournal(file, (e) => errors.push(e)));
    first.add(1n, 42n, p('/src/a'));
    first.add(1n, 42n, p('/src/b\n\xff'));
    first.add(1n, 42n, p('/src/a'));
    first.add(1n, 7n, p('/src/x'));
    first.drop(1n, 7n, p('/src/x'));
    // Killed in the middle of a line: the torn line is skipped.
    appendFileSync(file, 'a 1 42 2f73');
    const second = new HardLinkIndex();
    second.attach(new HardLinkJournal(file, (e) => errors.push(e)));
    expect(names(second.members(1n, 42n))).toEqual(['/src/a', '/src/b\n\xff']);
    expect(second.members(1n, 7n)).toEqual([]);
    expect(second.size).toBe(1);
    // The replay starts a fresh log of what is live.
    expect(readFileSync(file, 'latin1').trim().split('\n')).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('an unwritable log is reported once and the index goes on in memory', () => {
    const errors: Error[] = [];
    const index = new HardLinkIndex();
    index.attach(new HardLinkJournal(join(dir, 'no/such/dir/h.log'), (e) => errors.push(e)));
    index.add(1n, 2n, p('/src/a'));
    expect(index.members(1n, 2n)).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });
});

describe('hard-link groups stay whole', () => {
  let h: ServiceHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  /** a and b, one source inode, mirrored as one destination inode. */
  const mirroredPair = async (): Promise<ServiceHarness> => {
    const s = (h = await startService());
    writeFileSync(join(s.src, 'a'), 'version 1');
    linkSync(join(s.src, 'a'), join(s.src, 'b'));
    await s.announce('content', 'a');
    await s.announce('hardlink', 'b', { hlinkTo: Buffer.from(join(s.src, 'a')) });
    await s.waitSettled(2);
    return s;
  };

  it('a rewrite announced for one name after a restart reaches the other name too', async () => {
    const s = await mirroredPair();
    expect(statSync(join(s.dst, 'b')).ino).toBe(statSync(join(s.dst, 'a')).ino);
    await s.sub.stop();
    await s.sub.start();
    // Rewritten in place: both names hold it, the shim announces the one written.
    writeFileSync(join(s.src, 'a'), 'version 2, longer');
    await s.announce('content', 'a');
    await s.waitSettled(3);
    expect(readFileSync(join(s.dst, 'b'), 'utf8')).toBe('version 2, longer');
    expect(statSync(join(s.dst, 'b')).ino).toBe(statSync(join(s.dst, 'a')).ino);
  });

  it('a rewrite through a name already gone when its message is applied reaches the other names', async () => {
    const s = await mirroredPair();
    appendFileSync(join(s.src, 'b'), ', version 2');
    const st = statSync(join(s.src, 'b'), { bigint: true });
    unlinkSync(join(s.src, 'b'));
    // The shim's fstat at close names b's inode; only b is announced, and b is gone.
    await s.announce('content', 'b', { stat: { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, mode: Number(st.mode) & 0o7777 } });
    await s.waitSettled(3);
    expect(readFileSync(join(s.dst, 'a'), 'utf8')).toBe('version 1, version 2');
    expect(statSync(join(s.dst, 'b'), { throwIfNoEntry: false })).toBeUndefined();
  });

  for (const renameFirst of [false, true]) {
    it(`ln a b; mv b c: a and c end up one inode (the rename's message applied ${renameFirst ? 'first' : 'second'})`, async () => {
      const s = (h = await startService());
      writeFileSync(join(s.src, 'a'), 'linked');
      await s.announce('content', 'a');
      await s.waitSettled(1);
      linkSync(join(s.src, 'a'), join(s.src, 'b'));
      renameSync(join(s.src, 'b'), join(s.src, 'c'));
      // Only b and c are announced: a's own stat changed (nlink) but nothing was written to it.
      const link = () => s.announce('hardlink', 'b', { hlinkTo: Buffer.from(join(s.src, 'a')) });
      const move = () => s.announce('rename', 'c', { oldPath: Buffer.from(join(s.src, 'b')) });
      if (renameFirst) {
        await move();
        await s.waitSettled(2);
        await link();
      } else {
        await link();
        await s.waitSettled(2);
        await move();
      }
      await s.waitSettled(3);
      // A member relinked in the background (its lock was busy) lands a moment after the ack.
      await waitFor(() => statSync(join(s.dst, 'c')).ino === statSync(join(s.dst, 'a')).ino, 'a and c linked');
      expect(readFileSync(join(s.dst, 'c'), 'utf8')).toBe('linked');
    });
  }

  it('anti-entropy joins a split group: names of one source inode in two directories, copies equal but apart', async () => {
    const s = (h = await startService({ subscriber: { anti_entropy_quiet_s: 0.2 } }));
    mkdirSync(join(s.src, 'x'));
    mkdirSync(join(s.src, 'y'));
    for (const n of ['x/a', 'y/b']) {
      writeFileSync(join(s.src, n), 'same bytes');
      utimesSync(join(s.src, n), 1_700_000_000, 1_700_000_000);
    }
    await s.announce('mkdir', 'x');
    await s.announce('mkdir', 'y');
    await s.announce('content', 'x/a');
    await s.announce('content', 'y/b');
    await s.waitSettled(4);
    // y/b becomes another name of x/a, never announced: same size, mtime and mode as its copy.
    unlinkSync(join(s.src, 'y/b'));
    linkSync(join(s.src, 'x/a'), join(s.src, 'y/b'));
    // Changes elsewhere in both directories make anti-entropy compare them.
    writeFileSync(join(s.src, 'x/other'), '1');
    writeFileSync(join(s.src, 'y/other'), '2');
    await s.announce('content', 'x/other');
    await s.announce('content', 'y/other');
    await waitFor(() => statSync(join(s.dst, 'y/b')).ino === statSync(join(s.dst, 'x/a')).ino, 'x/a and y/b linked by anti-entropy', 20_000);
    expect(s.sub.metrics().antiEntropy.repaired).toBeGreaterThanOrEqual(1);
  });
});
