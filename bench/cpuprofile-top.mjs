#!/usr/bin/env node
// Summary of a .cpuprofile (see bench/service-profile.cjs): where the samples went, by function
// (self time) and by function including callees, from the first sample that ran FROM (a regular
// expression on "function url", e.g. 'handle .*message-handler') so start-up is left out.
// Usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [--from REGEX] [--top N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string' }, top: { type: 'string', default: '30' } },
});
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const top = Number(args.top);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const short = (url) => url.replace(/^.*\/node_modules\//, '').replace(/^.*\/packages\//, '').replace('file://', '');
const label = (cf) => `${cf.functionName || '(anonymous)'} ${short(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
const stack = (id) => { const s = []; for (let x = id; x !== undefined; x = parent.get(x)) s.push(byId.get(x).callFrame); return s; };

const from = args.from ? new RegExp(args.from) : undefined;
const msPerSample = (profile.endTime - profile.startTime) / profile.samples.length / 1000;
const self = new Map();
const total = new Map();
let busy = 0;
let started = from === undefined;
for (const id of profile.samples) {
  if (!started && stack(id).some((cf) => from.test(`${cf.functionName} ${cf.url}`))) started = true;
  if (!started || byId.get(id).callFrame.functionName === '(idle)') continue;
  busy++;
  const frames = stack(id);
  const own = label(frames[0]);
  self.set(own, (self.get(own) ?? 0) + 1);
  for (const l of new Set(frames.map(label))) total.set(l, (total.get(l) ?? 0) + 1);
}
const show = (title, m) => {
  console.log(`\n${title}`);
  for (const [l, n] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(n * msPerSample).toFixed(0).padStart(7)} ms ${((100 * n) / busy).toFixed(1).padStart(5)}%  ${l}`);
  }
};
console.log(`${positionals[0]}: ${(busy * msPerSample).toFixed(0)} ms busy${from ? ` from the first ${args.from}` : ''}`);
show('self', self);
show('including callees', total);
