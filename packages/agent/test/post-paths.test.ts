import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { postPaths } from '../src/index.js';
import { bindTestQueue, drainQueue, testAgentConfig } from './broker-helpers.js';
import { tempDir, uniqueFlow } from './helpers.js';

const brokerUrl = inject('infra').brokerUrl;

describe('postPaths (hpcmirror post)', () => {
  const tmp = tempDir('post');
  afterAll(() => tmp.cleanup());

  it('announces a file, a directory, a symlink and a missing path; skips what is outside or rejected', async () => {
    const root = join(tmp.dir, 'root');
    mkdirSync(join(root, 'd'), { recursive: true });
    writeFileSync(join(root, 'd/f.dat'), 'content');
    symlinkSync('f.dat', join(root, 'd/l'));
    const flow = uniqueFlow('post');
    const config = testAgentConfig({
      flow, brokerUrl, sourceRoot: root, stateDir: join(tmp.dir, 'state'), spoolDir: join(tmp.dir, 'spool'),
      agent: { identity: 'sha512', reject: ['*.tmp'] },
    });
    const queue = `test.${flow}`;
    await bindTestQueue(brokerUrl, config.exchange, queue);
    const res = await postPaths(config, [join(root, 'd/f.dat'), join(root, 'd'), Buffer.from(join(root, 'd/l')), 'gone', '/etc/passwd', join(root, 'x.tmp')], { cwd: root });
    expect(res.posted).toHaveLength(4);
    expect(res.skipped.map((s) => s.code)).toEqual(['HPM_PATH_OUTSIDE_ROOT', 'HPM_USAGE']);
    const msgs = await drainQueue(brokerUrl, queue, (all) => all.length >= 4);
    const by = new Map(msgs.map((m) => [String(m.body.relPath).slice(root.length - 1), m.body]));
    expect(by.get('/d/f.dat')).toMatchObject({ size: 7, identity: { method: 'sha512', value: createHash('sha512').update('content').digest('base64') } });
    expect(by.get('/d')).toMatchObject({ fileOp: { directory: '' } });
    expect(by.get('/d/l')).toMatchObject({ fileOp: { link: 'f.dat' } });
    expect(by.get('/gone')).toMatchObject({ fileOp: { remove: '' } });
    for (const m of msgs) expect(m.body.hpcm_seq).toBeUndefined();
  });
});
