import { describe, expect, it } from 'vitest';
import {
  buildAnnouncement, decodeAnnouncement, formatTime, isValidUtf8, parseTime, percentDecodeToBytes,
  percentEncodeBytes, topicFor, HpcmError, type ChangeFacts,
} from '../src/index.js';

const EXAMPLES = [
  '{"pubTime":"20261123T101500.123456","baseUrl":"sftp://opsm@hpc1/","relPath":"fs/primary/run/a.grib","identity":{"method":"cod","value":"sha512"},"size":4096,"mtime":"20261123T101459.900000","mode":"644"}',
  '{"pubTime":"20261123T101501.000001","baseUrl":"sftp://opsm@hpc1/","relPath":"fs/primary/run/b.grib","fileOp":{"rename":"fs/primary/run/b.grib.tmp"},"size":4096,"mtime":"20261123T101500.950000","mode":"644"}',
  '{"pubTime":"20261123T101502.000000","baseUrl":"sftp://opsm@hpc1/","relPath":"fs/primary/run/latest","fileOp":{"link":"a.grib"}}',
  '{"pubTime":"20261123T101503.000000","baseUrl":"sftp://opsm@hpc1/","relPath":"fs/primary/old","fileOp":{"remove":"","directory":""}}',
];

function rejects(body: string | Buffer, code: string, field: string | RegExp): void {
  try {
    decodeAnnouncement(body);
  } catch (err) {
    expect(err).toBeInstanceOf(HpcmError);
    expect((err as HpcmError).code).toBe(code);
    expect((err as HpcmError).message).toMatch(field);
    return;
  }
  throw new Error(`accepted: ${String(body).slice(0, 80)}`);
}

describe('v03 message examples from messages.md', () => {
  it('decodes each example to the right kind and fields', () => {
    const [a, b, c, d] = EXAMPLES.map((e) => decodeAnnouncement(e));
    expect(a!.kind).toBe('content');
    expect(a!.path.toString()).toBe('/fs/primary/run/a.grib');
    expect(a!.size).toBe(4096);
    expect(a!.mode).toBe(0o644);
    expect(a!.mtimeNs).toBe(parseTime('20261123T101459.900000'));
    expect(b!.kind).toBe('rename');
    expect(b!.oldPath!.toString()).toBe('/fs/primary/run/b.grib.tmp');
    expect(c!.kind).toBe('symlink');
    expect(c!.linkTarget!.toString()).toBe('a.grib');
    expect(d!.kind).toBe('rmdir');
    expect(d!.isDirectory).toBe(true);
  });

  it('carries unknown fields through untouched', () => {
    const m = decodeAnnouncement('{"pubTime":"20261123T101500","baseUrl":"file:/","relPath":"a/b","futureField":{"x":1}}');
    expect(m.body.futureField).toEqual({ x: 1 });
  });
});

describe('hostile bodies are rejected with the field named', () => {
  const base = { pubTime: '20261123T101500.1', baseUrl: 'sftp://opsm@hpc1/', relPath: 'fs/primary/a' };
  const j = (o: object): string => JSON.stringify({ ...base, ...o });
  it('not JSON, not an object', () => {
    rejects('{"pubTime":', 'HPM_MSG_INVALID', /body: not JSON/);
    rejects('[1,2]', 'HPM_MSG_INVALID', /body: not a JSON object/);
    rejects('"x"', 'HPM_MSG_INVALID', /body: not a JSON object/);
  });
  it('missing or mistyped mandatory fields', () => {
    rejects(JSON.stringify({ baseUrl: 'file:/', relPath: 'a' }), 'HPM_MSG_INVALID', /^pubTime: missing/);
    rejects(j({ relPath: 42 }), 'HPM_MSG_INVALID', /^relPath: must be a string/);
    rejects(j({ pubTime: 'yesterday' }), 'HPM_MSG_INVALID', /^pubTime:/);
    rejects(j({ baseUrl: 'no-scheme' }), 'HPM_MSG_INVALID', /^baseUrl:/);
    rejects(j({ size: -1 }), 'HPM_MSG_INVALID', /^size:/);
    rejects(j({ size: 'big' }), 'HPM_MSG_INVALID', /^size:/);
    rejects(j({ mode: 'rwx' }), 'HPM_MSG_INVALID', /^mode:/);
    rejects(j({ identity: 'sha512' }), 'HPM_MSG_INVALID', /^identity:/);
    rejects(j({ fileOp: 'remove' }), 'HPM_MSG_INVALID', /^fileOp:/);
  });
  it('unsafe relPath: absolute, .., NUL', () => {
    rejects(j({ relPath: '/etc/passwd' }), 'HPM_PATH_UNSAFE', /relPath: is absolute/);
    rejects(j({ relPath: 'fs/primary/../../etc/passwd' }), 'HPM_PATH_UNSAFE', /relPath: has a '\.\.' component/);
    rejects(j({ relPath: '..' }), 'HPM_PATH_UNSAFE', /'\.\.'/);
    rejects(j({ relPath: 'fs/primary/a\u0000b' }), 'HPM_PATH_UNSAFE', /NUL/);
    rejects(j({ relPath: 'fs/primary/%00', hpcm_pathEncoding: 'percent' }), 'HPM_PATH_UNSAFE', /NUL/);
    rejects(j({ relPath: 'fs/%2E%2E/x', hpcm_pathEncoding: 'percent' }), 'HPM_PATH_UNSAFE', /'\.\.'/);
  });
  it('huge bodies and blocks', () => {
    rejects(j({ pad: 'x'.repeat(1024 * 1024) }), 'HPM_MSG_TOO_LARGE', /exceeds the limit of 65536/);
    rejects(j({ blocks: { method: 'inplace', size: 1 } }), 'HPM_MSG_UNSUPPORTED', /^blocks/);
  });
  it('a rename or hlink with .., NUL or outside the root is not followed: the message is a plain change', () => {
    const root = Buffer.from('/fs/primary');
    const r = decodeAnnouncement(j({ fileOp: { rename: '../../../etc/passwd' } }), { sourceRoot: root });
    expect(r.kind).toBe('content');
    expect(r.oldPath).toBeUndefined();
    expect(r.warnings[0]).toMatch(/fileOp.rename: has a '\.\.' component/);
    const h = decodeAnnouncement(j({ fileOp: { hlink: '/etc/shadow' } }), { sourceRoot: root });
    expect(h.kind).toBe('content');
    expect(h.warnings[0]).toMatch(/outside source_root/);
  });
});

describe('publisher variants are accepted', () => {
  it('size as a string, base64 with line breaks, rename relative to the new path directory', () => {
    const m = decodeAnnouncement(JSON.stringify({
      pubTime: '20261123T101500', baseUrl: 'sftp://h/', relPath: 'fs/primary/run/b',
      size: '12', identity: { method: 'sha512', value: 'YWJj\nZGVm\n' }, fileOp: { rename: 'b.tmp' },
    }), { sourceRoot: Buffer.from('/fs/primary') });
    expect(m.size).toBe(12);
    expect(m.identity!.value).toBe('YWJjZGVm');
    expect(m.oldPath!.toString()).toBe('/fs/primary/run/b.tmp');
  });
});

describe('byte-exact paths', () => {
  it('round-trips non-UTF-8 names through percent encoding, % included', () => {
    const raw = Buffer.concat([Buffer.from('/fs/primary/d%e/'), Buffer.from([0x66, 0xff, 0xfe, 0x0a]), Buffer.from('é.grib')]);
    const out = buildAnnouncement({ kind: 'content', path: raw, baseUrl: 'sftp://opsm@hpc1/', pubTimeNs: 1n });
    expect(out.body.hpcm_pathEncoding).toBe('percent');
    expect(out.body.relPath).toBe('fs/primary/d%25e/f%FF%FE\né.grib');
    const back = decodeAnnouncement(out.bytes);
    expect(back.path.equals(raw)).toBe(true);
  });
  it('leaves valid UTF-8 alone', () => {
    const out = buildAnnouncement({ kind: 'content', path: Buffer.from('/fs/primary/100%/é'), baseUrl: 'file:/', pubTimeNs: 1n });
    expect(out.body.hpcm_pathEncoding).toBeUndefined();
    expect(out.body.relPath).toBe('fs/primary/100%/é');
    expect(decodeAnnouncement(out.bytes).path.toString()).toBe('/fs/primary/100%/é');
  });
  it('validates UTF-8 strictly (overlong, surrogates)', () => {
    expect(isValidUtf8(Buffer.from([0xc0, 0xaf]))).toBe(false);
    expect(isValidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(false);
    expect(isValidUtf8(Buffer.from('日本', 'utf8'))).toBe(true);
    expect(percentDecodeToBytes(percentEncodeBytes(Buffer.from([0x25, 0x80, 0x41])))).toEqual(Buffer.from([0x25, 0x80, 0x41]));
  });
  it('renames, links and hard links round-trip every kind', () => {
    for (const facts of [
      { kind: 'rename' as const, oldPath: Buffer.from('/fs/primary/a.tmp') },
      { kind: 'rename' as const, oldPath: Buffer.from('/fs/primary/olddir'), isDirectory: true },
      { kind: 'symlink' as const, linkTarget: Buffer.from('../x/y') },
      { kind: 'hardlink' as const, hlinkTo: Buffer.from('/fs/primary/b') },
      { kind: 'remove' as const }, { kind: 'mkdir' as const }, { kind: 'rmdir' as const },
    ]) {
      const out = buildAnnouncement({ ...facts, path: Buffer.from('/fs/primary/a'), baseUrl: 'file:/', pubTimeNs: 5n });
      const back = decodeAnnouncement(out.bytes);
      expect(back.kind).toBe(facts.kind);
      if ('oldPath' in facts) expect(back.oldPath).toEqual(facts.oldPath);
      if ('linkTarget' in facts) expect(back.linkTarget).toEqual(facts.linkTarget);
      if ('hlinkTo' in facts) expect(back.hlinkTo).toEqual(facts.hlinkTo);
      if ('isDirectory' in facts) expect(back.isDirectory).toBe(true);
    }
  });
  it('hpcm_subtree: set on a directory whose entries changed wholesale, checked, ignored on other kinds', () => {
    const made = (facts: Partial<ChangeFacts>) => buildAnnouncement({ kind: 'mkdir', path: Buffer.from('/fs/primary/d'), baseUrl: 'file:/', pubTimeNs: 5n, ...facts });
    const swapped = made({ subtree: true });
    expect(swapped.body.hpcm_subtree).toBe(true);
    expect(decodeAnnouncement(swapped.bytes).subtree).toBe(true);
    expect(decodeAnnouncement(made({}).bytes).subtree).toBe(false);
    expect(made({}).body).not.toHaveProperty('hpcm_subtree');
    expect(decodeAnnouncement(made({ kind: 'content', extra: { hpcm_subtree: true } }).bytes).subtree).toBe(false);
    expect(() => decodeAnnouncement(made({ extra: { hpcm_subtree: 'yes' } }).bytes)).toThrow(/hpcm_subtree: must be true or false/);
  });
});

describe('topics', () => {
  it('joins directory components and leaves out the file name', () => {
    expect(topicFor(Buffer.from('fs/primary/model/run12/out.grib'))).toBe('v03.fs.primary.model.run12');
  });
  it('percent-encodes ., #, * and invalid bytes in a component', () => {
    expect(topicFor(Buffer.from('a.b/c#d/e*f/g%h/x'))).toBe('v03.a%2Eb.c%23d.e%2Af.g%25h');
    expect(topicFor(Buffer.concat([Buffer.from('x/'), Buffer.from([0xff]), Buffer.from('/f')]))).toBe('v03.x.%FF');
  });
  it('cuts at a component boundary within 255 bytes', () => {
    const rel = Buffer.from(Array.from({ length: 40 }, (_, i) => `dir${i}xxxx`).join('/') + '/f');
    const t = topicFor(rel);
    expect(Buffer.byteLength(t)).toBeLessThanOrEqual(255);
    expect(t.endsWith('xxxx')).toBe(true);
    expect(rel.toString().startsWith(t.slice(4).replaceAll('.', '/'))).toBe(true);
  });
});

describe('time format', () => {
  it('formats and parses with nanoseconds, UTC', () => {
    const ns = BigInt(Date.UTC(2026, 10, 23, 10, 23, 19)) * 1_000_000n + 123_456_789n;
    expect(formatTime(ns)).toBe('20261123T102319.123456789');
    expect(formatTime(ns, 6)).toBe('20261123T102319.123456');
    expect(parseTime(formatTime(ns))).toBe(ns);
    expect(parseTime('20261123T102319')).toBe(ns - 123_456_789n);
    expect(parseTime('20261131T000000')).toBeUndefined();
    expect(parseTime('2026-11-23T10:23:19')).toBeUndefined();
  });
});
