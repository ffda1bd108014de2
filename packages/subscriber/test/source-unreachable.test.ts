import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '@hpcmirror/sandbox';
import { buildSubscriber, helperCommand } from './fixtures/built-helper.js';
import { startService, type ServiceHarness } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

// A subscriber started while its source host's sshd is down keeps running degraded, retries the
// connection with backoff (one warning per attempt), and consumes once the sshd is back.
describe('subscriber started while the source host is unreachable', () => {
  let sshd: SshdHandle;
  let dir: string;
  let h: ServiceHarness | undefined;

  beforeAll(async () => {
    await buildSubscriber();
    dir = mkdtempSync(join(tmpdir(), 'hpcm-sub-unreachable-'));
    sshd = await startSshd({ dir });
  }, 180_000);

  // Under load the subscriber's stop alone outlasted the default 10 s hook timeout and left the sshd running.
  afterAll(async () => {
    try {
      await Promise.allSettled([h?.close(), sshd?.stop()]);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('starts degraded, warns per attempt, and mirrors once the sshd is back', async () => {
    await sshd.stop();
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as { level: number; msg: string }); } });
    h = await startService({
      logger,
      baseUrl: `sftp://${sshd.user}@${sshd.host}/`,
      subscriber: {
        transport: 'sftp',
        ssh: {
          host: sshd.host, port: sshd.port, user: sshd.user, identity_file: sshd.identityFile,
          known_hosts: sshd.knownHostsFile, remote_helper: helperCommand(), connections: 2,
        },
      },
    });
    const m = h.sub.metrics();
    expect(m.running).toBe(true);
    expect(m.degraded).toMatch(/^source unreachable since .*HPM_TRANSPORT_CONNECTION/);
    expect(m.source).toMatchObject({ reachable: false, failures: 1 });

    writeFileSync(join(h.src, 'f'), 'after the outage\n');
    await h.announce('content', 'f');
    // A few attempts (1 s, 2 s backoff): the message waits on the broker meanwhile.
    await waitFor(() => h!.sub.metrics().source.failures >= 3, 'two retries', 30_000);
    expect(existsSync(join(h.dst, 'f'))).toBe(false);
    expect(h.sub.metrics().counters.received).toBe(0);
    const warns = lines.filter((l) => l.level === 40);
    // One warning per attempt: the connection pool's own per-connection failures stay at debug.
    expect(warns.every((l) => /^source host (still )?unreachable/.test(l.msg)), JSON.stringify(warns)).toBe(true);
    expect(warns.length).toBe(h.sub.metrics().source.failures);

    await sshd.start();
    await waitFor(() => existsSync(join(h!.dst, 'f')), 'the file mirrored after the sshd came back', 120_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`); });
    expect(readFileSync(join(h.dst, 'f'), 'utf8')).toBe('after the outage\n');
    expect(h.sub.metrics().degraded).toBeNull();
    expect(lines.some((l) => l.msg === 'source host reachable; consuming')).toBe(true);
  }, 180_000);
});
