import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ok, skip, warn, type DoctorResult } from './doctor-result.js';

/**
 * The units run under the user's systemd manager, which without lingering stops at the last
 * logout and does not start at boot (deploy/GUIDE.md).
 */
export function checkLinger(root = '/'): DoctorResult {
  const check = 'linger';
  if (!existsSync(`${root}run/systemd/system`)) {
    return skip(check, 'systemd is not the init system here: no user units; `hpcmirror start` runs background processes');
  }
  const user = userInfo().username;
  if (existsSync(`${root}var/lib/systemd/linger/${user}`)) return ok(check, `enabled for ${user}: the units run without a login and start at boot`);
  return warn(check, `not enabled for ${user}: the units stop at logout and do not start at boot (as root: loginctl enable-linger ${user})`);
}
