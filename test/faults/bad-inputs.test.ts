import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hpcmirror, SandboxUnderTest } from '../e2e/cli-harness.js';
import { logTails, shellInCase } from '../e2e/mirror-checks.js';
import { assignedEvents, Canary, explain, RawBroker, recordRow, settle, type FaultRow } from './fault-kit.js';

/**
 * Bad input, driven through a running sandbox (semantics.md "Paths and safety", messages.md
 * "Validation on receipt"): raw bodies published to the subscriber's exchange with amqplib, hostile
 * names written by a real program under the shim, a destination directory swapped for a symlink,
 * broken configs and a damaged spool. Each must give a clear one-line reason (parked with it, or the
 * CLI's one error line), never a write outside the destination root (a canary directory next to the
 * trees, which the inputs aim at), and the flow goes on.
 */
describe('bad inputs through a running sandbox', () => {
  const sb = new SandboxUnderTest('sftp');
  let canary: Canary;
  let broker: RawBroker;
  beforeAll(async () => {
    canary = new Canary(sb.dir);
    await sb.up();
    broker = new RawBroker(sb);
  }, 300_000);
  afterAll(async () => {
    await sb.down();
  }, 120_000);

  it('hostile message bodies are parked with their reason; fileOp renames/links out of the root are not followed', async () => {
    const rel = sb.src.slice(1);
    const outside = canary.dir;
    await shellInCase(sb, 'raw', 'echo fine > ok; echo other > ok2');
    expect((await sb.wait(120)).code).toBe(0);
    const base = { pubTime: '20261123T101500', baseUrl: (await sandboxBaseUrl(sb)), hpcm_host: 'faults' };
    // [input, body, expected reason (parked) or null (applied with a warning, messages.md)]
    const cases: [string, string, RegExp | null][] = [
      ['malformed JSON', '{"relPath": "', /^HPM_MSG_INVALID: body: not JSON/],
      ['wrong types', JSON.stringify({ ...base, relPath: 42, size: 'big' }), /^HPM_MSG_INVALID: relPath: must be a string/],
      ['missing fields', JSON.stringify({ relPath: `${rel}/raw/ok`, hpcm_host: 'faults' }), /^HPM_MSG_INVALID: pubTime: missing/],
      ['1 MB body', JSON.stringify({ ...base, relPath: `${rel}/raw/ok`, pad: 'x'.repeat(1 << 20) }), /^HPM_MSG_TOO_LARGE/],
      ['relPath ..', JSON.stringify({ ...base, relPath: `${rel}/../canary/victim` }), /^HPM_PATH_UNSAFE: relPath: has a '\.\.' component/],
      ['relPath absolute', JSON.stringify({ ...base, relPath: `${outside}/victim` }), /^HPM_PATH_UNSAFE: relPath: is absolute/],
      ['relPath NUL', JSON.stringify({ ...base, relPath: `${rel}/raw/ok\u0000/../../../canary/victim` }), /^HPM_PATH_UNSAFE: relPath: contains a NUL/],
      ['relPath outside source_root', JSON.stringify({ ...base, relPath: outside.slice(1) + '/victim' }), /^HPM_PATH_OUTSIDE_ROOT/],
      ['not an object', '[1,2,3]', /^HPM_MSG_INVALID/],
      ['fileOp.rename out of root', JSON.stringify({ ...base, relPath: `${rel}/raw/ok`, fileOp: { rename: `${rel}/../canary/victim` } }), null],
      ['fileOp.hlink out of root', JSON.stringify({ ...base, relPath: `${rel}/raw/ok2`, fileOp: { hlink: `${outside}/victim` } }), null],
    ];
    const before = assignedEvents(sb);
    await broker.publish(cases.map(([id, body]) => ({ id, body })));
    const expectParked = cases.filter(([, , re]) => re !== null).length;
    const parked = await broker.takeParked(expectParked);
    // Nothing more may turn up: the not-followed ones must not be parked late.
    await sleep(2000);
    parked.push(...(await broker.takeParked(1, 1000)));
    const outsideWrites = canary.writes();
    const failures: string[] = [];
    for (const [id, , re] of cases) {
      const p = parked.filter((x) => x.id === id);
      const ok = re === null ? p.length === 0 : p.length === 1 && re.test(p[0]!.reason ?? '') && !(p[0]!.reason ?? '').includes('\n');
      if (!ok) failures.push(`${id}: expected ${re ?? 'not parked'}, got ${JSON.stringify(p.map((x) => x.reason))}`);
      recordRow({
        name: `input: ${id}`, runs: 1, events: 1, lost: 0, divergent: 0, partial: 0, outside: outsideWrites,
        parked: re === null ? `- (${p.length} parked; not followed)` : `${p.filter((x) => x.reason && re.test(x.reason)).length}/1`,
        note: p[0]?.reason ?? (re === null ? 'applied as a change of relPath, the other path untouched' : 'NOT PARKED'),
      });
    }
    expect(failures, logTails(sb, 10)).toEqual([]);
    expect(outsideWrites).toBe(0);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious\n');
    // The flow goes on, and the plain changes of relPath were applied.
    await shellInCase(sb, 'raw', 'echo after > after');
    const v = await settle(sb, 'raw');
    expect(v.lost.length + v.divergent.length, explain(sb, { name: 'raw', runs: 1, events: 0, lost: v.lost.length, divergent: v.divergent.length, partial: 0, outside: 0, parked: '' }, v, [])).toBe(0);
    expect(assignedEvents(sb)).toBeGreaterThan(before);
  }, 300_000);

  it('hostile names (newline, invalid UTF-8, 255-byte component, 4,000-byte path) mirror byte for byte', async () => {
    const before = assignedEvents(sb);
    // Written by a real program under the shim; bash cannot spell all of them, python can.
    await shellInCase(sb, 'names', `python3 - <<'PY'
import os
os.makedirs(b"deep", exist_ok=True)
open(b"new\\nline", "wb").write(b"nl")
open(b"bad-\\xff\\xfe-utf8", "wb").write(b"latin")
open(b"c" * 255, "wb").write(b"long name")
p = b"deep"
while len(p) + 1 + 255 < 4000:
    p += b"/" + b"d" * 250
    os.mkdir(p)
leaf = b"e" * (4000 - len(p) - 1)
open(p + b"/" + leaf, "wb").write(b"deep file")
assert len(p + b"/" + leaf) == 4000
PY`);
    const v = await settle(sb, 'names');
    const events = assignedEvents(sb) - before;
    const row: FaultRow = { name: 'input: names (\\n, bad UTF-8, 255 B, 4000 B path)', runs: 1, events, lost: v.lost.length, divergent: v.divergent.length, partial: 0, outside: canary.writes(), parked: '-' };
    recordRow(row);
    expect(v.waitCode, explain(sb, row, v, [])).toBe(0);
    expect(v.lost.length + v.divergent.length + row.outside, explain(sb, row, v, [])).toBe(0);
    expect(readdirSync(join(sb.dst, 'names'), { encoding: 'buffer' }).some((n) => n.includes(0xff))).toBe(true);
  }, 300_000);

  it('a config with a typo, a missing config and a world-readable credentials file: one clear error line each', async () => {
    const cfgText = readFileSync(join(sb.dir, 'configs/forward.yaml'), 'utf8');
    const bad = join(sb.dir, 'bad-configs');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'typo.yaml'), cfgText.replace(/^source_root:/m, 'source_rooot:'));
    writeFileSync(join(bad, 'nested-typo.yaml'), cfgText.replace(/^ {2}reconnect_s:/m, '  reconect_s:'));
    const cred = join(bad, 'credentials.conf');
    writeFileSync(cred, `${/url: (\S+)/.exec(cfgText)![1]}\n`);
    chmodSync(cred, 0o644);
    writeFileSync(join(bad, 'cred.yaml'), cfgText.replace(/^flow: (.*)$/m, `flow: $1\ncredentials: ${cred}`).replace(/(url: amqp:\/\/guest):guest@/, '$1@'));
    const cases: [string, string, string, RegExp][] = [
      ['config typo (top level)', 'agent', join(bad, 'typo.yaml'), /^hpcmirror: HPM_CONFIG_INVALID: .*typo\.yaml:\d+: source_rooot: unknown key/],
      ['config typo (nested)', 'winnow', join(bad, 'nested-typo.yaml'), /^hpcmirror: HPM_CONFIG_INVALID: .*:\d+: broker\.reconect_s: unknown key/],
      ['config file missing', 'subscriber', join(bad, 'nope.yaml'), /^hpcmirror: HPM_CONFIG_NOT_FOUND: .*nope\.yaml/],
      ['credentials world-readable', 'winnow', join(bad, 'cred.yaml'), /^hpcmirror: HPM_CONFIG_INSECURE: .*mode 644.*chmod 600/],
    ];
    const failures: string[] = [];
    const results = await Promise.all(cases.map(([, cmd, file]) => hpcmirror([cmd, '--config', file], { timeoutMs: 60_000 })));
    for (const [i, [name, , , re]] of cases.entries()) {
      const r = results[i]!;
      const lines = r.stderr.trim().split('\n').filter(Boolean);
      const ok = r.code !== 0 && lines.length === 1 && re.test(lines[0]!);
      if (!ok) failures.push(`${name}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
      recordRow({ name: `input: ${name}`, runs: 1, events: 0, lost: 0, divergent: 0, partial: 0, outside: 0, parked: '-', note: ok ? lines[0] : `BAD: ${r.stderr.trim().slice(0, 200)}` });
    }
    expect(failures).toEqual([]);
  }, 180_000);

  it('a spool with garbage and a truncated record: skipped and counted, the agent goes on', async () => {
    await shellInCase(sb, 'spool', 'echo before > before');
    expect((await sb.wait(120)).code).toBe(0);
    const spool = join(sb.dir, 'spool');
    const seg = readdirSync(spool).filter((f) => f.endsWith('.seg')).sort().at(-1)!;
    const segPath = join(spool, seg);
    const bytes = readFileSync(segPath);
    // A copy of the last record cut short, then plain garbage: what a crash mid-write or a bad disk leaves.
    appendFileSync(segPath, Buffer.concat([bytes.subarray(bytes.length - 40, bytes.length - 10), Buffer.from('garbage!'.repeat(16))]));
    const skippedBefore = agentMetric(sb, 'recordsSkipped');
    await shellInCase(sb, 'spool', 'echo after > after; echo more > more');
    const v = await settle(sb, 'spool');
    const skipped = await waitForMetric(sb, 'recordsSkipped', skippedBefore);
    const row: FaultRow = { name: 'input: spool garbage + truncated record', runs: 1, events: 2, lost: v.lost.length, divergent: v.divergent.length, partial: 0, outside: canary.writes(), parked: '-', note: `${skipped - skippedBefore} stretches skipped and counted` };
    recordRow(row);
    expect(v.waitCode, explain(sb, row, v, [])).toBe(0);
    expect(v.lost.length + v.divergent.length, explain(sb, row, v, [])).toBe(0);
    expect(existsSync(join(sb.dst, 'spool/more'))).toBe(true);
    expect(skipped).toBeGreaterThan(skippedBefore);
  }, 300_000);

  // Last: its parked events keep every later `wait` at exit 1 (wait reports parked events for good).
  it('a destination directory replaced by a symlink to the outside: parked with the reason (or the link replaced), nothing written there', async () => {
    await shellInCase(sb, 'swap/dir', 'echo one > a');
    expect((await sb.wait(120)).code).toBe(0);
    // Past the anti-entropy quiet time of swap/, so that the messages meet the link first.
    await sleep(8000);
    // Someone on cluster 2 swaps the directory for a link out of the root.
    rmSync(join(sb.dst, 'swap/dir'), { recursive: true });
    symlinkSync(join(canary.dir, 'sub'), join(sb.dst, 'swap/dir'));
    await shellInCase(sb, 'swap/dir', 'echo two > b; echo one-again > a');
    const w = await sb.wait(120);
    const outsideWrites = canary.writes();
    const parkedQ = await broker.takeParked(2, w.code === 0 ? 2000 : 20_000);
    const withReason = parkedQ.filter((p) => /^HPM_PATH_UNSAFE: destination .*swap\/dir is a symlink/.test(p.reason ?? '')).length;
    // Either outcome keeps the promise: parked with the reason, or the link already replaced by the
    // source's directory (anti-entropy: a type difference) before the messages came.
    const replaced = w.code === 0 && lstatSync(join(sb.dst, 'swap/dir')).isDirectory();
    recordRow({
      name: 'input: destination dir -> symlink outside', runs: 1, events: 2, lost: 0, divergent: 0, partial: 0,
      outside: outsideWrites, parked: replaced ? '- (link replaced)' : `${withReason}/2`, note: parkedQ[0]?.reason ?? `wait ${w.code}: ${w.stdout.trim().split('\n')[0]}`,
    });
    expect(outsideWrites).toBe(0);
    expect(readdirSync(join(canary.dir, 'sub'))).toEqual([]);
    expect(replaced || withReason === 2, `wait ${w.code}:\n${w.stdout}${w.stderr}\nparked: ${JSON.stringify(parkedQ)}`).toBe(true);
    if (!replaced) rmSync(join(sb.dst, 'swap/dir'));
  }, 300_000);
});

async function sandboxBaseUrl(sb: SandboxUnderTest): Promise<string> {
  return /base_url: (\S+)/.exec(readFileSync(join(sb.dir, 'configs/forward.yaml'), 'utf8'))![1]!;
}

function agentMetric(sb: SandboxUnderTest, key: string): number {
  try {
    const s = JSON.parse(readFileSync(join(sb.dir, 'state/forward/status/agent.json'), 'utf8')) as { metrics: Record<string, number> };
    return s.metrics[key] ?? 0;
  } catch {
    return 0;
  }
}

/** The status file is rewritten every few seconds: wait for the counter to move past FROM. */
async function waitForMetric(sb: SandboxUnderTest, key: string, from: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = agentMetric(sb, key);
    if (v > from) return v;
    await sleep(500);
  }
  return agentMetric(sb, key);
}
