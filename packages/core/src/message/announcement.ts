import { HpcmError } from '../errors.js';
import type { ChangeKind, V03Body, V03Identity } from './body.js';
import { decodePathField, encodePathField, encodingFor, type PathEncoding } from './path-encoding.js';
import { formatTime, parseTime } from './time.js';
import { splitBytes, topicFor } from './topic.js';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** A decoded, validated announcement: the body as received plus the byte-exact view of it. */
export interface Announcement {
  readonly body: V03Body;
  readonly kind: ChangeKind;
  /** Absolute source path bytes (`/` + relPath). */
  readonly path: Buffer;
  /** rename: the old absolute path, when it is valid (else the message is a plain change). */
  readonly oldPath?: Buffer;
  /** symlink: the target, verbatim. */
  readonly linkTarget?: Buffer;
  /** hardlink: the absolute path this one links to. */
  readonly hlinkTo?: Buffer;
  /** `fileOp.directory` beside rename/remove, or a mkdir/rmdir. */
  readonly isDirectory: boolean;
  readonly size?: number;
  readonly mtimeNs?: bigint;
  readonly ctimeNs?: bigint;
  readonly ino?: bigint;
  readonly mode?: number;
  readonly identity?: V03Identity;
  /**
   * `hpcm_subtree` on a directory: its entries may all have changed at once (two directories swapped by
   * RENAME_EXCHANGE, one moved in from outside the root), so its whole subtree is compared, not only itself.
   */
  readonly subtree: boolean;
  /** Non-fatal oddities (a rename value that was not followed, and why). */
  readonly warnings: readonly string[];
}

export interface DecodeOptions {
  maxBytes?: number;
  /** When given, fileOp.rename/hlink values outside it are resolved against relPath's directory or dropped. */
  sourceRoot?: Buffer;
}

const invalid = (field: string, why: string): HpcmError =>
  new HpcmError('HPM_MSG_INVALID', `${field}: ${why}`, { field });

/** Throws HPM_PATH_UNSAFE unless `rel` is a relative path with no `..`, no NUL. Returns the absolute bytes. */
export function checkRelPath(rel: Buffer, field: string): Buffer {
  if (rel.length === 0) throw invalid(field, 'is empty');
  if (rel.includes(0)) throw new HpcmError('HPM_PATH_UNSAFE', `${field}: contains a NUL byte`, { field });
  if (rel[0] === 0x2f) throw new HpcmError('HPM_PATH_UNSAFE', `${field}: is absolute (starts with /)`, { field });
  for (const c of splitBytes(rel, 0x2f)) {
    if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) {
      throw new HpcmError('HPM_PATH_UNSAFE', `${field}: has a '..' component`, { field });
    }
  }
  return Buffer.concat([Buffer.from('/'), rel]);
}

/** Lexically normalises an absolute path (`.`, `..`, `//`); never goes above `/`. */
export function normalizeAbsolute(p: Buffer): Buffer {
  const out: Buffer[] = [];
  for (const c of splitBytes(p, 0x2f)) {
    if (c.length === 0 || (c.length === 1 && c[0] === 0x2e)) continue;
    if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) { out.pop(); continue; }
    out.push(c);
  }
  return Buffer.concat(out.flatMap((c) => [Buffer.from('/'), c]).concat(out.length ? [] : [Buffer.from('/')]));
}

export function isUnder(path: Buffer, root: Buffer): boolean {
  const r = root.length > 1 && root[root.length - 1] === 0x2f ? root.subarray(0, -1) : root;
  if (r.length === 1 && r[0] === 0x2f) return path[0] === 0x2f;
  return path.length >= r.length && path.subarray(0, r.length).equals(r) && (path.length === r.length || path[r.length] === 0x2f);
}

function dirname(p: Buffer): Buffer {
  const i = p.lastIndexOf(0x2f);
  return i <= 0 ? Buffer.from('/') : p.subarray(0, i);
}

/**
 * Resolves the "other path" of a rename or hard link. Sarracenia publishers differ: most send a
 * relPath, some a name relative to the program's directory. Returns undefined (with a warning)
 * when the value is unusable; the message is then applied as a plain change of relPath.
 */
function otherPath(value: unknown, field: string, newPath: Buffer, enc: PathEncoding, opts: DecodeOptions, warnings: string[]): Buffer | undefined {
  if (typeof value !== 'string' || value.length === 0) {
    warnings.push(`${field}: not a non-empty string; applied as a plain change`);
    return undefined;
  }
  const bytes = decodePathField(value, enc);
  if (bytes.includes(0)) {
    warnings.push(`${field}: contains a NUL byte; not followed`);
    return undefined;
  }
  const hasDotDot = splitBytes(bytes, 0x2f).some((c) => c.length === 2 && c[0] === 0x2e && c[1] === 0x2e);
  if (hasDotDot) {
    warnings.push(`${field}: has a '..' component; not followed`);
    return undefined;
  }
  const rel = bytes[0] === 0x2f ? bytes.subarray(1) : bytes;
  const asRelPath = normalizeAbsolute(Buffer.concat([Buffer.from('/'), rel]));
  if (!opts.sourceRoot || isUnder(asRelPath, opts.sourceRoot)) return asRelPath;
  if (bytes[0] !== 0x2f) {
    const beside = normalizeAbsolute(Buffer.concat([dirname(newPath), Buffer.from('/'), bytes]));
    if (isUnder(beside, opts.sourceRoot)) return beside;
  }
  warnings.push(`${field}: outside source_root; not followed`);
  return undefined;
}

function optionalNumber(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid(field, 'must be a non-negative integer');
  return n;
}

function optionalNs(body: Record<string, unknown>, field: string): bigint | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw invalid(field, 'must be a decimal string of nanoseconds');
  return BigInt(v);
}

/** Parses and validates a message body received from the broker (messages.md "Validation on receipt"). */
export function decodeAnnouncement(raw: Buffer | string, opts: DecodeOptions = {}): Announcement {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const len = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (len > maxBytes) throw new HpcmError('HPM_MSG_TOO_LARGE', `body: ${len} bytes exceeds the limit of ${maxBytes}`, { field: 'body' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    throw new HpcmError('HPM_MSG_INVALID', `body: not JSON (${(err as Error).message})`, { field: 'body', cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid('body', 'not a JSON object');
  const body = parsed as Record<string, unknown>;
  for (const f of ['pubTime', 'baseUrl', 'relPath'] as const) {
    if (body[f] === undefined) throw invalid(f, 'missing (mandatory)');
    if (typeof body[f] !== 'string') throw invalid(f, 'must be a string');
  }
  if (parseTime(body.pubTime as string) === undefined) throw invalid('pubTime', 'not in YYYYMMDDTHHMMSS[.fraction] format');
  if (!/^[a-z][a-z0-9+.-]*:/i.test(body.baseUrl as string)) throw invalid('baseUrl', 'not a URL');
  if (body.blocks !== undefined) {
    throw new HpcmError('HPM_MSG_UNSUPPORTED', 'blocks: partitioned files are not supported', { field: 'blocks' });
  }
  const encField = body.hpcm_pathEncoding;
  if (encField !== undefined && encField !== 'percent') throw invalid('hpcm_pathEncoding', 'must be "percent"');
  const enc: PathEncoding = encField === 'percent' ? 'percent' : undefined;
  const path = checkRelPath(decodePathField(body.relPath as string, enc), 'relPath');

  const size = optionalNumber(body, 'size');
  if (size !== undefined) body.size = size;
  let mtimeNs = optionalNs(body, 'hpcm_mtimeNs');
  if (body.mtime !== undefined) {
    if (typeof body.mtime !== 'string' || parseTime(body.mtime) === undefined) throw invalid('mtime', 'not in YYYYMMDDTHHMMSS[.fraction] format');
    mtimeNs ??= parseTime(body.mtime);
  }
  let mode: number | undefined;
  if (body.mode !== undefined) {
    const m = typeof body.mode === 'number' ? String(body.mode) : body.mode;
    if (typeof m !== 'string' || !/^[0-7]{1,6}$/.test(m)) throw invalid('mode', 'must be an octal permission string');
    mode = parseInt(m, 8) & 0o7777;
  }
  let identity: V03Identity | undefined;
  if (body.identity !== undefined) {
    const id = body.identity as Record<string, unknown>;
    if (typeof id !== 'object' || id === null || typeof id.method !== 'string' || typeof id.value !== 'string') {
      throw invalid('identity', 'must be {"method": string, "value": string}');
    }
    identity = { method: id.method, value: /^(sha512|md5)$/.test(id.method) ? id.value.replace(/\s+/g, '') : id.value };
  }
  if (body.content !== undefined) {
    const c = body.content as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || (c.encoding !== 'utf-8' && c.encoding !== 'base64') || typeof c.value !== 'string') {
      throw invalid('content', 'must be {"encoding": "utf-8"|"base64", "value": string}');
    }
  }

  const warnings: string[] = [];
  let kind: ChangeKind = 'content';
  let oldPath: Buffer | undefined;
  let linkTarget: Buffer | undefined;
  let hlinkTo: Buffer | undefined;
  let isDirectory = false;
  const fop = body.fileOp;
  if (fop !== undefined) {
    if (typeof fop !== 'object' || fop === null || Array.isArray(fop)) throw invalid('fileOp', 'must be an object');
    const f = fop as Record<string, unknown>;
    isDirectory = f.directory !== undefined;
    if (f.remove !== undefined) {
      kind = isDirectory ? 'rmdir' : 'remove';
    } else if (f.link !== undefined) {
      if (typeof f.link !== 'string') throw invalid('fileOp.link', 'must be a string');
      linkTarget = decodePathField(f.link, enc);
      if (linkTarget.includes(0)) throw new HpcmError('HPM_PATH_UNSAFE', 'fileOp.link: contains a NUL byte', { field: 'fileOp.link' });
      kind = 'symlink';
      if (f.rename !== undefined) oldPath = otherPath(f.rename, 'fileOp.rename', path, enc, opts, warnings);
    } else if (f.hlink !== undefined) {
      hlinkTo = otherPath(f.hlink, 'fileOp.hlink', path, enc, opts, warnings);
      kind = hlinkTo ? 'hardlink' : 'content';
    } else if (f.rename !== undefined) {
      oldPath = otherPath(f.rename, 'fileOp.rename', path, enc, opts, warnings);
      kind = oldPath ? 'rename' : isDirectory ? 'mkdir' : 'content';
    } else if (isDirectory) {
      kind = 'mkdir';
    }
  }
  const ctimeNs = optionalNs(body, 'hpcm_ctimeNs');
  const ino = optionalNs(body, 'hpcm_ino');
  if (body.hpcm_subtree !== undefined && typeof body.hpcm_subtree !== 'boolean') throw invalid('hpcm_subtree', 'must be true or false');
  const subtree = body.hpcm_subtree === true && kind === 'mkdir';
  return {
    body: body as V03Body, kind, path, isDirectory, subtree, warnings,
    ...(oldPath && { oldPath }), ...(linkTarget && { linkTarget }), ...(hlinkTo && { hlinkTo }),
    ...(size !== undefined && { size }), ...(mtimeNs !== undefined && { mtimeNs }),
    ...(ctimeNs !== undefined && { ctimeNs }), ...(ino !== undefined && { ino }),
    ...(mode !== undefined && { mode }), ...(identity && { identity }),
  };
}

/** What a publisher knows about one change; buildAnnouncement turns it into body, topic and headers. */
export interface ChangeFacts {
  kind: ChangeKind;
  path: Buffer;
  baseUrl: string;
  oldPath?: Buffer;
  linkTarget?: Buffer;
  hlinkTo?: Buffer;
  isDirectory?: boolean;
  /** mkdir: the directory's entries may all have changed (`hpcm_subtree`). */
  subtree?: boolean;
  stat?: { size: number; mtimeNs: bigint; ctimeNs?: bigint; ino?: bigint; mode: number; atimeNs?: bigint };
  identity?: V03Identity;
  /** content: the file's bytes inline (v03 `content`), exactly the version `stat` describes. */
  content?: V03Body['content'];
  pubTimeNs: bigint;
  extra?: Record<string, unknown>;
}

export interface OutgoingMessage {
  body: V03Body;
  topic: string;
  headers: Record<string, string>;
  bytes: Buffer;
}

const stripSlash = (p: Buffer): Buffer => (p[0] === 0x2f ? p.subarray(1) : p);

export function buildAnnouncement(f: ChangeFacts): OutgoingMessage {
  const enc = encodingFor(f.path, f.oldPath, f.linkTarget, f.hlinkTo);
  const rel = stripSlash(f.path);
  const body: V03Body = {
    pubTime: formatTime(f.pubTimeNs, 6),
    baseUrl: f.baseUrl,
    relPath: encodePathField(rel, enc),
  };
  const fileOp: Record<string, string> = {};
  switch (f.kind) {
    case 'content':
      body.identity = f.identity ?? { method: 'cod', value: 'sha512' };
      if (f.content) body.content = f.content;
      break;
    case 'rename': fileOp.rename = encodePathField(stripSlash(f.oldPath!), enc); break;
    case 'symlink': fileOp.link = encodePathField(f.linkTarget!, enc); if (f.oldPath) fileOp.rename = encodePathField(stripSlash(f.oldPath), enc); break;
    case 'hardlink': fileOp.hlink = encodePathField(stripSlash(f.hlinkTo!), enc); break;
    case 'remove': fileOp.remove = ''; break;
    case 'rmdir': fileOp.remove = ''; fileOp.directory = ''; break;
    case 'mkdir': fileOp.directory = ''; if (f.subtree) body.hpcm_subtree = true; break;
  }
  if (f.isDirectory && f.kind === 'rename') fileOp.directory = '';
  if (Object.keys(fileOp).length) body.fileOp = fileOp;
  if (f.stat) {
    body.size = f.stat.size;
    body.mtime = formatTime(f.stat.mtimeNs, 9);
    body.mode = (f.stat.mode & 0o7777).toString(8);
    body.hpcm_mtimeNs = f.stat.mtimeNs.toString();
    if (f.stat.atimeNs !== undefined) body.atime = formatTime(f.stat.atimeNs, 9);
    if (f.stat.ctimeNs !== undefined) body.hpcm_ctimeNs = f.stat.ctimeNs.toString();
    if (f.stat.ino !== undefined) body.hpcm_ino = f.stat.ino.toString();
  }
  if (enc) body.hpcm_pathEncoding = enc;
  Object.assign(body, f.extra);
  return { body, topic: topicFor(rel), headers: { hpcm_path: body.relPath }, bytes: Buffer.from(JSON.stringify(body)) };
}
