/**
 * Sarracenia's time format, `YYYYMMDDTHHMMSS[.fraction]`, always UTC.
 * Times are carried as bigint nanoseconds so that mtimes survive the round trip exactly.
 */
const TIME_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/;

export function formatTime(ns: bigint, fractionDigits: 6 | 9 = 9): string {
  const secs = ns >= 0n ? ns / 1_000_000_000n : (ns - 999_999_999n) / 1_000_000_000n;
  const frac = ns - secs * 1_000_000_000n;
  const d = new Date(Number(secs) * 1000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const base = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
  const f = frac.toString().padStart(9, '0').slice(0, fractionDigits);
  return `${base}.${f}`;
}

/** Returns ns since the epoch, or undefined when the string is not in the v03 time format. */
export function parseTime(s: string): bigint | undefined {
  const m = TIME_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se, fr] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  if (Number.isNaN(ms)) return undefined;
  const check = new Date(ms);
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) return undefined;
  const fracNs = fr === undefined ? 0n : BigInt(fr.padEnd(9, '0'));
  return BigInt(ms) * 1_000_000n + fracNs;
}

export function nowNs(): bigint {
  // Date.now() is ms; hrtime offsets give sub-ms resolution on the same clock base.
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}
