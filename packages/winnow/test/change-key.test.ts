import { describe, expect, it } from 'vitest';
import { changeKeyOf, clearsPath, pathKeyOf } from '../src/change-key.js';
import { announce } from './helpers/messages.js';

const stat = { size: 10, mtimeNs: 1_700_000_000_000_000_000n, ctimeNs: 1_700_000_000_500_000_000n, ino: 42n, mode: 0o644 };

describe('change keys', () => {
  it('are equal for the same announcement made twice', () => {
    expect(changeKeyOf(announce('fs/p/a', { stat }))).toBe(changeKeyOf(announce('fs/p/a', { stat })));
  });

  it('differ when ln -sf re-points a link (the target is part of the key)', () => {
    const a = announce('fs/p/latest', { kind: 'symlink', linkTarget: 'run1' });
    const b = announce('fs/p/latest', { kind: 'symlink', linkTarget: 'run2' });
    expect(changeKeyOf(a)).not.toBe(changeKeyOf(b));
    expect(changeKeyOf(a)).toBe(changeKeyOf(announce('fs/p/latest', { kind: 'symlink', linkTarget: 'run1' })));
  });

  it('differ for a re-create with an old mtime (cp -p, tar -x): ctime and inode differ', () => {
    const again = announce('fs/p/a', { stat: { ...stat, ctimeNs: stat.ctimeNs + 5n, ino: 43n } });
    expect(changeKeyOf(again)).not.toBe(changeKeyOf(announce('fs/p/a', { stat })));
    expect(changeKeyOf(announce('fs/p/a', { stat: { ...stat, ctimeNs: stat.ctimeNs + 1n } }))).not.toBe(changeKeyOf(announce('fs/p/a', { stat })));
  });

  it('include the operation and the mode', () => {
    expect(changeKeyOf(announce('fs/p/d', { kind: 'mkdir', stat }))).not.toBe(changeKeyOf(announce('fs/p/d', { stat })));
    expect(changeKeyOf(announce('fs/p/a', { stat: { ...stat, mode: 0o600 } }))).not.toBe(changeKeyOf(announce('fs/p/a', { stat })));
  });

  it('use a real checksum instead of ctime and inode, but keep mtime', () => {
    const id = { method: 'sha512', value: 'AAAA' };
    const a = announce('fs/p/a', { identity: id, stat });
    expect(changeKeyOf(announce('fs/p/a', { identity: id, stat: { ...stat, ctimeNs: 1n, ino: 7n } }))).toBe(changeKeyOf(a));
    expect(changeKeyOf(announce('fs/p/a', { identity: { method: 'sha512', value: 'BBBB' }, stat }))).not.toBe(changeKeyOf(a));
    expect(changeKeyOf(announce('fs/p/a', { identity: id, stat: { ...stat, mtimeNs: 5n } }))).not.toBe(changeKeyOf(a));
    // cod is not a checksum: the stat decides
    const cod = { method: 'cod', value: 'sha512' };
    expect(changeKeyOf(announce('fs/p/a', { identity: cod, stat: { ...stat, ino: 7n } }))).not.toBe(changeKeyOf(announce('fs/p/a', { identity: cod, stat })));
  });

  it('differ between paths with the same stat', () => {
    expect(changeKeyOf(announce('fs/p/a', { stat }))).not.toBe(changeKeyOf(announce('fs/p/b', { stat })));
    expect(pathKeyOf(Buffer.from('/fs/p/a'))).not.toBe(pathKeyOf(Buffer.from('/fs/p/b')));
  });

  it('do not exist when there is nothing to compare on, nor for removes and renames', () => {
    expect(changeKeyOf(announce('fs/p/a'))).toBeUndefined();
    const rm = announce('fs/p/a', { kind: 'remove' });
    const mv = announce('fs/p/b', { kind: 'rename', oldPath: 'fs/p/a' });
    expect(changeKeyOf(rm)).toBeUndefined();
    expect(changeKeyOf(mv)).toBeUndefined();
    expect(clearsPath(rm) && clearsPath(mv) && clearsPath(announce('fs/p/d', { kind: 'rmdir' }))).toBe(true);
    expect(clearsPath(announce('fs/p/a', { stat }))).toBe(false);
    // A directory whose entries were swapped in (RENAME_EXCHANGE) ends its history too.
    const swapped = announce('fs/p/d', { kind: 'mkdir', subtree: true, stat });
    expect(clearsPath(swapped)).toBe(true);
    expect(changeKeyOf(swapped)).toBeUndefined();
    expect(clearsPath(announce('fs/p/d', { kind: 'mkdir', stat }))).toBe(false);
  });

  it('are exact 53-bit numbers', () => {
    const k = pathKeyOf(Buffer.from('/fs/primary/run/out.grib'));
    expect(Number.isSafeInteger(k) && k >= 0).toBe(true);
  });
});
