/**
 * A forwarded body must still pass the subscriber's max_body_bytes after the winnow added
 * `hpcm_covers`/`hpcm_coveredSeqs`. Inline `content` is the one part that can go (the subscriber then
 * fetches the file); without it, the body is forwarded as is and the subscriber parks it with a reason.
 */
export function fitBody(body: Buffer, maxBytes: number): Buffer {
  if (body.length <= maxBytes) return body;
  const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  if (parsed.content === undefined) return body;
  delete parsed.content;
  return Buffer.from(JSON.stringify(parsed));
}
