import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalTransport } from '@hpcmirror/subscriber';
import { compareOptions } from '../src/mirror-sides.js';
import { checkPlanFile, readPlan, type PlanLine } from '../src/failback/plan-file.js';
import { buildPlan, deleteCap } from '../src/failback/reconcile-plan.js';
import { StepJournal } from '../src/failback/step-journal.js';
import { readManifest, writeManifest } from '../src/failback/t0-manifest.js';
import { computeT0 } from '../src/failback/t0-point.js';

const dir = mkdtempSync(join(tmpdir(), 'hpcm-failback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** The plan file's lines of one kind, as text (deletes as `path type`). */
async function planned(file: string, kind: PlanLine['kind']): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readPlan(file, kind)) out.push(l.kind === 'delete' ? `${l.rel.toString()} ${l.planned.type}` : l.rel.toString());
  return out.sort();
}

function tree(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
}

describe('failback plan', () => {
  it('copies back what changed on the secondary since T0, keeps conflicts, deletes only what the T0 manifest had and the primary left alone', async () => {
    const primary = join(dir, 'p');
    const secondary = join(dir, 's');
    const mirrored = { 'a': 'a', 'b': 'b', 'c': 'c', 'd/e': 'e', 'd/f': 'f', 'n\tl': 'tab' };
    tree(primary, mirrored);
    execFileSync('cp', ['-a', primary, secondary]); // mirrored: same mtimes
    const manifest = join(dir, 'manifest.tsv');
    expect(await writeManifest(secondary, manifest, [])).toBe(7); // 6 files and d
    const listed = [];
    for await (const m of readManifest(manifest)) listed.push(m.relPath.toString());
    expect(listed.sort()).toEqual(['a', 'b', 'c', 'd', 'd/e', 'd/f', 'n\tl']);
    await sleep(20);
    const t0 = nowNs();
    await sleep(20);
    // During the outage, on the secondary:
    writeFileSync(join(secondary, 'a'), 'a2'); // overwrite
    writeFileSync(join(secondary, 'b'), 'b2'); // overwrite, also changed on the primary: conflict
    writeFileSync(join(secondary, 'new'), 'new');
    unlinkSync(join(secondary, 'c')); // delete
    unlinkSync(join(secondary, 'd/e')); // delete, but changed on the primary: kept
    // ... and on the primary:
    writeFileSync(join(primary, 'b'), 'b-primary');
    writeFileSync(join(primary, 'd/e'), 'e-primary');
    writeFileSync(join(primary, 'only-primary'), 'p'); // absent from the secondary, never in the manifest: not deleted
    writeFileSync(join(primary, 'd/f'), 'f-primary'); // changed on the primary only: the primary's is newer
    unlinkSync(join(primary, 'n\tl')); // lost on the primary: only a full scan restores it

    const side = (root: string) => ({ t: createLocalTransport(), root: Buffer.from(root) });
    const p = side(primary);
    const s = side(secondary);
    await Promise.all([p.t.start(), s.t.start()]);
    try {
      const plan = await buildPlan({
        primary: p, secondary: s, secondaryRoot: secondary, t0Ns: t0, mode: 'since', manifest, compare: compareOptions({}), excludes: [],
        planFile: join(dir, 'plan.tsv'),
      });
      expect(plan.file).toBe(join(dir, 'plan.tsv'));
      expect(await planned(plan.file, 'copy')).toEqual(['a', 'b', 'new']);
      expect(await planned(plan.file, 'conflict')).toEqual(['b']);
      expect(await planned(plan.file, 'delete')).toEqual(['c file']);
      expect([plan.updates, plan.conflicts, plan.deletes]).toEqual([3, 1, 1]);
      for await (const del of readPlan(plan.file, 'delete')) expect(del).toMatchObject({ planned: { type: 'file', size: 1 } }); // as the manifest had it
      await checkPlanFile(plan, 'failback.json');
      appendFileSync(plan.file, 'delete\tfile\t1\t0\tb\n');
      await expect(checkPlanFile(plan, 'failback.json')).rejects.toMatchObject({ code: 'HPM_FAILBACK_PLAN' });
      expect(plan.keptChangedOnPrimary).toBe(1);
      expect(plan.manifestEntries).toBe(7);
      const full = await buildPlan({
        primary: p, secondary: s, secondaryRoot: secondary, t0Ns: t0, mode: 'full', manifest: undefined, compare: compareOptions({}), excludes: [],
        planFile: join(dir, 'plan-full.tsv'),
      });
      expect(await planned(full.file, 'copy')).toEqual(['a', 'b', 'n\tl', 'new']); // a tab in a name survives the TSV
      expect(await planned(full.file, 'conflict')).toEqual(['b']);
      expect(full.examined).toBeGreaterThan(plan.examined);
      expect(full.deletes).toBe(0); // no manifest: never a delete
    } finally {
      await Promise.all([p.t.stop(), s.t.stop()]);
    }
  });

  it('delete cap: N, N%, default the larger of 1,000 and 1%', () => {
    expect(deleteCap(undefined, 50)).toBe(1000);
    expect(deleteCap(undefined, 5_000_000)).toBe(50_000);
    expect(deleteCap('7', 10)).toBe(7);
    expect(deleteCap('10%', 500)).toBe(50);
    expect(deleteCap('lots', 500)).toBeNaN();
  });

  it('T0: the oldest pending event, else the newest applied, else now; minus the skew', async () => {
    const log = join(dir, 'latency.log');
    writeFileSync(log, '100 150 write\n300 320 write\n200 400 write\n');
    expect(await computeT0({ nowNs: 1000n, oldestPendingNs: 250n, latencyLog: log, skewNs: 10n })).toEqual({ t0Ns: 240n, boundBy: 'pending' });
    expect(await computeT0({ nowNs: 1000n, oldestPendingNs: null, latencyLog: log, skewNs: 10n })).toEqual({ t0Ns: 290n, boundBy: 'applied' });
    expect(await computeT0({ nowNs: 1000n, oldestPendingNs: null, latencyLog: undefined, skewNs: 10n })).toEqual({ t0Ns: 990n, boundBy: 'now' });
  });
});

describe('failback steps', () => {
  it('a re-run skips the steps an interrupted run finished and redoes the one it was in', async () => {
    const file = join(dir, 'journal.json');
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m) };
    const ran: string[] = [];
    const first = StepJournal.open(file, 'failback', log);
    expect(await first.step('one', 'first', async () => { ran.push('one'); return 1; })).toBe(1);
    await expect(first.step('two', 'second', async () => { ran.push('two'); throw new Error('killed'); })).rejects.toThrow('killed');
    const again = StepJournal.open(file, 'failback', log);
    expect(again.resumed).toBe(true);
    expect(await again.step('one', 'first', async () => { ran.push('one'); return 9; })).toBe(1);
    expect(await again.step('two', 'second', async () => { ran.push('two'); return 2; })).toBe(2);
    expect(ran).toEqual(['one', 'two', 'two']);
    expect(lines.some((l) => /^one: done at .* \(skipped\)$/.test(l))).toBe(true);
  });

});
