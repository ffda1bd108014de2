import { resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import {
  normalizeAbsolute,
  PATH_HEADER,
  percentEncodeBytes,
  silentLogger,
  type LoadedConfig,
} from '@hpcmirror/core';
import { ChangeResolver } from './changes/change-resolver.js';
import { lstatPath } from './changes/file-stat.js';
import { PathFilter } from './changes/path-filter.js';
import { buildBoundedAnnouncement } from './publish/bounded-announcement.js';
import { systemClock, type Clock } from './clock.js';
import { connectBroker, sourcePublisher } from './publish/source-publisher.js';
import { resolveAgentSettings, type AgentInputConfig } from './settings.js';

export interface PostOptions {
  logger?: Logger;
  clock?: Clock;
  /** How long to wait for the broker before giving up (HPM_BROKER_UNREACHABLE). */
  connectTimeoutMs?: number;
  cwd?: string;
}

export interface PostResult {
  /** Paths announced and confirmed by the broker. */
  posted: string[];
  /** Paths not announced, with why (percent-encoded where not UTF-8). */
  skipped: { path: string; reason: string; code: 'HPM_PATH_OUTSIDE_ROOT' | 'HPM_USAGE' }[];
}

function absolute(p: Buffer | string, cwd: string): Buffer {
  if (typeof p === 'string') return Buffer.from(resolvePath(cwd, p));
  if (p[0] === 0x2f) return normalizeAbsolute(p);
  return normalizeAbsolute(Buffer.concat([Buffer.from(cwd), Buffer.from('/'), p]));
}

/**
 * `hpcmirror post PATH...`: announces paths by hand (like sr3_cpost) through the same message
 * building and publisher as the agent: a file is a content change, a directory a mkdir, a symlink
 * a link, a missing path a remove. Posted messages carry no hpcm_seq: they belong to no spool,
 * and `wait` does not count them.
 */
export async function postPaths(config: AgentInputConfig & Partial<Pick<LoadedConfig, 'credentials'>>, paths: readonly (Buffer | string)[], o: PostOptions = {}): Promise<PostResult> {
  const log = o.logger ?? silentLogger();
  const clock = o.clock ?? systemClock;
  const s = resolveAgentSettings(config);
  const filter = new PathFilter(s.sourceRoot, s.agent.accept, s.agent.reject);
  const resolver = new ChangeResolver({ identity: s.agent.identity, inlineMaxBytes: s.agent.inline_max_bytes });
  const cwd = o.cwd ?? process.cwd();
  const result: PostResult = { posted: [], skipped: [] };
  const todo: Buffer[] = [];
  for (const p of paths) {
    const abs = absolute(p, cwd);
    const shown = percentEncodeBytes(abs);
    if (!filter.isInside(abs)) result.skipped.push({ path: shown, reason: `outside source_root ${s.sourceRoot.toString()}`, code: 'HPM_PATH_OUTSIDE_ROOT' });
    else if (!filter.accepts(abs)) result.skipped.push({ path: shown, reason: 'rejected by agent.accept/agent.reject', code: 'HPM_USAGE' });
    else todo.push(abs);
  }
  if (todo.length === 0) return result;

  const connection = connectBroker(config as LoadedConfig, log, `hpcmirror-post ${s.host}`);
  const publisher = sourcePublisher(connection, config as LoadedConfig);
  try {
    await connection.waitConnected(o.connectTimeoutMs ?? 30_000);
    await Promise.all(todo.map(async (path) => {
      const st = await lstatPath(path);
      const eventNs = clock.nowNs();
      const change = st
        ? await resolver.resolve({ kind: 'typed', path, eventNs, stat: st })
        : { facts: { kind: 'remove' as const, path }, eventNs };
      const msg = buildBoundedAnnouncement({
        ...change.facts,
        baseUrl: s.agent.base_url,
        pubTimeNs: clock.nowNs(),
        extra: { hpcm_eventNs: eventNs.toString(), from_cluster: s.cluster, source: s.user },
      }, s.maxBodyBytes);
      await publisher.publish(s.exchange, msg.topic, msg.bytes, { headers: { [PATH_HEADER]: msg.headers[PATH_HEADER] } });
      result.posted.push(percentEncodeBytes(path));
      log.info({ path: percentEncodeBytes(path), kind: change.facts.kind }, 'posted');
    }));
  } finally {
    await publisher.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
  return result;
}
