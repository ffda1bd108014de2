#!/usr/bin/env node
// `npm run faults`: runs the fault and bad-input suite (test/faults, and the kill -9 cases of
// test/e2e/crash-restart.test.ts, which it reuses rather than repeats), then prints one table:
// fault or input, runs, events, lost, divergent paths, partial files seen, outside writes,
// parked-with-reason. Exit 1 when a must-be-zero cell is not zero or a case failed.
// HPCM_FAULTS_LONG=1 for the long form; extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hpcm-faults-report-'));
const rowsFile = join(scratch, 'rows.jsonl');
const jsonFile = join(scratch, 'vitest.json');
const targets = process.argv.length > 2 ? process.argv.slice(2) : ['test/faults', 'test/e2e/crash-restart.test.ts'];

const build = spawnSync('npx', ['tsc', '-b'], { cwd: repo, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const run = spawnSync(join(repo, 'node_modules/.bin/vitest'), ['run', ...targets, '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`], {
  cwd: repo, stdio: 'inherit', env: { HPCM_FAULTS_FULL: '1', ...process.env, HPCM_FAULTS_RESULTS: rowsFile },
});

const rows = new Map();
const add = (r) => {
  const prev = rows.get(r.name);
  if (!prev) { rows.set(r.name, { ...r }); return; }
  for (const k of ['runs', 'events', 'lost', 'divergent', 'partial', 'outside']) {
    prev[k] = typeof prev[k] === 'number' && typeof r[k] === 'number' ? prev[k] + r[k] : 'FAIL';
  }
  prev.parked = prev.parked === r.parked ? r.parked : `${prev.parked}; ${r.parked}`;
};
if (existsSync(rowsFile)) for (const line of readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean)) add(JSON.parse(line));

// The kill -9 cases report through their pass/fail: they wait and audit with content, so a pass is zero everywhere.
const failedTests = [];
if (existsSync(jsonFile)) {
  const report = JSON.parse(readFileSync(jsonFile, 'utf8'));
  for (const file of report.testResults ?? []) {
    for (const t of file.assertionResults ?? []) {
      if (t.status === 'failed') failedTests.push(`${file.name.replace(repo, '')}: ${t.title}`);
      const m = /^(agent|winnow|subscriber) SIGKILLed .*\(seed (\d+)\)/.exec(t.title);
      if (!m || !file.name.includes('crash-restart')) continue;
      const ok = t.status === 'passed';
      add({ name: `fault: kill -9 ${m[1]} (crash-restart, seed ${m[2]})`, runs: 1, events: '-', lost: ok ? 0 : 'FAIL', divergent: ok ? 0 : 'FAIL', partial: ok ? 0 : 'FAIL', outside: ok ? 0 : 'FAIL', parked: '-' });
    }
  }
}

const cols = [['fault or input', 'name'], ['runs', 'runs'], ['events', 'events'], ['lost', 'lost'], ['divergent paths', 'divergent'], ['partial files seen', 'partial'], ['outside writes', 'outside'], ['parked-with-reason', 'parked']];
const table = [cols.map(([h]) => h), ...[...rows.values()].map((r) => cols.map(([, k]) => String(r[k] ?? '-')))];
const widths = cols.map((_, i) => Math.max(...table.map((row) => row[i].length)));
const line = (row) => `| ${row.map((c, i) => (i === 0 || i === cols.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
process.stdout.write(`\n${line(table[0])}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${table.slice(1).map(line).join('\n')}\n`);

const nonZero = [...rows.values()].filter((r) => ['lost', 'divergent', 'partial', 'outside'].some((k) => r[k] !== 0));
if (nonZero.length) process.stdout.write(`\nnot zero: ${nonZero.map((r) => r.name).join(', ')}\n`);
if (failedTests.length) process.stdout.write(`\nfailed cases:\n  ${failedTests.join('\n  ')}\n`);
rmSync(scratch, { recursive: true, force: true });
process.exit(nonZero.length || failedTests.length || run.status ? 1 : 0);
