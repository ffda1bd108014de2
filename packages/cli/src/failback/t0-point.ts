/**
 * T0: the newest point up to which the forward flow was fully applied, minus a clock-skew
 * allowance: the oldest event still pending (set aside at failover), else the newest event the
 * subscribers applied (their latency log, when configured), else the moment of failover (said so).
 */
import { open } from 'node:fs/promises';

export interface T0Inputs {
  nowNs: bigint;
  /** Oldest event time among the messages set aside, if any. */
  oldestPendingNs: bigint | null;
  /** The subscribers' latency log (`<eventNs> <appliedNs> <op>` lines), if configured. */
  latencyLog: string | undefined;
  skewNs: bigint;
}

export interface T0Point {
  t0Ns: bigint;
  /** What bounded it: the oldest pending event, the newest applied one, or the failover time. */
  boundBy: 'pending' | 'applied' | 'now';
}

/** The newest event time in the last 64 KiB of a latency log (records are appended in apply order, nearly event order). */
export async function newestAppliedEventNs(file: string): Promise<bigint | null> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    let newest: bigint | null = null;
    for (const line of buf.toString('latin1').split('\n').slice(size > len ? 1 : 0)) {
      const m = /^(\d+) \d+ \S+$/.exec(line);
      if (m && (newest === null || BigInt(m[1]!) > newest)) newest = BigInt(m[1]!);
    }
    return newest;
  } finally {
    await fh.close();
  }
}

/**
 * The agent publishes in spool order, so everything announced before the oldest pending event was
 * applied: that event bounds T0. With nothing pending, the newest applied event does (what came
 * after it was never announced, e.g. spooled on the failed primary); without either, the failover time.
 */
export async function computeT0(i: T0Inputs): Promise<T0Point> {
  if (i.oldestPendingNs !== null && i.oldestPendingNs < i.nowNs) return { t0Ns: i.oldestPendingNs - i.skewNs, boundBy: 'pending' };
  const applied = i.latencyLog ? await newestAppliedEventNs(i.latencyLog) : null;
  if (applied !== null && applied < i.nowNs) return { t0Ns: applied - i.skewNs, boundBy: 'applied' };
  return { t0Ns: i.nowNs - i.skewNs, boundBy: 'now' };
}
