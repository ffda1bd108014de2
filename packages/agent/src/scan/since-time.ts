/**
 * `--since TIME` for the CLI: ns since the epoch from an ISO date, a v03 time (YYYYMMDDTHHMMSS[.f]),
 * epoch seconds (`@1795435200.5`), or an age (`90s`, `15m`, `2h`, `3d`) counted back from now.
 */
import { ScanError } from './scan-errors.js';

const AGE = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;
const V03 = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function decimalSecondsToNs(text: string): bigint {
  const [whole = '0', frac = ''] = text.split('.');
  return BigInt(whole) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9) || '0');
}

export function parseSinceTime(text: string, nowMs: number = Date.now()): bigint {
  const t = text.trim();
  const age = AGE.exec(t);
  if (age) return BigInt(Math.round(nowMs - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS])) * 1_000_000n;
  if (/^@\d+(\.\d+)?$/.test(t)) return decimalSecondsToNs(t.slice(1));
  const v03 = V03.exec(t);
  if (v03) {
    const [, y, mo, d, h, mi, s, frac] = v03;
    const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + BigInt((frac ?? '').padEnd(9, '0') || '0');
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) {
      // Date keeps milliseconds; carry finer digits of the fraction by hand.
      const fine = /\.\d{3}(\d{1,6})/.exec(t)?.[1];
      return BigInt(ms) * 1_000_000n + (fine ? BigInt(fine.padEnd(6, '0')) : 0n);
    }
  }
  throw new ScanError('HPM_SCAN_USAGE', `--since: cannot read "${text}" as a time (ISO date, YYYYMMDDTHHMMSS, @epoch-seconds, or an age like 2h)`);
}
