import { buildAnnouncement, type ChangeFacts, type OutgoingMessage } from '@hpcmirror/core';

/** Room left for what the winnow adds to a body it forwards (`hpcm_covers`, `hpcm_coveredSeqs`). */
export const WINNOW_HEADROOM_BYTES = 1024;

/**
 * buildAnnouncement, but a body with inline content that would exceed `maxBytes` goes without it
 * (the subscriber fetches the file): a body over the subscriber's max_body_bytes would be parked.
 */
export function buildBoundedAnnouncement(f: ChangeFacts, maxBytes: number): OutgoingMessage {
  const msg = buildAnnouncement(f);
  if (!f.content || msg.bytes.length <= maxBytes) return msg;
  const { content: _dropped, ...bare } = f;
  return buildAnnouncement(bare);
}
