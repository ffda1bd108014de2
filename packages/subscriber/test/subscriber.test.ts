import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync, chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync,
  readSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { readLatencyLog } from '../src/index.js';
import { HOST, reportedSeqs, startService, type ServiceHarness } from './helpers/service.js';
import { converge, mirrorEveryChangeKind, treeDiff } from './helpers/scenarios.js';
import { waitFor } from './helpers/wait.js';

let h: ServiceHarness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const diff = treeDiff;

describe('subscriber service (local transport, real broker)', () => {
  it('mirrors every kind of change: content, append, renames, symlinks, hard links, removes, dirs, chmod', async () => {
    const s = (h = await startService());
    const sent = await mirrorEveryChangeKind(s);
    // Every seq reported applied, nothing else; latency logged per applied event.
    await waitFor(() => reportedSeqs(s.progress, 'applied').size === sent, 'progress reports');
    expect([...reportedSeqs(s.progress, 'applied')].sort((a, b) => a - b)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(s.progress.every((p) => p.routingKey === `progress.${HOST}` && p.host === HOST)).toBe(true);
    const m = s.sub.metrics();
    expect(m.counters.applied).toBe(sent);
    expect(m.latency.count).toBe(sent);
    await s.sub.stop();
    const lines = [];
    for await (const r of readLatencyLog(join(s.state, 'latency.log'))) lines.push(r);
    expect(lines).toHaveLength(sent);
    expect(lines.every((r) => r.appliedNs >= r.eventNs)).toBe(true);
  });

  it('converges when 1,000 messages are delivered twice, shuffled across paths', async () => {
    // Convergence, not durability, is the point here: fsync is exercised by the other tests.
    const s = (h = await startService({ subscriber: { fsync: false, pools: { small: { workers: 8 }, large: { workers: 1 } } } }));
    const msgs: Parameters<ServiceHarness['announce']>[] = [];
    for (let d = 0; d < 10; d++) {
      mkdirSync(join(s.src, `d${d}`));
      msgs.push(['mkdir', `d${d}`]);
    }
    for (let i = 0; i < 500; i++) {
      const rel = `d${i % 10}/f${i}`;
      writeFileSync(join(s.src, rel), `file ${i} `.repeat(1 + (i % 7)));
      msgs.push(['content', rel]);
    }
    // Then half of them change again: rewritten, renamed, removed, chmodded, turned into symlinks.
    for (let i = 0; i < 490; i++) {
      if (i % 2) continue;
      const rel = `d${i % 10}/f${i}`;
      const p = join(s.src, rel);
      switch (i % 5) {
        case 0: appendFileSync(p, 'appended'); msgs.push(['content', rel]); break;
        case 1: renameSync(p, `${p}.renamed`); msgs.push(['rename', `${rel}.renamed`, { oldPath: Buffer.from(p) }]); break;
        case 2: unlinkSync(p); msgs.push(['remove', rel]); break;
        case 3: chmodSync(p, 0o600); msgs.push(['content', rel]); break;
        default: unlinkSync(p); symlinkSync(`f${i + 1}`, p); msgs.push(['symlink', rel, { linkTarget: Buffer.from(`f${i + 1}`) }]);
      }
    }
    expect(msgs.length).toBe(755);
    while (msgs.length < 1000) {
      const i = msgs.length;
      const rel = `d${i % 10}/extra${i}`;
      writeFileSync(join(s.src, rel), `extra ${i}`);
      msgs.push(['content', rel]);
    }
    const twice = [...msgs, ...msgs];
    for (let i = twice.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [twice[i], twice[j]] = [twice[j]!, twice[i]!];
    }
    for (const [kind, rel, facts] of twice) await s.announce(kind, rel, facts, { noWait: true });
    await s.confirmed();
    await s.waitSettled(2000, 60_000);
    expect(diff(s)).toEqual([]);
    expect(await s.takeParked()).toEqual([]);
    const c = s.sub.metrics().counters;
    expect(c.applied).toBe(2000);
    expect(c.parked).toBe(0);
  });

  it('never shows a reader a partial file while a large file is copied', async () => {
    const mb = Number(process.env.HPCM_TEST_LARGE_MB ?? 50);
    const s = (h = await startService());
    const size = mb * 1024 * 1024;
    const block = randomBytes(1024 * 1024);
    const big = Buffer.alloc(size);
    for (let o = 0; o < size; o += block.length) block.copy(big, o);
    big.write('THE END', size - 7);
    writeFileSync(join(s.src, 'big.dat'), 'old small version');
    await s.announce('content', 'big.dat');
    await s.waitSettled(1);
    writeFileSync(join(s.src, 'big.dat'), big);
    const want = createHash('sha1').update(big).digest('hex');
    let seen = { old: 0, complete: 0, bad: 0 };
    let stop = false;
    const reader = (async () => {
      const probe = Buffer.alloc(7);
      while (!stop) {
        let fd: number | undefined;
        try {
          fd = openSync(join(s.dst, 'big.dat'), 'r');
          const n = fstatSync(fd).size;
          if (n === 17) seen.old++;
          else if (n === size && readSync(fd, probe, 0, 7, size - 7) === 7 && probe.toString() === 'THE END') seen.complete++;
          else seen.bad++;
        } finally {
          if (fd !== undefined) closeSync(fd);
        }
        await sleep(2);
      }
    })();
    await s.announce('content', 'big.dat', {}, { large: true });
    await s.waitSettled(2, 60_000);
    await sleep(20);
    stop = true;
    await reader;
    expect(seen.bad).toBe(0);
    expect(seen.complete).toBeGreaterThan(0);
    expect(createHash('sha1').update(readFileSync(join(s.dst, 'big.dat'))).digest('hex')).toBe(want);
    expect(readdirSync(s.dst)).toEqual(['big.dat']);
    seen = { old: 0, complete: 0, bad: 0 };
  });

  it('reproduces non-UTF-8 names and 4,000-byte paths byte-exactly', async () => {
    const s = (h = await startService());
    const odd = Buffer.from([0x72, 0x75, 0x6e, 0xe9, 0x80, 0x25, 0x41, 0xff]);
    writeFileSync(Buffer.concat([Buffer.from(`${s.src}/`), odd]), 'latin-1 and friends');
    await s.announce('content', odd);
    const parts = Array.from({ length: 16 }, (_, i) => `${String(i).padStart(2, '0')}${'y'.repeat(i === 15 ? 248 : 247)}`);
    let dir = s.src;
    for (const p of parts.slice(0, -1)) { dir = join(dir, p); mkdirSync(dir); }
    writeFileSync(join(dir, parts[15]!), 'deep');
    expect(Buffer.byteLength(parts.join('/'))).toBe(4000);
    await s.announce('content', parts.join('/'));
    await s.waitSettled(2);
    expect(readdirSync(s.dst, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort()).toEqual([odd.toString('hex'), Buffer.from(parts[0]!).toString('hex')].sort());
    await converge(s);
  });
});

describe('subscriber service: hostile and invalid input', () => {
  it('parks traversal, hostile destination symlinks, foreign hosts and unsupported bodies with their reason; outside stays untouched', async () => {
    const s = (h = await startService());
    writeFileSync(join(s.outside, 'victim'), 'precious');
    const srcRel = s.src.slice(1);
    // 1. relPath climbing out of the root.
    await s.publishRaw(JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'file:/', relPath: `${srcRel}/../outside/victim`, hpcm_host: HOST, hpcm_seq: 1 }), 'x');
    // 2. A destination directory replaced by a symlink to the outside.
    mkdirSync(join(s.src, 'sub'));
    writeFileSync(join(s.src, 'sub/victim'), 'overwrite attempt');
    symlinkSync(s.outside, join(s.dst, 'sub'));
    await s.announce('content', 'sub/victim', {}, { seq: 2 });
    // 3. Outside source_root, 4. baseUrl not allowed, 5. blocks, 6. not JSON, 7. too large.
    await s.publishRaw(JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'file:/', relPath: 'etc/passwd', hpcm_host: HOST, hpcm_seq: 3 }), 'etc/passwd');
    writeFileSync(join(s.src, 'ok'), 'fine');
    await s.publishRaw(JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'sftp://evil@elsewhere/', relPath: `${srcRel}/ok`, hpcm_host: HOST, hpcm_seq: 4 }), 'ok');
    await s.publishRaw(JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'file:/', relPath: `${srcRel}/ok`, blocks: { method: 'inplace', size: 1 }, hpcm_host: HOST, hpcm_seq: 5 }), 'ok');
    await s.publishRaw('this is not json', 'x');
    await s.publishRaw(JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'file:/', relPath: `${srcRel}/ok`, pad: 'x'.repeat(70_000) }), 'ok');
    await s.waitSettled(7);
    const parked = (await s.waitParked(7)).map((p) => p.reason).sort();
    expect(parked).toHaveLength(7);
    const has = (re: RegExp): boolean => parked.some((r) => re.test(r));
    expect(has(/^HPM_PATH_UNSAFE: relPath: has a '\.\.' component/)).toBe(true);
    expect(has(/^HPM_PATH_UNSAFE: destination .*sub is a symlink/)).toBe(true);
    expect(has(/^HPM_PATH_OUTSIDE_ROOT/)).toBe(true);
    expect(has(/^HPM_SUB_BASEURL_DENIED: baseUrl sftp:\/\/evil@elsewhere\//)).toBe(true);
    expect(has(/^HPM_MSG_UNSUPPORTED: blocks/)).toBe(true);
    expect(has(/^HPM_MSG_INVALID: body: not JSON/)).toBe(true);
    expect(has(/^HPM_MSG_TOO_LARGE/)).toBe(true);
    expect(readdirSync(s.outside)).toEqual(['victim']);
    expect(readFileSync(join(s.outside, 'victim'), 'utf8')).toBe('precious');
    expect(existsSync(join(s.dst, 'ok'))).toBe(false);
    await waitFor(() => reportedSeqs(s.progress, 'parked').size === 5, 'parked progress');
    const unsafe = s.progress.find((p) => p.state === 'parked' && p.seqs[0]![0] === 2)!;
    expect(unsafe.reason).toMatch(/HPM_PATH_UNSAFE/);
    expect(unsafe.paths).toEqual([`${srcRel}/sub/victim`]);
  });

  it('does not follow a fileOp.rename with a `..` (messages.md): the old path is never touched, the new one is applied', async () => {
    const s = (h = await startService());
    writeFileSync(join(s.outside, 'victim'), 'precious');
    writeFileSync(join(s.src, 'new'), 'new content');
    const srcRel = s.src.slice(1);
    await s.publishRaw(JSON.stringify({
      pubTime: '20261123T101500', baseUrl: 'file:/', relPath: `${srcRel}/new`,
      fileOp: { rename: `${srcRel}/../outside/victim` }, hpcm_host: HOST, hpcm_seq: 1,
    }), 'new');
    await s.waitSettled(1);
    expect(readFileSync(join(s.dst, 'new'), 'utf8')).toBe('new content');
    expect(readFileSync(join(s.outside, 'victim'), 'utf8')).toBe('precious');
    expect(s.sub.metrics().counters.warnings).toBe(1);
    expect(await s.takeParked()).toEqual([]);
  });

  it('honours v03 retrievePath, a top-level rename and inline content', async () => {
    const s = (h = await startService());
    const srcRel = s.src.slice(1);
    writeFileSync(join(s.src, 'cache-copy'), 'from the retrieve path');
    writeFileSync(join(s.src, 'orig'), 'written under another name');
    writeFileSync(join(s.src, 'inl'), 'AAAA');
    const mtimeNs = statSync(join(s.src, 'inl'), { bigint: true }).mtimeNs.toString();
    const base = { pubTime: '20261123T101500', baseUrl: 'file:/' };
    await s.publishRaw(JSON.stringify({ ...base, relPath: `${srcRel}/fetched`, retrievePath: `${srcRel}/cache-copy` }), 'fetched');
    await s.publishRaw(JSON.stringify({ ...base, relPath: `${srcRel}/orig`, rename: `${srcRel}/renamed` }), 'orig');
    await s.publishRaw(JSON.stringify({ ...base, relPath: `${srcRel}/inl`, size: 4, hpcm_mtimeNs: mtimeNs, content: { encoding: 'base64', value: Buffer.from('BBBB').toString('base64') } }), 'inl');
    await s.waitSettled(3);
    expect(readFileSync(join(s.dst, 'fetched'), 'utf8')).toBe('from the retrieve path');
    expect(readFileSync(join(s.dst, 'renamed'), 'utf8')).toBe('written under another name');
    expect(existsSync(join(s.dst, 'orig'))).toBe(false);
    // Same size and mtime as the source: the inline bytes are written, nothing is fetched.
    expect(readFileSync(join(s.dst, 'inl'), 'utf8')).toBe('BBBB');
    expect(s.sub.metrics().counters.bytes).toBe('from the retrieve path'.length + 'written under another name'.length);
  });

  it('writes inline content only when ctime and inode match too (a same-size rewrite given its old mtime back is fetched)', async () => {
    const s = (h = await startService());
    const srcRel = s.src.slice(1);
    const base = { pubTime: '20261123T101500', baseUrl: 'file:/' };
    const announced = (name: string, content: string) => {
      const st = statSync(join(s.src, name), { bigint: true });
      return JSON.stringify({
        ...base, relPath: `${srcRel}/${name}`, size: Number(st.size), hpcm_mtimeNs: st.mtimeNs.toString(),
        hpcm_ctimeNs: st.ctimeNs.toString(), hpcm_ino: st.ino.toString(), content: { encoding: 'utf-8', value: content },
      });
    };
    writeFileSync(join(s.src, 'fresh'), 'AAAA');
    // The source still is this version: the inline bytes are written (BBBB proves no fetch happened).
    const fresh = announced('fresh', 'BBBB');
    writeFileSync(join(s.src, 'stale'), 'AAAA');
    utimesSync(join(s.src, 'stale'), 1_700_000_000, 1_700_000_000);
    const stale = announced('stale', 'AAAA');
    // Rewritten with the same size, then its mtime set back (utimensat, as `touch -r` or tar do): only ctime tells.
    await waitFor(() => { writeFileSync(join(s.src, 'stale'), 'CCCC'); return statSync(join(s.src, 'stale'), { bigint: true }).ctimeNs !== JSON.parse(stale).hpcm_ctimeNs; }, 'ctime moves');
    utimesSync(join(s.src, 'stale'), 1_700_000_000, 1_700_000_000);
    expect(statSync(join(s.src, 'stale'), { bigint: true }).mtimeNs.toString()).toBe(JSON.parse(stale).hpcm_mtimeNs);
    await s.publishRaw(fresh, 'fresh');
    await s.publishRaw(stale, 'stale');
    await s.waitSettled(2);
    expect(readFileSync(join(s.dst, 'fresh'), 'utf8')).toBe('BBBB');
    expect(readFileSync(join(s.dst, 'stale'), 'utf8')).toBe('CCCC');
    expect(s.sub.metrics().counters.bytes).toBe(4);
  });

  it('filters with accept/reject globs and reports them as suppressed', async () => {
    const s = (h = await startService({ subscriber: { reject: ['*.tmp'] } }));
    writeFileSync(join(s.src, 'x.tmp'), 'scratch');
    writeFileSync(join(s.src, 'x.dat'), 'data');
    await s.announce('content', 'x.tmp');
    await s.announce('content', 'x.dat');
    await s.waitSettled(2);
    expect(readdirSync(s.dst)).toEqual(['x.dat']);
    await waitFor(() => reportedSeqs(s.progress, 'suppressed').has(1), 'suppressed report');
    // Anti-entropy leaves rejected names alone too.
    await waitFor(() => s.sub.metrics().antiEntropy.checked > 0, 'anti-entropy pass', 30_000);
    expect(readdirSync(s.dst)).toEqual(['x.dat']);
  });
});

describe('subscriber service: progress, delete guard, post_after_copy', () => {
  it('reports the whole hpcm_covers range (or the listed hpcm_coveredSeqs) as applied', async () => {
    const s = (h = await startService());
    writeFileSync(join(s.src, 'c'), 'coalesced');
    await s.announce('content', 'c', { extra: { hpcm_covers: [10, 20] } }, { seq: 20 });
    await s.announce('content', 'c', { extra: { hpcm_covers: [30, 37], hpcm_coveredSeqs: [[30, 30], [33, 33], [37, 37]] } }, { seq: 37 });
    await s.waitSettled(2);
    await waitFor(() => reportedSeqs(s.progress, 'applied').size === 14, 'applied seqs');
    expect([...reportedSeqs(s.progress, 'applied')].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 30, 33, 37]);
  });

  it('pauses removes beyond delete_guard_per_min, keeps copying, raises an alert, and retries the held removes', async () => {
    const s = (h = await startService({ subscriber: { delete_guard_per_min: 3, max_attempts: 50, retry_levels_s: [0.3] } }));
    for (let i = 0; i < 5; i++) writeFileSync(join(s.src, `r${i}`), `${i}`);
    for (let i = 0; i < 5; i++) await s.announce('content', `r${i}`);
    await s.waitSettled(5);
    for (let i = 0; i < 5; i++) { unlinkSync(join(s.src, `r${i}`)); await s.announce('remove', `r${i}`); }
    writeFileSync(join(s.src, 'copy'), 'copies go on');
    await s.announce('content', 'copy');
    await waitFor(() => s.sub.metrics().alerts.length > 0 || undefined, 'delete guard alert');
    await waitFor(() => existsSync(join(s.dst, 'copy')), 'copy despite the guard');
    await s.waitSettled(9);
    await waitFor(() => reportedSeqs(s.progress, 'applied').size >= 9, 'applied reports');
    await waitFor(() => s.sub.metrics().counters.retried >= 2, 'held removes retried');
    const m = s.sub.metrics();
    expect(m.deleteGuard).toMatchObject({ paused: true, lastMinute: 3 });
    expect(readdirSync(s.dst).filter((n) => n.startsWith('r'))).toHaveLength(2);
    // The held removes were not reported as done.
    await sleep(300);
    expect(reportedSeqs(s.progress, 'applied').size).toBe(9);
  });

  it('announces the destination copy to post_exchange when post_after_copy is on', async () => {
    const postExchange = `xs_test_post_${randomBytes(3).toString('hex')}`;
    const s = (h = await startService({ subscriber: { post_after_copy: true, post_exchange: postExchange }, start: false }));
    const amqp = (await import('amqplib')).default;
    const { inject } = await import('vitest');
    const conn = await amqp.connect(inject('infra').brokerUrl);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange(postExchange, 'topic', { durable: true });
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, postExchange, '#');
      await s.sub.start();
      writeFileSync(join(s.src, 'posted'), 'p');
      await s.announce('content', 'posted');
      await s.waitSettled(1);
      const m = await waitFor(async () => ch.get(queue, { noAck: true }), 'post_after_copy message');
      const body = JSON.parse(m.content.toString()) as Record<string, unknown>;
      expect(body.relPath).toBe(`${s.dst.slice(1)}/posted`);
      expect(body.baseUrl).toBe('file:/');
      expect(String(body.hpcm_origin)).toMatch(/^hpcmirror-subscriber:/);
      expect(body.size).toBe(1);
    } finally {
      await conn.close();
    }
  });

  it('anti-entropy repairs a change that was never announced once the directory is quiet', async () => {
    const s = (h = await startService({ subscriber: { anti_entropy_quiet_s: 0.5 } }));
    mkdirSync(join(s.src, 'quiet'));
    writeFileSync(join(s.src, 'quiet/announced'), 'a');
    writeFileSync(join(s.src, 'quiet/lost'), 'never announced');
    await s.announce('content', 'quiet/announced');
    await s.waitSettled(1);
    await converge(s, 'anti-entropy');
    // The repair's rename lands before its counter moves (the directory fsync comes between).
    await waitFor(() => s.sub.metrics().antiEntropy.repaired >= 1, 'anti-entropy repair counted');
    expect(s.sub.metrics().antiEntropy.repaired).toBeGreaterThanOrEqual(1);
  });

  it('a directory rename applied after the re-created old name\'s children counts as applied only once both subtrees match', async () => {
    // No help from the quiet-time anti-entropy: what is reported applied must already be right.
    const s = (h = await startService({ subscriber: { anti_entropy_quiet_s: 3600 } }));
    mkdirSync(join(s.src, 'run'));
    writeFileSync(join(s.src, 'run/old'), 'before the move');
    await s.announce('mkdir', 'run');
    await s.announce('content', 'run/old');
    await s.waitSettled(2);
    // mv run run.1; mkdir run; ln -s ...; echo > run/new — and, as after a crash and redelivery, the
    // new run's messages arrive before the rename, so they land in the old destination `run`.
    renameSync(join(s.src, 'run'), join(s.src, 'run.1'));
    mkdirSync(join(s.src, 'run'));
    symlinkSync('../run.1/old', join(s.src, 'run/latest'));
    writeFileSync(join(s.src, 'run/new'), 'after the move');
    await s.announce('mkdir', 'run');
    await s.announce('symlink', 'run/latest', { linkTarget: Buffer.from('../run.1/old') });
    await s.announce('content', 'run/new');
    await s.waitSettled(5);
    await s.announce('rename', 'run.1', { oldPath: Buffer.from(join(s.src, 'run')) });
    await s.waitSettled(6);
    expect(diff(s)).toEqual([]);
  });

  it('two directories exchanged (renameat2 RENAME_EXCHANGE, announced as two directory changes) match once both count as applied', async () => {
    const s = (h = await startService({ subscriber: { anti_entropy_quiet_s: 3600 } }));
    for (const [dir, names] of [['a', ['only-in-a', 'both']], ['b', ['only-in-b']]] as const) {
      mkdirSync(join(s.src, dir));
      await s.announce('mkdir', dir);
      for (const n of names) {
        writeFileSync(join(s.src, dir, n), `${dir}/${n}`);
        await s.announce('content', `${dir}/${n}`);
      }
    }
    symlinkSync('only-in-a', join(s.src, 'a/link'));
    await s.announce('symlink', 'a/link', { linkTarget: Buffer.from('only-in-a') });
    await s.waitSettled(6);
    // What renameat2(a, b, RENAME_EXCHANGE) leaves: each name holds the other's inode and entries.
    renameSync(join(s.src, 'a'), join(s.src, 'tmp-x'));
    renameSync(join(s.src, 'b'), join(s.src, 'a'));
    renameSync(join(s.src, 'tmp-x'), join(s.src, 'b'));
    await s.announce('mkdir', 'b');
    await s.announce('mkdir', 'a');
    await s.waitSettled(8);
    expect(diff(s)).toEqual([]);
  });

  it('two directories exchanged twice before the subscriber saw either: the exchange\'s subtree messages bring what was written in between', async () => {
    // exchange a b; ln -s t b/s/l; exchange a b — the link is now a/s/l, announced only as b/s/l
    // (source parent gone by then). The destination is made after both swaps, so each directory's
    // record matches its source: only hpcm_subtree on the exchange's messages says to look below.
    const s = (h = await startService({ subscriber: { anti_entropy_quiet_s: 3600 } }));
    const swap = (): void => {
      renameSync(join(s.src, 'a'), join(s.src, 'tmp-x'));
      renameSync(join(s.src, 'b'), join(s.src, 'a'));
      renameSync(join(s.src, 'tmp-x'), join(s.src, 'b'));
    };
    mkdirSync(join(s.src, 'a/s'), { recursive: true });
    mkdirSync(join(s.src, 'b'));
    swap();
    symlinkSync('t', join(s.src, 'b/s/l'));
    swap();
    await s.announce('mkdir', 'a');
    await s.announce('mkdir', 'b');
    await s.announce('mkdir', 'a/s');
    await s.announce('symlink', 'b/s/l', { linkTarget: Buffer.from('t') });
    await s.waitSettled(4);
    await s.announce('mkdir', 'a', { subtree: true });
    await s.announce('mkdir', 'b', { subtree: true });
    await s.waitSettled(6);
    expect(diff(s)).toEqual([]);
  });

  it('a symlink renamed right after a change of its new name: the rename still removes the old name', async () => {
    // The first message's reconcile of b/l2 reads the source after the rename's message arrived, which
    // makes the rename look superseded for b/l2; its old name must be reconciled all the same.
    const s = (h = await startService({ subscriber: { anti_entropy_quiet_s: 3600 } }));
    mkdirSync(join(s.src, 'a'));
    mkdirSync(join(s.src, 'b'));
    symlinkSync('../t', join(s.src, 'a/l1'));
    await s.announce('mkdir', 'a');
    await s.announce('mkdir', 'b');
    await s.announce('symlink', 'a/l1', { linkTarget: Buffer.from('../t') });
    await s.waitSettled(3);
    renameSync(join(s.src, 'a/l1'), join(s.src, 'b/l2'));
    for (let i = 0; i < 3; i++) await s.announce('symlink', 'b/l2', { linkTarget: Buffer.from('../t') }, { noWait: true });
    await s.announce('symlink', 'b/l2', { linkTarget: Buffer.from('../t'), oldPath: Buffer.from(join(s.src, 'a/l1')) }, { noWait: true });
    await s.confirmed();
    await s.waitSettled(7);
    expect(diff(s)).toEqual([]);
  });

  it('start and stop are idempotent, and a restart picks up where it left off', async () => {
    const s = (h = await startService());
    await Promise.all([s.sub.start(), s.sub.start()]);
    await s.sub.stop();
    await s.sub.stop();
    writeFileSync(join(s.src, 'while-down'), 'queued');
    await s.announce('content', 'while-down');
    await s.sub.start();
    await waitFor(() => existsSync(join(s.dst, 'while-down')), 'message queued while stopped');
    rmSync(join(s.src, 'while-down'));
  });
});
