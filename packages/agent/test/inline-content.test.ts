import { createHash } from 'node:crypto';
import { appendFileSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChangeResolver } from '../src/changes/change-resolver.js';
import { lstatPath, type FileStat } from '../src/changes/file-stat.js';
import { inlineContent, readVersion } from '../src/changes/inline-content.js';
import { buildBoundedAnnouncement } from '../src/publish/bounded-announcement.js';
import { b, tempDir } from './helpers.js';

describe('inline content (agent.inline_max_bytes)', () => {
  const tmp = tempDir('inline');
  afterAll(() => tmp.cleanup());
  const p = (n: string): Buffer => b(join(tmp.dir, n));
  const statOf = async (n: string): Promise<FileStat> => (await lstatPath(p(n)))!;

  it('announces a small file with its bytes: utf-8 text as is, anything else base64', async () => {
    writeFileSync(p('text'), 'héllo\n');
    const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    writeFileSync(p('bin'), binary);
    // Valid UTF-8, but every byte a control character: \u00XX in JSON would be six times larger.
    writeFileSync(p('zeros'), Buffer.alloc(300));
    writeFileSync(p('empty'), '');
    const r = new ChangeResolver({ identity: 'cod', inlineMaxBytes: 4096 });
    const facts = async (n: string) => (await r.resolve({ kind: 'typed', path: p(n), eventNs: 1n, stat: await statOf(n) })).facts;
    expect(await facts('text')).toMatchObject({ kind: 'content', identity: { method: 'cod' }, content: { encoding: 'utf-8', value: 'héllo\n' } });
    expect((await facts('bin')).content).toEqual({ encoding: 'base64', value: binary.toString('base64') });
    expect((await facts('zeros')).content).toEqual({ encoding: 'base64', value: Buffer.alloc(300).toString('base64') });
    expect((await facts('empty')).content).toEqual({ encoding: 'utf-8', value: '' });
  });

  it('leaves out files over the limit, all files at 0, and what is not a regular file', async () => {
    writeFileSync(p('big'), 'x'.repeat(4097));
    writeFileSync(p('edge'), 'x'.repeat(4096));
    symlinkSync('edge', p('link'));
    const r = new ChangeResolver({ identity: 'cod', inlineMaxBytes: 4096 });
    const resolve = async (rr: ChangeResolver, n: string) => (await rr.resolve({ kind: 'typed', path: p(n), eventNs: 1n, stat: await statOf(n) })).facts;
    expect(await resolve(r, 'big')).not.toHaveProperty('content');
    expect((await resolve(r, 'edge')).content?.value).toHaveLength(4096);
    expect(await resolve(r, 'link')).not.toHaveProperty('content');
    const off = new ChangeResolver({ identity: 'cod', inlineMaxBytes: 0 });
    expect(await resolve(off, 'edge')).not.toHaveProperty('content');
    writeFileSync(p('empty0'), '');
    expect(await resolve(off, 'empty0')).not.toHaveProperty('content');
  });

  it('never sends bytes of another version than the stat the message carries', async () => {
    writeFileSync(p('v'), 'AAAA');
    utimesSync(p('v'), 1_700_000_000, 1_700_000_000);
    const announced = await statOf('v');
    expect(readVersion(p('v'), announced)).toEqual(b('AAAA'));
    // Same size, mtime set back: only ctime differs.
    // (ctime is coarse: write again until it moved)
    do writeFileSync(p('v'), 'BBBB'); while ((await statOf('v')).ctimeNs === announced.ctimeNs);
    utimesSync(p('v'), 1_700_000_000, 1_700_000_000);
    expect((await statOf('v')).mtimeNs).toBe(announced.mtimeNs);
    expect(readVersion(p('v'), announced)).toBeUndefined();
    // Grew after the stat.
    const grown = await statOf('v');
    appendFileSync(p('v'), 'more');
    expect(readVersion(p('v'), grown)).toBeUndefined();
    // Replaced by another inode of the same size.
    writeFileSync(p('v2'), 'CCCCCCCC');
    const before = await statOf('v');
    renameSync(p('v2'), p('v'));
    expect(readVersion(p('v'), before)).toBeUndefined();
    // A symlink is never followed; a vanished path is no content.
    symlinkSync('v', p('vl'));
    expect(readVersion(p('vl'), await statOf('v'))).toBeUndefined();
    expect(readVersion(p('gone'), before)).toBeUndefined();
  });

  it('announces without content when the file changes between the stat and the read', async () => {
    writeFileSync(p('moving'), 'old!');
    const st = await statOf('moving');
    writeFileSync(p('moving'), 'new!!');
    const r = new ChangeResolver({ identity: 'cod', inlineMaxBytes: 4096 });
    const facts = (await r.resolve({ kind: 'typed', path: p('moving'), eventNs: 1n, stat: st })).facts;
    expect(facts).not.toHaveProperty('content');
    expect(facts).toMatchObject({ kind: 'content', stat: { size: 4 } });
  });

  it('takes a sha512/md5 identity from the bytes it read (no second read)', async () => {
    writeFileSync(p('h'), 'hash me');
    let hashed = 0;
    const r = new ChangeResolver({ identity: 'sha512', inlineMaxBytes: 4096, hash: async () => { hashed++; return 'x'; } });
    const facts = (await r.resolve({ kind: 'typed', path: p('h'), eventNs: 1n, stat: await statOf('h') })).facts;
    expect(facts.identity).toEqual({ method: 'sha512', value: createHash('sha512').update('hash me').digest('base64') });
    expect(facts.content).toEqual({ encoding: 'utf-8', value: 'hash me' });
    expect(hashed).toBe(0);
  });

  it('drops the content of a body that would exceed the size limit, never the message', () => {
    const facts = {
      kind: 'content' as const, path: b('/src/f'), baseUrl: 'sftp://h/', pubTimeNs: 1_700_000_000_000_000_000n,
      stat: { size: 3000, mtimeNs: 1n, ctimeNs: 2n, ino: 3n, mode: 0o100644 }, content: inlineContent(Buffer.alloc(3000, 0xff)),
    };
    expect(buildBoundedAnnouncement(facts, 8192).body.content?.encoding).toBe('base64');
    const small = buildBoundedAnnouncement(facts, 2048);
    expect(small.body).not.toHaveProperty('content');
    expect(small.body).toMatchObject({ relPath: 'src/f', size: 3000, hpcm_ctimeNs: '2' });
  });
});
