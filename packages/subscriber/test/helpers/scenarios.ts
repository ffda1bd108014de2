import { appendFileSync, chmodSync, linkSync, mkdirSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ServiceHarness } from './service.js';
import { diffTrees, linkGroups, snapshotTree } from './tree.js';
import { waitFor } from './wait.js';

export const treeDiff = (s: ServiceHarness): string[] => diffTrees(snapshotTree(s.src), snapshotTree(s.dst));

export async function converge(s: ServiceHarness, what = 'destination to match the source'): Promise<void> {
  await waitFor(() => treeDiff(s).length === 0 || undefined, `${what}: ${treeDiff(s).join('; ')}`, 30_000);
}

/**
 * Every kind of change, one step at a time: change the source, announce it, wait until the message
 * is settled and the trees are identical. Returns the number of messages sent.
 */
export async function mirrorEveryChangeKind(s: ServiceHarness): Promise<number> {
  let sent = 0;
  const step = async (fn: () => void, ...msgs: Parameters<ServiceHarness['announce']>[]): Promise<void> => {
    fn();
    for (const m of msgs) await s.announce(...m);
    sent += msgs.length;
    await s.waitSettled(sent);
    await converge(s, msgs.map((m) => `${m[0]} ${String(m[1])}`).join(', '));
  };
  const S = (rel: string): string => join(s.src, rel);
  await step(() => mkdirSync(S('run')), ['mkdir', 'run']);
  await step(() => writeFileSync(S('run/a.grib'), 'alpha'), ['content', 'run/a.grib']);
  await step(() => appendFileSync(S('run/a.grib'), ' and more'), ['content', 'run/a.grib']);
  await step(() => writeFileSync(S('run/b.tmp'), 'beta'), ['content', 'run/b.tmp']);
  await step(() => renameSync(S('run/b.tmp'), S('run/b.grib')), ['rename', 'run/b.grib', { oldPath: Buffer.from(S('run/b.tmp')) }]);
  await step(() => symlinkSync('a.grib', S('run/latest')), ['symlink', 'run/latest', { linkTarget: Buffer.from('a.grib') }]);
  await step(() => { unlinkSync(S('run/latest')); symlinkSync('b.grib', S('run/latest')); }, ['symlink', 'run/latest', { linkTarget: Buffer.from('b.grib') }]);
  await step(() => linkSync(S('run/a.grib'), S('run/a.hard')), ['hardlink', 'run/a.hard', { hlinkTo: Buffer.from(S('run/a.grib')) }]);
  expect(linkGroups(snapshotTree(s.dst))).toEqual([['run/a.grib', 'run/a.hard']]);
  await step(() => chmodSync(S('run/a.grib'), 0o600), ['content', 'run/a.grib']);
  await step(() => { mkdirSync(S('run/sub')); writeFileSync(S('run/sub/x'), 'x'); }, ['mkdir', 'run/sub'], ['content', 'run/sub/x']);
  await step(() => renameSync(S('run'), S('run2')), ['rename', 'run2', { oldPath: Buffer.from(S('run')), isDirectory: true }]);
  await step(() => unlinkSync(S('run2/b.grib')), ['remove', 'run2/b.grib']);
  await step(() => { unlinkSync(S('run2/sub/x')); rmdirSync(S('run2/sub')); }, ['remove', 'run2/sub/x'], ['rmdir', 'run2/sub']);
  const odd = Buffer.from([0x6e, 0xe9, 0x80, 0x25, 0x41, 0xff, 0x0a]);
  await step(() => writeFileSync(Buffer.concat([Buffer.from(S('run2/')), odd]), 'odd name'), ['content', Buffer.concat([Buffer.from('run2/'), odd])]);
  expect(linkGroups(snapshotTree(s.dst))).toEqual([['run2/a.grib', 'run2/a.hard']]);
  expect(await s.takeParked()).toEqual([]);
  return sent;
}

/**
 * The same kinds of change in two rounds instead of fifteen steps (for a transport whose every fetch
 * costs a process and an ssh channel): files first, then renames, links, removes and directories.
 */
export async function mirrorChangeKindsInTwoRounds(s: ServiceHarness): Promise<number> {
  const S = (rel: string): string => join(s.src, rel);
  const odd = Buffer.from([0x6e, 0xe9, 0x80, 0x25, 0x41, 0xff, 0x0a]);
  mkdirSync(S('run'));
  writeFileSync(S('run/a.grib'), 'alpha');
  writeFileSync(S('run/b.tmp'), 'beta');
  writeFileSync(Buffer.concat([Buffer.from(S('run/')), odd]), 'odd name');
  mkdirSync(S('run/sub'));
  writeFileSync(S('run/sub/x'), 'x');
  const first: Parameters<ServiceHarness['announce']>[] = [
    ['mkdir', 'run'], ['content', 'run/a.grib'], ['content', 'run/b.tmp'],
    ['content', Buffer.concat([Buffer.from('run/'), odd])], ['mkdir', 'run/sub'], ['content', 'run/sub/x'],
  ];
  for (const m of first) await s.announce(...m);
  await s.waitSettled(first.length, 60_000);
  await converge(s, 'first round');
  appendFileSync(S('run/a.grib'), ' and more');
  renameSync(S('run/b.tmp'), S('run/b.grib'));
  symlinkSync('b.grib', S('run/latest'));
  linkSync(S('run/a.grib'), S('run/a.hard'));
  chmodSync(S('run/sub/x'), 0o600);
  renameSync(S('run/sub'), S('run/sub2'));
  unlinkSync(Buffer.concat([Buffer.from(S('run/')), odd]));
  const second: Parameters<ServiceHarness['announce']>[] = [
    ['content', 'run/a.grib'], ['rename', 'run/b.grib', { oldPath: Buffer.from(S('run/b.tmp')) }],
    ['symlink', 'run/latest', { linkTarget: Buffer.from('b.grib') }], ['hardlink', 'run/a.hard', { hlinkTo: Buffer.from(S('run/a.grib')) }],
    ['content', 'run/sub/x'], ['rename', 'run/sub2', { oldPath: Buffer.from(S('run/sub')), isDirectory: true }],
    ['remove', Buffer.concat([Buffer.from('run/'), odd])],
  ];
  for (const m of second) await s.announce(...m);
  await s.waitSettled(first.length + second.length, 60_000);
  await converge(s, 'second round');
  expect(linkGroups(snapshotTree(s.dst))).toEqual([['run/a.grib', 'run/a.hard']]);
  expect(await s.takeParked()).toEqual([]);
  return first.length + second.length;
}
