import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnHelperChannel } from '../src/remote-helper/child-channel.js';
import { RemoteHelperClient, type HelperChannel } from '../src/remote-helper/client.js';
import { runRemoteHelper } from '../src/remote-helper/server.js';
import { TransportError } from '../src/transports/errors.js';
import { buildSubscriber, HELPER_MAIN } from './fixtures/built-helper.js';

let work: string;
const p = (rel: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${work}/`), Buffer.from(rel)]);
const big = randomBytes(5 * 1024 * 1024 + 17); // spans two 4 MiB reads, the third is past EOF

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hpcm-helper-'));
  writeFileSync(p('a'), 'hello');
  writeFileSync(p('big'), big);
  symlinkSync('a', join(work, 'link'));
  writeFileSync(p(Buffer.from([0x66, 0xff, 0x0a, 0x25, 0x20])), 'weird');
  mkdirSync(join(work, 'many'));
  for (let i = 0; i < 3000; i++) writeFileSync(join(work, 'many', `f${i}`), String(i));
  await buildSubscriber();
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The helper served in this process over two pipes. */
function inProcessChannel(): HelperChannel {
  const toHelper = new PassThrough();
  const fromHelper = new PassThrough();
  const served = runRemoteHelper(toHelper, fromHelper);
  return {
    input: toHelper,
    output: fromHelper,
    closed: served.then(
      () => undefined,
      () => undefined,
    ),
    close: () => toHelper.end(),
  };
}

/** Raw protocol: feed lines, collect everything the helper writes until it exits. */
async function converse(input: string | Buffer): Promise<string> {
  const toHelper = new PassThrough();
  const fromHelper = new PassThrough();
  const chunks: Buffer[] = [];
  fromHelper.on('data', (c: Buffer) => chunks.push(c));
  const served = runRemoteHelper(toHelper, fromHelper);
  toHelper.end(input);
  await served;
  return Buffer.concat(chunks).toString('latin1');
}

async function rejection(work: Promise<unknown>): Promise<TransportError> {
  const err = await work.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  return err as TransportError;
}

describe('remote helper over the wire', () => {
  it('greets, answers every request, and reports malformed ones with X', async () => {
    const out = await converse(
      [`S 1 ${work}/a`, 'S', 'Q 2 x', `S bad/id ${work}/a`, `S 3 ${work}/a extra`, `G 4 0 99999999 ${work}/a`, 'V 5', `S 6 %zz`, ''].join('\n'),
    );
    const lines = out.split('\n');
    expect(lines[0]).toBe('HPCM-HELPER 1');
    expect(lines).toContain('X - bad request id');
    expect(lines).toContain('X 2 unknown request');
    expect(lines).toContain('X 3 S takes one path');
    expect(lines.some((l) => l.startsWith('X 4 G takes'))).toBe(true);
    expect(lines).toContain('V 5 1');
    expect(lines).toContain('E 6 EBADPATH');
    expect(lines.find((l) => l.startsWith('S 1 '))).toMatch(/^S 1 f 5 [0-7]+ \d+ \d+ \d+ \d+ 1 \d+ \d+$/);
  });

  it('survives an over-long line and carries on', async () => {
    const out = await converse(`S 1 /${'x'.repeat(70 * 1024)}\nV 2\n`);
    expect(out).toContain('X - line too long\n');
    expect(out).toContain('V 2 1\n');
  });

  it('sends G data as a raw frame right after its header', async () => {
    const out = await converse(`G 7 1 3 ${work}/a\n`);
    expect(out).toBe('HPCM-HELPER 1\nD 7 3\nell');
  });
});

describe('RemoteHelperClient against the in-process helper', () => {
  const client = new RemoteHelperClient({ label: 'test helper', openChannel: async () => inProcessChannel() });
  beforeAll(() => client.start());
  afterAll(() => client.stop());

  it('stats thousands of paths in one batch, in order, null for missing', async () => {
    const paths = Array.from({ length: 3000 }, (_, i) => p(i % 3 === 2 ? `many/none${i}` : `many/f${i}`));
    const stats = await client.stat(paths);
    expect(stats).toHaveLength(3000);
    stats.forEach((st, i) => {
      if (i % 3 === 2) expect(st).toBeNull();
      else expect(st?.size).toBe(String(i).length);
    });
  });

  it('lists a big directory, names with any bytes', async () => {
    const many = await client.list(p('many'));
    expect(many).toHaveLength(3000);
    const top = await client.list(Buffer.from(work));
    const weird = top?.find((e) => e.name.equals(Buffer.from([0x66, 0xff, 0x0a, 0x25, 0x20])));
    expect(weird?.stat.size).toBe(5);
    expect(top?.find((e) => e.name.toString() === 'link')?.stat.type).toBe('symlink');
    expect(await client.list(p('nope'))).toBeNull();
  });

  it('readlink, checksum and ranged reads', async () => {
    expect((await client.readlink(p('link'))).toString()).toBe('a');
    expect((await rejection(client.readlink(p('a')))).code).toBe('HPM_TRANSPORT_NOT_A_SYMLINK');
    expect(await client.checksum(p('big'), 'sha512')).toBe(createHash('sha512').update(big).digest('base64'));
    expect(await client.checksum(p('nope'), 'md5')).toBeNull();
    const parts = await Promise.all([0, 1, 2].map((i) => client.read(p('big'), i * 4 * 1024 * 1024, 4 * 1024 * 1024)));
    expect(Buffer.concat(parts).equals(big)).toBe(true);
    expect(parts[1]).toHaveLength(big.length - 4 * 1024 * 1024);
    expect(parts[2]).toHaveLength(0);
    expect((await client.read(p('a'), 5, 10)).length).toBe(0);
    expect((await rejection(client.read(p('link'), 0, 10))).code).toBe('HPM_TRANSPORT_NOT_A_FILE');
    expect((await rejection(client.read(p('nope'), 0, 10))).code).toBe('HPM_TRANSPORT_SOURCE_GONE');
  });
});

describe('the built helper as a child process', () => {
  it('runs as `node dist/remote-helper/main.js` and exits 0 at end of input', async () => {
    const child = spawn(process.execPath, [HELPER_MAIN], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stdin.end(`S 1 ${work}/a\nR 2 ${work}/link\n`);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const text = Buffer.concat(out).toString();
    expect(text.startsWith('HPCM-HELPER 1\n')).toBe(true);
    expect(text).toContain('R 2 a\n');
  });

  it('a helper that dies mid-request fails it as retryable; the next call starts a new helper', async () => {
    let opened = 0;
    const client = new RemoteHelperClient({
      label: 'dying helper',
      openChannel: () =>
        opened++ === 0
          ? spawnHelperChannel('sh', ['-c', 'echo HPCM-HELPER 1; read line; exit 3'])
          : spawnHelperChannel(process.execPath, [HELPER_MAIN]),
    });
    await client.start();
    const err = await rejection(client.stat([p('a')]));
    expect(err.code).toBe('HPM_TRANSPORT_CONNECTION');
    expect(err.retryable).toBe(true);
    const [st] = await client.stat([p('a')]);
    expect(st?.size).toBe(5);
    expect(opened).toBe(2);
    await client.stop();
    expect((await rejection(client.stat([p('a')]))).code).toBe('HPM_TRANSPORT_STOPPED');
  });

  it('a helper that cannot start is HPM_TRANSPORT_HELPER, with its stderr in the message', async () => {
    const client = new RemoteHelperClient({
      label: 'missing helper',
      openChannel: () => spawnHelperChannel('sh', ['-c', 'echo "sh: 1: hpcmirror: not found" >&2; exit 127']),
    });
    const err = await rejection(client.start());
    expect(err.code).toBe('HPM_TRANSPORT_HELPER');
    expect(err.message).toContain('hpcmirror: not found');
    await client.stop();
  });

  it('a helper that goes silent times out (retryable) instead of hanging', async () => {
    const client = new RemoteHelperClient({
      label: 'silent helper',
      inactivityTimeoutMs: 300,
      openChannel: () => spawnHelperChannel('sh', ['-c', 'echo HPCM-HELPER 1; exec sleep 30']),
    });
    await client.start();
    const err = await rejection(client.stat([p('a')]));
    expect(err.code).toBe('HPM_TRANSPORT_TIMEOUT');
    expect(err.retryable).toBe(true);
    await client.stop();
  });
});
