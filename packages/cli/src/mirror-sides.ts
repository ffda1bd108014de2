import type { LoadedConfig, Logger } from '@hpcmirror/core';
import { HpcmError } from '@hpcmirror/core';
import { createLocalTransport, createTransportFor, isTempName, resolveSettings, MTIME_PRECISION_NS } from '@hpcmirror/subscriber';
import type { CompareOptions, Side } from './audit/compare-trees.js';

/** Both sides of a mirror as audit and `wait PATH` see them: source via the subscriber's transport. */
export interface MirrorSides {
  source: Side;
  destination: Side;
  close(): Promise<void>;
}

export async function openMirrorSides(cfg: LoadedConfig, logger: Logger): Promise<MirrorSides> {
  if (!cfg.destination_root || !cfg.subscriber) {
    throw new HpcmError('HPM_USAGE', `${cfg.configFile}: audit and wait need a subscriber config (destination_root and a subscriber section)`);
  }
  const src = createTransportFor(resolveSettings(cfg), logger);
  const dst = createLocalTransport();
  await Promise.all([src.start(), dst.start()]);
  return {
    source: { t: src, root: Buffer.from(cfg.source_root) },
    destination: { t: dst, root: Buffer.from(cfg.destination_root) },
    close: async () => { await Promise.all([src.stop(), dst.stop()]); },
  };
}

export function compareOptions(o: { checksum?: boolean; sample?: number }): CompareOptions {
  return {
    mtimeToleranceNs: BigInt(MTIME_PRECISION_NS),
    checksum: o.checksum ?? false,
    sample: o.sample ?? 0,
    ignore: (name) => isTempName(name),
  };
}
