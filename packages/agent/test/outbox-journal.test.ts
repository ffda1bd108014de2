import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutboxJournal } from '../src/publish/outbox-journal.js';
import { tempDir } from './helpers.js';

const body = (n: number) => ({ pubTime: '20260101T000000', baseUrl: 'file:/', relPath: `r/${n}`, hpcm_seq: n });

describe('OutboxJournal', () => {
  const tmp = tempDir('journal');

  it('gives back unconfirmed entries after a crash, ignores a torn tail, and collects confirmed files', async () => {
    const dir = join(tmp.dir, 'a');
    const j = new OutboxJournal(dir, { maxFileBytes: 200 });
    await j.open(() => false);
    for (const n of [1, 2, 3, 4]) await j.append({ seq: n, topic: 'v03.r', body: body(n) });
    await j.close();
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(1);
    appendFileSync(join(dir, files.at(-1)!), '{"s":5,"t":"v03');

    const k = new OutboxJournal(dir, { maxFileBytes: 200 });
    const { unconfirmed, maxSeq, torn } = await k.open((s) => s <= 2);
    expect(unconfirmed.map((e) => e.seq)).toEqual([3, 4]);
    expect(unconfirmed[0]!.body).toEqual(body(3));
    expect(maxSeq).toBe(4);
    expect(torn).toBe(1);
    await k.append({ seq: 5, topic: 'v03.r', body: body(5) });
    expect(await k.collect(4)).toBe(files.length);
    await k.close();
    expect(readdirSync(dir)).toHaveLength(1);
    tmp.cleanup();
  });
});
