import { statSync } from 'node:fs';
import { loadConfig, type LoadedConfig } from '@hpcmirror/core';
import { expandHome } from '../../context.js';
import { fail, ok, warn, type DoctorResult } from './doctor-result.js';

/** A secret file: present, ours, and readable by nobody else. */
function secretFile(check: string, what: string, file: string, uid: number): DoctorResult {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    return fail(check, `${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (st.uid !== uid) return fail(check, `${what} ${file} is owned by uid ${st.uid}, not by this user (uid ${uid})`);
  const perm = st.mode & 0o777;
  if ((perm & 0o077) !== 0) return fail(check, `${what} ${file} has mode ${perm.toString(8)}; it must be 600 (chmod 600 ${file})`);
  return ok(check, `${what} ${file} mode ${perm.toString(8)}`);
}

/**
 * Credentials only in 0600 files: the credentials file, the ssh key and a TLS client key; and no
 * password written into the config itself (which is not kept secret the same way).
 */
export function checkFileModes(cfg: LoadedConfig, uid = process.getuid?.() ?? 0): DoctorResult[] {
  const check = 'permissions';
  const out: DoctorResult[] = [];
  if (cfg.credentials) out.push(secretFile(check, 'credentials', expandHome(cfg.credentials), uid));
  let inline = false;
  try {
    const u = new URL(loadConfig(cfg.configFile).broker.url);
    // RabbitMQ's default guest/guest (loopback-only unless reconfigured, as in the sandbox) is no secret.
    inline = u.password !== '' && !(u.username === 'guest' && u.password === 'guest');
  } catch {
    // The config was loaded once already; a second read failing is not this check's business.
  }
  if (inline) {
    const perm = statSync(cfg.configFile).mode & 0o777;
    out.push((perm & 0o077) !== 0
      ? fail(check, `${cfg.configFile} (mode ${perm.toString(8)}) holds the broker password in broker.url: move it to a 0600 credentials file`)
      : warn(check, `${cfg.configFile} holds the broker password in broker.url; keep it in the credentials file instead`));
  }
  const ssh = cfg.subscriber?.ssh;
  if (ssh && cfg.subscriber?.transport !== 'local') out.push(secretFile(check, 'ssh key', expandHome(ssh.identity_file), uid));
  if (cfg.broker.tls?.key) out.push(secretFile(check, 'TLS client key', expandHome(cfg.broker.tls.key), uid));
  if (out.length === 0) out.push(ok(check, 'no credentials file, ssh key or TLS key configured'));
  return out;
}
