/// <reference path="../../../test/infra.d.ts" />
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);

// The shared services of test/global-setup.ts, as every other test file sees them.
describe('shared test infrastructure', () => {
  const infra = inject('infra');

  it('provides a broker with management', async () => {
    const connection = await amqp.connect(infra.brokerUrl);
    await connection.close();
    const response = await fetch(`${infra.mgmtUrl}/api/overview`, {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
    });
    expect(response.status).toBe(200);
  });

  it('provides an sshd', async () => {
    const { stdout } = await run('ssh', [...infra.ssh.sshArgs, `${infra.ssh.user}@${infra.ssh.host}`, 'echo ok']);
    expect(stdout.trim()).toBe('ok');
  });
});
