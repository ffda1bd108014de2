/** The Sarracenia v03 body as JSON (messages.md "Body fields"). Unknown fields are carried through. */
export interface V03Identity {
  method: 'sha512' | 'md5' | 'cod' | 'random' | 'arbitrary' | string;
  value: string;
}

export interface V03FileOp {
  rename?: string;
  link?: string;
  hlink?: string;
  remove?: string;
  directory?: string;
}

export interface V03Body {
  pubTime: string;
  baseUrl: string;
  relPath: string;
  identity?: V03Identity;
  fileOp?: V03FileOp;
  retrievePath?: string;
  rename?: string;
  content?: { encoding: 'utf-8' | 'base64'; value: string };
  size?: number;
  mtime?: string;
  atime?: string;
  mode?: string;
  contentType?: string;
  source?: string;
  from_cluster?: string;
  to_clusters?: string;
  hpcm_seq?: number;
  hpcm_host?: string;
  hpcm_covers?: [number, number];
  hpcm_origin?: string;
  hpcm_mtimeNs?: string;
  hpcm_ctimeNs?: string;
  hpcm_ino?: string;
  hpcm_eventNs?: string;
  /** A directory whose entries may all have changed at once (RENAME_EXCHANGE, moved in from outside the root). */
  hpcm_subtree?: boolean;
  hpcm_pathEncoding?: 'percent';
  hpcm_reject?: string;
  [field: string]: unknown;
}

/** What a message asks for, derived from `fileOp` (or its absence). */
export type ChangeKind = 'content' | 'rename' | 'symlink' | 'hardlink' | 'remove' | 'mkdir' | 'rmdir';

/** AMQP header carrying relPath for the consistent-hash exchange (`hash-header`). */
export const PATH_HEADER = 'hpcm_path';
export const REJECT_HEADER = 'hpcm_reject';
export const ATTEMPTS_HEADER = 'hpcm_attempts';
/** When the message was parked (ISO 8601), for `hpcmirror parked list`. */
export const PARKED_AT_HEADER = 'hpcm_parked_at';
/** The last retryable failure, kept on the copy in a retry queue. */
export const LAST_ERROR_HEADER = 'hpcm_last_error';
