/** `<host>.<bucket>.seg` and `<host>.loss` (SPOOL.md "Directory and segments"). */
const SEGMENT_RE = /^(.+)\.(\d{12})\.seg$/;
const LOSS_RE = /^(.+)\.loss$/;

export interface SegmentName {
  name: string;
  host: string;
  /** Start of the bucket, whole seconds since the epoch. */
  bucketS: number;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? { name, host: m[1]!, bucketS: Number(m[2]) } : undefined;
}

export function parseLossMarkerName(name: string): { name: string; host: string } | undefined {
  const m = LOSS_RE.exec(name);
  return m ? { name, host: m[1]!} : undefined;
}

export function segmentFileName(host: string, bucketS: number): string {
  return `${host}.${String(bucketS).padStart(12, '0')}.seg`;
}
