import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@hpcmirror/core';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runWinnow } from '../src/run-winnow.js';
import type { WinnowService } from '../src/winnow-service.js';

const dir = mkdtempSync(join(tmpdir(), 'hpcm-winnow-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const configFile = (extra: string): string => {
  const file = join(dir, `c${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(file, `flow: wr${Math.random().toString(16).slice(2, 10)}\nuser: test\nbroker:\n  url: ${inject('infra').brokerUrl}\nsource_root: /fs/primary\n${extra}`);
  return file;
};

describe('runWinnow', () => {
  it('refuses an --instance outside winnow.instances before connecting', async () => {
    await expect(runWinnow(configFile('winnow:\n  instances: 2\n'), { instance: 2, logger: silentLogger() })).rejects.toMatchObject({ code: 'HPM_USAGE' });
  });

  it('names a missing config file', async () => {
    await expect(runWinnow(join(dir, 'nope.yaml'), { logger: silentLogger() })).rejects.toMatchObject({ code: 'HPM_CONFIG_NOT_FOUND' });
  });

  it('runs until its signal is aborted, then stops cleanly (a URL with its password needs no credentials file)', async () => {
    const ac = new AbortController();
    let started: WinnowService | undefined;
    const run = runWinnow(configFile('credentials: ~/.hpcm-no-such-credentials\nwinnow:\n  instances: 2\n'), { instance: 1, logger: silentLogger(), signal: ac.signal, onStarted: (s) => (started = s) });
    await expect.poll(() => started, { timeout: 45_000 }).toBeDefined();
    expect(started!.settings.shards).toEqual([1]);
    ac.abort();
    await run;
  });
});
