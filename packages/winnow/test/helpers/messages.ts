import { buildAnnouncement, decodeAnnouncement, type Announcement, type ChangeFacts } from '@hpcmirror/core';

export interface FileStat {
  size?: number;
  mtimeNs?: bigint;
  ctimeNs?: bigint;
  ino?: bigint;
  mode?: number;
}

let pubNs = 1_780_000_000_000_000_000n;

/** A v03 body as the agent would publish it, then decoded as the winnow receives it. */
export function announce(path: string, facts: Partial<Omit<ChangeFacts, 'path' | 'stat'>> & { stat?: FileStat; seq?: number; host?: string; oldPath?: string | Buffer; linkTarget?: string | Buffer } = {}): Announcement {
  const { seq, host, stat, oldPath, linkTarget, ...rest } = facts;
  const out = buildAnnouncement({
    kind: 'content',
    baseUrl: 'sftp://opsm@hpc1/',
    pubTimeNs: (pubNs += 1000n),
    ...rest,
    path: Buffer.from(path),
    ...(oldPath !== undefined && { oldPath: Buffer.from(oldPath) }),
    ...(linkTarget !== undefined && { linkTarget: Buffer.from(linkTarget) }),
    ...(stat && {
      stat: { size: stat.size ?? 0, mtimeNs: stat.mtimeNs ?? 0n, mode: stat.mode ?? 0o644, ...(stat.ctimeNs !== undefined && { ctimeNs: stat.ctimeNs }), ...(stat.ino !== undefined && { ino: stat.ino }) },
    }),
    extra: { ...(seq !== undefined && { hpcm_seq: seq }), hpcm_host: host ?? 'hpc1' },
  });
  return decodeAnnouncement(out.bytes);
}

/** Raw bytes of the same, for tests that publish. */
export function announceBytes(path: string, facts: Parameters<typeof announce>[1] = {}): Buffer {
  return Buffer.from(JSON.stringify(announce(path, facts).body));
}
