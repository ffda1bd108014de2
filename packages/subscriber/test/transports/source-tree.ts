import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The awkward source tree every transport must handle. Paths are absolute Buffers. */
export interface SourceTree {
  root: string;
  p(rel: string | Buffer): Buffer;
  files: Record<string, { path: Buffer; content: Buffer }>;
  /** `new\nline`, [0x66,0xff,0x66], 255-byte name, ~4000-byte path. */
  weird: { newline: Buffer; nonUtf8: Buffer; long255: Buffer; deepPath: Buffer };
  /** mtime set with nanoseconds (via touch -d @S.N). */
  nsMtime: bigint;
}

const NS_MTIME = 1_700_000_000_123_456_789n;

export function buildSourceTree(root: string): SourceTree {
  mkdirSync(root, { recursive: true });
  const p = (rel: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(rel)]);
  const files: SourceTree['files'] = {};
  const put = (name: string, rel: string | Buffer, content: Buffer, mode?: number): void => {
    const path = p(rel);
    writeFileSync(path, content);
    if (mode !== undefined) chmodSync(path, mode);
    files[name] = { path, content };
  };
  put('empty', 'empty', Buffer.alloc(0));
  put('one', 'one', Buffer.from('x'));
  put('mib', 'mib', randomBytes(1024 * 1024));
  put('big', 'big', randomBytes(20 * 1024 * 1024));
  put('mode640', 'mode640', Buffer.from('six four oh\n'), 0o640);
  put('exec755', 'exec755', Buffer.from('#!/bin/sh\n'), 0o755);
  put('ns', 'ns', Buffer.from('nanoseconds\n'));
  const seconds = NS_MTIME / 1_000_000_000n;
  const nanos = (NS_MTIME % 1_000_000_000n).toString().padStart(9, '0');
  const touch = spawnSync('touch', ['-h', '-d', `@${seconds}.${nanos}`, join(root, 'ns')]);
  if (touch.status !== 0) throw new Error(`touch failed: ${touch.stderr}`);

  symlinkSync('one', join(root, 'link'));
  symlinkSync('nope/nowhere', join(root, 'dangling'));
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
  put('inner', 'sub/inner', Buffer.from('inner\n'));
  put('hard1', 'hard1', Buffer.from('hard linked\n'));
  linkSync(join(root, 'hard1'), join(root, 'hard2'));
  files.hard2 = { path: p('hard2'), content: files.hard1!.content };
  const fifo = spawnSync('mkfifo', [join(root, 'fifo')]);
  if (fifo.status !== 0) throw new Error(`mkfifo failed: ${fifo.stderr}`);

  const newline = Buffer.from('new\nline');
  const nonUtf8 = Buffer.from([0x66, 0xff, 0x66]);
  const long255 = Buffer.from('L'.repeat(255));
  put('newline', newline, Buffer.from('newline name\n'));
  put('nonUtf8', nonUtf8, Buffer.from('non-utf8 name\n'));
  put('long255', long255, randomBytes(3000));

  // Nested 200-byte components up to a path of about 4000 bytes (PATH_MAX is 4096 with the NUL).
  const rootLen = Buffer.byteLength(root) + 1;
  const parts: string[] = [];
  let length = rootLen;
  for (let i = 0; length + 201 + 40 < 4000; i++) {
    const part = `${String(i).padStart(2, '0')}${'d'.repeat(198)}`;
    parts.push(part);
    length += part.length + 1;
  }
  mkdirSync(join(root, ...parts), { recursive: true });
  const leafName = 'f'.repeat(Math.max(1, 4000 - length));
  put('deep', Buffer.from([...parts, leafName].join('/')), Buffer.from('deep down\n'));

  return {
    root,
    p,
    files,
    weird: { newline: p(newline), nonUtf8: p(nonUtf8), long255: p(long255), deepPath: files.deep!.path },
    nsMtime: NS_MTIME,
  };
}
