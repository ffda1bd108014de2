/**
 * `hpcm_origin` marks announcements of the mirror's own writes (a subscriber's post_after_copy).
 * A flow never takes in the writes of its own subscribers nor of the flow going the other way
 * between the same trees (`reverse_flow`): that would be an echo, copying a file back to where it
 * came from (semantics.md, "The spool").
 */
export const MIRROR_ORIGIN_PREFIX = 'hpcmirror-subscriber';

export function mirrorOriginOf(flow: string): string {
  return `${MIRROR_ORIGIN_PREFIX}:${flow}`;
}

/** The origins a flow drops: its own subscribers' writes and those of its reverse flow. */
export function echoOriginsFor(c: { flow: string; reverse_flow?: string | undefined }): Set<string> {
  return new Set([mirrorOriginOf(c.flow), ...(c.reverse_flow ? [mirrorOriginOf(c.reverse_flow)] : [])]);
}
