import { lstat, readlink } from 'node:fs/promises';
import { buildAnnouncement, mirrorOriginOf, MIRROR_ORIGIN_PREFIX, type ChangeKind, type Publisher } from '@hpcmirror/core';
import type { ReconcileResult } from './reconciler.js';

/** `hpcm_origin` of announcements about the mirror's own writes: the reverse flow never echoes them. */
export const MIRROR_ORIGIN = MIRROR_ORIGIN_PREFIX;

export interface CopyAnnouncement {
  /** Absolute destination path. */
  path: Buffer;
  /** What it is now. */
  type: ReconcileResult['type'];
  /** The event time of the source change, carried through for latency accounting downstream. */
  eventNs?: bigint;
}

/**
 * post_after_copy: once a change is durable on the destination, announce the destination copy
 * (v03, baseUrl `file:/`, relPath = the destination path) to post_exchange, with confirms.
 */
export class PostAfterCopy {
  readonly #publisher: Publisher;
  readonly #exchange: string;
  readonly #flow: string;
  readonly #nowNs: () => bigint;

  constructor(publisher: Publisher, exchange: string, flow: string, nowNs: () => bigint) {
    this.#publisher = publisher;
    this.#exchange = exchange;
    this.#flow = flow;
    this.#nowNs = nowNs;
  }

  async post(a: CopyAnnouncement): Promise<void> {
    const kinds: Record<CopyAnnouncement['type'], ChangeKind> = { file: 'content', dir: 'mkdir', symlink: 'symlink', other: 'remove', absent: 'remove' };
    const kind = kinds[a.type];
    let stat;
    let linkTarget: Buffer | undefined;
    if (kind !== 'remove') {
      const st = await lstat(a.path, { bigint: true }).catch(() => undefined);
      if (st) stat = { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, mode: Number(st.mode) };
      if (kind === 'symlink') linkTarget = await readlink(a.path, { encoding: 'buffer' }).catch(() => undefined);
      if (kind === 'symlink' && !linkTarget) return;
    }
    const msg = buildAnnouncement({
      kind,
      path: a.path,
      baseUrl: 'file:/',
      pubTimeNs: this.#nowNs(),
      ...(linkTarget && { linkTarget }),
      ...(stat && { stat }),
      extra: { hpcm_origin: mirrorOriginOf(this.#flow), ...(a.eventNs !== undefined && { hpcm_eventNs: a.eventNs.toString() }) },
    });
    await this.#publisher.publish(this.#exchange, msg.topic, msg.bytes, { headers: msg.headers });
  }
}
