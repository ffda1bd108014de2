import type { Announcement } from '@hpcmirror/core';
import { changeKeyOf, clearsPath, pathCheckOf, pathKeyOf } from './change-key.js';
import { seqsOfBody } from './seq-set.js';
import type { Change } from './winnower.js';

/** Reduces a decoded announcement to what the Winnower decides on; `payload` rides along untouched. */
export function changeOf<P>(a: Announcement, payload: P): Change<P> {
  const body = a.body as Record<string, unknown>;
  const pathCheck = pathCheckOf(a.path);
  return {
    payload,
    pathKey: pathKeyOf(a.path),
    pathCheck,
    changeKey: changeKeyOf(a, pathCheck),
    content: a.kind === 'content',
    clears: clearsPath(a),
    oldPathKey: a.oldPath === undefined ? undefined : pathKeyOf(a.oldPath),
    clearsAll: (a.kind === 'rename' && a.isDirectory) || a.subtree,
    host: typeof body.hpcm_host === 'string' ? body.hpcm_host : undefined,
    seqs: seqsOfBody(body),
  };
}
