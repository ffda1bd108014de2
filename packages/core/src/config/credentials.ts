import { readFileSync, statSync } from 'node:fs';
import { HpcmError } from '../errors.js';

/**
 * Credentials live apart from configs, Sarracenia-style: one URL with its password per line
 * (`amqp://opsm:secret@broker1:5672/`), `#` comments. The file must be 0600 (or stricter): a
 * password readable by others is refused, not used.
 */
export function readCredentials(file: string): URL[] {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw new HpcmError('HPM_CONFIG_NOT_FOUND', `${file}: credentials file not found`, { cause: err });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new HpcmError('HPM_CONFIG_INSECURE', `${file}: credentials file has mode ${(st.mode & 0o777).toString(8)}; it must be 600 (chmod 600 ${file})`);
  }
  const urls: URL[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    try {
      urls.push(new URL(line));
    } catch {
      throw new HpcmError('HPM_CONFIG_INVALID', `${file}:${i + 1}: not a URL`);
    }
  });
  return urls;
}

/** Fills in the password of `url` from the first credential with the same scheme, user, host and port. */
export function withCredentials(url: string, creds: URL[]): string {
  const u = new URL(url);
  if (u.password) return url;
  const match = creds.find((c) => c.protocol === u.protocol && c.hostname === u.hostname
    && (c.port || '') === (u.port || '') && (!u.username || c.username === u.username));
  if (!match) return url;
  u.username = match.username;
  u.password = match.password;
  return u.toString();
}

/** The URL with its password replaced, for logs and status output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}
