import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildSubscriber, helperCommand } from './fixtures/built-helper.js';
import { sharedSsh } from './fixtures/ssh.js';
import { mirrorChangeKindsInTwoRounds, mirrorEveryChangeKind } from './helpers/scenarios.js';
import { startService, type ServiceHarness } from './helpers/service.js';

// The same end-to-end scenario as with the local transport, pulled over the run's loopback sshd with
// the remote helper (built, run by this node over ssh) giving ns times and inodes.
let h: ServiceHarness | undefined;

beforeAll(async () => {
  await buildSubscriber();
}, 180_000);

afterEach(async () => {
  await h?.close();
  h = undefined;
});

for (const transport of ['sftp', 'rsync'] as const) {
  describe(`subscriber service over ${transport}`, () => {
    const start = (): Promise<ServiceHarness> => {
      const ssh = sharedSsh();
      return startService({
        baseUrl: `${transport === 'sftp' ? 'sftp' : 'rsync+ssh'}://${ssh.user}@${ssh.host}/`,
        subscriber: {
          transport,
          ssh: {
            host: ssh.host, port: ssh.port, user: ssh.user,
            identity_file: ssh.identityFile, known_hosts: ssh.knownHostsFile,
            remote_helper: helperCommand(), connections: 1,
          },
        },
      });
    };

    it('mirrors every kind of change', async () => {
      const s = (h = await start());
      const sent = transport === 'sftp' ? await mirrorEveryChangeKind(s) : await mirrorChangeKindsInTwoRounds(s);
      expect(s.sub.metrics().counters.applied).toBe(sent);
    }, 120_000);

    it.runIf(transport === 'sftp')('parks a message naming another host', async () => {
      const s = (h = await start());
      writeFileSync(join(s.src, 'f'), 'x');
      await s.publishRaw(JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'sftp://opsm@other-host/', relPath: `${s.src.slice(1)}/f` }), 'f');
      await s.waitSettled(1);
      expect((await s.waitParked(1)).map((p) => p.reason)).toEqual([expect.stringMatching(/^HPM_SUB_BASEURL_DENIED/)]);
    });
  });
}
