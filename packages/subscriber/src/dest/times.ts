/**
 * Node 20 has no nanosecond utimensat: fs.futimes/utimes/lutimes take seconds as a double and libuv
 * (uv__fs_to_timespec) truncates them to whole microseconds. Spawning `touch -d @s.ns` would give ns
 * but costs ~10 ms per file. So mtimes are mirrored to the microsecond, and every comparison (skip
 * check, anti-entropy, audit) compares at this precision.
 */
export const MTIME_PRECISION_NS = 1000n;

/** With SFTP's stat fallback the source only gives whole seconds. */
export const COARSE_PRECISION_NS = 1_000_000_000n;

const NS = 1_000_000_000n;

/** Seconds as a double that libuv turns back into exactly floor(ns / 1000) microseconds. */
export function utimeSeconds(ns: bigint): number {
  const sec = ns >= 0n ? ns / NS : -((-ns + NS - 1n) / NS);
  const us = (ns - sec * NS) / 1000n;
  // Aim at the middle of the microsecond so the double's rounding error cannot cross its edge.
  return Number(sec) + (Number(us) + 0.5) / 1e6;
}

export function truncateNs(ns: bigint, precisionNs: bigint = MTIME_PRECISION_NS): bigint {
  const q = ns / precisionNs;
  return (ns < 0n && q * precisionNs !== ns ? q - 1n : q) * precisionNs;
}

export function sameMtime(a: bigint, b: bigint, precisionNs: bigint = MTIME_PRECISION_NS): boolean {
  return truncateNs(a, precisionNs) === truncateNs(b, precisionNs);
}

export function precisionOf(stat: { nsPrecision: boolean }): bigint {
  return stat.nsPrecision ? MTIME_PRECISION_NS : COARSE_PRECISION_NS;
}
