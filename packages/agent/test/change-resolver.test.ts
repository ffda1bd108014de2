import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChangeResolver } from '../src/changes/change-resolver.js';
import { b, tempDir } from './helpers.js';

describe('ChangeResolver', () => {
  const tmp = tempDir('resolver');
  afterAll(() => tmp.cleanup());
  writeFileSync(join(tmp.dir, 'f'), 'data');
  mkdirSync(join(tmp.dir, 'd'));
  symlinkSync('f', join(tmp.dir, 'l'));
  const p = (n: string): Buffer => b(join(tmp.dir, n));

  it('types a change by a fresh lstat: file, directory (scan if it moved in), symlink with its target', async () => {
    const r = new ChangeResolver({ identity: 'cod' });
    expect((await r.resolve({ kind: 'typed', path: p('f'), eventNs: 1n })).facts).toMatchObject({ kind: 'content', identity: { method: 'cod' }, stat: { size: 4 } });
    const dir = await r.resolve({ kind: 'typed', path: p('d'), eventNs: 1n, scanIfDirectory: true });
    expect(dir).toMatchObject({ facts: { kind: 'mkdir', isDirectory: true, subtree: true }, scanDir: p('d') });
    // A directory's own change (mkdir, chmod) says nothing about what is below it.
    expect((await r.resolve({ kind: 'typed', path: p('d'), eventNs: 1n })).facts).not.toHaveProperty('subtree');
    expect((await r.resolve({ kind: 'typed', path: p('l'), eventNs: 1n })).facts).toMatchObject({ kind: 'symlink', linkTarget: b('f') });
  });

  it('announces a vanished path from what the record said', async () => {
    const r = new ChangeResolver({ identity: 'cod' });
    expect((await r.resolve({ kind: 'typed', path: p('gone'), eventNs: 1n })).facts).toEqual({ kind: 'content', path: p('gone'), identity: { method: 'cod', value: 'sha512' } });
    expect((await r.resolve({ kind: 'typed', path: p('gone'), eventNs: 1n, isDirectory: true })).facts).toMatchObject({ kind: 'mkdir' });
    expect((await r.resolve({ kind: 'rename', path: p('gone2'), oldPath: p('gone'), eventNs: 1n, isDirectory: true })).facts).toMatchObject({ kind: 'rename', isDirectory: true });
  });

  it('hashes for sha512/md5 identity and falls back to cod when the file changed while it was read', async () => {
    const r = new ChangeResolver({ identity: 'md5' });
    expect((await r.resolve({ kind: 'typed', path: p('f'), eventNs: 1n })).facts.identity).toEqual({ method: 'md5', value: createHash('md5').update('data').digest('base64') });
    let n = 0;
    const moving = new ChangeResolver({
      identity: 'sha512',
      stat: async () => ({ size: 4n, mtimeNs: BigInt(n++), ctimeNs: 0n, ino: 1n, mode: 0o100644 }),
    });
    expect((await moving.resolve({ kind: 'typed', path: p('f'), eventNs: 1n })).facts.identity).toEqual({ method: 'cod', value: 'sha512' });
  });
});
