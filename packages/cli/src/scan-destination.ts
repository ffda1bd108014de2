/**
 * How `hpcmirror scan` sees a destination that is not mounted here: through the remote helper on
 * the destination host, over ssh (`agent.destination_ssh`), the same helper and SFTP transport the
 * subscribers use to read a source: one listing per directory, nanosecond times.
 */
import type { DestinationLister } from '@hpcmirror/agent';
import type { LoadedConfig, Logger } from '@hpcmirror/core';
import { createSftpTransportFor } from '@hpcmirror/subscriber';

export interface RemoteDestination {
  lister: DestinationLister;
  label: string;
  close(): Promise<void>;
}

export async function openRemoteDestination(cfg: LoadedConfig, logger: Logger): Promise<RemoteDestination | undefined> {
  const ssh = cfg.agent?.destination_ssh;
  if (!ssh) return undefined;
  const t = createSftpTransportFor(ssh, logger);
  await t.start();
  return {
    label: `${ssh.user}@${ssh.host}:${ssh.port}`,
    lister: {
      async list(dir) {
        const entries = await t.list(dir);
        return entries === null ? null : entries.map((e) => ({
          name: e.name,
          stat: { type: e.stat.type, size: e.stat.size, mode: e.stat.mode & 0o7777, mtimeNs: e.stat.mtimeNs, uid: e.stat.uid, gid: e.stat.gid },
        }));
      },
      readlink: (p) => t.readlink(p),
    },
    close: () => t.stop(),
  };
}
