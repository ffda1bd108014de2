import type { SourceFileType, SourceStat } from '../transports/transport.js';

/*
 * A stat on the helper's wire is 10 space-separated fields:
 *   <type f|d|l|o> <size> <mode, octal> <mtimeNs> <ctimeNs> <ino> <dev> <nlink> <uid> <gid>
 */

export const STAT_FIELDS = 10;

const TYPE_TO_WIRE: Record<SourceFileType, string> = { file: 'f', dir: 'd', symlink: 'l', other: 'o' };
const WIRE_TO_TYPE: Record<string, SourceFileType> = { f: 'file', d: 'dir', l: 'symlink', o: 'other' };

export function formatStat(st: SourceStat): string {
  return `${TYPE_TO_WIRE[st.type]} ${st.size} ${st.mode.toString(8)} ${st.mtimeNs} ${st.ctimeNs} ${st.ino} ${st.dev} ${st.nlink} ${st.uid} ${st.gid}`;
}

export class StatCodecError extends Error {}

const DECIMAL = /^-?[0-9]{1,20}$/;

function decimal(text: string | undefined): bigint {
  if (text === undefined || !DECIMAL.test(text)) throw new StatCodecError(`bad number ${JSON.stringify(text)}`);
  return BigInt(text);
}

/** Parse the 10 stat fields starting at fields[at]. */
export function parseStat(fields: readonly string[], at: number): SourceStat {
  const type = WIRE_TO_TYPE[fields[at] ?? ''];
  const modeText = fields[at + 2] ?? '';
  if (!type) throw new StatCodecError(`bad type ${JSON.stringify(fields[at])}`);
  if (!/^[0-7]{1,6}$/.test(modeText)) throw new StatCodecError(`bad mode ${JSON.stringify(modeText)}`);
  return {
    type,
    size: Number(decimal(fields[at + 1])),
    mode: parseInt(modeText, 8),
    mtimeNs: decimal(fields[at + 3]),
    ctimeNs: decimal(fields[at + 4]),
    ino: decimal(fields[at + 5]),
    dev: decimal(fields[at + 6]),
    nlink: Number(decimal(fields[at + 7])),
    uid: Number(decimal(fields[at + 8])),
    gid: Number(decimal(fields[at + 9])),
    nsPrecision: true,
  };
}
