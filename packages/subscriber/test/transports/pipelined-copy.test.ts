import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/transports/errors.js';
import { pipelinedCopy, type RangeReader } from '../../src/transports/pipelined-copy.js';

const work = mkdtempSync(join(tmpdir(), 'hpcm-pcopy-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

/** A "remote file" whose content the test may change between reads. */
function source(initial: Buffer, opts: { shortReads?: boolean } = {}) {
  const state = { content: initial, reads: 0 };
  const read: RangeReader = async (offset, length) => {
    state.reads++;
    await new Promise((r) => setImmediate(r));
    let end = Math.min(state.content.length, offset + length);
    if (opts.shortReads && end - offset > 1 && state.reads % 3 === 0) end = offset + Math.ceil((end - offset) / 2);
    return Buffer.from(state.content.subarray(Math.min(offset, state.content.length), end));
  };
  return { state, read };
}

async function copy(read: RangeReader, extra: Partial<Parameters<typeof pipelinedCopy>[0]> = {}) {
  const path = join(work, `t${n++}`);
  const target = await open(path, 'wx');
  try {
    const size = await pipelinedCopy({ read, target, targetPath: Buffer.from(path), chunkSize: 1000, concurrency: 8, ...extra });
    return { size, data: readFileSync(path) };
  } finally {
    await target.close();
  }
}

describe('pipelinedCopy', () => {
  it('copies exactly, whatever the short reads', async () => {
    for (const size of [0, 1, 999, 1000, 1001, 54_321]) {
      const content = randomBytes(size);
      const { read } = source(content, { shortReads: true });
      const { size: got, data } = await copy(read, { sizeHint: size });
      expect(got).toBe(size);
      expect(data.equals(content)).toBe(true);
    }
  });

  it('without a size hint a small file costs two reads', async () => {
    const { state, read } = source(randomBytes(10));
    const { data } = await copy(read);
    expect(data.length).toBe(10);
    expect(state.reads).toBe(2);
  });

  it('follows a file that grew past the hint', async () => {
    const first = randomBytes(5000);
    const more = randomBytes(7000);
    const src = source(first);
    const read: RangeReader = async (offset, length) => {
      if (offset >= 5000) src.state.content = Buffer.concat([first, more]);
      return src.read(offset, length);
    };
    const { size, data } = await copy(read, { sizeHint: 5000 });
    expect(size).toBe(12_000);
    expect(data.equals(Buffer.concat([first, more]))).toBe(true);
  });

  it('ends at the new end of a file that shrank', async () => {
    const content = randomBytes(20_000);
    const src = source(content);
    const read: RangeReader = async (offset, length) => {
      if (offset >= 4000) src.state.content = content.subarray(0, 6500);
      return src.read(offset, length);
    };
    const { size, data } = await copy(read, { sizeHint: 20_000, concurrency: 2 });
    expect(size).toBe(6500);
    expect(data.equals(content.subarray(0, 6500))).toBe(true);
  });

  it('fails with the reader error once reads in flight have settled', async () => {
    let inFlight = 0;
    const read: RangeReader = async (offset) => {
      inFlight++;
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (offset === 3000) {
        throw new TransportError('HPM_TRANSPORT_CONNECTION', 'gone');
      }
      return Buffer.alloc(1000);
    };
    const err = await copy(read, { sizeHint: 100_000 }).catch((e: unknown) => e);
    expect((err as TransportError).code).toBe('HPM_TRANSPORT_CONNECTION');
    expect(inFlight).toBe(0);
  });

  it('writes chunks arriving out of order, and hands each back only once it is in the file', async () => {
    const content = randomBytes(37_500);
    const path = join(work, `t${n}`);
    const released: Buffer[] = [];
    const read: RangeReader = async (offset, length) => {
      // Later ranges often answer first, so the writer meets gaps and runs of adjacent chunks.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)));
      return Buffer.from(content.subarray(Math.min(offset, content.length), Math.min(content.length, offset + length)));
    };
    const offsets = new Map<Buffer, number>();
    const tracked: RangeReader = async (offset, length) => {
      const data = await read(offset, length);
      offsets.set(data, offset);
      return data;
    };
    const release = (data: Buffer): void => {
      const offset = offsets.get(data)!;
      const onDisk = readFileSync(path).subarray(offset, offset + data.length);
      expect(onDisk.equals(data)).toBe(true);
      released.push(data);
    };
    const { size, data } = await copy(tracked, { sizeHint: content.length, release });
    expect(size).toBe(content.length);
    expect(data.equals(content)).toBe(true);
    expect(released.length).toBe(offsets.size);
  });

  it('fails with a destination error when the target cannot be written', async () => {
    const path = join(work, `t${n++}`);
    await (await open(path, 'wx')).close();
    const target = await open(path, 'r');
    try {
      const { read } = source(randomBytes(5000));
      const err = await pipelinedCopy({ read, target, targetPath: Buffer.from(path), chunkSize: 1000, concurrency: 4, sizeHint: 5000 }).catch(
        (e: unknown) => e,
      );
      expect((err as TransportError).code).toBe('HPM_TRANSPORT_DEST_IO');
    } finally {
      await target.close();
    }
  });

  it('stops on abort', async () => {
    const controller = new AbortController();
    const { read } = source(randomBytes(100_000));
    const slow: RangeReader = async (offset, length) => {
      if (offset >= 10_000) controller.abort();
      return read(offset, length);
    };
    const err = await copy(slow, { sizeHint: 100_000, signal: controller.signal }).catch((e: unknown) => e);
    expect((err as TransportError).code).toBe('HPM_TRANSPORT_ABORTED');
  });
});
