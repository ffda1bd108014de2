import { ATTEMPTS_HEADER, LAST_ERROR_HEADER, PARKED_AT_HEADER, PATH_HEADER, REJECT_HEADER, topicFor, type Announcement } from '@hpcmirror/core';

export interface RouteOptions {
  small: string;
  large: string;
  /** Content changes of at least this size go to `large`. */
  largeThresholdBytes: number;
  /** Queue-name prefix of the winnow stage: a routing key starting with it came back from a retry queue. */
  stagePrefix: string;
}

export interface Route {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
}

const STAGE_HEADERS = new Set<string>([ATTEMPTS_HEADER, REJECT_HEADER, LAST_ERROR_HEADER, PARKED_AT_HEADER]);

/**
 * Where a forward goes: large content changes to the large-file exchange, everything else
 * (small files, unknown sizes, renames, removes, links, directories) to the small one, so the
 * subscriber runs separate pools. The topic is kept; `hpcm_path` is set for the consistent hash.
 */
export function routeFor(a: Announcement, routingKey: string, headers: Record<string, unknown>, opts: RouteOptions): Route {
  const large = a.kind === 'content' && a.size !== undefined && a.size >= opts.largeThresholdBytes;
  // A message back from a retry queue (default exchange) has the queue's name as its key.
  const key = routingKey.startsWith(opts.stagePrefix) || routingKey === '' ? topicFor(a.path.subarray(1)) : routingKey;
  const out: Record<string, unknown> = {};
  for (const name in headers) {
    // This stage's bookkeeping (attempts, dead-letter history) must not count against the next one.
    if (name.startsWith('x-') || STAGE_HEADERS.has(name)) continue;
    out[name] = headers[name];
  }
  out[PATH_HEADER] = a.body.relPath;
  return { exchange: large ? opts.large : opts.small, routingKey: key, headers: out };
}
